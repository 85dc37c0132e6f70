/**
 * Worker entry: one per connection. Started ahead of its connection (see
 * worker-pool.ts), it loads its code, then waits for its first message, the
 * connection's WorkerInit. Then it receives the socket's bytes from the
 * main thread, frames and decodes them, drives the Session, and posts reply
 * bytes back. Messages are handled strictly in order (a promise chain), so a
 * winners request parked at the barrier holds back anything sent after it;
 * hang-up and shutdown notices bypass the chain to release that wait.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { Logger } from '../common/logger.js';
import {
  CLIENT_FRAME_LIMITS,
  decodeMessage,
  ErrorCode,
  FrameDecoder,
  HEADER_SIZE,
  MessageType,
  ProtocolError,
  type ClientMessage,
  type FrameLimits,
} from '../protocol/index.js';
import { CentralState } from './central-state.js';
import { SharedCounters } from './counters.js';
import { InboundFlow } from './flow.js';
import { Session } from './session/session.js';
import { preloadWorkerStore, workerStore } from './storage/open.js';
import { rehearseHandshake } from './warm-up.js';
import type { MainToWorker, WorkerBoot, WorkerInit, WorkerToMain } from './thread-messages.js';

const port = parentPort!;
// One listener from the start: messages that follow `init` (the first bytes)
// wait in `early` until the session exists, in order.
const early: MainToWorker[] = [];
let resolveInit!: (init: WorkerInit) => void;
const initialized = new Promise<WorkerInit>((resolve) => (resolveInit = resolve));
let handle = (message: MainToWorker): void => {
  if (message.kind === 'init') resolveInit(message.init);
  else if (message.kind === 'warm') {
    rehearseHandshake();
    port.postMessage({ kind: 'warm' } satisfies WorkerToMain);
  } else early.push(message);
};
port.on('message', (message: MainToWorker) => handle(message));
// The store's code is loaded while the worker waits for its connection.
const preloaded = preloadWorkerStore((workerData as WorkerBoot).backend);

const init = await initialized;
await preloaded;
const { settings } = init;
const logger = new Logger(settings.logLevel);
const central = new CentralState(init.central);
const flow = new InboundFlow(init.flow);

function post(message: WorkerToMain, transfer?: ArrayBuffer[]): void {
  port.postMessage(message, transfer);
}

const store = await workerStore(init.store, threadId, logger, (failure) => post({ kind: 'fatal', failure }));
const session = new Session({
  store,
  central,
  counters: new SharedCounters(init.counters),
  logger,
  drawConfigured: settings.drawConfigured,
  secrets: settings.secrets,
  peer: init.peer,
  certifiedName: init.certifiedName,
  send: (bytes) => {
    // An exact-size copy, transferred: cloning a Buffer clones its whole backing
    // store, for a small reply the 8 KiB allocation pool, into the main thread's memory.
    const own = new Uint8Array(bytes);
    post({ kind: 'write', bytes: own }, [own.buffer]);
  },
  close: () => post({ kind: 'close' }),
  claimed: (agency) => post({ kind: 'agency', agency }),
  finished: (agency) => post({ kind: 'finished', agency }),
});

const decoder = new FrameDecoder(limitsWithMaxFrame(settings.maxFrameBytes));

/** The configured frame limit applies to bet batches, the only large client frame. */
function limitsWithMaxFrame(maxFrameBytes: number): FrameLimits {
  const limits = new Map(CLIENT_FRAME_LIMITS);
  const batch = limits.get(MessageType.BetBatch)!;
  limits.set(MessageType.BetBatch, { min: batch.min, max: Math.min(batch.max, maxFrameBytes - HEADER_SIZE) });
  return limits;
}

let idleTimer: NodeJS.Timeout | undefined;
function armIdleTimer(): void {
  if (settings.idleTimeoutMs <= 0) return;
  clearTimeout(idleTimer);
  idleTimer = setTimeout(onIdle, settings.idleTimeoutMs);
}

function onIdle(): void {
  // A client waiting for its winners or its acks is silent on purpose: the central owes it an answer.
  if (session.phase === 'waiting' || session.owesAcks) return armIdleTimer();
  if (session.closed) return;
  logger.warning('connection_idle', 'fail', { ip: init.peer, agency: session.agency, timeout_ms: settings.idleTimeoutMs });
  session.fail(ErrorCode.IdleTimeout, `no data for ${settings.idleTimeoutMs} ms`);
}

async function onData(chunk: Buffer): Promise<void> {
  try {
    if (session.closed) return; // bytes after the end are dropped, but still count as consumed
    armIdleTimer();
    for (const frame of decoder.push(chunk)) {
      if (session.closed) break;
      if (frame.type === MessageType.BetBatch) session.handleBatch(frame.body);
      else await session.handle(decodeMessage(frame) as ClientMessage);
    }
    // Frames before bad bytes in the same chunk were handled; now the bad bytes end the session.
    if (decoder.failure) throw decoder.failure;
    // The read's batches are written together; acks go out as the group commit makes them durable, while we read on.
    session.settle();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    // Batches stored before the bad bytes are acknowledged first, then the error closes the session.
    await session.settled();
    session.fail(error.code, error.message); // logs the error and closes
  } finally {
    reportConsumed(chunk.length);
    release(chunk);
  }
}

/**
 * Frees a handled chunk's memory now instead of at this worker's next
 * young-generation collection, which can be dozens of chunks away (the
 * worker allocates little per chunk): until then the memory, allocated by
 * the main thread's socket read, still counts against the process. Nothing
 * holds a view into the chunk by now: frame bodies were handled (batches
 * turned into lines, other messages decoded into copies) and the frame
 * decoder keeps a copy of any unfinished frame. Needs
 * ArrayBuffer.prototype.transfer (Node 21+); on Node 20 the collector frees it.
 */
function release(chunk: Buffer): void {
  (chunk.buffer as { transfer?: (length: number) => ArrayBuffer }).transfer?.(0);
}

/** Flow control: the main thread reads the shared counter, and hears from us only while it is paused. */
function reportConsumed(bytes: number): void {
  if (flow.consumed(bytes)) post({ kind: 'consumed' });
}

function onEnd(): void {
  if (session.closed) return;
  try {
    decoder.end();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    logger.warning('protocol_error', 'fail', { ip: init.peer, agency: session.agency, code: error.codeName, error: error.message });
  }
  // The peer has nothing more to say; whatever it asked was answered in order before this.
  session.finish();
}

async function exit(): Promise<void> {
  clearTimeout(idleTimer);
  // Leaving mid-sync would leave SYNCER held, which the main thread must treat as a failed sync.
  await store.quiesce();
  // The main thread releases the agency's claim when it sees this worker exit,
  // so that a crashed worker releases it too.
  process.exit(0);
}

let queue: Promise<void> = Promise.resolve();
function enqueue(task: () => void | Promise<void>): void {
  queue = queue.then(task).catch((error: unknown) => {
    // Never silent: logged, and the connection ends with an Error frame.
    logger.error('worker', 'fail', { ip: init.peer, agency: session.agency, error: String((error as Error)?.stack ?? error) });
    session.fail(ErrorCode.StorageFailure, 'internal error in the central');
  });
}

function onMessage(message: MainToWorker): void {
  switch (message.kind) {
    case 'init':
      throw new Error('a worker serves one connection: a second init is a bug of the main thread');
    case 'warm':
      return; // a rehearsal asked for after the connection came: nothing left to warm
    case 'data': {
      const chunk = Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength);
      return enqueue(() => onData(chunk));
    }
    case 'end':
      // A peer that hangs up while parked at the barrier (a killed agency
      // sends FIN, not RST) is not waited for: it asks again when it returns.
      if (session.phase === 'waiting') session.abort();
      return enqueue(onEnd);
    case 'closed':
      session.abort();
      return enqueue(exit);
    case 'shutdown':
      // Frames already received are still handled (the batch in hand is
      // finished); then the session says goodbye. A parked winners request
      // wakes through the SHUTDOWN slot.
      return enqueue(async () => {
        await session.settled();
        session.goodbye('the central is shutting down');
      });
  }
}

handle = onMessage;
for (const message of early.splice(0)) onMessage(message);
armIdleTimer();
