/**
 * An independent byte builder for test fixtures (our counterpart of
 * pg-protocol's testing/buffer-list.ts). It must never import protocol/writer.ts
 * or any encoder: expected bytes are written by hand, field by field, so a bug
 * in the encoder cannot hide behind the same bug in the oracle.
 *
 *   const frame = new Bytes()
 *     .u16(1)         // version
 *     .u16(7)         // agency
 *     .frame(0x01);   // type Hello: header (type + u32be length) + the bytes above
 *
 * Integers are big-endian. Values that do not fit their width throw, so a typo
 * in a fixture fails loudly instead of wrapping around.
 */
export class Bytes {
  readonly #bytes: number[] = [];

  /** Bytes written so far (the body, when used with `frame`). */
  get length(): number {
    return this.#bytes.length;
  }

  u8(value: number): this {
    check(value, 0xff);
    this.#bytes.push(value);
    return this;
  }

  u16(value: number): this {
    check(value, 0xffff);
    this.#bytes.push((value >>> 8) & 0xff, value & 0xff);
    return this;
  }

  u32(value: number): this {
    check(value, 0xffffffff);
    this.#bytes.push((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
    return this;
  }

  /** Bytes as given: an array of numbers, a Buffer, or a hex string ("c3 a9" or "c3a9"). */
  raw(bytes: ArrayLike<number> | string): this {
    const list = typeof bytes === 'string' ? hex(bytes) : Array.from(bytes);
    for (const b of list) this.u8(b);
    return this;
  }

  /** UTF-8 without a length prefix (Node's own encoder, not ours). */
  utf8(value: string): this {
    return this.raw(Buffer.from(value, 'utf8'));
  }

  /** u8 byte length, then the UTF-8 bytes. */
  str8(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    return this.u8(bytes.length).raw(bytes);
  }

  /** u16 byte length, then the UTF-8 bytes. */
  str16(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    return this.u16(bytes.length).raw(bytes);
  }

  /** `count` copies of `byte`. */
  fill(count: number, byte = 0): this {
    for (let i = 0; i < count; i++) this.u8(byte);
    return this;
  }

  /** The bytes written, without a header. */
  build(): Buffer {
    return Buffer.from(this.#bytes);
  }

  /** A whole frame: u8 type, u32be length of the bytes written, then those bytes. */
  frame(type: number, declaredLength = this.#bytes.length): Buffer {
    return new Bytes().u8(type).u32(declaredLength).raw(this.#bytes).build();
  }
}

/** A Buffer from a hex string with optional spaces, e.g. fromHex("05 00 00 00 00"). */
export function fromHex(text: string): Buffer {
  return Buffer.from(hex(text));
}

function hex(text: string): number[] {
  const clean = text.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad hex: ${JSON.stringify(text)}`);
  const out: number[] = [];
  for (let i = 0; i < clean.length; i += 2) out.push(parseInt(clean.slice(i, i + 2), 16));
  return out;
}

function check(value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`fixture value ${value} does not fit 0..${max}`);
  }
}
