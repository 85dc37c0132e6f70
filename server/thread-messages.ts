/**
 * Messages between the accepting thread and a connection's worker. The main
 * thread owns the socket (Node cannot hand a socket to a worker thread) and
 * only moves bytes; the worker owns the protocol session.
 */
import type { Level } from '../common/logger.js';

export type MainToWorker =
  /** Bytes read from the socket (a transferred copy). */
  | { readonly kind: 'data'; readonly chunk: Uint8Array }
  /** The peer will send nothing more (half-close). */
  | { readonly kind: 'end' }
  /** The socket is gone: clean up and exit. */
  | { readonly kind: 'closed' }
  /** The central is shutting down: finish the frame in hand, say goodbye, exit. */
  | { readonly kind: 'shutdown' };

export type WorkerToMain =
  /** Bytes for the socket, already whole frames. */
  | { readonly kind: 'write'; readonly bytes: Uint8Array }
  /** The worker caught up while the main thread had stopped reading (see InboundFlow). */
  | { readonly kind: 'consumed' }
  /** Flush pending writes and close the connection. */
  | { readonly kind: 'close' }
  /** The session now speaks for this agency (for the main thread's logs). */
  | { readonly kind: 'agency'; readonly agency: number };

/** Settings a worker needs, passed in workerData. */
export interface WorkerSettings {
  readonly betsFile: string;
  readonly agencies: number;
  readonly durable: boolean;
  readonly maxFrameBytes: number;
  readonly idleTimeoutMs: number;
  readonly logLevel: Level;
  /** Agency id → secret, or null when running unauthenticated. */
  readonly secrets: ReadonlyMap<number, string> | null;
}

export interface WorkerInit {
  readonly state: SharedArrayBuffer;
  /** This connection's InboundFlow counters. */
  readonly flow: SharedArrayBuffer;
  /** bets.csv, opened O_APPEND by the main thread; descriptors are process-wide. */
  readonly betsFd: number;
  /** `<bets>.batches`, the batch index, opened O_APPEND likewise. */
  readonly indexFd: number;
  readonly settings: WorkerSettings;
  readonly peer: string;
}
