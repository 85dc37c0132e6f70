/**
 * The file store's shared memory: one SharedArrayBuffer that the accepting
 * thread creates at recovery and every worker maps. Only the store touches it.
 *
 * Two words are ownership, each holding the owner's id (its threadId + 1, so
 * that the main thread, threadId 0, is 1) or 0 when free: LOCK, held around
 * every write of bets.csv and its journal, and SYNCER, held by the one thread
 * that runs fdatasync for everyone (group commit). When a thread exits, the
 * main thread reads them to learn what it held (see FileStoreHost).
 *
 * Sequence numbers are Int32 and may wrap after 2^31 writes; they are only
 * ever compared through `covers`, which is exact while the two values are
 * within 2^31 of each other (a few thousand writes apart at most).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_AGENCY_ID } from '../../../protocol/index.js';

const LOCK = 0;
const SYNCER = 1;
/** Writes committed so far. */
const WRITE_SEQ = 2;
/** The newest WRITE_SEQ covered by a completed sync. */
const SYNCED_SEQ = 3;
/** 1 once the store fail-stopped: nothing more is written or acknowledged. */
const FAILED = 4;
/** 1 once the draw has begun: no more bets are stored. */
const INTAKE_CLOSED = 5;
/** Roster agencies recorded as finished. */
const FINISHED_COUNT = 6;
const HEADER_SLOTS = 8;

const AGENCIES = MAX_AGENCY_ID + 1;
const STORED = HEADER_SLOTS;
const SETTLED = STORED + AGENCIES;
const LAST_WRITE = SETTLED + AGENCIES;
const FINISHED = LAST_WRITE + AGENCIES;
const INT_SLOTS = FINISHED + AGENCIES;

/** Float64 slots after the Int32 ones (INT_SLOTS is even, so they are 8-byte aligned). */
const SIZES_AT = INT_SLOTS * Int32Array.BYTES_PER_ELEMENT;
const DATA_SIZE = 0;
const JOURNAL_SIZE = 1;
const DURABLE_DATA = 2;
const DURABLE_JOURNAL = 3;
const SIZE_SLOTS = 4;

/** Then one byte per agency id: 1 when the lottery expects it. */
const ROSTER_AT = SIZES_AT + SIZE_SLOTS * Float64Array.BYTES_PER_ELEMENT;
const BUFFER_BYTES = ROSTER_AT + AGENCIES;

const FREE = 0;

/** The id a thread writes into LOCK and SYNCER. */
export function ownerIdOf(threadId: number): number {
  return threadId + 1;
}

/** True when `seq` is at or before `synced` (wrap-aware). */
export function covers(synced: number, seq: number): boolean {
  return ((synced - seq) | 0) >= 0;
}

export class JournalState {
  readonly buffer: SharedArrayBuffer;
  readonly #slots: Int32Array;
  /**
   * Sizes are plain Float64 reads and writes, ordered between threads by the
   * Atomics on LOCK (committed sizes, written under it) and on SYNCER and LOCK
   * (durable sizes, written by the syncer while it also holds LOCK).
   */
  readonly #sizes: Float64Array;
  readonly #roster: Uint8Array;

  constructor(buffer = new SharedArrayBuffer(BUFFER_BYTES)) {
    this.buffer = buffer;
    this.#slots = new Int32Array(buffer, 0, INT_SLOTS);
    this.#sizes = new Float64Array(buffer, SIZES_AT, SIZE_SLOTS);
    this.#roster = new Uint8Array(buffer, ROSTER_AT, AGENCIES);
  }

  // ---- LOCK ------------------------------------------------------------------

  /** Takes LOCK, blocking the thread while another holds it. Workers only: the main thread must not block. */
  lockBlocking(owner: number): void {
    for (;;) {
      const holder = Atomics.compareExchange(this.#slots, LOCK, FREE, owner);
      if (holder === FREE) return;
      // Sleeps only while the word still names that holder; the timeout bounds a lost wake-up.
      Atomics.wait(this.#slots, LOCK, holder, 50);
    }
  }

  /** Takes LOCK without blocking the thread (the main thread's way). */
  async lockPolling(owner: number): Promise<void> {
    while (Atomics.compareExchange(this.#slots, LOCK, FREE, owner) !== FREE) await sleep(1);
  }

  unlock(owner: number): void {
    if (Atomics.compareExchange(this.#slots, LOCK, owner, FREE) !== owner) throw new Error('the journal lock is not held by this thread');
    Atomics.notify(this.#slots, LOCK, 1);
  }

  /** Moves LOCK from a thread that died holding it to `owner`; false if it did not hold it. */
  takeLockFrom(dead: number, owner: number): boolean {
    return Atomics.compareExchange(this.#slots, LOCK, dead, owner) === dead;
  }

  lockHolder(): number {
    return Atomics.load(this.#slots, LOCK);
  }

  // ---- SYNCER ----------------------------------------------------------------

  /** Becomes the syncer for everyone; false when another thread is. */
  claimSyncer(owner: number): boolean {
    return Atomics.compareExchange(this.#slots, SYNCER, FREE, owner) === FREE;
  }

  releaseSyncer(owner: number): void {
    Atomics.compareExchange(this.#slots, SYNCER, owner, FREE);
  }

  syncer(): number {
    return Atomics.load(this.#slots, SYNCER);
  }

  // ---- sequence numbers ------------------------------------------------------

  /** Under LOCK: numbers the write just committed. */
  nextWriteSeq(): number {
    return Atomics.add(this.#slots, WRITE_SEQ, 1) + 1;
  }

  writeSeq(): number {
    return Atomics.load(this.#slots, WRITE_SEQ);
  }

  syncedSeq(): number {
    return Atomics.load(this.#slots, SYNCED_SEQ);
  }

  /** By the syncer, under LOCK, once its sync covering `seq` completed. */
  publishSynced(seq: number, dataSize: number, journalSize: number): void {
    this.#sizes[DURABLE_DATA] = dataSize;
    this.#sizes[DURABLE_JOURNAL] = journalSize;
    if (!covers(this.syncedSeq(), seq)) Atomics.store(this.#slots, SYNCED_SEQ, seq);
  }

  // ---- sizes -----------------------------------------------------------------

  /** bets.csv's length as far as committed writes go (read and written under LOCK). */
  get dataSize(): number {
    return this.#sizes[DATA_SIZE];
  }

  get journalSize(): number {
    return this.#sizes[JOURNAL_SIZE];
  }

  commitSizes(dataSize: number, journalSize: number): void {
    this.#sizes[DATA_SIZE] = dataSize;
    this.#sizes[JOURNAL_SIZE] = journalSize;
  }

  /** What the last completed sync covered (read under LOCK). */
  get durableDataSize(): number {
    return this.#sizes[DURABLE_DATA];
  }

  get durableJournalSize(): number {
    return this.#sizes[DURABLE_JOURNAL];
  }

  // ---- flags -----------------------------------------------------------------

  failed(): boolean {
    return Atomics.load(this.#slots, FAILED) === 1;
  }

  /** True for the first caller. */
  markFailed(): boolean {
    return Atomics.exchange(this.#slots, FAILED, 1) === 0;
  }

  intakeClosed(): boolean {
    return Atomics.load(this.#slots, INTAKE_CLOSED) === 1;
  }

  closeIntake(): void {
    Atomics.store(this.#slots, INTAKE_CLOSED, 1);
  }

  // ---- the roster and each agency's ledger --------------------------------------

  expect(agency: number): void {
    this.#roster[agency] = 1;
  }

  expects(agency: number): boolean {
    return this.#roster[agency] === 1;
  }

  stored(agency: number): number {
    return Atomics.load(this.#slots, STORED + agency);
  }

  settled(agency: number): number {
    return Atomics.load(this.#slots, SETTLED + agency);
  }

  /** WRITE_SEQ of the agency's newest write (0: none since start-up). */
  lastWrite(agency: number): number {
    return Atomics.load(this.#slots, LAST_WRITE + agency);
  }

  isFinished(agency: number): boolean {
    return Atomics.load(this.#slots, FINISHED + agency) === 1;
  }

  finishedCount(): number {
    return Atomics.load(this.#slots, FINISHED_COUNT);
  }

  /** Under LOCK (or before any worker exists): applies one committed entry to the agency's ledger. */
  record(agency: number, bets: number, position: number, finished: boolean, writeSeq: number): void {
    if (finished) {
      if (Atomics.exchange(this.#slots, FINISHED + agency, 1) === 0 && this.expects(agency)) Atomics.add(this.#slots, FINISHED_COUNT, 1);
    } else {
      Atomics.add(this.#slots, STORED + agency, bets);
    }
    Atomics.store(this.#slots, SETTLED + agency, position);
    Atomics.store(this.#slots, LAST_WRITE + agency, writeSeq);
  }
}
