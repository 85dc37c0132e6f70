/**
 * The storage core, as a session sees it: what the lottery asks of wherever
 * bets live. A session appends an agency's batches and waits until they are
 * durable before it acknowledges them; it asks where an agency's file is
 * settled before it welcomes the agency; it records Done; it reads winners.
 * Nothing else touches the stored state.
 *
 * The failure policy is the store's, and it is the same for every backend:
 *   - a write that cannot be made is never acknowledged and leaves nothing
 *     behind: `append` throws StoreUnavailable, the session tells its agency
 *     to come back (ERR_STORAGE_UNAVAILABLE), and the agency resumes exactly
 *     from `ledger` later;
 *   - a durability that can no longer be promised (a failed fdatasync, a
 *     thread that died while syncing for everyone) is fatal: `durable` throws
 *     StoreFailed, nothing more is acknowledged, and the central stops so that
 *     recovery starts again from what is really on disk.
 *
 * `server/storage/file/` is the embedded backend: bets.csv plus its journal.
 */
import type { TransferListItem } from 'node:worker_threads';
import type { Bet } from '../../protocol/index.js';
import type { FileStoreInit } from './file/file-host.js';
import type { PgWorkerInit } from './postgres/pg-host.js';

/** Where one agency stands, durably: what its Welcome says. */
export interface AgencyLedger {
  /** Bets stored. */
  readonly stored: number;
  /** The file position (records) of the last batch settled, stored or refused: the agency resumes after it. */
  readonly settled: number;
  /** The agency said Done. */
  readonly finished: boolean;
}

/** A write accepted by the store, to wait for with `durable`. */
export type Ticket = number;

/** The outcome of Done. */
export type FinishOutcome =
  | { readonly ok: true }
  /** The agency's total is not what the store holds (durably). */
  | { readonly ok: false; readonly stored: number };

/**
 * Turns an agency's batches into records in its store's format — bets.csv
 * lines for the file store, binary COPY rows for the database — one batch
 * after another into one reusable buffer, so that the batches of a socket
 * read reach the store in a single write. One per session.
 */
export interface RecordWriter {
  /** Bytes appended since the last reset. */
  readonly length: number;
  /** What was appended since the last reset (a view: valid until the next append or reset). */
  readonly records: Buffer;
  reset(): void;
  /**
   * Appends the records of every bet of a BetBatch `body` and returns how
   * many there are, or returns -1, appending nothing, when the slow path must
   * decide (protocol's scanBetBatch). `today` is the date as yyyymmdd.
   */
  append(body: Buffer, today: number): number;
  /** Appends the records of bets the slow path decoded and validated. */
  appendBets(bets: readonly Bet[]): void;
}

export interface BetStore {
  /** True when the lottery expects this agency (its roster). */
  expects(agency: number): boolean;
  /** The agency's durable ledger; waits for any of its writes still being synced. */
  ledger(agency: number): Promise<AgencyLedger>;
  /** A session's writer of the records `append` takes, in this store's format. */
  recordWriter(agency: number): RecordWriter;
  /**
   * Writes consecutive batches of one agency: their `records` (from its
   * recordWriter), the `bets` they hold and the file `position` after the
   * last of them. Not yet durable. Throws StoreUnavailable (nothing kept),
   * StoreClosed (the draw has begun) or StoreFailed.
   */
  append(agency: number, records: Uint8Array, bets: number, position: number): Ticket;
  /** Settles a refused batch: the agency's file counts as handled up to `position`, with nothing stored. */
  settle(agency: number, position: number): Ticket;
  /** Resolves once the write is durable; throws StoreFailed when it never will be. */
  durable(ticket: Ticket): Promise<void>;
  /** Durably records that the agency is done, if `total` is what the store holds for it. */
  finish(agency: number, total: number): Promise<FinishOutcome>;
  /** The agency's winning documents, once the draw has happened. */
  winners(agency: number): Promise<readonly string[]>;
  /** Resolves when this thread has nothing in flight that others depend on (call before it exits). */
  quiesce(): Promise<void>;
}

/** The write could not be made and nothing of it was kept; trying again later can succeed. */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable';
}

/** The draw has begun: no more bets are stored. */
export class StoreClosed extends Error {
  override readonly name = 'StoreClosed';
}

/** The stored lottery is not the configured one (exit code 2: a configuration problem). */
export class LotteryMismatch extends Error {
  override readonly name = 'LotteryMismatch';
}

/** The store cannot be opened or trusted at start-up (exit code 1). */
export class StorageStartupError extends Error {
  override readonly name = 'StorageStartupError';
}

/** Another central holds the agency's session (the database store): come back later. */
export class StoreBusy extends Error {
  override readonly name = 'StoreBusy';
}

/** The store fail-stopped: nothing more is acknowledged and the central is stopping. */
export class StoreFailed extends Error {
  override readonly name = 'StoreFailed';
}

/** What a fail-stop reports to the thread that ends the process. */
export interface FatalStorageError {
  readonly file: string;
  readonly operation: string;
  readonly error: string;
  readonly detail: string;
}

/** What a store found at start-up: logged as the central's `recovery` line. */
export interface StoreReport {
  readonly backend: 'file' | 'postgres';
  /** Where the lottery lives: the bets file, or the database (without credentials). */
  readonly where: string;
  readonly lotteryId: string;
  readonly createdMs: number;
  /** new: no bets yet; recovered: this lottery's state found; adopted: a bets.csv that had no journal. */
  readonly kind: 'new' | 'recovered' | 'adopted';
  readonly bets: number;
  readonly agencies: number;
  readonly finished: number;
  /** What recovery cut (the file store only). */
  readonly discardedBytes: number;
  readonly discardedJournalBytes: number;
}

/** The draw's stored result. `announced`: its `sorteo` line was logged. */
export interface StoredResult {
  readonly winners: Map<number, string[]>;
  readonly announced: boolean;
}

/**
 * The store on the accepting thread: what the central and its coordinator
 * ask of it beyond the sessions' BetStore (which each worker builds from
 * `workerInit`).
 */
export interface StoreHost {
  readonly report: StoreReport;
  /** What a worker builds its BetStore from, and what must be transferred to it. */
  workerInit(): { readonly init: WorkerStoreInit; readonly transfer: readonly TransferListItem[] };
  /** Roster agencies recorded as finished. */
  finishedCount(): Promise<number>;
  /** The draw's result, once it happened (here or at another central). */
  storedResult(): Promise<StoredResult | null>;
  /** Records that `sorteo` was logged; the error, when that failed (a restart then logs it again). */
  markAnnounced(): Promise<string | null>;
  /**
   * The storage side of the draw: every roster agency has finished; make the
   * bets durable, find the winners, store the result durably, once. Resolves
   * with the winners, or `elsewhere` when another central already drew.
   * Throws StoreFailed (the central stops) or anything else (retry later).
   */
  draw(): Promise<Map<number, string[]> | 'elsewhere'>;
  /** Calls back when the draw happened at another central (never, with one central). */
  onDrawnElsewhere(callback: () => void): void;
  /** A worker thread exited, having spoken for `agency` (0: none); true when the store fail-stopped. */
  threadExited(threadId: number, agency: number): Promise<boolean>;
  /** After every worker has exited: make everything durable and close; false when it fail-stopped instead. */
  close(): Promise<boolean>;
}

/** A worker's store, as the accepting thread describes it (structured-cloned into workerData). */
export type WorkerStoreInit = ({ readonly backend: 'file' } & FileStoreInit) | ({ readonly backend: 'postgres' } & PgWorkerInit);
