/**
 * The central's accepting thread: opens and recovers the store, listens,
 * admits connections (one worker each, up to the limit), answers for workers
 * that exit, coordinates the draw, and shuts everything down in order. A
 * storage fail-stop, reported by any thread, ends the process at once with
 * one CRITICAL line (see storage/store.ts).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../common/logger.js';
import { createAgencyTlsServer } from './tls-listener.js';
import { encodeErrorReply, ErrorCode, MessageType } from '../protocol/index.js';
import { CentralState, DrawState } from './central-state.js';
import type { ServerConfig } from './config.js';
import { Coordinator } from './coordinator.js';
import { SharedCounters } from './counters.js';
import { describeRoster } from './roster.js';
import { StatusBoard } from './status/board.js';
import { StatusServer } from './status/status-server.js';
import { openStore } from './storage/open.js';
import type { FatalStorageError, StoreHost } from './storage/store.js';
import type { WorkerSettings } from './thread-messages.js';
import { WorkerLink } from './worker-link.js';
import { poolSize, WorkerPool } from './worker-pool.js';

/** How long workers get to finish in-hand work at shutdown before they are stopped. */
const SHUTDOWN_GRACE_MS = 5000;

export class Central {
  readonly #central = new CentralState();
  readonly #counters = new SharedCounters();
  readonly #board: StatusBoard;
  #status: StatusServer | null = null;
  readonly #links = new Set<WorkerLink>();
  readonly #server: Server;
  readonly #settings: WorkerSettings;
  #store: StoreHost | null = null;
  #pool: WorkerPool | null = null;
  #coordinator: Coordinator | null = null;
  #nextConnection = 1;
  #stopping = false;
  #fatal = false;

  constructor(
    private readonly config: ServerConfig,
    private readonly logger: Logger,
    /** Ends the process now with this exit code (the storage fail-stop). */
    private readonly exit: (code: number) => void,
  ) {
    this.#settings = {
      drawConfigured: config.roster.length > 0,
      maxFrameBytes: config.maxFrameBytes,
      idleTimeoutMs: config.idleTimeoutMs,
      logLevel: config.logLevel,
      secrets: config.secrets,
    };
    this.#board = new StatusBoard(config.roster, this.#counters, {
      connections: () => this.#links.size,
      connectedAgencies: () => [...this.#links].map((link) => link.agency).filter((agency) => agency > 0),
      drawState: () => this.#central.drawState(),
    });
    // Half-open: a peer that sends and then shuts its side (nc -N) still gets its answer.
    this.#server = config.tls
      ? createAgencyTlsServer(config.tls, config.tlsHandshakeTimeoutMs, logger, (socket, certifiedName) =>
          this.#accept(socket, certifiedName),
        )
      : createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket, null));
  }

  /**
   * Starts the status port (when configured: it answers /readyz with 503
   * while recovery runs), recovers storage, then listens. Resolves with the
   * agency port's address.
   */
  async start(): Promise<AddressInfo> {
    await this.#startStatus();
    await this.#openStore();
    // Workers for the agencies expected, started now so that none is started on an agency's critical path.
    // A spare while the draw is to come and some roster agency has no connection (yet, or again); with no roster, always.
    const roster = this.config.roster.length;
    this.#pool = new WorkerPool(
      { backend: this.#store!.report.backend },
      this.logger,
      () => roster === 0 || (this.#central.drawState() !== DrawState.Done && this.#links.size < roster),
    );
    this.#pool.fill(poolSize(roster, this.config.maxConnections));
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host: this.config.host, port: this.config.port, backlog: this.config.listenBacklog }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const address = this.#server.address() as AddressInfo;
    this.logger.info('listening', 'success', { host: address.address, port: address.port });
    if (!this.#stopping) this.#board.phase = 'ready';
    return address;
  }

  async #startStatus(): Promise<void> {
    const { statusPort, statusHost } = this.config;
    if (statusPort === null) return;
    const status = new StatusServer(this.#board);
    let address: AddressInfo;
    try {
      address = await status.listen(statusHost, statusPort);
    } catch (error) {
      throw new Error(`cannot open the status port ${statusHost}:${statusPort}: ${(error as Error).message}`);
    }
    this.#status = status;
    this.logger.info('status_listening', 'success', { host: address.address, port: address.port });
  }

  async #openStore(): Promise<void> {
    const { config, logger } = this;
    const store = await openStore({
      databaseUrl: config.databaseUrl,
      betsFile: config.betsFile,
      durable: config.durable,
      roster: config.roster,
      logger,
      fault: config.fault,
      databaseTimeoutMs: config.databaseTimeoutMs,
      onFatal: (failure) => this.#failStop(failure),
      counters: this.#counters,
    });
    this.#store = store;
    const r = store.report;
    this.#board.finishedCount = r.finished;
    logger.info('recovery', 'success', {
      store: r.backend,
      where: r.where,
      lottery: r.lotteryId,
      state: r.kind,
      started: new Date(r.createdMs).toISOString(),
      roster: describeRoster(config.roster),
      bets: r.bets,
      agencies: r.agencies,
      finished: r.finished,
      discarded_bytes: r.discardedBytes,
    });
    if (r.discardedBytes > 0) {
      logger.warning('torn_batch_discarded', 'success', {
        path: config.betsFile,
        bytes: r.discardedBytes,
        journal_bytes: r.discardedJournalBytes,
        detail: 'never acknowledged; its agencies send it again',
      });
    } else if (r.discardedJournalBytes > 0) {
      logger.warning('journal_tail_discarded', 'success', {
        path: config.betsFile,
        journal_bytes: r.discardedJournalBytes,
        detail: 'entries for writes that never reached bets.csv; never acknowledged',
      });
    }
    this.#coordinator = new Coordinator(store, this.#central, config.roster, logger, {
      finished: (agency, finished) => this.#board.agencyFinished(agency, finished),
      drawn: (winners, seconds) => this.#board.drawn(winners, seconds),
    });
    await this.#coordinator.resume();
  }

  /** The storage fail-stop: one CRITICAL line, then the process ends (recovery starts again from the disk). */
  #failStop(failure: FatalStorageError): void {
    if (this.#fatal) return;
    this.#fatal = true;
    this.logger.critical('storage', 'fail', {
      file: failure.file,
      operation: failure.operation,
      error: failure.error,
      detail: failure.detail,
    });
    this.exit(1);
  }

  /** A connection, once its TLS handshake (if any) is done; `certifiedName` is its client certificate's CN under mutual TLS. */
  #accept(socket: Socket, certifiedName: string | null): void {
    const peer = socket.remoteAddress ?? 'unknown';
    socket.on('error', () => undefined); // errors are logged by the link; never crash on a reset
    // Acks are small and answered to at once: Nagle's algorithm would hold each
    // one back until the previous segment is acknowledged (40 ms with delayed ACKs).
    socket.setNoDelay(true);
    if (this.#stopping || this.#fatal) {
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
    const store = this.#store!.workerInit();
    const link = new WorkerLink(
      id,
      socket,
      this.#pool!.take(),
      { central: this.#central.buffer, counters: this.#counters.buffer, store: store.init, settings: this.#settings, peer, certifiedName },
      store.transfer,
      this.logger,
      {
        finished: (agency) => void this.#coordinator!.agencyFinished(agency),
        fatal: (failure) => this.#failStop(failure),
        exited: (done, threadId) => void this.#workerExited(done, threadId),
      },
    );
    this.#links.add(link);
  }

  /** Releases what the worker held; a worker that died holding the store's lock or sync fail-stops it. */
  async #workerExited(link: WorkerLink, threadId: number): Promise<void> {
    this.#links.delete(link);
    this.#pool?.replenish();
    if (link.agency) this.#central.releaseAgency(link.agency);
    if (await this.#store!.threadExited(threadId, link.agency)) return;
    // A worker may have recorded a Done durably and died before saying so.
    await this.#coordinator!.drawIfComplete();
  }

  /** Stops accepting, lets every worker finish, closes sockets and the files. */
  async shutdown(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#board.phase = 'stopping';
    this.#server.close();
    this.logger.info('listener_closed', 'success');
    if (this.#pool) this.logger.info('worker_pool_closed', 'success', { idle_workers: await this.#pool.close() });
    this.#central.beginShutdown();
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
        this.logger.warning('worker_stopped', 'fail', {
          connection: link.id,
          agency: link.agency,
          detail: 'did not finish in time; stopped',
        });
        await link.kill();
      }
    }
    // Let every exit handler run (a worker stopped mid-sync fail-stops the store), and a draw attempt end.
    await new Promise((resolve) => setImmediate(resolve));
    await this.#coordinator?.stop();
    if (this.#status) {
      await this.#status.close();
      this.logger.info('status_server_closed', 'success');
    }
    if (this.#store && (await this.#store.close())) {
      const { backend, where } = this.#store.report;
      if (backend === 'file') this.logger.info('bets_file_closed', 'success', { path: where });
      else this.logger.info('database_closed', 'success', { url: where });
    }
  }
}
