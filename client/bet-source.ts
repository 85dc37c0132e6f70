/**
 * Streams an agency's bets file with csv-parse, never holding it whole.
 * Format: `first,last,document,birthdate,number`, no header, LF or CRLF,
 * UTF-8 (a BOM is skipped). Rows come out in arrays (one per parser read
 * burst), each already turned into a Bet or into a reason it is invalid.
 *
 * The parser runs with its cheapest options: its `info`, `trim` and
 * `skip_empty_lines` features more than double its cost, so fields are
 * trimmed here, blank lines skipped here, and line numbers counted here (one
 * record per line: a valid bet never holds a line break).
 */
import { createReadStream } from 'node:fs';
import { parse, type Options } from 'csv-parse';
import { todayUtc, validateBet, type Bet } from '../protocol/index.js';

export type Row = { readonly line: number; readonly bet: Bet } | { readonly line: number; readonly error: string };

const FIELDS = 5;
const INTEGER = /^\d{1,9}$/;

/** The benchmark's parse-only baseline (bench/parse-only.ts) reads with these same settings. */
export const CSV_OPTIONS: Options = { bom: true, relax_column_count: true, relax_quotes: true };
export const READ_CHUNK_BYTES = 256 * 1024;

/** Turns one parsed record into a Bet, or says why it is not one. */
export function toRow(fields: readonly string[], line: number, today = todayUtc()): Row {
  if (fields.length !== FIELDS) return { line, error: `expected ${FIELDS} fields (first,last,document,birthdate,number), got ${fields.length}` };
  const firstName = fields[0]!.trim();
  const lastName = fields[1]!.trim();
  const document = fields[2]!.trim();
  const birthdate = fields[3]!.trim();
  const numberText = fields[4]!.trim();
  if (!INTEGER.test(numberText)) return { line, error: `number must be an integer from 0 to 9999, got ${JSON.stringify(numberText)}` };
  const bet: Bet = { firstName, lastName, document, birthdate, number: Number(numberText) };
  const problem = validateBet(bet, today);
  return problem ? { line, error: problem } : { line, bet };
}

/** Yields the file's rows in order, in arrays. Stops early when `signal` aborts. */
export async function* readBetRows(path: string, signal?: AbortSignal): AsyncGenerator<Row[]> {
  const source = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
  const parser = parse(CSV_OPTIONS);
  source.on('error', (error) => parser.destroy(error));
  source.pipe(parser);
  const abort = () => parser.destroy();
  let line = 0;
  signal?.addEventListener('abort', abort, { once: true });
  try {
    for (;;) {
      const rows: Row[] = [];
      const today = todayUtc();
      let record: string[] | null;
      while ((record = parser.read() as string[] | null) !== null) {
        line++;
        if (record.length === 1 && record[0]!.trim() === '') continue; // blank line
        rows.push(toRow(record, line, today));
      }
      if (rows.length > 0) yield rows;
      if (parser.readableEnded || parser.destroyed) break;
      await readableOrEnd(parser);
    }
    if (parser.errored) throw parser.errored;
  } finally {
    signal?.removeEventListener('abort', abort);
    source.destroy();
    parser.destroy();
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
