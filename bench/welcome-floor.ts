/**
 * The least a central of this shape could do for a Hello: its main thread
 * accepts the connection and hands the first bytes to a worker thread that
 * was started and warmed beforehand; the worker decodes the Hello and
 * answers a Welcome, which the main thread writes back. No store, no log,
 * no session. Figure 12 times connect → Welcome against it, beside the
 * central, to show what the two thread hops and the loopback connection
 * cost on this machine.
 *
 *   node dist/bench/welcome-floor.js
 *
 * Prints `port: N` once listening; runs until killed.
 */
import { createServer, type AddressInfo } from 'node:net';
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

if (isMainThread) {
  const start = (): Worker => {
    const worker = new Worker(new URL(import.meta.url));
    worker.postMessage(new Uint8Array(0)); // an empty message asks for the central's own rehearsal
    return worker;
  };
  let spare = start();
  const server = createServer({ noDelay: true }, (socket) => {
    const worker = spare;
    spare = start();
    socket.on('error', () => undefined);
    socket.once('data', (chunk: Buffer) => {
      worker.on('message', (reply: { readonly welcome: Uint8Array | null } | 'warm') => {
        if (reply === 'warm') return;
        if (reply.welcome) socket.write(reply.welcome);
        void worker.terminate();
      });
      worker.postMessage(new Uint8Array(chunk));
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`port: ${(server.address() as AddressInfo).port}\n`));
} else {
  parentPort!.on('message', (bytes: Uint8Array) => {
    parentPort!.postMessage(bytes.length === 0 ? (rehearseHandshake(), 'warm') : { welcome: answer(bytes) });
  });
}
