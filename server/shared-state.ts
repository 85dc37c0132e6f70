/**
 * The state every thread of the central shares, in one SharedArrayBuffer of
 * Int32 slots. The accepting thread creates it; each worker gets it in its
 * workerData. Only Atomics touch it.
 */
import { MAX_AGENCY_ID } from '../protocol/index.js';

/** Mutex guarding appends to bets.csv: 0 free, 1 held. */
export const LOCK = 0;
/** Batches appended so far (incremented under LOCK); group commit syncs up to a value of it. */
export const WRITE_SEQ = 1;
/** Highest WRITE_SEQ known to be on disk. */
export const SYNCED_SEQ = 2;
/** 1 while one worker runs fdatasync on behalf of everyone. */
export const SYNCING = 3;
/** threadId of that worker, so that the main thread can release SYNCING if it dies mid-sync. */
export const SYNC_OWNER = 7;
/** Distinct agencies that said Done. */
export const FINISHED_COUNT = 4;
/** DrawState below; waiters sleep on this slot. */
export const DRAW_STATE = 5;
/** 1 once the central is shutting down; also wakes the barrier. */
export const SHUTDOWN = 6;
const HEADER_SLOTS = 8;

const PER_AGENCY = MAX_AGENCY_ID + 1;
/** Bets stored per agency, indexed by agency id. */
export const STORED_BASE = HEADER_SLOTS;
/** 1 when the agency said Done (durably). */
export const FINISHED_BASE = STORED_BASE + PER_AGENCY;
/** 1 while a connection holds the agency's session: one session per agency at a time. */
export const ACTIVE_BASE = FINISHED_BASE + PER_AGENCY;
const SLOT_COUNT = ACTIVE_BASE + PER_AGENCY;

export const DrawState = { Open: 0, Running: 1, Done: 2, Failed: 3 } as const;

/** After the Int32 slots (a multiple of 8 bytes): the length of bets.csv as a Float64, guarded by LOCK. */
const SIZE_OFFSET = SLOT_COUNT * Int32Array.BYTES_PER_ELEMENT;

export function createSharedState(): SharedArrayBuffer {
  return new SharedArrayBuffer(SIZE_OFFSET + Float64Array.BYTES_PER_ELEMENT);
}

/** Typed accessors over the shared slots. */
export class SharedState {
  readonly slots: Int32Array;

  /**
   * Bytes in bets.csv. Read and written only while holding LOCK, whose
   * Atomics operations order these plain accesses between threads; it saves
   * an fstat per batch when indexing batch ends.
   */
  readonly #size: Float64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.slots = new Int32Array(buffer, 0, SLOT_COUNT);
    this.#size = new Float64Array(buffer, SIZE_OFFSET, 1);
  }

  /** Call only under LOCK (or before any worker exists). */
  get fileSize(): number {
    return this.#size[0]!;
  }

  set fileSize(bytes: number) {
    this.#size[0] = bytes;
  }

  stored(agency: number): number {
    return Atomics.load(this.slots, STORED_BASE + agency);
  }

  addStored(agency: number, count: number): number {
    return Atomics.add(this.slots, STORED_BASE + agency, count) + count;
  }

  isFinished(agency: number): boolean {
    return Atomics.load(this.slots, FINISHED_BASE + agency) === 1;
  }

  /** True for the one caller that marks the agency finished first. */
  markFinished(agency: number): boolean {
    return Atomics.compareExchange(this.slots, FINISHED_BASE + agency, 0, 1) === 0;
  }

  /** Claims the agency for one session; false if another connection holds it. */
  claimAgency(agency: number): boolean {
    return Atomics.compareExchange(this.slots, ACTIVE_BASE + agency, 0, 1) === 0;
  }

  releaseAgency(agency: number): void {
    Atomics.store(this.slots, ACTIVE_BASE + agency, 0);
  }

  finishedCount(): number {
    return Atomics.load(this.slots, FINISHED_COUNT);
  }

  /** Counts one more finished agency; returns the new total. */
  countFinished(): number {
    return Atomics.add(this.slots, FINISHED_COUNT, 1) + 1;
  }

  drawState(): number {
    return Atomics.load(this.slots, DRAW_STATE);
  }

  setDrawState(state: number): void {
    Atomics.store(this.slots, DRAW_STATE, state);
    Atomics.notify(this.slots, DRAW_STATE);
  }

  isShuttingDown(): boolean {
    return Atomics.load(this.slots, SHUTDOWN) === 1;
  }

  /**
   * Called by the main thread when a worker has exited: if it died while
   * syncing for everyone, release the flag so that another worker takes over.
   */
  releaseSyncOf(threadId: number): boolean {
    if (Atomics.compareExchange(this.slots, SYNC_OWNER, threadId, 0) !== threadId) return false;
    Atomics.store(this.slots, SYNCING, 0);
    return true;
  }

  /** Flags shutdown and wakes every worker parked at the barrier so it can leave. */
  beginShutdown(): void {
    Atomics.store(this.slots, SHUTDOWN, 1);
    Atomics.notify(this.slots, DRAW_STATE);
  }
}
