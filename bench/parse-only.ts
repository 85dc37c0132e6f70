/**
 * The floor of an agency's work: stream one bets file through csv-parse with
 * exactly the reader options of client/bet-source.ts and count the rows. No
 * validation, no encoding, no network.
 *
 *   node dist/bench/parse-only.js FILE      prints `rows: N`
 */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: parse-only FILE\n');
  process.exit(2);
}

const source = createReadStream(path, { highWaterMark: 256 * 1024 });
const parser = parse({ bom: true, trim: true, skip_empty_lines: true, relax_column_count: true, relax_quotes: true, info: true });
let rows = 0;
source.on('error', (error) => parser.destroy(error));
parser.on('readable', () => {
  while (parser.read() !== null) rows++;
});
parser.on('error', (error) => {
  process.stderr.write(`parse-only: ${error.message}\n`);
  process.exit(1);
});
parser.on('end', () => process.stdout.write(`rows: ${rows}\n`));
source.pipe(parser);
