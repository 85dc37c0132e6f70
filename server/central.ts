/**
 * The central's accepting thread: recovers storage at start, listens, admits
 * connections (one worker each, up to the limit), and shuts everything down
 * in order. It holds the bets file descriptor that every worker appends to.
 */
import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../common/logger.js';
import { encodeErrorReply, ErrorCode, MessageType } from '../protocol/index.js';
import type { ServerConfig } from './config.js';
import { runDraw } from './coordinator.js';
import { createSharedState, DrawState, SharedState } from './shared-state.js';
import { batchIndexPath, recoverBetsFile } from './storage/recovery.js';
import { drawHappened, readFinished } from './storage/sidecars.js';
import type { WorkerSettings } from './thread-messages.js';
import { WorkerLink } from './worker-link.js';

/** How long workers get to finish in-hand work at shutdown before they are stopped. */
const SHUTDOWN_GRACE_MS = 5000;

export class Central {
  readonly #state: SharedState;
  readonly #stateBuffer: SharedArrayBuffer;
  readonly #links = new Set<WorkerLink>();
  readonly #server: Server;
  readonly #settings: WorkerSettings;
  #betsFd = -1;
  #indexFd = -1;
  #nextConnection = 1;
  #stopping = false;

  constructor(
    private readonly config: ServerConfig,
    private readonly logger: Logger,
  ) {
    this.#stateBuffer = createSharedState();
    this.#state = new SharedState(this.#stateBuffer);
    this.#settings = {
      betsFile: config.betsFile,
      agencies: config.agencies,
      durable: config.durable,
      maxFrameBytes: config.maxFrameBytes,
      idleTimeoutMs: config.idleTimeoutMs,
      logLevel: config.logLevel,
      secrets: config.secrets,
    };
    // Half-open: a peer that sends and then shuts its side (nc -N) still gets its answer.
    this.#server = createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket));
  }

  /** Recovers storage, then listens. Resolves with the bound address. */
  async start(): Promise<AddressInfo> {
    this.#prepareStorage();
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host: this.config.host, port: this.config.port, backlog: this.config.listenBacklog }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const address = this.#server.address() as AddressInfo;
    this.logger.info('listening', 'success', { host: address.address, port: address.port });
    return address;
  }

  #prepareStorage(): void {
    const { betsFile, agencies } = this.config;
    mkdirSync(dirname(betsFile), { recursive: true });
    const recovery = recoverBetsFile(betsFile);
    this.#state.fileSize = recovery.size;
    for (const [agency, count] of recovery.counts) if (agency >= 1 && agency <= 65535) this.#state.addStored(agency, count);
    const finished = readFinished(betsFile);
    for (const agency of finished) if (this.#state.markFinished(agency)) this.#state.countFinished();
    this.logger.info('recovery', 'success', {
      bets: recovery.lines,
      agencies: recovery.counts.size,
      finished: finished.size,
      discarded_bytes: recovery.truncatedBytes,
      malformed_lines: recovery.malformedLines,
      index_rebuilt: recovery.indexRebuilt,
    });
    if (recovery.truncatedBytes > 0) {
      this.logger.warning('torn_batch_discarded', 'success', { path: betsFile, bytes: recovery.truncatedBytes });
    }
    if (drawHappened(betsFile)) {
      this.#state.setDrawState(DrawState.Done);
      this.logger.info('draw_reused', 'success', { detail: 'the draw already ran; its result is reused' });
    } else if (agencies > 0 && finished.size >= agencies) {
      // Every agency finished before a crash, but the result never reached the disk.
      runDraw(betsFile, this.#state, this.logger, false);
    }
    this.#betsFd = openSync(betsFile, 'a');
    this.#indexFd = openSync(batchIndexPath(betsFile), 'a');
  }

  #accept(socket: Socket): void {
    const peer = socket.remoteAddress ?? 'unknown';
    socket.on('error', () => undefined); // errors are logged by the link; never crash on a reset
    // Acks are small and answered to at once: Nagle's algorithm would hold each
    // one back until the previous segment is acknowledged (40 ms with delayed ACKs).
    socket.setNoDelay(true);
    if (this.#stopping) {
      socket.destroy();
      return;
    }
    if (this.#links.size >= this.config.maxConnections) {
      this.logger.warning('connection_refused', 'fail', { ip: peer, reason: `connection limit ${this.config.maxConnections} reached` });
      const reply = encodeErrorReply({
        type: MessageType.Error,
        code: ErrorCode.TooManyConnections,
        message: `the central is at its limit of ${this.config.maxConnections} connections; try again later`,
      });
      socket.end(reply);
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const id = this.#nextConnection++;
    this.logger.info('connection_accepted', 'success', { connection: id, ip: peer });
    const link = new WorkerLink(
      id,
      socket,
      { state: this.#stateBuffer, betsFd: this.#betsFd, indexFd: this.#indexFd, settings: this.#settings, peer },
      this.logger,
      (done, threadId) => {
        this.#links.delete(done);
        if (done.agency) this.#state.releaseAgency(done.agency);
        if (this.#state.releaseSyncOf(threadId)) {
          this.logger.warning('group_sync_released', 'success', { connection: done.id, detail: 'worker exited while syncing; another takes over' });
        }
      },
    );
    this.#links.add(link);
  }

  /** Stops accepting, lets every worker finish, closes sockets and the file. */
  async shutdown(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#server.close();
    this.logger.info('listener_closed', 'success');
    this.#state.beginShutdown();
    const links = [...this.#links];
    for (const link of links) link.shutdown();
    const allExited = Promise.all(links.map((link) => link.exited));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      allExited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), SHUTDOWN_GRACE_MS))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      for (const link of this.#links) {
        this.logger.warning('worker_stopped', 'fail', { connection: link.id, agency: link.agency, detail: 'did not finish in time; stopped' });
        await link.kill();
      }
    }
    if (this.#betsFd >= 0) {
      for (const fd of [this.#betsFd, this.#indexFd]) {
        fsyncSync(fd);
        closeSync(fd);
      }
      this.#betsFd = this.#indexFd = -1;
      this.logger.info('bets_file_closed', 'success', { path: this.config.betsFile });
    }
  }
}
