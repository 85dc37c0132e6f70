/**
 * The database store's hot path: a BetBatch body straight to rows of
 * PostgreSQL's binary COPY format, for `bets (agency, first_name,
 * last_name, document, birthdate, number)`. The backend reads these with no
 * parsing (a text field is its bytes, the date and integers are fixed-size):
 * on figure 9a's load it took about a third less CPU per bet than with CSV
 * lines, and the central no more (docs/performance.md).
 *
 * A row: the field count (int16 6), then each field as an int32 length and
 * its bytes, all big-endian: agency int4, the three texts as UTF-8, the
 * birthdate as int4 days since 2000-01-01, the number int4. A stream is
 * COPY_HEADER, rows, COPY_TRAILER.
 */
import { MIN_BET_BYTES, scanBetBatch, ZERO, type Bet, type BetSink } from '../../../protocol/index.js';
import type { RecordWriter } from '../store.js';

/** The binary COPY signature, flags (none) and header extension length (0). */
export const COPY_HEADER = Buffer.from([...Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), 0, 0, 0, 0, 0, 0, 0, 0]);
/** The end of the rows: a field count of -1. */
export const COPY_TRAILER = Buffer.from([0xff, 0xff]);

const FIELDS = 6;
/** A row beyond its three texts: the field count, six lengths, agency, birthdate and number. */
const ROW_FIXED_BYTES = 2 + FIELDS * 4 + 3 * 4;

/** Days from 1970-01-01 to the civil date (proleptic Gregorian). */
function daysFromEpoch(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** PostgreSQL's date epoch, 2000-01-01, in days from 1970-01-01. */
const POSTGRES_EPOCH_DAYS = daysFromEpoch(2000, 1, 1);

/** A valid YYYY-MM-DD at bytes[at..] as PostgreSQL's date: days since 2000-01-01. */
export function postgresDate(bytes: Uint8Array, at: number): number {
  const year = (bytes[at] - ZERO) * 1000 + (bytes[at + 1] - ZERO) * 100 + (bytes[at + 2] - ZERO) * 10 + (bytes[at + 3] - ZERO);
  const month = (bytes[at + 5] - ZERO) * 10 + (bytes[at + 6] - ZERO);
  const day = (bytes[at + 8] - ZERO) * 10 + (bytes[at + 9] - ZERO);
  return daysFromEpoch(year, month, day) - POSTGRES_EPOCH_DAYS;
}

/** Turns batch bodies into binary COPY rows into one reusable buffer; one per session. */
export class CopyRowWriter implements RecordWriter, BetSink {
  #out = Buffer.allocUnsafe(64 * 1024);
  #length = 0;
  /** Where the batch being scanned writes its next row. */
  #at = 0;

  constructor(private readonly agency: number) {}

  get length(): number {
    return this.#length;
  }

  get records(): Buffer {
    return this.#out.subarray(0, this.#length);
  }

  reset(): void {
    this.#length = 0;
  }

  append(body: Buffer, today: number): number {
    // A row is at most its bet's bytes plus the fixed part (a bet holds at least MIN_BET_BYTES).
    this.#ensure(body.length + Math.ceil(body.length / MIN_BET_BYTES) * ROW_FIXED_BYTES);
    this.#at = this.#length;
    const count = scanBetBatch(body, today, this);
    if (count >= 0) this.#length = this.#at;
    return count;
  }

  appendBets(bets: readonly Bet[]): void {
    for (const bet of bets) {
      // The bet's fields laid end to end, handed to the sink as ranges the way the scanner hands a body's.
      const first = Buffer.byteLength(bet.firstName, 'utf8');
      const lastEnd = first + Buffer.byteLength(bet.lastName, 'utf8');
      const documentEnd = lastEnd + bet.document.length;
      const fields = Buffer.from(bet.firstName + bet.lastName + bet.document + bet.birthdate, 'utf8');
      this.#ensure(fields.length + ROW_FIXED_BYTES);
      this.#at = this.#length;
      this.bet(fields, 0, first, first, lastEnd, lastEnd, documentEnd, documentEnd, bet.number);
      this.#length = this.#at;
    }
  }

  /** BetSink: one bet's row. Fields are short: a byte loop beats Buffer.copy's per-call cost. */
  bet(
    body: Buffer,
    first: number,
    firstEnd: number,
    last: number,
    lastEnd: number,
    document: number,
    documentEnd: number,
    birthdate: number,
    number: number,
  ): void {
    const out = this.#out;
    let o = this.#at;
    out[o++] = 0;
    out[o++] = FIELDS;
    o = writeInt4(out, o, this.agency);
    o = writeText(out, o, body, first, firstEnd);
    o = writeText(out, o, body, last, lastEnd);
    o = writeText(out, o, body, document, documentEnd);
    o = writeInt4(out, o, postgresDate(body, birthdate));
    this.#at = writeInt4(out, o, number);
  }

  #ensure(extra: number): void {
    if (this.#out.length - this.#length >= extra) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.#out.length * 2, this.#length + extra));
    this.#out.copy(bigger, 0, 0, this.#length);
    this.#out = bigger;
  }
}

/** An int4 field: its length (4), then the value; by hand, as Buffer's writers check more than this path needs. */
function writeInt4(out: Buffer, o: number, value: number): number {
  out[o] = 0;
  out[o + 1] = 0;
  out[o + 2] = 0;
  out[o + 3] = 4;
  out[o + 4] = value >>> 24;
  out[o + 5] = value >>> 16;
  out[o + 6] = value >>> 8;
  out[o + 7] = value;
  return o + 8;
}

/** A text field of at most 255 bytes (names, documents): its int4 length, then the bytes. */
function writeText(out: Buffer, o: number, bytes: Buffer, from: number, to: number): number {
  out[o++] = 0;
  out[o++] = 0;
  out[o++] = 0;
  out[o++] = to - from;
  for (let k = from; k < to; k++) out[o++] = bytes[k]!;
  return o;
}
