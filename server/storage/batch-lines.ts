/**
 * The hot path of ingestion: a BetBatch body straight to bets.csv lines,
 * checking every rule on the bytes and copying them into a reusable buffer,
 * with no intermediate strings or objects.
 *
 * It only ever says "all valid, here are the lines" or "not sure": anything
 * unusual (an invalid bet, a structural error) returns -1, and the caller
 * takes the slow path (decodeBetBatch + validateBet + formatBetLines), which
 * produces the exact error. A name holding `,` or `"` is quoted here as
 * formatBetLines quotes it. A differential test holds the fast path to
 * never accepting more than the slow path, and to writing the same bytes.
 */
import {
  BATCH_BETS_OFFSET,
  BATCH_COUNT_OFFSET,
  BIRTHDATE_BYTES,
  daysInMonth,
  MAX_BET_NUMBER,
  MAX_DOCUMENT_DIGITS,
  MAX_NAME_BYTES,
  OLDEST_BIRTH_YEAR,
} from '../../protocol/index.js';

const COMMA = 0x2c;
const QUOTE = 0x22;
const NEWLINE = 0x0a;
const SPACE = 0x20;
const DASH = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * Turns batch bodies into lines, one batch after another into one buffer, so
 * that the batches of a socket read reach the file in a single write. One per
 * session; the buffer is reused after `reset`.
 */
export class BatchLineWriter {
  #out = Buffer.allocUnsafe(48 * 1024);
  #length = 0;
  readonly #prefix: Buffer;

  constructor(agency: number) {
    this.#prefix = Buffer.from(`${agency},`);
  }

  /** Bytes of lines appended since the last reset. */
  get length(): number {
    return this.#length;
  }

  /** The lines appended since the last reset (a view: valid until the next append or reset). */
  get lines(): Buffer {
    return this.#out.subarray(0, this.#length);
  }

  reset(): void {
    this.#length = 0;
  }

  /** Appends lines made elsewhere (the slow path's). */
  appendLines(lines: Buffer): void {
    this.#ensure(lines.length);
    lines.copy(this.#out, this.#length);
    this.#length += lines.length;
  }

  /**
   * Appends the lines of every bet of `body` and returns how many there are,
   * or returns -1, appending nothing, when the slow path must decide. `today`
   * is the date as the number yyyymmdd. Fields are checked and copied in one
   * byte loop each: they are short, and a loop beats Buffer.copy's per-call cost.
   */
  append(body: Buffer, today: number): number {
    const end = this.#write(body, today);
    if (end < 0) return -1;
    this.#length = end;
    return body.readUInt16BE(BATCH_COUNT_OFFSET);
  }

  #ensure(extra: number): void {
    if (this.#out.length - this.#length >= extra) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.#out.length * 2, this.#length + extra));
    this.#out.copy(bigger, 0, 0, this.#length);
    this.#out = bigger;
  }

  /** Writes the lines after the current ones; returns where they end, or -1. */
  #write(body: Buffer, today: number): number {
    if (body.length < BATCH_BETS_OFFSET) return -1;
    const count = body.readUInt16BE(BATCH_COUNT_OFFSET);
    if (count === 0) return -1;
    // A line is at most its bet's bytes, with a name's quotes doubled and two
    // more around each name, plus the agency prefix and separators.
    this.#ensure(2 * body.length + count * (this.#prefix.length + 12));
    const out = this.#out;
    const prefix = this.#prefix;
    const size = body.length;
    let at = BATCH_BETS_OFFSET;
    let o = this.#length;
    for (let i = 0; i < count; i++) {
      for (let p = 0; p < prefix.length; p++) out[o++] = prefix[p]!;
      // first and last name: u8 length + UTF-8
      for (let field = 0; field < 2; field++) {
        if (at >= size) return -1;
        const len = body[at++]!;
        const end = at + len;
        if (len === 0 || len > MAX_NAME_BYTES || end > size) return -1;
        if (!hasVisible(body, at, end)) return -1;
        let next = copyName(out, o, body, at, end, false);
        if (next === NEEDS_QUOTES) {
          // Rare: the same name again, quoted.
          out[o] = QUOTE;
          next = copyName(out, o + 1, body, at, end, true);
          if (next >= 0) out[next++] = QUOTE;
        }
        if (next < 0) return -1;
        o = next;
        out[o++] = COMMA;
        at = end;
      }
      // document: u8 length + digits
      if (at >= size) return -1;
      const docLen = body[at++]!;
      const docEnd = at + docLen;
      if (docLen === 0 || docLen > MAX_DOCUMENT_DIGITS || docEnd > size) return -1;
      for (let k = at; k < docEnd; k++) {
        const byte = body[k]!;
        if (byte < ZERO || byte > NINE) return -1;
        out[o++] = byte;
      }
      out[o++] = COMMA;
      at = docEnd;
      // birthdate: 10 bytes YYYY-MM-DD, then the u16 number
      if (at + BIRTHDATE_BYTES + 2 > size || !validDate(body, at, today)) return -1;
      for (let k = 0; k < BIRTHDATE_BYTES; k++) out[o++] = body[at + k]!;
      out[o++] = COMMA;
      at += BIRTHDATE_BYTES;
      const number = (body[at]! << 8) | body[at + 1]!;
      at += 2;
      if (number > MAX_BET_NUMBER) return -1;
      o = writeDecimal(out, o, number);
      out[o++] = NEWLINE;
    }
    if (at !== size) return -1;
    return o;
  }
}

/** What copyName returns, unquoted, for a name holding `,` or `"`. */
const NEEDS_QUOTES = -2;

/**
 * Copies the name at [from, to) of `bytes` to `out` at `o`, checking it:
 * returns the offset after it, or -1 for a control character or malformed
 * UTF-8. Unquoted, a `,` or `"` stops it with NEEDS_QUOTES; `quoted`, inner
 * quotes are doubled (the caller adds the outer ones), as formatBetLines does.
 */
function copyName(out: Buffer, o: number, bytes: Buffer, from: number, to: number, quoted: boolean): number {
  for (let k = from; k < to; ) {
    const byte = bytes[k]!;
    if (byte < 0x80) {
      if (byte < SPACE || byte === 0x7f) return -1; // control characters are refused
      if (byte === COMMA || byte === QUOTE) {
        if (!quoted) return NEEDS_QUOTES;
        if (byte === QUOTE) out[o++] = QUOTE;
      }
      out[o++] = byte;
      k++;
    } else {
      const next = utf8SequenceEnd(bytes, k, to);
      if (next < 0) return -1;
      while (k < next) out[o++] = bytes[k++]!;
    }
  }
  return o;
}

/** True when [from, to) holds a byte other than a space (names are mostly trimmed: one look). */
function hasVisible(bytes: Buffer, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (bytes[k] !== SPACE) return true;
  return false;
}

/**
 * The end of the well-formed UTF-8 sequence whose lead byte (≥ 0x80) is at
 * `k`, or -1: no overlong forms, no surrogates, nothing above U+10FFFF (the
 * rules of Buffer's isUtf8, checked here without a native call per name).
 */
function utf8SequenceEnd(bytes: Buffer, k: number, end: number): number {
  const lead = bytes[k]!;
  if (lead >= 0xc2 && lead <= 0xdf) return k + 1 < end && (bytes[k + 1]! & 0xc0) === 0x80 ? k + 2 : -1;
  if (lead >= 0xe0 && lead <= 0xef) {
    if (k + 2 >= end) return -1;
    const second = bytes[k + 1]!;
    const low = lead === 0xe0 ? 0xa0 : 0x80;
    const high = lead === 0xed ? 0x9f : 0xbf;
    return second >= low && second <= high && (bytes[k + 2]! & 0xc0) === 0x80 ? k + 3 : -1;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    if (k + 3 >= end) return -1;
    const second = bytes[k + 1]!;
    const low = lead === 0xf0 ? 0x90 : 0x80;
    const high = lead === 0xf4 ? 0x8f : 0xbf;
    const tail = (bytes[k + 2]! & 0xc0) === 0x80 && (bytes[k + 3]! & 0xc0) === 0x80;
    return second >= low && second <= high && tail ? k + 4 : -1;
  }
  return -1;
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
  if (year < OLDEST_BIRTH_YEAR || month < 1 || month > 12 || day < 1) return false;
  return day <= daysInMonth(year, month) && year * 10000 + month * 100 + day <= today;
}


function writeDecimal(out: Buffer, at: number, value: number): number {
  if (value >= 1000) out[at++] = ZERO + Math.floor(value / 1000);
  if (value >= 100) out[at++] = ZERO + (Math.floor(value / 100) % 10);
  if (value >= 10) out[at++] = ZERO + (Math.floor(value / 10) % 10);
  out[at++] = ZERO + (value % 10);
  return at;
}
