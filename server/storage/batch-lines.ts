/**
 * The hot path of ingestion: a BetBatch body straight to bets.csv lines,
 * checking every rule on the bytes and copying them into a reusable buffer,
 * with no intermediate strings or objects.
 *
 * It only ever says "all valid, here are the lines" or "not sure": anything
 * unusual (an invalid bet, a structural error, a name that needs CSV quotes)
 * returns null, and the caller takes the slow path (decodeBetBatch +
 * validateBet + formatBetLines), which produces the exact error or the
 * quoted line. So the two paths cannot disagree on what is stored; a
 * differential test holds the fast path to never accepting more.
 */
import { isUtf8 } from 'node:buffer';
import { BIRTHDATE_BYTES, MAX_BET_NUMBER, MAX_DOCUMENT_DIGITS, MAX_NAME_BYTES } from '../../protocol/index.js';

const COMMA = 0x2c;
const QUOTE = 0x22;
const NEWLINE = 0x0a;
const SPACE = 0x20;
const DASH = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
/** First byte of a bet in a BetBatch body: after u32 seq and u16 count. */
const BETS_START = 6;
const OLDEST_YEAR = 1900;

export interface BatchLines {
  /** Bytes of CSV lines at the start of the scratch buffer. */
  readonly length: number;
  readonly count: number;
}

/** Turns batch bodies into lines; one per worker, its scratch buffer is reused. */
export class BatchLineWriter {
  #scratch = Buffer.allocUnsafe(32 * 1024);
  readonly #prefix: Buffer;

  constructor(agency: number) {
    this.#prefix = Buffer.from(`${agency},`);
  }

  /** The buffer the lines of the last successful `write` start at. */
  get scratch(): Buffer {
    return this.#scratch;
  }

  /** Lines for every bet of `body`, or null when the slow path must decide. `today` is "YYYY-MM-DD" as bytes. */
  write(body: Buffer, today: Buffer): BatchLines | null {
    if (body.length < BETS_START) return null;
    const count = body.readUInt16BE(4);
    if (count === 0) return null;
    // Each line is at most the bet's bytes plus the agency prefix and separators.
    const bound = body.length + count * (this.#prefix.length + 8);
    if (this.#scratch.length < bound) this.#scratch = Buffer.allocUnsafe(bound * 2);
    const out = this.#scratch;
    let at = BETS_START;
    let o = 0;
    for (let i = 0; i < count; i++) {
      o += this.#prefix.copy(out, o);
      // first and last name: u8 length + UTF-8
      for (let field = 0; field < 2; field++) {
        if (at >= body.length) return null;
        const len = body[at++]!;
        const end = at + len;
        if (len === 0 || len > MAX_NAME_BYTES || end > body.length || !plainName(body, at, end)) return null;
        o += body.copy(out, o, at, end);
        out[o++] = COMMA;
        at = end;
      }
      // document: u8 length + digits
      if (at >= body.length) return null;
      const docLen = body[at++]!;
      const docEnd = at + docLen;
      if (docLen === 0 || docLen > MAX_DOCUMENT_DIGITS || docEnd > body.length || !allDigits(body, at, docEnd)) return null;
      o += body.copy(out, o, at, docEnd);
      out[o++] = COMMA;
      at = docEnd;
      // birthdate: 10 bytes YYYY-MM-DD
      const dateEnd = at + BIRTHDATE_BYTES;
      if (dateEnd + 2 > body.length || !validDate(body, at, today)) return null;
      o += body.copy(out, o, at, dateEnd);
      out[o++] = COMMA;
      at = dateEnd;
      // number: u16 0..9999, written in decimal
      const number = body.readUInt16BE(at);
      at += 2;
      if (number > MAX_BET_NUMBER) return null;
      o = writeDecimal(out, o, number);
      out[o++] = NEWLINE;
    }
    if (at !== body.length) return null;
    return { length: o, count };
  }
}

/**
 * A name that can be stored as is: not only spaces, no control characters,
 * valid UTF-8, and nothing that would need CSV quotes.
 */
function plainName(bytes: Buffer, from: number, to: number): boolean {
  let visible = false;
  let ascii = true;
  for (let i = from; i < to; i++) {
    const b = bytes[i]!;
    if (b < SPACE || b === 0x7f || b === COMMA || b === QUOTE) return false;
    if (b !== SPACE) visible = true;
    if (b >= 0x80) ascii = false;
  }
  return visible && (ascii || isUtf8(bytes.subarray(from, to)));
}

function allDigits(bytes: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i]! < ZERO || bytes[i]! > NINE) return false;
  return true;
}

function digits(bytes: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = bytes[i]! - ZERO;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** A real date from 1900-01-01 to `today`. */
function validDate(bytes: Buffer, at: number, today: Buffer): boolean {
  if (bytes[at + 4] !== DASH || bytes[at + 7] !== DASH) return false;
  const year = digits(bytes, at, at + 4);
  const month = digits(bytes, at + 5, at + 7);
  const day = digits(bytes, at + 8, at + 10);
  if (year < OLDEST_YEAR || month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  if (day > days) return false;
  // Same fixed-width format, so byte order is date order.
  return bytes.compare(today, 0, BIRTHDATE_BYTES, at, at + BIRTHDATE_BYTES) <= 0;
}

function writeDecimal(out: Buffer, at: number, value: number): number {
  if (value >= 1000) out[at++] = ZERO + Math.floor(value / 1000);
  if (value >= 100) out[at++] = ZERO + (Math.floor(value / 100) % 10);
  if (value >= 10) out[at++] = ZERO + (Math.floor(value / 10) % 10);
  out[at++] = ZERO + (value % 10);
  return at;
}
