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

  /**
   * Lines for every bet of `body`, or null when the slow path must decide.
   * `today` is the date as the number yyyymmdd. Fields are checked and copied
   * in one byte loop each: they are short, and a loop beats Buffer.copy's
   * per-call cost.
   */
  write(body: Buffer, today: number): BatchLines | null {
    if (body.length < BETS_START) return null;
    const count = body.readUInt16BE(4);
    if (count === 0) return null;
    // Each line is at most the bet's bytes plus the agency prefix and separators.
    const bound = body.length + count * (this.#prefix.length + 8);
    if (this.#scratch.length < bound) this.#scratch = Buffer.allocUnsafe(bound * 2);
    const out = this.#scratch;
    const prefix = this.#prefix;
    const size = body.length;
    let at = BETS_START;
    let o = 0;
    for (let i = 0; i < count; i++) {
      for (let p = 0; p < prefix.length; p++) out[o++] = prefix[p]!;
      // first and last name: u8 length + UTF-8
      for (let field = 0; field < 2; field++) {
        if (at >= size) return null;
        const len = body[at++]!;
        const end = at + len;
        if (len === 0 || len > MAX_NAME_BYTES || end > size) return null;
        let visible = false;
        let ascii = true;
        for (let k = at; k < end; k++) {
          const byte = body[k]!;
          // Control characters are refused; `,` and `"` would need CSV quotes: the slow path does those.
          if (byte < SPACE || byte === 0x7f || byte === COMMA || byte === QUOTE) return null;
          if (byte !== SPACE) visible = true;
          if (byte >= 0x80) ascii = false;
          out[o++] = byte;
        }
        if (!visible || (!ascii && !isUtf8(body.subarray(at, end)))) return null;
        out[o++] = COMMA;
        at = end;
      }
      // document: u8 length + digits
      if (at >= size) return null;
      const docLen = body[at++]!;
      const docEnd = at + docLen;
      if (docLen === 0 || docLen > MAX_DOCUMENT_DIGITS || docEnd > size) return null;
      for (let k = at; k < docEnd; k++) {
        const byte = body[k]!;
        if (byte < ZERO || byte > NINE) return null;
        out[o++] = byte;
      }
      out[o++] = COMMA;
      at = docEnd;
      // birthdate: 10 bytes YYYY-MM-DD, then the u16 number
      if (at + BIRTHDATE_BYTES + 2 > size || !validDate(body, at, today)) return null;
      for (let k = 0; k < BIRTHDATE_BYTES; k++) out[o++] = body[at + k]!;
      out[o++] = COMMA;
      at += BIRTHDATE_BYTES;
      const number = (body[at]! << 8) | body[at + 1]!;
      at += 2;
      if (number > MAX_BET_NUMBER) return null;
      o = writeDecimal(out, o, number);
      out[o++] = NEWLINE;
    }
    if (at !== size) return null;
    return { length: o, count };
  }
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

/** A real date from 1900-01-01 to `today` (yyyymmdd). */
function validDate(bytes: Buffer, at: number, today: number): boolean {
  if (bytes[at + 4] !== DASH || bytes[at + 7] !== DASH) return false;
  const year = digits(bytes, at, at + 4);
  const month = digits(bytes, at + 5, at + 7);
  const day = digits(bytes, at + 8, at + 10);
  if (year < OLDEST_YEAR || month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= days && year * 10000 + month * 100 + day <= today;
}

/** "YYYY-MM-DD" → yyyymmdd, the form `write` compares birthdates with. */
export function dateNumber(date: string): number {
  return Number(date.slice(0, 4)) * 10000 + Number(date.slice(5, 7)) * 100 + Number(date.slice(8, 10));
}

function writeDecimal(out: Buffer, at: number, value: number): number {
  if (value >= 1000) out[at++] = ZERO + Math.floor(value / 1000);
  if (value >= 100) out[at++] = ZERO + (Math.floor(value / 100) % 10);
  if (value >= 10) out[at++] = ZERO + (Math.floor(value / 10) % 10);
  out[at++] = ZERO + (value % 10);
  return at;
}
