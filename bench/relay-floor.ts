/**
 * The least a central of this shape could do with a stream of batches: its
 * main thread accepts each connection and hands every chunk it reads to the
 * connection's own worker thread (started beforehand), transferring the
 * memory as the central does; the worker cuts the chunk into frames, appends
 * the batches' bodies as they came to one shared file, waits until a sync
 * covers them (one worker syncs for all that wrote before it, as the
 * central's group commit does), and answers the chunk's newest batch with
 * one BatchAck (acks are cumulative), which the main thread writes back. No
 * validation, no CSV lines, no journal, no log.
 * Figure 13 puts its CPU per bet beside the central's: what a worker per
 * connection, the relay between threads, the framing, the write and the
 * sync cost on this machine.
 *
 *   node dist/bench/relay-floor.js FILE CONNECTIONS
 *
 * Prints `port: N` once its CONNECTIONS workers are up, and exits when
 * CONNECTIONS connections have ended.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  BATCH_COUNT_OFFSET,
  BATCH_SEQ_OFFSET,
  CLIENT_FRAME_LIMITS,
  encodeBatchAck,
  encodeWelcome,
  encodeWinners,
  FrameDecoder,
  MessageType,
} from '../protocol/index.js';
import { transferableChunk } from '../server/worker-link.js';

/** A chunk from the socket, or null when the peer has ended. */
type ToWorker = Uint8Array | null;

/** The workers' shared sync state: writes done, writes a sync has covered, and who is syncing. */
const WRITTEN = 0;
const SYNCED = 1;
const SYNCING = 2;

/** Returns once a sync began after this worker's write: the first waiter syncs, the others wait for it. */
function syncCovering(fd: number, shared: Int32Array): void {
  const ticket = Atomics.add(shared, WRITTEN, 1) + 1;
  while (Atomics.load(shared, SYNCED) < ticket) {
    if (Atomics.compareExchange(shared, SYNCING, 0, 1) === 0) {
      const covered = Atomics.load(shared, WRITTEN);
      fdatasyncSync(fd);
      Atomics.store(shared, SYNCED, covered);
      Atomics.store(shared, SYNCING, 0);
      Atomics.notify(shared, SYNCING);
    } else {
      Atomics.wait(shared, SYNCING, 1, 100);
    }
  }
}

if (isMainThread) {
  const [path, countText] = process.argv.slice(2);
  const expected = Number(countText);
  if (!path || !Number.isInteger(expected) || expected < 1) {
    process.stderr.write('usage: relay-floor FILE CONNECTIONS\n');
    process.exit(2);
  }
  closeSync(openSync(path, 'a'));
  const shared = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  const workers = Array.from({ length: expected }, () => new Worker(new URL(import.meta.url), { workerData: { path, shared } }));
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('online', resolve))));
  let ended = 0;
  const server = createServer({ noDelay: true }, (socket) => {
    const worker = workers.shift();
    if (!worker) {
      socket.destroy();
      return;
    }
    worker.on('message', (reply: Uint8Array) => socket.write(reply));
    socket.on('data', (chunk: Buffer) => {
      const bytes = transferableChunk(chunk);
      worker.postMessage(bytes satisfies ToWorker, [bytes.buffer]);
    });
    socket.on('end', () => worker.postMessage(null satisfies ToWorker));
    socket.on('error', (error) => {
      process.stderr.write(`relay floor: ${error.message}\n`);
      process.exit(1);
    });
    worker.once('error', (error) => {
      process.stderr.write(`relay floor: worker: ${error.stack ?? error.message}\n`);
      process.exit(1);
    });
    worker.once('exit', () => {
      socket.end();
      if (++ended === expected) server.close();
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`port: ${(server.address() as AddressInfo).port}\n`));
} else {
  const port = parentPort!;
  const { path, shared } = workerData as { path: string; shared: Int32Array };
  const fd = openSync(path, 'a');
  const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
  let stored = 0;
  port.on('message', (chunk: ToWorker) => {
    if (chunk === null) {
      closeSync(fd);
      port.close();
      return;
    }
    const bodies: Buffer[] = [];
    const replies: Buffer[] = [];
    // One cumulative ack for the chunk's newest batch, as the central answers a durable group.
    let newestSeq = -1;
    const ackNewest = () => {
      if (newestSeq >= 0) replies.push(encodeBatchAck({ type: MessageType.BatchAck, seq: newestSeq, stored }));
      newestSeq = -1;
    };
    for (const frame of decoder.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))) {
      if (frame.type === MessageType.BetBatch) {
        stored += frame.body.readUInt16BE(BATCH_COUNT_OFFSET);
        bodies.push(frame.body);
        newestSeq = frame.body.readUInt32BE(BATCH_SEQ_OFFSET);
        continue;
      }
      ackNewest();
      if (frame.type === MessageType.Hello) {
        replies.push(encodeWelcome({ type: MessageType.Welcome, stored: 0, settled: 0, finished: false, drawDone: false }));
      } else if (frame.type === MessageType.WinnersRequest) {
        replies.push(encodeWinners({ type: MessageType.Winners, last: true, documents: [] }));
      }
    }
    ackNewest();
    if (bodies.length > 0) {
      const bytes = Buffer.concat(bodies);
      let at = 0;
      while (at < bytes.length) at += writeSync(fd, bytes, at);
      syncCovering(fd, shared);
    }
    if (replies.length > 0) {
      const reply = new Uint8Array(Buffer.concat(replies)); // an exact-size copy: a small Buffer may share Node's pool
      port.postMessage(reply, [reply.buffer]);
    }
  });
}
