/**
 * The floors of an agency's work, on one bets file, with no network:
 *
 *   node dist/bench/parse-only.js FILE            csv-parse alone, with the agency's own reader
 *                                                 settings (CSV_OPTIONS, the 256 KiB read size),
 *                                                 counting records
 *   node dist/bench/parse-only.js --encode FILE   the agency's FileBatches: parse, validate and
 *                                                 encode every bet into frames, which are
 *                                                 then dropped
 *
 * Both print `rows: N` (records read).
 */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { CSV_OPTIONS, READ_CHUNK_BYTES } from '../client/bet-source.js';
import { FileBatches } from '../client/file-batches.js';

const encode = process.argv[2] === '--encode';
const path = process.argv[encode ? 3 : 2];
if (!path) {
  process.stderr.write('usage: parse-only [--encode] FILE\n');
  process.exit(2);
}

function fail(error: Error): never {
  process.stderr.write(`parse-only: ${error.message}\n`);
  process.exit(1);
}

if (encode) {
  const file = new FileBatches(path, 200, 0, undefined, () => undefined);
  try {
    do {
      while (file.encode(64)) file.builder.take();
      file.builder.take();
    } while (await file.more());
  } catch (error) {
    fail(error as Error);
  }
  file.builder.take();
  process.stdout.write(`rows: ${file.records}\n`);
} else {
  const source = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
  const parser = parse(CSV_OPTIONS);
  let rows = 0;
  source.on('error', (error) => parser.destroy(error));
  parser.on('readable', () => {
    while (parser.read() !== null) rows++;
  });
  parser.on('error', fail);
  parser.on('end', () => process.stdout.write(`rows: ${rows}\n`));
  source.pipe(parser);
}
