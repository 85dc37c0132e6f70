import { isUtf8 } from 'node:buffer';
import { ErrorCode, ProtocolError } from './errors.js';

/**
 * A bounded cursor over exactly one frame body. Reading past the end throws
 * ERR_TRUNCATED; `done()` insists the body was consumed entirely.
 */
export class BodyReader {
  #offset = 0;
  constructor(private readonly body: Buffer) {}

  get remaining(): number {
    return this.body.length - this.#offset;
  }

  #take(n: number, what: string): number {
    if (this.#offset + n > this.body.length) {
      throw new ProtocolError(ErrorCode.Truncated, `truncated ${what}: needs ${n} bytes, ${this.remaining} left`);
    }
    const at = this.#offset;
    this.#offset += n;
    return at;
  }

  u8(what: string): number {
    return this.body.readUInt8(this.#take(1, what));
  }

  u16(what: string): number {
    return this.body.readUInt16BE(this.#take(2, what));
  }

  u32(what: string): number {
    return this.body.readUInt32BE(this.#take(4, what));
  }

  /** A copy of the next `n` bytes (never a view that would pin the frame). */
  bytes(n: number, what: string): Buffer {
    const at = this.#take(n, what);
    return Buffer.from(this.body.subarray(at, at + n));
  }

  /** `n` bytes decoded as UTF-8; invalid sequences throw ERR_INVALID_UTF8. */
  utf8(n: number, what: string): string {
    const at = this.#take(n, what);
    const raw = this.body.subarray(at, at + n);
    if (!isUtf8(raw)) throw new ProtocolError(ErrorCode.InvalidUtf8, `${what} is not valid UTF-8`);
    return raw.toString('utf8');
  }

  /** `u8 length` then that many UTF-8 bytes. */
  str8(what: string): string {
    return this.utf8(this.u8(`${what} length`), what);
  }

  /** `u16 length` then that many UTF-8 bytes. */
  str16(what: string): string {
    return this.utf8(this.u16(`${what} length`), what);
  }

  /** Rest of the body, copied. */
  rest(): Buffer {
    return this.bytes(this.remaining, 'body');
  }

  done(what: string): void {
    if (this.remaining !== 0) {
      throw new ProtocolError(ErrorCode.TrailingBytes, `${this.remaining} unexpected bytes after ${what}`);
    }
  }
}

/** Throws ERR_OUT_OF_RANGE unless min <= value <= max. */
export function checkRange(value: number, min: number, max: number, what: string): number {
  if (value < min || value > max) {
    throw new ProtocolError(ErrorCode.OutOfRange, `${what} ${value} out of range ${min}..${max}`);
  }
  return value;
}
