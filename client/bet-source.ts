/**
 * Streams an agency's bets file with csv-parse, never holding it whole.
 * Format: `first,last,document,birthdate,number`, no header, LF or CRLF,
 * UTF-8 (a BOM is skipped). Rows come out in arrays (one per parser read
 * burst), each already turned into a Bet or into a reason it is invalid.
 */
import { createReadStream } from 'node:fs';
import { parse, type Info } from 'csv-parse';
import { validateBet, type Bet } from '../protocol/index.js';

export type Row = { readonly line: number; readonly bet: Bet } | { readonly line: number; readonly error: string };

const FIELDS = 5;
const INTEGER = /^\d{1,9}$/;

/** Turns one parsed record into a Bet, or says why it is not one. */
export function toRow(fields: readonly string[], line: number): Row {
  if (fields.length !== FIELDS) return { line, error: `expected ${FIELDS} fields (first,last,document,birthdate,number), got ${fields.length}` };
  const [firstName, lastName, document, birthdate, numberText] = fields as [string, string, string, string, string];
  if (!INTEGER.test(numberText)) return { line, error: `number must be an integer from 0 to 9999, got ${JSON.stringify(numberText)}` };
  const bet: Bet = { firstName, lastName, document, birthdate, number: Number(numberText) };
  const problem = validateBet(bet);
  return problem ? { line, error: problem } : { line, bet };
}

/** Yields the file's rows in order, in arrays. Stops early when `signal` aborts. */
export async function* readBetRows(path: string, signal?: AbortSignal): AsyncGenerator<Row[]> {
  const source = createReadStream(path, { highWaterMark: 256 * 1024 });
  const parser = parse({ bom: true, trim: true, skip_empty_lines: true, relax_column_count: true, relax_quotes: true, info: true });
  source.on('error', (error) => parser.destroy(error));
  source.pipe(parser);
  const abort = () => parser.destroy();
  signal?.addEventListener('abort', abort, { once: true });
  try {
    for (;;) {
      const rows: Row[] = [];
      let record: { record: string[]; info: Info } | null;
      while ((record = parser.read() as typeof record) !== null) rows.push(toRow(record.record, record.info.lines));
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
