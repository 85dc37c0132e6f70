/**
 * The file store's engine, one instance per thread over the shared journal
 * state: the only code that writes bets.csv and its journal, syncs them, and
 * keeps each agency's ledger.
 *
 * Writing. Every write is one write(2) of whole lines on bets.csv's O_APPEND
 * descriptor, then its 32-byte journal entry, both under LOCK, so lines of two
 * agencies never interleave and the journal describes the data in order. The
 * shared committed sizes and the agency's ledger move only after both writes
 * succeeded. A write that fails (EIO, or ENOSPC after a short write) is undone
 * under the same lock hold: both files are cut back to where it started, and
 * the caller gets StoreUnavailable. A cut that itself fails fail-stops.
 *
 * Group commit. A write counts as durable once a sync that began after it has
 * completed. fdatasync covers a whole file whichever thread wrote, so one
 * thread (the holder of SYNCER) syncs for everyone: it notes the newest write
 * under LOCK, syncs both files while the others keep writing, and publishes
 * what it covered under LOCK again.
 *
 * Failure policy (PostgreSQL's since 2018, data_sync_retry = off). A failed
 * fdatasync may already have dropped the data it was asked to write, and the
 * next sync of the same file would report success, so no sync is ever
 * retried: FAILED is raised (nothing more is written, published or
 * acknowledged), both files are cut back to what the last completed sync
 * covered, so that the page cache does not show a restarted central data the
 * disk never got, and the central is told to stop (`onFatal`). SYNCER and LOCK
 * stay held until the process ends.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchLineWriter } from '../batch-lines.js';
import { ENTRY_BYTES, EntryKind, writeEntry } from './journal-format.js';
import { writeFully, type FileIo } from './io.js';
import { covers, type JournalState } from './journal-state.js';
import { readWinners } from './winners-file.js';
import {
  StoreClosed,
  StoreFailed,
  StoreUnavailable,
  type AgencyLedger,
  type BetStore,
  type FatalStorageError,
  type FinishOutcome,
  type RecordWriter,
  type Ticket,
} from '../store.js';

/** What every thread's FileStore is built from (the accepting thread passes it in workerData). */
export interface FileStoreFiles {
  readonly dataFd: number;
  readonly journalFd: number;
  readonly dataPath: string;
  readonly journalPath: string;
  readonly winnersPath: string;
  /** Acknowledge only once durable; false acknowledges once written (SERVER_FSYNC=false). */
  readonly durable: boolean;
}

export interface FileStoreHooks {
  /** A write failed and was undone (logged by the caller's logger). */
  readonly onWriteFailed: (failure: { file: string; error: string }) => void;
  /** The store fail-stopped: end the process. Called once per process. */
  readonly onFatal: (failure: FatalStorageError) => void;
  /** A group commit (the fdatasync of both files) completed, taking this long. */
  readonly onSynced: (seconds: number) => void;
}

class SyncFailure extends Error {
  constructor(
    readonly file: string,
    readonly reason: Error,
  ) {
    super(reason.message);
  }
}

export class FileStore implements BetStore {
  readonly #entry = Buffer.alloc(ENTRY_BYTES);
  /** This thread's sync for everyone, while one runs. */
  #syncing: Promise<void> | null = null;

  constructor(
    private readonly state: JournalState,
    private readonly io: FileIo,
    private readonly files: FileStoreFiles,
    /** This thread's id in LOCK and SYNCER. */
    private readonly owner: number,
    /** Workers may block on LOCK; the accepting thread must poll. */
    private readonly mayBlock: boolean,
    private readonly hooks: FileStoreHooks,
  ) {}

  expects(agency: number): boolean {
    return this.state.expects(agency);
  }

  async ledger(agency: number): Promise<AgencyLedger> {
    // Counts are applied when a write commits: waiting for the agency's newest
    // write to be durable makes them durable counts (one session per agency).
    await this.durable(this.state.lastWrite(agency));
    const { state } = this;
    return { stored: state.stored(agency), settled: state.settled(agency), finished: state.isFinished(agency) };
  }

  recordWriter(agency: number): RecordWriter {
    return new BatchLineWriter(agency);
  }

  /** `lines`: bets.csv lines (BatchLineWriter). */
  append(agency: number, lines: Uint8Array, bets: number, position: number): Ticket {
    return this.#commit(EntryKind.Stored, agency, lines, bets, position);
  }

  settle(agency: number, position: number): Ticket {
    return this.#commit(EntryKind.Refused, agency, null, 0, position);
  }

  async finish(agency: number, total: number): Promise<FinishOutcome> {
    const ledger = await this.ledger(agency);
    if (total !== ledger.stored) return { ok: false, stored: ledger.stored };
    if (!ledger.finished) await this.durable(this.#commit(EntryKind.Finished, agency, null, total, ledger.settled));
    return { ok: true };
  }

  winners(agency: number): Promise<readonly string[]> {
    return Promise.resolve(readWinners(this.files.winnersPath, agency) ?? []);
  }

  async quiesce(): Promise<void> {
    while (this.#syncing) await this.#syncing.catch(() => undefined);
  }

  /**
   * Resolves once the write numbered `ticket` is durable (at once when the
   * store is not durable, unless `force`). Asynchronous, so the thread keeps
   * serving while a sync is in flight.
   */
  async durable(ticket: Ticket, force = false): Promise<void> {
    if (!this.files.durable && !force) return;
    const { state } = this;
    while (!covers(state.syncedSeq(), ticket)) {
      if (state.failed()) throw new StoreFailed('the central is stopping: its storage failed');
      if (state.claimSyncer(this.owner)) {
        const sync = this.#syncForEveryone();
        this.#syncing = sync;
        try {
          await sync;
        } finally {
          this.#syncing = null;
        }
      } else {
        // Another thread is syncing: look again shortly. A timer rather than
        // Atomics.waitAsync, whose waiters stalled in runs where workers
        // exited while parked; a 1 ms poll costs nothing next to a sync.
        await sleep(1);
      }
    }
  }

  /** Every write so far, durable (the draw's first step). */
  async durableAll(): Promise<void> {
    await this.durable(this.state.writeSeq(), true);
  }

  /**
   * Fail-stop from this thread: raise FAILED, take LOCK for good, cut both
   * files back to what the last completed sync covered, and report. `holding`
   * when this thread holds LOCK already; `takeFrom` a dead owner's id to take
   * it over from.
   */
  async failStop(failure: Omit<FatalStorageError, 'detail'>, how: { holding?: boolean; takeFrom?: number } = {}): Promise<void> {
    const { state, io, files } = this;
    if (!state.markFailed()) return; // someone else is already stopping the central
    if (!how.holding && !(how.takeFrom !== undefined && state.takeLockFrom(how.takeFrom, this.owner))) await this.#lock();
    let detail = 'nothing it covered was acknowledged; stopping so that recovery trusts only what is on disk';
    try {
      io.truncate(files.dataFd, state.durableDataSize);
      io.truncate(files.journalFd, state.durableJournalSize);
    } catch (error) {
      detail += `; cutting the files back to the last completed sync failed too (${(error as Error).message})`;
    }
    this.hooks.onFatal({ ...failure, detail });
  }

  #lock(): void | Promise<void> {
    if (this.mayBlock) return this.state.lockBlocking(this.owner);
    return this.state.lockPolling(this.owner);
  }

  /** One write and its journal entry, under LOCK (workers only: it blocks). */
  #commit(kind: EntryKind, agency: number, lines: Uint8Array | null, bets: number, position: number): Ticket {
    const { state, io, files } = this;
    if (!this.mayBlock) throw new Error('only workers write bets');
    state.lockBlocking(this.owner);
    let release = true;
    try {
      if (state.failed()) throw new StoreFailed('the central is stopping: its storage failed');
      // Checked under the lock: the draw closes intake, then waits for the lock once, so no bet slips in after.
      if (kind !== EntryKind.Finished && state.intakeClosed()) throw new StoreClosed('the draw has begun; no more bets are accepted');
      const dataStart = state.dataSize;
      const journalStart = state.journalSize;
      let dataEnd = dataStart;
      let file = files.dataPath;
      try {
        if (lines && lines.length > 0) {
          writeFully(io, files.dataFd, lines);
          dataEnd += lines.length;
        }
        file = files.journalPath;
        writeEntry(this.#entry, 0, { kind, agency, bets, position, dataEnd });
        writeFully(io, files.journalFd, this.#entry);
      } catch (error) {
        release = false; // stays held if the undo fails and the store fail-stops
        this.#undo(file, error as Error, dataStart, journalStart);
        release = true;
        throw new StoreUnavailable(`could not write ${file}: ${(error as Error).message}; nothing of this write was kept`);
      }
      state.commitSizes(dataEnd, journalStart + ENTRY_BYTES);
      const seq = state.nextWriteSeq();
      state.record(agency, kind === EntryKind.Stored ? bets : 0, position, kind === EntryKind.Finished, seq);
      return seq;
    } finally {
      if (release) state.unlock(this.owner);
    }
  }

  /** Cuts both files back to where a failed write started (still under LOCK); fail-stops when that fails too. */
  #undo(file: string, error: Error, dataStart: number, journalStart: number): void {
    const { io, files } = this;
    try {
      if (io.size(files.dataFd) !== dataStart) io.truncate(files.dataFd, dataStart);
      if (io.size(files.journalFd) !== journalStart) io.truncate(files.journalFd, journalStart);
    } catch (cutError) {
      void this.failStop(
        { file, operation: 'ftruncate', error: `${(cutError as Error).message} (after a failed write: ${error.message})` },
        { holding: true },
      );
      throw new StoreFailed('the central is stopping: a failed write could not be undone');
    }
    this.hooks.onWriteFailed({ file, error: error.message });
  }

  /** Runs one fdatasync of both files for every write committed so far (this thread holds SYNCER). */
  async #syncForEveryone(): Promise<void> {
    const { state, io, files } = this;
    await this.#lock();
    const target = state.writeSeq();
    const dataSize = state.dataSize;
    const journalSize = state.journalSize;
    state.unlock(this.owner);
    const started = performance.now();
    try {
      await Promise.all([syncOne(io, files.dataFd, files.dataPath), syncOne(io, files.journalFd, files.journalPath)]);
      this.hooks.onSynced((performance.now() - started) / 1000);
    } catch (error) {
      const failure = error as SyncFailure;
      await this.failStop({ file: failure.file, operation: 'fdatasync', error: failure.reason.message });
      throw new StoreFailed(`the central is stopping: fdatasync of ${failure.file} failed`);
    }
    // Published under LOCK, so a fail-stop either sees these sizes or keeps us from publishing.
    await this.#lock();
    try {
      if (!state.failed()) state.publishSynced(target, dataSize, journalSize);
    } finally {
      state.unlock(this.owner);
    }
    state.releaseSyncer(this.owner);
  }
}

async function syncOne(io: FileIo, fd: number, file: string): Promise<void> {
  try {
    await io.sync(fd);
  } catch (error) {
    throw new SyncFailure(file, error as Error);
  }
}
