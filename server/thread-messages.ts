/**
 * Messages between the accepting thread and a connection's worker. The main
 * thread owns the socket (Node cannot hand a socket to a worker thread) and
 * only moves bytes; the worker owns the protocol session.
 */
import type { Level } from '../common/logger.js';
import type { FatalStorageError, WorkerStoreInit } from './storage/store.js';

export type MainToWorker =
  /** To an idle worker, before any connection: rehearse the first frames' code (see warm-up.ts) and answer `warm`. */
  | { readonly kind: 'warm'; readonly sample: SharedArrayBuffer }
  /** The first message of a connection: the connection this (pre-started) worker serves. */
  | { readonly kind: 'init'; readonly init: WorkerInit }
  /** Bytes read from the socket (a transferred copy). */
  | { readonly kind: 'data'; readonly chunk: Uint8Array }
  /** The peer will send nothing more (half-close). */
  | { readonly kind: 'end' }
  /** The socket is gone: clean up and exit. */
  | { readonly kind: 'closed' }
  /** The central is shutting down: finish the frame in hand, say goodbye, exit. */
  | { readonly kind: 'shutdown' };

export type WorkerToMain =
  /** The rehearsal is done (the reply warms the way back too); nothing to do. */
  | { readonly kind: 'warm' }
  /** Bytes for the socket, already whole frames. */
  | { readonly kind: 'write'; readonly bytes: Uint8Array }
  /** The worker caught up while the main thread had stopped reading (see InboundFlow). */
  | { readonly kind: 'consumed' }
  /** Flush pending writes and close the connection. */
  | { readonly kind: 'close' }
  /** The session now speaks for this agency (for the main thread's logs). */
  | { readonly kind: 'agency'; readonly agency: number }
  /** The agency's Done is durable: the coordinator counts it. */
  | { readonly kind: 'finished'; readonly agency: number }
  /** The store fail-stopped in this worker (files already cut back): end the process. */
  | { readonly kind: 'fatal'; readonly failure: FatalStorageError };

/** Settings a worker needs, passed in its connection's WorkerInit. */
export interface WorkerSettings {
  /** A roster is configured, hence a draw: only its agencies are admitted. */
  readonly drawConfigured: boolean;
  readonly maxFrameBytes: number;
  readonly idleTimeoutMs: number;
  readonly logLevel: Level;
  /** Agency id → secret, or null when running unauthenticated. */
  readonly secrets: ReadonlyMap<number, string> | null;
}

export interface WorkerInit {
  /** CentralState's buffer: the barrier, shutdown, agency claims. */
  readonly central: SharedArrayBuffer;
  /** SharedCounters' buffer: what the status endpoint reports. */
  readonly counters: SharedArrayBuffer;
  /** This connection's InboundFlow counters. */
  readonly flow: SharedArrayBuffer;
  /** What the worker builds its store from (the file store's shared state and descriptors, or the database store's port). */
  readonly store: WorkerStoreInit;
  readonly settings: WorkerSettings;
  readonly peer: string;
  /** Under mutual TLS, the subject CN of the peer's verified certificate (agency-<id>); null otherwise. */
  readonly certifiedName: string | null;
}

/**
 * What a worker is started with (workerData), before it has a connection:
 * enough to load its store's code ahead of time. Its connection's WorkerInit
 * comes later, as its first message (see worker-pool.ts).
 */
export interface WorkerBoot {
  readonly backend: WorkerStoreInit['backend'];
}
