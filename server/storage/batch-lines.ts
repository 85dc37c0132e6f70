/**
 * The hot path of ingestion: a BetBatch body straight to bets.csv lines.
 * protocol's scanBetBatch checks the batch on its bytes and hands over each
 * bet as byte ranges; this sink writes them as CSV lines into a reusable
 * buffer, with no intermediate strings or objects.
 *
 * A name holding `,` or `"` is quoted here exactly as formatBetLines quotes
 * it (csv-line.ts). When the scanner is unsure (-1), nothing is kept and the
 * caller takes the slow path (decodeBetBatch + validateBet + formatBetLines),
 * which names the exact problem. A differential test holds the two to
 * writing the same bytes.
 */
import { BIRTHDATE_BYTES, COMMA, MIN_BET_BYTES, NEWLINE, QUOTE, ZERO, type Bet } from '../../protocol/index.js';
import { formatBetLines } from './csv-line.js';
import { RecordBuffer } from './record-buffer.js';

/** The file store's RecordWriter: batch bodies to bets.csv lines. */
export class BatchLineWriter extends RecordBuffer {
  readonly #prefix: Buffer;

  constructor(private readonly agency: number) {
    super(48 * 1024);
    this.#prefix = Buffer.from(`${agency},`);
  }

  appendBets(bets: readonly Bet[]): void {
    const lines = formatBetLines(this.agency, bets);
    this.begin(lines.length);
    this.at += lines.copy(this.out, this.at);
    this.end();
  }

  protected maxBytes(body: Buffer): number {
    // A line is at most its bet's bytes, with a name's quotes doubled and two
    // more around each name, plus the agency prefix and separators.
    return 2 * body.length + Math.ceil(body.length / MIN_BET_BYTES) * (this.#prefix.length + 12);
  }

  /** BetSink: one bet's line. Fields are short: a byte loop beats Buffer.copy's per-call cost. */
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
    const prefix = this.#prefix;
    let o = this.at;
    for (let p = 0; p < prefix.length; p++) out[o++] = prefix[p]!;
    o = writeName(out, o, body, first, firstEnd);
    out[o++] = COMMA;
    o = writeName(out, o, body, last, lastEnd);
    out[o++] = COMMA;
    for (let k = document; k < documentEnd; k++) out[o++] = body[k]!;
    out[o++] = COMMA;
    for (let k = 0; k < BIRTHDATE_BYTES; k++) out[o++] = body[birthdate + k]!;
    out[o++] = COMMA;
    o = writeDecimal(out, o, number);
    out[o++] = NEWLINE;
    this.at = o;
  }
}

/** Copies a name as a CSV field: as is, or quoted (inner quotes doubled) when it holds `,` or `"`. */
function writeName(out: Buffer, o: number, bytes: Buffer, from: number, to: number): number {
  let plain = true;
  for (let k = from; k < to; k++) {
    const byte = bytes[k];
    if (byte === COMMA || byte === QUOTE) {
      plain = false;
      break;
    }
  }
  if (plain) {
    for (let k = from; k < to; k++) out[o++] = bytes[k]!;
    return o;
  }
  out[o++] = QUOTE;
  for (let k = from; k < to; k++) {
    const byte = bytes[k];
    if (byte === QUOTE) out[o++] = QUOTE;
    out[o++] = byte;
  }
  out[o++] = QUOTE;
  return o;
}

function writeDecimal(out: Buffer, at: number, value: number): number {
  if (value >= 1000) out[at++] = ZERO + Math.floor(value / 1000);
  if (value >= 100) out[at++] = ZERO + (Math.floor(value / 100) % 10);
  if (value >= 10) out[at++] = ZERO + (Math.floor(value / 10) % 10);
  out[at++] = ZERO + (value % 10);
  return at;
}
