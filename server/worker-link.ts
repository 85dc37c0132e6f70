/**
 * The main thread's half of one connection: pumps the socket's bytes to the
 * connection's worker and the worker's replies to the socket. It never parses
 * anything. Flow control: when the worker falls behind by HIGH_WATER bytes
 * the socket is paused, so a fast or hostile peer cannot grow memory.
 */
import type { Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../common/logger.js';
import type { MainToWorker, WorkerInit, WorkerToMain } from './thread-messages.js';

const HIGH_WATER = 256 * 1024;
const LOW_WATER = 64 * 1024;
/** After the worker asks to close, how long the peer gets to read the last bytes. */
const LINGER_MS = 2000;
const WORKER_URL = new URL('./worker.js', import.meta.url);

export class WorkerLink {
  readonly worker: Worker;
  readonly exited: Promise<void>;
  #agency = 0;
  #unconsumed = 0;
  #socketClosed = false;

  constructor(
    readonly id: number,
    private readonly socket: Socket,
    init: WorkerInit,
    private readonly logger: Logger,
    /** Called once the worker has exited (normally or not). */
    private readonly onExit: (link: WorkerLink) => void,
  ) {
    this.worker = new Worker(WORKER_URL, { workerData: init, stdout: false, stderr: false });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.on('message', (message: WorkerToMain) => this.#fromWorker(message));
    this.worker.on('error', (error) => {
      this.logger.error('worker', 'fail', { connection: this.id, agency: this.#agency, error: error.message });
      socket.destroy();
    });
    this.worker.once('exit', (code) => {
      this.logger.info('worker_stopped', 'success', { connection: this.id, agency: this.#agency, code });
      this.onExit(this);
      if (!this.#socketClosed) socket.destroy();
    });

    socket.on('data', (chunk: Buffer) => {
      // A transferred exact-size copy: the socket's buffer may be a slice of a larger one.
      const copy = new Uint8Array(chunk);
      this.#toWorker({ kind: 'data', chunk: copy }, [copy.buffer]);
      this.#unconsumed += chunk.length;
      if (this.#unconsumed > HIGH_WATER) socket.pause();
    });
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

  #toWorker(message: MainToWorker, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(message, transfer);
  }

  #fromWorker(message: WorkerToMain): void {
    switch (message.kind) {
      case 'write':
        if (!this.#socketClosed) this.socket.write(message.bytes);
        return;
      case 'consumed':
        this.#unconsumed -= message.bytes;
        if (this.#unconsumed < LOW_WATER && this.socket.isPaused()) this.socket.resume();
        return;
      case 'close':
        // end() sends what is queued, then FIN; a peer that never closes its side is cut off after LINGER_MS.
        this.socket.end();
        setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
        return;
      case 'agency':
        this.#agency = message.agency;
        return;
    }
  }
}
