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
import { MIN_BET_BYTES, ZERO, type Bet } from '../../../protocol/index.js';
import { RecordBuffer } from '../record-buffer.js';

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

/** The database store's RecordWriter: batch bodies to binary COPY rows. */
export class CopyRowWriter extends RecordBuffer {
  constructor(private readonly agency: number) {
    super(64 * 1024);
  }

  appendBets(bets: readonly Bet[]): void {
    for (const bet of bets) {
      // The bet's fields laid end to end (the document and date are ASCII), handed over as ranges as the scanner hands a body's.
      const firstEnd = Buffer.byteLength(bet.firstName, 'utf8');
      const lastEnd = firstEnd + Buffer.byteLength(bet.lastName, 'utf8');
      const documentEnd = lastEnd + bet.document.length;
      const fields = Buffer.from(bet.firstName + bet.lastName + bet.document + bet.birthdate, 'utf8');
      this.begin(fields.length + ROW_FIXED_BYTES);
      this.bet(fields, 0, firstEnd, firstEnd, lastEnd, lastEnd, documentEnd, documentEnd, bet.number);
      this.end();
    }
  }

  protected maxBytes(body: Buffer): number {
    // A row is at most its bet's bytes plus the fixed part (a bet holds at least MIN_BET_BYTES).
    return body.length + Math.ceil(body.length / MIN_BET_BYTES) * ROW_FIXED_BYTES;
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
    const out = this.out;
    let o = this.at;
    out[o++] = 0;
    out[o++] = FIELDS;
    o = writeInt4(out, o, this.agency);
    o = writeText(out, o, body, first, firstEnd);
    o = writeText(out, o, body, last, lastEnd);
    o = writeText(out, o, body, document, documentEnd);
    o = writeInt4(out, o, postgresDate(body, birthdate));
    this.at = writeInt4(out, o, number);
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
