/**
 * The file store on the accepting thread. Before any worker exists it opens
 * bets.csv and its journal, makes whatever the page cache holds durable, and
 * recovers (see recovery.ts); then it hands each worker what it needs, runs
 * the storage side of the draw, answers for worker threads that die holding
 * LOCK or SYNCER, and closes the files at shutdown.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { threadId, type TransferListItem } from 'node:worker_threads';
import type { Logger } from '../../../common/logger.js';
import { MAX_AGENCY_ID } from '../../../protocol/index.js';
import { SharedCounters } from '../../counters.js';
import { rosterDigest, type Roster } from '../../roster.js';
import {
  LotteryMismatch,
  StorageStartupError,
  type FatalStorageError,
  type StoredResult,
  type StoreHost,
  type StoreReport,
  type WorkerStoreInit,
} from '../store.js';
import { findWinners } from './draw-scan.js';
import { FileStore, type FileStoreFiles, type FileStoreHooks } from './file-store.js';
import { createFaultState, FaultyIo, nodeIo, writeFully, type FaultPlan, type FileIo, type InjectedFault } from './io.js';
import { decodeHeader, encodeHeader, HEADER_BYTES } from './journal-format.js';
import { JournalState, ownerIdOf } from './journal-state.js';
import { adoptBetsFile, NotABetsFile, replayJournal } from './recovery.js';
import { markAnnounced, readAllWinners, wasAnnounced, writeWinners } from './winners-file.js';

/** What a worker builds its FileStore from (structured-cloned into workerData). */
export interface FileStoreInit {
  readonly state: SharedArrayBuffer;
  readonly files: FileStoreFiles;
  readonly fault: { readonly plan: FaultPlan; readonly state: SharedArrayBuffer } | null;
  /** SharedCounters' buffer: each group commit's latency is added there. */
  readonly counters: SharedArrayBuffer;
}

export function journalPathOf(betsFile: string): string {
  return `${betsFile}.journal`;
}

export function winnersPathOf(betsFile: string): string {
  return `${betsFile}.winners`;
}

export interface FileStoreOptions {
  readonly betsFile: string;
  readonly durable: boolean;
  readonly roster: Roster;
  readonly logger: Logger;
  readonly fault: FaultPlan | null;
  /** The accepting thread's fail-stop: log, then end the process. */
  readonly onFatal: (failure: FatalStorageError) => void;
  /** Where commit latencies and the recovered bets are counted (a private set when not given). */
  readonly counters?: SharedCounters;
}

export class FileStoreHost implements StoreHost {
  readonly report: StoreReport;
  readonly #state: JournalState;
  readonly #io: FileIo;
  readonly #files: FileStoreFiles;
  readonly #fault: FileStoreInit['fault'];
  readonly #counters: SharedCounters;
  readonly #store: FileStore;
  readonly #owner = ownerIdOf(threadId);
  #closed = false;

  private constructor(options: FileStoreOptions, io: FileIo, fault: FileStoreInit['fault']) {
    const { betsFile, roster, logger } = options;
    this.#io = io;
    this.#fault = fault;
    this.#counters = options.counters ?? new SharedCounters();
    this.#state = new JournalState();
    for (const agency of roster) this.#state.expect(agency);
    const journalPath = journalPathOf(betsFile);
    mkdirSync(dirname(betsFile), { recursive: true });
    const dataFd = open(io, betsFile);
    const journalFd = open(io, journalPath);
    this.#files = { dataFd, journalFd, dataPath: betsFile, journalPath, winnersPath: winnersPathOf(betsFile), durable: options.durable };
    this.#store = new FileStore(this.#state, io, this.#files, this.#owner, false, storeHooks(logger, options.onFatal, this.#counters));
    // Whatever a previous process left in the page cache goes to the disk now, or the start fails.
    syncBoth(io, this.#files, 'before recovery');
    this.report = this.#recover(roster);
    syncBoth(io, this.#files, 'after recovery');
    // The counters report what bets.csv holds durably, so they start from what recovery kept.
    for (let agency = 1; agency <= MAX_AGENCY_ID; agency++) {
      const stored = this.#state.stored(agency);
      if (stored > 0) this.#counters.stored(agency, stored, 0);
    }
  }

  /** Opens and recovers; throws LotteryMismatch or StorageStartupError. */
  static open(options: FileStoreOptions): FileStoreHost {
    let io: FileIo = nodeIo;
    let fault: FileStoreInit['fault'] = null;
    if (options.fault) {
      fault = { plan: options.fault, state: createFaultState() };
      io = new FaultyIo(nodeIo, fault.plan, fault.state, faultLogger(options.logger));
    }
    return new FileStoreHost(options, io, fault);
  }

  workerInit(): { init: WorkerStoreInit; transfer: TransferListItem[] } {
    return { init: { backend: 'file', ...this.fileInit() }, transfer: [] };
  }

  /** The file store's own view, for tests that drive it directly. */
  fileInit(): FileStoreInit {
    return { state: this.#state.buffer, files: this.#files, fault: this.#fault, counters: this.#counters.buffer };
  }

  storedResult(): Promise<StoredResult | null> {
    const winners = readAllWinners(this.#files.winnersPath);
    return Promise.resolve(winners && { winners, announced: wasAnnounced(this.#files.winnersPath) });
  }

  markAnnounced(): Promise<string | null> {
    try {
      markAnnounced(this.#io, this.#files.winnersPath);
      return Promise.resolve(null);
    } catch (error) {
      return Promise.resolve((error as Error).message);
    }
  }

  finishedCount(): Promise<number> {
    return Promise.resolve(this.#state.finishedCount());
  }

  /** One central owns the files: nobody else draws. */
  onDrawnElsewhere(): void {}

  /**
   * The storage side of the draw: closes intake, makes every write durable
   * (a failure fail-stops: StoreFailed), scans bets.csv and writes the result
   * durably. Throws, with no result written, when that write fails; calling
   * again retries.
   */
  async draw(): Promise<Map<number, string[]>> {
    const state = this.#state;
    state.closeIntake();
    // Every write that found intake open has finished once we hold the lock; none can follow.
    await state.lockPolling(this.#owner);
    const size = state.dataSize;
    state.unlock(this.#owner);
    await this.#store.durableAll();
    const winners = await findWinners(this.#io, this.#files.dataFd, size);
    writeWinners(this.#io, this.#files.winnersPath, winners);
    return winners;
  }

  /**
   * A worker thread has exited. If it held SYNCER, a sync it ran may have
   * failed unseen; if it held LOCK, a write may be half done and the ledger
   * half updated: either way the store fail-stops (recovery rebuilds all of
   * it from the disk). Returns true when it did.
   */
  async threadExited(workerThreadId: number, _agency: number): Promise<boolean> {
    const state = this.#state;
    const dead = ownerIdOf(workerThreadId);
    const heldLock = state.lockHolder() === dead;
    if (state.syncer() !== dead && !heldLock) return false;
    const what = state.syncer() === dead ? 'while it was syncing bets.csv for everyone' : 'while it held the bets-file lock';
    await this.#store.failStop(
      { file: this.#files.dataPath, operation: 'worker', error: `worker thread ${workerThreadId} exited ${what}` },
      heldLock ? { takeFrom: dead } : {},
    );
    return true;
  }

  /** Syncs and closes both files (after every worker has exited). A failed sync fail-stops. */
  async close(): Promise<boolean> {
    if (this.#closed || this.#state.failed()) return false;
    this.#closed = true;
    const io = this.#io;
    for (const [fd, file] of [
      [this.#files.dataFd, this.#files.dataPath],
      [this.#files.journalFd, this.#files.journalPath],
    ] as const) {
      try {
        io.syncNow(fd);
      } catch (error) {
        await this.#store.failStop({ file, operation: 'fsync', error: (error as Error).message });
        return false;
      }
    }
    io.close(this.#files.dataFd);
    io.close(this.#files.journalFd);
    return true;
  }

  #recover(roster: Roster): StoreReport {
    const io = this.#io;
    const { dataFd, journalFd, journalPath } = this.#files;
    const state = this.#state;
    let header = io.size(journalFd) >= HEADER_BYTES ? readHeader(io, journalFd, journalPath) : null;
    if (header === null) {
      // A first start (or a header torn by a crash during one): a new lottery.
      io.truncate(journalFd, 0);
      header = {
        rosterSize: roster.length,
        rosterDigest: rosterDigest(roster),
        lotteryId: randomBytes(16).toString('hex'),
        createdMs: Date.now(),
      };
      writeFully(io, journalFd, encodeHeader(header));
      const adopted = this.#adopt();
      this.#settle(adopted.dataSize, adopted.journalSize);
      return {
        backend: 'file',
        where: this.#files.dataPath,
        lotteryId: header.lotteryId,
        createdMs: header.createdMs,
        kind: adopted.bets > 0 ? 'adopted' : 'new',
        bets: adopted.bets,
        agencies: adopted.agencies,
        finished: 0,
        discardedBytes: adopted.discardedBytes,
        discardedJournalBytes: 0,
      };
    }
    if (header.rosterSize !== roster.length || header.rosterDigest !== rosterDigest(roster)) {
      throw new LotteryMismatch(
        `${this.#files.dataPath} belongs to lottery ${header.lotteryId} (started ${new Date(header.createdMs).toISOString()}), ` +
          `whose roster of ${header.rosterSize} agencies is not the configured one (${roster.length}); ` +
          "start with that lottery's settings, or move bets.csv and its .journal/.winners files away to start a new lottery",
      );
    }
    const replayed = replayJournal(io, dataFd, journalFd, state);
    this.#settle(replayed.dataSize, replayed.journalSize);
    return {
      backend: 'file',
      where: this.#files.dataPath,
      lotteryId: header.lotteryId,
      createdMs: header.createdMs,
      kind: 'recovered',
      bets: replayed.bets,
      agencies: replayed.agencies,
      finished: replayed.finished.length,
      discardedBytes: replayed.discardedBytes,
      discardedJournalBytes: replayed.discardedJournalBytes,
    };
  }

  /** Journals a bets.csv that came without a journal; a file that is not one stops the start. */
  #adopt(): ReturnType<typeof adoptBetsFile> {
    const { dataFd, journalFd, dataPath } = this.#files;
    try {
      return adoptBetsFile(this.#io, dataFd, journalFd, this.#state);
    } catch (error) {
      if (!(error instanceof NotABetsFile)) throw error;
      throw new StorageStartupError(
        `${dataPath} has no journal and is not a file of stored bets: ${error.message}; move it away or fix it`,
      );
    }
  }

  /** After recovery: committed and durable sizes are what is in the (synced) files. */
  #settle(dataSize: number, journalSize: number): void {
    this.#state.commitSizes(dataSize, journalSize);
    this.#state.publishSynced(0, dataSize, journalSize);
  }
}

/** A worker's FileStore over the shared state the accepting thread made. */
export function workerFileStore(
  init: FileStoreInit,
  workerThreadId: number,
  logger: Logger,
  onFatal: (failure: FatalStorageError) => void,
): FileStore {
  let io: FileIo = nodeIo;
  if (init.fault) {
    const faulty = new FaultyIo(nodeIo, init.fault.plan, init.fault.state, faultLogger(logger));
    faulty.name(init.files.dataFd, init.files.dataPath);
    faulty.name(init.files.journalFd, init.files.journalPath);
    io = faulty;
  }
  const hooks = storeHooks(logger, onFatal, new SharedCounters(init.counters));
  return new FileStore(new JournalState(init.state), io, init.files, ownerIdOf(workerThreadId), true, hooks);
}

function storeHooks(logger: Logger, onFatal: (failure: FatalStorageError) => void, counters: SharedCounters): FileStoreHooks {
  return {
    onSynced: (seconds) => counters.commit(seconds),
    onWriteFailed: ({ file, error }) =>
      logger.error('storage', 'fail', {
        operation: 'write',
        file,
        error,
        detail: 'cut back to the last whole write; its agency will send it again',
      }),
    onFatal,
  };
}

function faultLogger(logger: Logger) {
  return (fault: InjectedFault) =>
    logger.warning('fault_injected', 'success', { n: fault.n, operation: fault.operation, file: fault.file, effect: fault.effect });
}

function open(io: FileIo, path: string): number {
  try {
    // Read and append: workers append whole writes; recovery reads and cuts.
    return io.open(path, 'a+');
  } catch (error) {
    throw new StorageStartupError(`cannot open ${path}: ${(error as Error).message}`);
  }
}

function syncBoth(io: FileIo, files: FileStoreFiles, when: string): void {
  for (const [fd, path] of [
    [files.dataFd, files.dataPath],
    [files.journalFd, files.journalPath],
  ] as const) {
    try {
      io.syncNow(fd);
    } catch (error) {
      throw new StorageStartupError(`fsync of ${path} ${when} failed: ${(error as Error).message}`);
    }
  }
}

function readHeader(io: FileIo, fd: number, path: string) {
  const bytes = Buffer.alloc(HEADER_BYTES);
  io.read(fd, bytes, 0, HEADER_BYTES, 0);
  const header = decodeHeader(bytes);
  if (typeof header === 'string') {
    throw new StorageStartupError(`${path} is not a lottery journal (${header}); move it and bets.csv away to start a new lottery`);
  }
  return header;
}
