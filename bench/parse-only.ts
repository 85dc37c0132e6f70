/**
 * The floor of an agency's work: stream one bets file through csv-parse with
 * the agency's own reader settings (CSV_OPTIONS and the 256 KiB read size of
 * client/bet-source.ts) and count the records. No validation, no encoding, no
 * network.
 *
 *   node dist/bench/parse-only.js FILE      prints `rows: N`
 */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { CSV_OPTIONS, READ_CHUNK_BYTES } from '../client/bet-source.js';

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: parse-only FILE\n');
  process.exit(2);
}

const source = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
const parser = parse(CSV_OPTIONS);
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
