/**
 * The main thread's half of one connection: pumps the socket's bytes to the
 * connection's worker and the worker's replies to the socket. It never parses
 * anything. Flow control both ways: the socket stops being read while the
 * worker is more than HIGH_WATER bytes behind, or while more than HIGH_WATER
 * bytes of replies wait for a peer that does not read them (replies are only
 * ever produced by input). So neither a fast nor a hostile peer can grow memory.
 */
import type { Socket } from 'node:net';
import type { TransferListItem, Worker } from 'node:worker_threads';
import type { Logger } from '../common/logger.js';
import { HIGH_WATER, InboundFlow, LOW_WATER } from './flow.js';
import type { FatalStorageError } from './storage/store.js';
import type { MainToWorker, WorkerInit, WorkerToMain } from './thread-messages.js';

/** What the accepting thread does with a worker's news. */
export interface LinkEvents {
  /** The agency's Done is durable. */
  finished(agency: number): void;
  /** The worker's store fail-stopped. */
  fatal(failure: FatalStorageError): void;
  /** The worker has exited (normally or not). */
  exited(link: WorkerLink, threadId: number): void;
}

/**
 * A socket chunk as memory a worker can be handed by transfer. Node reads
 * each chunk into a buffer of its own: that memory goes as is. A chunk that
 * is a slice of a larger buffer is copied first, so the transfer never takes
 * bytes that are not the chunk's.
 */
export function transferableChunk(chunk: Buffer): Uint8Array<ArrayBuffer> {
  const owned = chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.length;
  return owned ? new Uint8Array(chunk.buffer as ArrayBuffer) : new Uint8Array(chunk);
}

/** After the worker asks to close, how long the peer gets to read the last bytes. */
const LINGER_MS = 2000;

export class WorkerLink {
  readonly exited: Promise<void>;
  #agency = 0;
  readonly #flow: InboundFlow;
  #socketClosed = false;

  constructor(
    readonly id: number,
    private readonly socket: Socket,
    /** A worker of its own (from the WorkerPool), not yet given a connection. */
    readonly worker: Worker,
    init: Omit<WorkerInit, 'flow'>,
    /** What `init` carries that must be transferred (the database store's MessagePort). */
    transfer: readonly TransferListItem[],
    private readonly logger: Logger,
    private readonly events: LinkEvents,
  ) {
    this.#flow = new InboundFlow();
    const connection: WorkerInit = { ...init, flow: this.#flow.buffer };
    this.#toWorker({ kind: 'init', init: connection }, [...transfer]);
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.on('message', (message: WorkerToMain) => this.#fromWorker(message));
    // An uncaught error ends the worker, and with it the connection; its exit is then checked like any other.
    this.worker.on('error', (error) => {
      this.logger.error('worker', 'fail', { connection: this.id, agency: this.#agency, error: error.stack ?? error.message });
      socket.destroy();
    });
    const threadId = this.worker.threadId; // reads -1 once the worker has exited
    this.worker.once('exit', (code) => {
      this.logger.info('worker_stopped', 'success', { connection: this.id, agency: this.#agency, code });
      this.events.exited(this, threadId);
      if (!this.#socketClosed) socket.destroy();
    });

    socket.on('data', (chunk: Buffer) => {
      const length = chunk.length; // read first: the transfer below empties `chunk`
      const bytes = transferableChunk(chunk);
      this.#toWorker({ kind: 'data', chunk: bytes }, [bytes.buffer]);
      this.#flow.received(length);
      this.#updateFlow();
    });
    socket.on('drain', () => this.#updateFlow());
    socket.on('end', () => this.#toWorker({ kind: 'end' }));
    socket.on('error', (error) => this.logger.debug('socket', 'fail', { connection: this.id, error: error.message }));
    socket.on('close', () => {
      this.#socketClosed = true;
      this.logger.info('connection_closed', 'success', { connection: this.id, agency: this.#agency });
      this.#toWorker({ kind: 'closed' });
    });
  }

  get agency(): number {
    return this.#agency;
  }

  /** Asks the worker to wrap up; the peer is told and the connection closes. */
  shutdown(): void {
    this.#toWorker({ kind: 'shutdown' });
  }

  /** Last resort when a worker does not finish in time. */
  async kill(): Promise<void> {
    this.socket.destroy();
    await this.worker.terminate();
  }

  /** Reads from the socket only while both the worker and the peer keep up. */
  #updateFlow(): void {
    const outbound = this.socket.writableLength;
    if (!this.socket.isPaused()) {
      if (this.#flow.backlog <= HIGH_WATER && outbound <= HIGH_WATER) return;
      this.socket.pause();
      // Re-read after raising the flag: the worker may have caught up in between.
      if (this.#flow.pause() >= LOW_WATER || outbound >= LOW_WATER) return;
    } else if (this.#flow.backlog >= LOW_WATER || outbound >= LOW_WATER) {
      return;
    }
    this.#flow.resume();
    this.socket.resume();
  }

  #toWorker(message: MainToWorker, transfer?: readonly TransferListItem[]): void {
    this.worker.postMessage(message, transfer);
  }

  #fromWorker(message: WorkerToMain): void {
    switch (message.kind) {
      case 'warm':
        return; // the answer to the pool's rehearsal, when it comes after the connection
      case 'write':
        if (!this.#socketClosed) {
          this.socket.write(message.bytes);
          this.#updateFlow();
        }
        return;
      case 'consumed':
        this.#updateFlow();
        return;
      case 'close':
        // end() sends what is queued, then FIN; a peer that never closes its side is cut off after LINGER_MS.
        this.socket.end();
        setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
        return;
      case 'agency':
        this.#agency = message.agency;
        return;
      case 'finished':
        this.events.finished(message.agency);
        return;
      case 'fatal':
        this.events.fatal(message.failure);
        return;
    }
  }
}
