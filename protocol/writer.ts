import { HEADER_SIZE } from './constants.js';

/**
 * Writes one frame into a buffer allocated once at its exact final size:
 * callers measure first, then write, and `finish()` checks the measurement.
 */
export class FrameWriter {
  readonly buffer: Buffer;
  #offset: number;

  constructor(type: number, bodySize: number) {
    this.buffer = Buffer.allocUnsafe(HEADER_SIZE + bodySize);
    this.buffer.writeUInt8(type, 0);
    this.buffer.writeUInt32BE(bodySize, 1);
    this.#offset = HEADER_SIZE;
  }

  u8(value: number): this {
    this.#offset = this.buffer.writeUInt8(value, this.#offset);
    return this;
  }

  u16(value: number): this {
    this.#offset = this.buffer.writeUInt16BE(value, this.#offset);
    return this;
  }

  u32(value: number): this {
    this.#offset = this.buffer.writeUInt32BE(value, this.#offset);
    return this;
  }

  bytes(value: Uint8Array): this {
    this.buffer.set(value, this.#offset);
    this.#offset += value.length;
    return this;
  }

  /** Raw UTF-8 without a length prefix (fixed-size fields). */
  utf8(value: string): this {
    this.#offset += this.buffer.write(value, this.#offset, 'utf8');
    return this;
  }

  str8(value: string): this {
    return this.u8(Buffer.byteLength(value)).utf8(value);
  }

  str16(value: string): this {
    return this.u16(Buffer.byteLength(value)).utf8(value);
  }

  /** The finished frame; throws if the measured size and the writes disagree. */
  finish(): Buffer {
    if (this.#offset !== this.buffer.length) {
      throw new Error(`frame size mismatch: measured ${this.buffer.length}, wrote ${this.#offset}`);
    }
    return this.buffer;
  }
}

/** Encoded size of a `str8`/`str16` field holding `value`. */
export function str8Size(value: string): number {
  return 1 + Buffer.byteLength(value);
}
export function str16Size(value: string): number {
  return 2 + Buffer.byteLength(value);
}

/** Cuts a string so that its UTF-8 form fits `maxBytes`, never splitting a character. */
export function truncateUtf8(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value) <= maxBytes) return value;
  const bytes = Buffer.from(value);
  let end = maxBytes;
  // If the first byte left out is a continuation byte (10xxxxxx), the cut is
  // inside a character: step back to where that character starts.
  while (end > 0 && (bytes[end] ?? 0) >> 6 === 0b10) end--;
  return bytes.subarray(0, end).toString('utf8');
}
