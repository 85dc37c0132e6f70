/**
 * Inbound flow control between the main thread and one connection's worker,
 * in shared memory rather than a message per chunk: the main thread counts
 * the bytes it hands over, the worker the bytes it has processed. Only a
 * paused main thread needs a message, once the worker has caught up.
 *
 * Counters are u32 and wrap; their difference stays exact while the backlog
 * is under 4 GiB (it never exceeds a few hundred KiB). The pause flag and the
 * counters are sequentially consistent Atomics: either the worker sees the
 * flag and sends the wake-up, or the main thread, re-reading after raising
 * the flag, sees the progress (see `pause`).
 */
const RECEIVED = 0;
const CONSUMED = 1;
const PAUSED = 2;

/** Below this backlog a paused socket may be read again. */
export const LOW_WATER = 32 * 1024;
/** Above this backlog the socket stops being read. */
export const HIGH_WATER = 128 * 1024;

export class InboundFlow {
  readonly #slots: Uint32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(3 * Uint32Array.BYTES_PER_ELEMENT)) {
    this.#slots = new Uint32Array(buffer);
  }

  /** Bytes handed to the worker and not yet processed. */
  get backlog(): number {
    return (Atomics.load(this.#slots, RECEIVED) - Atomics.load(this.#slots, CONSUMED)) >>> 0;
  }

  /** Main thread: `bytes` more were handed to the worker. */
  received(bytes: number): void {
    Atomics.add(this.#slots, RECEIVED, bytes);
  }

  /**
   * Main thread: raises the paused flag, then returns the backlog read after
   * it, so that progress the worker made meanwhile is never missed.
   */
  pause(): number {
    Atomics.store(this.#slots, PAUSED, 1);
    return this.backlog;
  }

  resume(): void {
    Atomics.store(this.#slots, PAUSED, 0);
  }

  /** Worker: `bytes` more are processed. True when the paused main thread should be told. */
  consumed(bytes: number): boolean {
    Atomics.add(this.#slots, CONSUMED, bytes);
    return Atomics.load(this.#slots, PAUSED) === 1 && this.backlog < LOW_WATER;
  }
}
