/**
 * The agency's hot path: CSV fields straight into BetBatch frames (layout in
 * messages/bet-batch.ts), each field written as UTF-8 into the frame and then
 * checked on those bytes by the one validator (bet-rules.ts), with no Bet
 * objects and no Buffer call per field.
 *
 * Frames are written back to back into a chunk buffer; `take()` hands out
 * every closed frame as one slice, ready for a single socket write. A batch
 * closes when it holds `maxBets` bets, or when the next bet would push the
 * frame past MAX_BATCH_FRAME (that bet then opens the next batch), exactly as
 * the contract's `batch.maxAmount` describes.
 *
 * `addFields` accepts exactly the records the agency's toRow accepts (a
 * differential test holds it to that). For any other record it writes
 * nothing and returns false; the caller asks toRow why.
 */
import { birthdateProblem, dateNumber, documentProblem, nameProblem, numberProblem, Problem } from './bet-rules.js';
import { BIRTHDATE_BYTES, HEADER_SIZE, MAX_BATCH_FRAME, MAX_DOCUMENT_DIGITS, MAX_NAME_BYTES, MessageType } from './constants.js';
import { BATCH_BETS_OFFSET, BATCH_COUNT_OFFSET, BATCH_POSITION_OFFSET, BATCH_SEQ_OFFSET } from './messages/bet-batch.js';
import { betSize, writeBet, type Bet } from './messages/bet.js';
import { FrameWriter } from './writer.js';

/** Frame header plus the batch's fixed part (seq, position, count). */
const BATCH_HEAD = HEADER_SIZE + BATCH_BETS_OFFSET;
const FIELDS = 5;
/** The most one bet can take, plus the 3 bytes a name may overshoot by before its length is checked. */
const MAX_BET_BYTES = 3 + 2 * MAX_NAME_BYTES + MAX_DOCUMENT_DIGITS + BIRTHDATE_BYTES + 2 + 3;
const CHUNK_BYTES = 256 * 1024;

/** Closed frames handed out by `take`, numbered from `firstSeq`. */
export interface TakenBatches {
  readonly bytes: Buffer;
  readonly firstSeq: number;
  /** Bets in each frame, in order. */
  readonly counts: readonly number[];
}

export class BatchEncoder {
  #chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  #at = 0;
  /** Start of the closed frames not yet taken, in #chunk. */
  #from = 0;
  /** Start of the open frame, or -1. */
  #frameStart = -1;
  #count = 0;
  /** The file position (record number) of the open frame's newest bet. */
  #position = 0;
  /** Seq of the next frame to open. */
  #nextSeq: number;
  /** Seq of the first frame not yet taken. */
  #takeSeq: number;
  /** Closed frames left behind in earlier chunks. */
  #carried: Buffer[] = [];
  #closedCounts: number[] = [];
  /** `today` of the last addFields, and as yyyymmdd. */
  #today = '';
  #todayNumber = 0;

  constructor(
    private readonly maxBets: number,
    firstSeq = 0,
  ) {
    this.#nextSeq = firstSeq;
    this.#takeSeq = firstSeq;
  }

  /** Closed frames waiting for `take`. */
  get closedBatches(): number {
    return this.#closedCounts.length;
  }

  /**
   * Encodes one record (first, last, document, birthdate, number; fields are
   * trimmed as toRow does), the file's record number `position` (counting
   * from 1). False, with nothing written, when it is not a valid bet.
   */
  addFields(fields: readonly string[], today: string, position: number): boolean {
    if (fields.length !== FIELDS) return false;
    const number = smallNumber(trimmed(fields[4]));
    if (number < 0) return false;
    if (today !== this.#today) {
      this.#today = today;
      this.#todayNumber = dateNumber(today);
    }
    const out = this.#reserve();
    const start = this.#at;
    let o = writeName(out, start, trimmed(fields[0]));
    if (o >= 0) o = writeName(out, o, trimmed(fields[1]));
    if (o >= 0) o = writeDocument(out, o, trimmed(fields[2]));
    if (o >= 0) o = writeBirthdate(out, o, trimmed(fields[3]), this.#todayNumber);
    if (o < 0) return false; // bytes past #at are scratch until committed
    out[o++] = number >> 8;
    out[o++] = number & 0xff;
    this.#commit(start, o, position);
    return true;
  }

  /** Encodes a bet that already passed validateBet (the generic path; addFields is the fast one). */
  addBet(bet: Bet, position: number): void {
    const writer = new FrameWriter(MessageType.BetBatch, betSize(bet));
    writeBet(writer, bet);
    const bytes = writer.finish().subarray(HEADER_SIZE);
    const out = this.#reserve();
    bytes.copy(out, this.#at);
    this.#commit(this.#at, this.#at + bytes.length, position);
  }

  /** Closes the open batch, if it holds any bet. */
  finish(): void {
    if (this.#frameStart >= 0 && this.#count > 0) this.#closeFrame();
  }

  /** Every closed frame not taken yet, as one buffer; null when there is none. */
  take(): TakenBatches | null {
    if (this.#closedCounts.length === 0) return null;
    const end = this.#frameStart >= 0 ? this.#frameStart : this.#at;
    const pieces = [...this.#carried];
    if (end > this.#from) pieces.push(this.#chunk.subarray(this.#from, end));
    this.#from = end;
    const taken = { bytes: pieces.length === 1 ? pieces[0] : Buffer.concat(pieces), firstSeq: this.#takeSeq, counts: this.#closedCounts };
    this.#takeSeq += this.#closedCounts.length;
    this.#carried = [];
    this.#closedCounts = [];
    return taken;
  }

  /** Room for one more bet in an open frame. Taken bytes are never written over: a socket may still hold them. */
  #reserve(): Buffer {
    if (this.#chunk.length - this.#at < MAX_BET_BYTES + BATCH_HEAD) {
      const next = Buffer.allocUnsafe(CHUNK_BYTES);
      const keepFrom = this.#frameStart >= 0 ? this.#frameStart : this.#at;
      if (keepFrom > this.#from) this.#carried.push(this.#chunk.subarray(this.#from, keepFrom));
      this.#chunk.copy(next, 0, keepFrom, this.#at);
      if (this.#frameStart >= 0) this.#frameStart = 0;
      this.#at -= keepFrom;
      this.#from = 0;
      this.#chunk = next;
    }
    if (this.#frameStart < 0) this.#openFrame();
    return this.#chunk;
  }

  #openFrame(): void {
    const out = this.#chunk;
    this.#frameStart = this.#at;
    out[this.#at] = MessageType.BetBatch;
    out.writeUInt32BE(this.#nextSeq, this.#at + HEADER_SIZE + BATCH_SEQ_OFFSET);
    this.#at += BATCH_HEAD;
    this.#count = 0;
  }

  /** The bet at [start, end), record `position` of the file, is written: count it, cutting the batch where the contract says. */
  #commit(start: number, end: number, position: number): void {
    if (end - this.#frameStart > MAX_BATCH_FRAME) {
      // This bet would overflow the frame: close the frame before it, and let it open the next one.
      this.#at = start;
      this.#closeFrame();
      this.#chunk.copyWithin(start + BATCH_HEAD, start, end);
      this.#openFrame();
      end += BATCH_HEAD;
    }
    this.#at = end;
    this.#position = position;
    if (++this.#count === this.maxBets) this.#closeFrame();
  }

  #closeFrame(): void {
    const out = this.#chunk;
    out.writeUInt32BE(this.#at - this.#frameStart - HEADER_SIZE, this.#frameStart + 1);
    out.writeUInt32BE(this.#position, this.#frameStart + HEADER_SIZE + BATCH_POSITION_OFFSET);
    out.writeUInt16BE(this.#count, this.#frameStart + HEADER_SIZE + BATCH_COUNT_OFFSET);
    this.#closedCounts.push(this.#count);
    this.#nextSeq++;
    this.#frameStart = -1;
    this.#count = 0;
  }
}

/** `value` as a bet number (what the agency's toRow accepts: /^\d{1,9}$/, then the number rule), or -1. */
function smallNumber(value: string): number {
  if (value.length === 0 || value.length > 9) return -1;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    n = n * 10 + d;
  }
  return numberProblem(n) === Problem.None ? n : -1;
}

/** trim(), skipped when neither end can be whitespace (the common case). */
function trimmed(value: string): string {
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  return first > 0x20 && first < 0x7f && last > 0x20 && last < 0x7f ? value : value.trim();
}

/** Writes a name as str8 (u8 length + UTF-8) at `at`; the offset after it, or -1 when it is not a valid name. */
function writeName(out: Buffer, at: number, value: string): number {
  const end = writeUtf8(out, at + 1, value, MAX_NAME_BYTES);
  if (end < 0 || nameProblem(out, at + 1, end) !== Problem.None) return -1;
  out[at] = end - at - 1;
  return end;
}

/** Writes a document as str8; -1 when it is not 1..MAX_DOCUMENT_DIGITS digits. */
function writeDocument(out: Buffer, at: number, value: string): number {
  const end = writeUtf8(out, at + 1, value, MAX_DOCUMENT_DIGITS);
  if (end < 0 || documentProblem(out, at + 1, end) !== Problem.None) return -1;
  out[at] = end - at - 1;
  return end;
}

/** Writes a birthdate (10 bytes, no prefix); -1 when it is not a real date from 1900-01-01 to `today` (yyyymmdd). */
function writeBirthdate(out: Buffer, at: number, value: string, today: number): number {
  const end = writeUtf8(out, at, value, BIRTHDATE_BYTES);
  if (end - at !== BIRTHDATE_BYTES || birthdateProblem(out, at, today) !== Problem.None) return -1;
  return end;
}

/**
 * Writes `value` as UTF-8 at `at`, as Buffer does it (a lone surrogate
 * becomes U+FFFD), by hand: a Buffer call per field costs more than the
 * loop. The offset after it, or -1 once it would take more than `limit` bytes.
 */
function writeUtf8(out: Buffer, at: number, value: string, limit: number): number {
  const stop = at + limit;
  let o = at;
  for (let i = 0; i < value.length; i++) {
    let c = value.charCodeAt(i);
    if (c < 0x80) {
      if (o >= stop) return -1;
      out[o++] = c;
      continue;
    }
    if (c < 0x800) {
      if (o + 2 > stop) return -1;
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const low = c <= 0xdbff && i + 1 < value.length ? value.charCodeAt(i + 1) : 0;
      if (low >= 0xdc00 && low <= 0xdfff) {
        if (o + 4 > stop) return -1;
        const point = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        out[o++] = 0xf0 | (point >> 18);
        out[o++] = 0x80 | ((point >> 12) & 0x3f);
        out[o++] = 0x80 | ((point >> 6) & 0x3f);
        out[o++] = 0x80 | (point & 0x3f);
        i++;
        continue;
      }
      c = 0xfffd;
    }
    if (o + 3 > stop) return -1;
    out[o++] = 0xe0 | (c >> 12);
    out[o++] = 0x80 | ((c >> 6) & 0x3f);
    out[o++] = 0x80 | (c & 0x3f);
  }
  return o;
}
