/**
 * Order-independent digests of bets, to prove that what the central stored is
 * exactly what the agencies sent.
 *
 * Every bet is reduced to the line the central stores for it,
 * `agency,first,last,document,birthdate,number` (no newline), and that line's
 * bytes are hashed twice (two independent 32-bit hashes, each finished with
 * murmur3's mixer). A digest is the line count plus the sums, modulo 2^32, of
 * both hashes: 64 bits that do not depend on line order, so the interleaving
 * of agencies in bets.csv does not matter, while a lost, duplicated or
 * altered line changes it.
 *
 * Input files are read the way the agency reads them (csv-parse with
 * bom/trim/skip_empty_lines): a UTF-8 BOM is skipped, CRLF and LF both end a
 * line, empty lines are skipped. Plain lines (no quote, no stray CR, no
 * space around a field, 5 fields, a canonical number) are hashed straight
 * from the bytes; any other line goes through csv-parse and is rebuilt the
 * way the stored format writes it. Lines that are not 5 fields are counted as
 * invalid: an agency does not send them.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { mix32 } from '../scripts/generate-data.js';

export const WINNING_NUMBER = 7574;

export interface Digest {
  lines: number;
  lo: number;
  hi: number;
}

export function emptyDigest(): Digest {
  return { lines: 0, lo: 0, hi: 0 };
}

export function digestText(d: Digest): string {
  return `${d.lines} lines, ${(d.hi >>> 0).toString(16).padStart(8, '0')}${(d.lo >>> 0).toString(16).padStart(8, '0')}`;
}

export function sameDigest(a: Digest, b: Digest): boolean {
  return a.lines === b.lines && a.lo >>> 0 === b.lo >>> 0 && a.hi >>> 0 === b.hi >>> 0;
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const SPACE = 0x20;
const ZERO = 0x30;
const CHUNK = 4 * 1024 * 1024;
const FNV_OFFSET = 0x811c9dc5;
const H2_SEED = 0x2545f491;

// The running state of the two hashes (module-level: no allocation per line).
let h1 = 0;
let h2 = 0;

function hashBytes(bytes: Uint8Array, start: number, end: number): void {
  let a = h1;
  let b = h2;
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    a = Math.imul(a ^ c, 0x01000193); // FNV-1a
    b = Math.imul(((b << 5) | (b >>> 27)) ^ c, 0x27d4eb2d);
  }
  h1 = a;
  h2 = b;
}

function addLine(d: Digest, length: number): void {
  d.lines++;
  d.lo = (d.lo + mix32(h1 ^ length)) >>> 0;
  d.hi = (d.hi + mix32((h2 + Math.imul(length, 0x9e3779b1)) | 0)) >>> 0;
}

/** Digest of one whole stored line given as text (no newline). */
export function addTextLine(d: Digest, line: string): void {
  const bytes = Buffer.from(line, 'utf8');
  h1 = FNV_OFFSET;
  h2 = H2_SEED;
  hashBytes(bytes, 0, bytes.length);
  addLine(d, bytes.length);
}

/**
 * Calls `onLine(buffer, start, end)` for every line of the file (end excludes the newline).
 * Not the store's wholeLines(): an input file's last line may lack its newline and a
 * line may be of any length, where the store drops a torn tail and an over-long line.
 */
function forEachLine(path: string, onLine: (buffer: Buffer, start: number, end: number) => void): void {
  const fd = openSync(path, 'r');
  try {
    let buffer = Buffer.allocUnsafe(CHUNK);
    let carried = 0;
    for (;;) {
      const read = readSync(fd, buffer, carried, buffer.length - carried, null);
      const end = carried + read;
      let start = 0;
      for (;;) {
        const nl = buffer.indexOf(NEWLINE, start);
        if (nl === -1 || nl >= end) break;
        onLine(buffer, start, nl);
        start = nl + 1;
      }
      if (read === 0) {
        if (start < end) onLine(buffer, start, end); // last line without a newline
        break;
      }
      carried = end - start;
      if (carried === buffer.length) {
        const bigger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(bigger, 0, 0, carried);
        buffer = bigger;
      } else {
        buffer.copy(buffer, 0, start, end);
      }
    }
  } finally {
    closeSync(fd);
  }
}

export interface InputDigest {
  readonly digest: Digest;
  /** Rows whose number is the winning one. */
  readonly winners: number;
  /** Rows an agency would not send (not 5 fields). */
  readonly invalid: number;
}

const STORED_QUOTES = /[",]/;
function storedField(value: string): string {
  return STORED_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** The stored line for a row that needed csv-parse; null when the row is not a bet. */
function slowLine(agency: number, text: string): { line: string; number: string } | null | 'empty' {
  const records: string[][] = parseCsv(text, { trim: true, skip_empty_lines: true, relax_column_count: true, relax_quotes: true });
  if (records.length === 0) return 'empty';
  const fields = records[0];
  if (records.length !== 1 || fields.length !== 5) return null;
  const [first, last, document, birthdate, numberText] = fields as [string, string, string, string, string];
  const number = /^\d{1,9}$/.test(numberText) ? String(Number(numberText)) : numberText;
  return { line: `${agency},${storedField(first)},${storedField(last)},${document},${birthdate},${number}`, number };
}

/** Digest of an agency's bets file, as the central would store it for `agency`. */
export function digestAgencyFile(path: string, agency: number): InputDigest {
  const digest = emptyDigest();
  const prefix = Buffer.from(`${agency},`);
  h1 = FNV_OFFSET;
  h2 = H2_SEED;
  hashBytes(prefix, 0, prefix.length);
  const prefixH1 = h1;
  const prefixH2 = h2;
  let winners = 0;
  let invalid = 0;
  let first = true;
  forEachLine(path, (buf, start, end) => {
    if (first) {
      first = false;
      if (end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) start += 3;
    }
    if (end > start && buf[end - 1] === CR) end--;
    if (end === start) return; // empty line: skipped by the agency
    let plain = buf[start] !== SPACE && buf[end - 1] !== SPACE;
    let commas = 0;
    let lastComma = -1;
    if (plain) {
      let prev = 0;
      for (let i = start; i < end; i++) {
        const c = buf[i];
        if (c === COMMA) {
          commas++;
          lastComma = i;
          if (prev === SPACE) plain = false;
        } else if (c === QUOTE || c === CR || (c === SPACE && prev === COMMA)) {
          plain = false;
        }
        prev = c;
      }
      // The central stores the number as a number: "0042" becomes "42".
      if (commas !== 4 || (buf[lastComma + 1] === ZERO && end - lastComma > 2)) plain = false;
    }
    if (plain) {
      h1 = prefixH1;
      h2 = prefixH2;
      hashBytes(buf, start, end);
      addLine(digest, prefix.length + end - start);
      if (end - lastComma === 5 && buf[end - 4] === 0x37 && buf[end - 3] === 0x35 && buf[end - 2] === 0x37 && buf[end - 1] === 0x34) {
        winners++;
      }
      return;
    }
    const slow = slowLine(agency, buf.toString('utf8', start, end));
    if (slow === 'empty') return;
    if (slow === null) {
      invalid++;
      return;
    }
    addTextLine(digest, slow.line);
    if (slow.number === String(WINNING_NUMBER)) winners++;
  });
  return { digest, winners, invalid };
}

export interface StoredDigest {
  readonly perAgency: Map<number, Digest>;
  /** Lines whose first field is not an agency number. */
  readonly malformed: number;
  readonly lines: number;
}

/** Digest of bets.csv, per agency (the first field of each line). */
export function digestStoredFile(path: string): StoredDigest {
  const perAgency = new Map<number, Digest>();
  let malformed = 0;
  let lines = 0;
  forEachLine(path, (buf, start, end) => {
    lines++;
    let agency = 0;
    let i = start;
    while (i < end && buf[i] >= ZERO && buf[i] <= 0x39) agency = agency * 10 + (buf[i++] - ZERO);
    if (i === start || i === end || buf[i] !== COMMA) {
      malformed++;
      return;
    }
    let d = perAgency.get(agency);
    if (!d) perAgency.set(agency, (d = emptyDigest()));
    h1 = FNV_OFFSET;
    h2 = H2_SEED;
    hashBytes(buf, start, end);
    addLine(d, end - start);
  });
  return { perAgency, malformed, lines };
}
