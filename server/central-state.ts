/**
 * What every thread of the central shares besides the store: the draw's
 * state (the barrier), the shutdown flag, and which agencies have a session.
 * One SharedArrayBuffer of Int32 slots; the accepting thread creates it and
 * each worker gets it in its workerData. Only Atomics touch it.
 */
import { MAX_AGENCY_ID } from '../protocol/index.js';

/** DrawState below; sessions parked at the barrier wait on this slot. */
export const DRAW_STATE = 0;
/** 1 once the central is shutting down; also wakes the barrier. */
const SHUTDOWN = 1;
const HEADER_SLOTS = 2;
/** 1 while a connection holds the agency's session: one session per agency at a time. */
const ACTIVE = HEADER_SLOTS;
const SLOTS = ACTIVE + MAX_AGENCY_ID + 1;

export const DrawState = { Open: 0, Running: 1, Done: 2 } as const;

export class CentralState {
  readonly buffer: SharedArrayBuffer;
  readonly slots: Int32Array;

  constructor(buffer = new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT)) {
    this.buffer = buffer;
    this.slots = new Int32Array(buffer);
  }

  /** Claims the agency for one session; false if another connection holds it. */
  claimAgency(agency: number): boolean {
    return Atomics.compareExchange(this.slots, ACTIVE + agency, 0, 1) === 0;
  }

  releaseAgency(agency: number): void {
    Atomics.store(this.slots, ACTIVE + agency, 0);
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

  /** Flags shutdown and wakes every session parked at the barrier so it can leave. */
  beginShutdown(): void {
    Atomics.store(this.slots, SHUTDOWN, 1);
    Atomics.notify(this.slots, DRAW_STATE);
  }
}
