/**
 * The floors of an agency's work, on one bets file:
 *
 *   node dist/bench/parse-only.js FILE              csv-parse alone, with the agency's own reader
 *                                                   settings (CSV_OPTIONS, the 256 KiB read size),
 *                                                   counting records
 *   node dist/bench/parse-only.js --encode FILE     the agency's FileBatches: parse, validate and
 *                                                   encode every bet into frames, which are
 *                                                   then dropped
 *   node dist/bench/parse-only.js --send PORT FILE  the same, and the frames written to
 *                                                   127.0.0.1:PORT (bench/sink.ts), with no
 *                                                   protocol around them and no acks
 *
 * `--batch N` first (default 200) sets the bets per frame when encoding.
 *
 * All print `rows: N` (records read).
 */
import { createReadStream } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { parse } from 'csv-parse';
import { CSV_OPTIONS, READ_CHUNK_BYTES } from '../client/bet-source.js';
import { FileBatches } from '../client/file-batches.js';

const argv = process.argv.slice(2);
const batch = argv[0] === '--batch' ? Number(argv.splice(0, 2)[1]) : 200;
const mode = argv[0] === '--encode' ? 'encode' : argv[0] === '--send' ? 'send' : 'parse';
const sendPort = mode === 'send' ? Number(argv[1]) : 0;
const path = argv[mode === 'parse' ? 0 : mode === 'encode' ? 1 : 2];
if (!path || (mode === 'send' && !(sendPort > 0)) || !(Number.isInteger(batch) && batch >= 1)) {
  process.stderr.write('usage: parse-only [--batch N] [--encode | --send PORT] FILE\n');
  process.exit(2);
}

function fail(error: Error): never {
  process.stderr.write(`parse-only: ${error.message}\n`);
  process.exit(1);
}

if (mode !== 'parse') {
  const socket = mode === 'send' ? await open(sendPort) : null;
  const ship = async (bytes: Buffer | undefined) => {
    if (socket && bytes && !socket.write(bytes)) await new Promise((resolve) => socket.once('drain', resolve));
  };
  const file = new FileBatches(path, batch, 0, undefined, () => undefined);
  try {
    do {
      while (file.encode(64)) await ship(file.builder.take()?.bytes);
      await ship(file.builder.take()?.bytes);
    } while (await file.more());
    await ship(file.builder.take()?.bytes);
    if (socket) await new Promise<void>((resolve) => socket.end(resolve));
  } catch (error) {
    fail(error as Error);
  }
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

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}
