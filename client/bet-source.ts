/**
 * Streams an agency's bets file with csv-parse, never holding it whole.
 * Format: `first,last,document,birthdate,number`, no header, LF or CRLF,
 * UTF-8 (a BOM is skipped). Records come out in arrays, one per parser read
 * burst, as csv-parse gives them: protocol's BatchEncoder encodes the valid ones
 * straight into frames, and toRow says what is wrong with the others.
 *
 * The parser runs with its cheapest options: its `info`, `trim` and
 * `skip_empty_lines` features more than double its cost, so fields are
 * trimmed by the consumer, blank lines skipped by it (isBlank), and line
 * numbers counted by it (one record per line: a valid bet never holds a
 * line break).
 */
import { createReadStream, type ReadStream } from 'node:fs';
import { parse, type Options, type Parser } from 'csv-parse';
import { todayUtc, validateBet, type Bet } from '../protocol/index.js';

/** A record as a Bet, or why it is not one (with its line number). */
export type Row = { readonly line: number; readonly bet: Bet } | { readonly line: number; readonly error: string };

const FIELDS = 5;
const INTEGER = /^\d{1,9}$/;

/** The benchmark's parse-only baseline (bench/parse-only.ts) reads with these same settings. */
export const CSV_OPTIONS: Options = { bom: true, relax_column_count: true, relax_quotes: true };
export const READ_CHUNK_BYTES = 256 * 1024;

/** Turns one parsed record into a Bet, or says why it is not one. */
export function toRow(fields: readonly string[], line: number, today = todayUtc()): Row {
  if (fields.length !== FIELDS)
    return { line, error: `expected ${FIELDS} fields (first,last,document,birthdate,number), got ${fields.length}` };
  const firstName = fields[0].trim();
  const lastName = fields[1].trim();
  const document = fields[2].trim();
  const birthdate = fields[3].trim();
  const numberText = fields[4].trim();
  if (!INTEGER.test(numberText)) return { line, error: `number must be an integer from 0 to 9999, got ${JSON.stringify(numberText)}` };
  const bet: Bet = { firstName, lastName, document, birthdate, number: Number(numberText) };
  const problem = validateBet(bet, today);
  return problem ? { line, error: problem } : { line, bet };
}

/** True for the record csv-parse makes of an empty or all-blank line. */
export function isBlank(record: readonly string[]): boolean {
  return record.length === 1 && record[0].trim() === '';
}

/**
 * The file's records, pulled one at a time as csv-parse buffers them, so
 * none lives longer than it takes to encode it (holding a whole read burst
 * of records costs the collector ten times what parsing them does).
 */
export class RecordReader {
  readonly #source: ReadStream;
  readonly #parser: Parser;
  readonly #abort = () => this.#parser.destroy();

  constructor(
    path: string,
    private readonly signal?: AbortSignal,
  ) {
    this.#source = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
    this.#parser = parse(CSV_OPTIONS);
    this.#source.on('error', (error) => this.#parser.destroy(error));
    this.#source.pipe(this.#parser);
    signal?.addEventListener('abort', this.#abort, { once: true });
  }

  /** The next buffered record, or null when none is ready now (then wait with `more`). */
  read(): string[] | null {
    return this.#parser.read() as string[] | null;
  }

  /** Waits until records may be read again; false at the end. Throws the file's or the parser's error. */
  async more(): Promise<boolean> {
    const parser = this.#parser;
    if (!parser.readableEnded && !parser.destroyed) await readableOrEnd(parser);
    if (parser.errored) throw parser.errored;
    return !parser.readableEnded && !parser.destroyed;
  }

  close(): void {
    this.signal?.removeEventListener('abort', this.#abort);
    this.#source.destroy();
    this.#parser.destroy();
  }
}

/** Resolves when more records may be read, at the end, or when the parser fails. */
function readableOrEnd(stream: NodeJS.ReadableStream & { destroyed: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      stream.off('readable', done);
      stream.off('end', done);
      stream.off('close', done);
      stream.off('error', failed);
      resolve();
    };
    const failed = (error: Error) => {
      done();
      reject(error);
    };
    stream.on('readable', done);
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', failed);
  });
}
