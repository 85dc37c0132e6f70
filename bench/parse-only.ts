/**
 * The floors of an agency's work, on one bets file, with no network:
 *
 *   node dist/bench/parse-only.js FILE            csv-parse alone, with the agency's own reader
 *                                                 settings (CSV_OPTIONS, the 256 KiB read size),
 *                                                 counting records
 *   node dist/bench/parse-only.js --encode FILE   the agency's reader and BatchBuilder: parse,
 *                                                 validate and encode every bet into frames,
 *                                                 which are then dropped
 *
 * Both print `rows: N` (records read).
 */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { BatchBuilder } from '../client/batch-builder.js';
import { CSV_OPTIONS, READ_CHUNK_BYTES, RecordReader } from '../client/bet-source.js';
import { todayUtc } from '../protocol/index.js';

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
  const reader = new RecordReader(path);
  const builder = new BatchBuilder(200);
  let rows = 0;
  try {
    do {
      const today = todayUtc();
      let record: string[] | null;
      while ((record = reader.read()) !== null) {
        rows++;
        builder.addFields(record, today);
        if (builder.closedBatches >= 64) builder.take();
      }
    } while (await reader.more());
  } catch (error) {
    fail(error as Error);
  }
  builder.finish();
  builder.take();
  process.stdout.write(`rows: ${rows}\n`);
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
