/**
 * The least a central of this shape could do for a Hello: its main thread
 * accepts the connection and hands the first bytes to a worker thread that
 * was started and warmed beforehand; the worker decodes the Hello and
 * answers a Welcome, which the main thread writes back. No store, no log,
 * no session. Figure 12 times connect → Welcome against it, beside the
 * central, to show what the two thread hops and the loopback connection
 * cost on this machine.
 *
 * With `--one-thread` the main thread answers the Hello itself, warmed the
 * same way: what the loopback connection and one idle process's wake-up
 * cost with no thread hop at all, the part of the floor no design with a
 * worker per connection can remove.
 *
 *   node dist/bench/welcome-floor.js [--one-thread]
 *
 * Prints `port: N` once listening; runs until killed.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { CLIENT_FRAME_LIMITS, decodeMessage, encodeWelcome, FrameDecoder, MessageType } from '../protocol/index.js';
import { rehearseHandshake } from '../server/warm-up.js';

function answer(bytes: Uint8Array): Uint8Array | null {
  for (const frame of new FrameDecoder(CLIENT_FRAME_LIMITS).push(Buffer.from(bytes))) {
    if (decodeMessage(frame).type !== MessageType.Hello) return null;
    return new Uint8Array(encodeWelcome({ type: MessageType.Welcome, stored: 0, settled: 0, finished: false, drawDone: false }));
  }
  return null;
}

/** The main thread answers on its own: decode, encode, write, no worker. */
function answerHere(socket: Socket): void {
  socket.once('data', (chunk: Buffer) => {
    const welcome = answer(chunk);
    if (welcome) socket.write(welcome);
  });
}

/** A warmed worker answers: the main thread relays the first bytes to it and its Welcome back. */
function answerInWorker(): (socket: Socket) => void {
  const start = (): Worker => {
    const worker = new Worker(new URL(import.meta.url));
    worker.postMessage(new Uint8Array(0)); // an empty message asks for the central's own rehearsal
    return worker;
  };
  let spare = start();
  return (socket) => {
    const worker = spare;
    spare = start();
    socket.once('data', (chunk: Buffer) => {
      worker.on('message', (reply: { readonly welcome: Uint8Array | null } | 'warm') => {
        if (reply === 'warm') return;
        if (reply.welcome) socket.write(reply.welcome);
        void worker.terminate();
      });
      worker.postMessage(new Uint8Array(chunk));
    });
  };
}

if (isMainThread) {
  const oneThread = process.argv.includes('--one-thread');
  if (oneThread) rehearseHandshake();
  const serve = oneThread ? answerHere : answerInWorker();
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => undefined);
    serve(socket);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`port: ${(server.address() as AddressInfo).port}\n`));
} else {
  parentPort!.on('message', (bytes: Uint8Array) => {
    parentPort!.postMessage(bytes.length === 0 ? (rehearseHandshake(), 'warm') : { welcome: answer(bytes) });
  });
}
