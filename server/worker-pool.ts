/**
 * Connection workers started before their connections arrive. Starting a
 * worker thread (a new V8 isolate that loads and compiles the session and
 * storage code) costs 70–95 ms of CPU; started at accept time, that sits
 * between an agency's connect and its Welcome. The pool starts `size`
 * workers at boot (one per roster agency, capped) and keeps one spare after
 * that while the central wants it: until the draw, while fewer connections
 * are open than the roster has agencies. So a connection that is no agency
 * (a probe) or a reconnection finds a worker ready, no worker starts while
 * the whole roster sends its bets, and no idle isolate (about 12 MB) waits
 * for nobody then; the next spare starts when a connection ends. Each
 * worker still serves exactly one connection: `take` hands it over for
 * good, and it exits when its connection ends. An idle worker has been
 * given nothing (no store, no socket), so one that dies idle is dropped and
 * logged, never counted as a connection.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../common/logger.js';
import type { MainToWorker, WorkerBoot } from './thread-messages.js';

// From dist/server/ (tsc's output, or this module inside the central's bundle) or dist/chunks/ (a shared chunk of the bundles): both one level below dist/.
const WORKER_URL = new URL('../server/worker.js', import.meta.url);
/** Idle workers kept once the boot set is taken (while the central wants one): the next connection (a reconnection) finds one ready. */
const SPARE = 1;
/** The most workers started at boot, whatever the roster: each idle one holds an isolate (a few MB). */
export const MAX_POOL_SIZE = 16;
/** Workers started at boot when no roster is configured (any agency may come). */
export const DEFAULT_POOL_SIZE = 2;

/** Workers to start at boot for a roster of `agencies` (0: no roster) under a connection limit. */
export function poolSize(agencies: number, maxConnections: number): number {
  const wanted = agencies > 0 ? agencies : DEFAULT_POOL_SIZE;
  return Math.max(1, Math.min(wanted, MAX_POOL_SIZE, maxConnections));
}

export class WorkerPool {
  readonly #idle = new Set<Worker>();
  #closed = false;
  #replenishing = false;

  constructor(
    private readonly boot: WorkerBoot,
    private readonly logger: Logger,
    /** Whether a spare is worth its memory now (asked when a worker is taken and when `replenish` is called). */
    private readonly spareWanted: () => boolean = () => true,
  ) {}

  /** Starts `count` idle workers (they load their code in the background). */
  fill(count: number): void {
    for (let i = 0; i < count; i++) this.#startIdle();
  }

  /** A worker for a new connection: an idle one if any, else a fresh one; either way a spare is started after. */
  take(): Worker {
    const [idle] = this.#idle;
    let worker: Worker;
    if (idle) {
      this.#idle.delete(idle);
      idle.removeAllListeners('exit');
      idle.removeAllListeners('error');
      idle.ref();
      worker = idle;
    } else {
      worker = this.#start();
    }
    this.replenish();
    return worker;
  }

  /**
   * Tops the spares up, once the connection in hand has its worker (a
   * thread's start is not on its path), if the central wants a spare then.
   * The central calls it when a connection ends, too.
   */
  replenish(): void {
    if (this.#replenishing || this.#idle.size >= SPARE) return;
    this.#replenishing = true;
    setImmediate(() => {
      this.#replenishing = false;
      while (this.#idle.size < SPARE && !this.#closed && this.spareWanted()) this.#startIdle();
    });
  }

  /** Stops every idle worker (at shutdown, before the store closes); resolves with how many were stopped. */
  async close(): Promise<number> {
    this.#closed = true;
    const idle = [...this.#idle];
    this.#idle.clear();
    for (const worker of idle) worker.removeAllListeners('exit');
    await Promise.all(idle.map((worker) => worker.terminate()));
    return idle.length;
  }

  #start(): Worker {
    return new Worker(WORKER_URL, {
      workerData: this.boot,
      stdout: false,
      stderr: false,
      resourceLimits: { maxYoungGenerationSizeMb: 2 },
    });
  }

  #startIdle(): void {
    if (this.#closed) return;
    const worker = this.#start();
    // An idle worker must not keep the process alive: shutdown stops it, and so does process.exit.
    worker.unref();
    // A rehearsal of the first frames while nobody waits (warm-up.ts); the sample warms the way shared memory arrives.
    worker.postMessage({ kind: 'warm', sample: new SharedArrayBuffer(8) } satisfies MainToWorker);
    this.#idle.add(worker);
    let failure = '';
    worker.on('error', (error) => (failure = error.stack ?? error.message));
    worker.once('exit', (code) => {
      this.#idle.delete(worker);
      // Not replaced here: a worker that cannot start would otherwise be restarted forever; `take` starts one on demand.
      this.logger.warning('worker_pool', 'fail', {
        detail: 'an idle worker exited before serving a connection',
        code,
        error: failure || 'none',
      });
    });
  }
}
