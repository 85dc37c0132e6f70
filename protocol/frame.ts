/**
 * Framing: every message is
 *
 *   +---------+----------------------+------------------------+
 *   | type u8 | bodyLength u32 (BE)  | body (bodyLength bytes) |
 *   +---------+----------------------+------------------------+
 *
 * The decoder is pure: chunks of any size go in, whole frames come out. It
 * buffers a list of chunks plus a running total; a frame that lies inside one
 * chunk is sliced without copying, one that spans chunks is copied once.
 * It keeps no view into a chunk after `push` returns (the unfinished rest is
 * copied), so a caller may reuse or free a chunk once it has handled the
 * frames that came out of it, the only views into it.
 * Limits are checked as soon as the type byte and then the length are known,
 * before any body byte is buffered, so a hostile length costs nothing.
 */
import { HEADER_SIZE, type FrameLimits, type BodyLimits } from './constants.js';
import { ErrorCode, ProtocolError } from './errors.js';

export interface Frame {
  readonly type: number;
  readonly body: Buffer;
}

export class FrameDecoder {
  readonly #limits: FrameLimits;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Header of the frame being assembled, once all 5 bytes have arrived. */
  #pending: { type: number; length: number } | null = null;
  #failure: ProtocolError | null = null;

  constructor(limits: FrameLimits) {
    this.#limits = limits;
  }

  /** Bytes received but not yet returned as frames (a parsed pending header counts). */
  get buffered(): number {
    return this.#buffered + (this.#pending ? HEADER_SIZE : 0);
  }

  /** The error that stopped this decoder, once it met bad input. */
  get failure(): ProtocolError | null {
    return this.#failure;
  }

  /**
   * Feeds a chunk; returns every frame it completes. Bad input throws
   * ProtocolError — unless whole frames came before it in the same call:
   * those are returned first (they were valid), `failure` is set, and the
   * next push() or end() throws.
   */
  push(chunk: Buffer): Frame[] {
    if (this.#failure) throw this.#failure;
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const frames: Frame[] = [];
    try {
      for (;;) {
        if (this.#pending === null) {
          if (this.#buffered === 0) break;
          // The type byte alone already tells an unknown message: fail before the length arrives.
          const limits = this.#limitsFor(this.#chunks[0][0]);
          if (this.#buffered < HEADER_SIZE) break;
          const header = this.#take(HEADER_SIZE);
          const type = header[0];
          const length = header.readUInt32BE(1);
          checkLength(type, length, limits);
          this.#pending = { type, length };
        }
        if (this.#buffered < this.#pending.length) break;
        frames.push({ type: this.#pending.type, body: this.#take(this.#pending.length) });
        this.#pending = null;
      }
      // The rest of this chunk starts a frame not complete yet (it is the last
      // one buffered: earlier ones are used up first). Keep a copy, not a view.
      // Only the rest of the newest chunk is ever copied, so each byte at most once.
      const last = this.#chunks.length - 1;
      if (chunk.length > 0 && last >= 0) this.#chunks[last] = Buffer.from(this.#chunks[last]);
    } catch (error) {
      this.#failure = error as ProtocolError;
      this.#chunks = [];
      this.#buffered = 0;
      this.#pending = null;
      if (frames.length === 0) throw error;
    }
    return frames;
  }

  /** Call at end of stream: leftover bytes mean the peer stopped mid-frame. */
  end(): void {
    if (this.#failure) throw this.#failure;
    if (this.#buffered > 0 || this.#pending !== null) {
      const expected = this.#pending ? HEADER_SIZE + this.#pending.length : HEADER_SIZE;
      const got = this.#pending ? HEADER_SIZE + this.#buffered : this.#buffered;
      throw new ProtocolError(ErrorCode.Truncated, `stream ended inside a frame (${got} of ${expected} bytes)`);
    }
  }

  #limitsFor(type: number): BodyLimits {
    const limits = this.#limits.get(type);
    if (!limits) {
      throw new ProtocolError(ErrorCode.UnknownType, `unknown message type 0x${type.toString(16).padStart(2, '0')}`);
    }
    return limits;
  }

  /** Removes exactly `n` buffered bytes (n <= buffered). */
  #take(n: number): Buffer {
    // An empty body may complete with nothing buffered (e.g. WinnersRequest, empty Echo).
    if (n === 0) return Buffer.alloc(0);
    const first = this.#chunks[0];
    if (first.length >= n) {
      this.#buffered -= n;
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0];
      const used = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
    this.#buffered -= n;
    return out;
  }
}

function checkLength(type: number, length: number, limits: BodyLimits): void {
  const name = `0x${type.toString(16).padStart(2, '0')}`;
  if (length > limits.max) {
    throw new ProtocolError(ErrorCode.FrameTooLarge, `body of ${length} bytes exceeds the ${limits.max}-byte limit of type ${name}`);
  }
  if (length < limits.min) {
    throw new ProtocolError(ErrorCode.Truncated, `body of ${length} bytes is shorter than the ${limits.min} bytes type ${name} needs`);
  }
}
