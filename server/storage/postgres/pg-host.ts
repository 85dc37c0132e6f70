/**
 * The database store on the accepting thread (SERVER_DATABASE_URL): bets
 * live in PostgreSQL, and several centrals may share it. This thread holds
 * every connection: a small pool for the sessions' group commits
 * (committer.ts, one per lane) and queries, and one lease connection that holds, per
 * agency in session here, an advisory lock — so one session per agency
 * across all centrals, released at once when a central dies (its
 * connection goes with it) — and that LISTENs for draws made elsewhere.
 * Workers reach it over a MessagePort each (pg-store.ts).
 *
 * An agency's session number, raised at each Hello, fences its writes (see
 * committer.ts): whatever happens to locks and connections, an old session
 * can never write after a new one began.
 */
import { randomBytes } from 'node:crypto';
import { MessageChannel, type MessagePort, type TransferListItem } from 'node:worker_threads';
import pg from 'pg';
import type { Logger } from '../../../common/logger.js';
import { WINNING_NUMBER } from '../../../protocol/index.js';
import type { SharedCounters } from '../../counters.js';
import {
  LotteryMismatch,
  type AgencyLedger,
  type FinishOutcome,
  type StoredResult,
  type StoreHost,
  type StoreReport,
  type WorkerStoreInit,
} from '../store.js';
import { Committer, type Claim } from './committer.js';
import type { StoreFailure, StoreReply, StoreRequest } from './messages.js';
import { DRAW_LOCK, LANES, laneOf, lanePartition, LOCK_NAMESPACE, prepareSchema, readLottery } from './schema.js';

/** What a worker builds its PgWorkerStore from. */
export interface PgWorkerInit {
  readonly port: MessagePort;
  readonly roster: readonly number[];
}

export interface PgStoreOptions {
  readonly url: string;
  readonly roster: readonly number[];
  readonly logger: Logger;
  /** How long to wait for the database at start-up. */
  readonly connectTimeoutMs?: number;
  /** A query or a connection attempt that takes longer is given up (a hanging database). */
  readonly queryTimeoutMs?: number;
  /** Where each group commit's latency is counted. */
  readonly counters?: SharedCounters;
}

const DRAW_CHANNEL = 'lottery_draw';
const HEARTBEAT_MS = 3000;

// int8 columns (counts, positions) come back as strings by default; they stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export class PgStoreHost implements StoreHost {
  readonly report: StoreReport;
  readonly #pool: pg.Pool;
  /** One per lane: an agency commits through `#committers[laneOf(agency)]`. */
  readonly #committers: Committer[];
  readonly #claims = new Map<number, Claim & { port: MessagePort; lastTicket: number }>();
  readonly #drawnElsewhere: (() => void)[] = [];
  #lease: pg.Client | null = null;
  #closing = false;
  #heartbeat: NodeJS.Timeout | undefined;

  private constructor(
    private readonly options: PgStoreOptions,
    pool: pg.Pool,
    report: StoreReport,
  ) {
    this.#pool = pool;
    this.report = report;
    this.#committers = Array.from(
      { length: LANES },
      (_, lane) =>
        new Committer(
          lanePartition(lane),
          pool,
          (error) => this.#databaseError('commit', error),
          (seconds) => options.counters?.commit(seconds),
        ),
    );
  }

  /** Connects (waiting for the database to come up), creates the schema if needed, checks the roster. */
  static async open(options: PgStoreOptions): Promise<PgStoreHost> {
    const timeout = options.queryTimeoutMs ?? 15_000;
    const pool = new pg.Pool({
      connectionString: options.url,
      max: LANES + 2, // a connection per lane, and two for the sessions' queries and the draw
      connectionTimeoutMillis: 5000,
      query_timeout: timeout,
      statement_timeout: timeout,
      keepAlive: true,
      application_name: 'lottery-server',
    });
    pool.on('error', (error) =>
      options.logger.warning('database', 'fail', { error: error.message, detail: 'an idle connection broke; it is replaced' }),
    );
    // A connection in use that breaks (or gets a late answer after a timeout) fails its query; its 'error' must not crash the central.
    pool.on('connect', (client) =>
      client.on('error', (error) => options.logger.debug('database', 'fail', { error: error.message, detail: 'a connection broke' })),
    );
    const client = await connectWithRetry(pool, options);
    let report: StoreReport;
    try {
      const { row, created } = await prepareSchema(client, options.roster, randomBytes(16).toString('hex'));
      if (!sameRoster(row.roster, options.roster)) {
        throw new LotteryMismatch(
          `the database ${redact(options.url)} holds lottery ${row.lotteryId} (started ${new Date(row.createdMs).toISOString()}), ` +
            `whose roster of ${row.roster.length} agencies is not the configured one (${options.roster.length}); ` +
            "start with that lottery's settings, or use an empty database to start a new lottery",
        );
      }
      const counts = await client.query<{ bets: number; agencies: number; finished: number }>(
        `SELECT (SELECT count(*) FROM bets)::int AS bets,
                (SELECT count(*) FROM agencies WHERE stored > 0)::int AS agencies,
                (SELECT count(*) FROM agencies WHERE finished AND agency = ANY($1))::int AS finished`,
        [[...options.roster]],
      );
      const c = counts.rows[0];
      report = {
        backend: 'postgres',
        where: redact(options.url),
        lotteryId: row.lotteryId,
        createdMs: row.createdMs,
        kind: created ? 'new' : 'recovered',
        bets: c.bets,
        agencies: c.agencies,
        finished: c.finished,
        discardedBytes: 0,
        discardedJournalBytes: 0,
      };
    } finally {
      client.release();
    }
    const host = new PgStoreHost(options, pool, report);
    await host.#connectLease();
    return host;
  }

  workerInit(): { init: WorkerStoreInit; transfer: TransferListItem[] } {
    const { port1, port2 } = new MessageChannel();
    this.#serve(port1);
    return { init: { backend: 'postgres', port: port2, roster: this.options.roster }, transfer: [port2] };
  }

  async finishedCount(): Promise<number> {
    const result = await this.#pool.query<{ n: number }>('SELECT count(*)::int AS n FROM agencies WHERE finished AND agency = ANY($1)', [
      [...this.options.roster],
    ]);
    return result.rows[0].n;
  }

  async storedResult(): Promise<StoredResult | null> {
    const row = await readLottery(this.#pool);
    if (!row?.drawn) return null;
    // Whoever drew took on announcing it, in the draw's own transaction.
    return { winners: await this.#winners(), announced: true };
  }

  markAnnounced(): Promise<string | null> {
    return Promise.resolve(null); // recorded with the draw (see draw)
  }

  onDrawnElsewhere(callback: () => void): void {
    this.#drawnElsewhere.push(callback);
  }

  /** One transaction, serialized by an advisory lock: whoever takes it first with the roster complete draws. */
  async draw(): Promise<Map<number, string[]> | 'elsewhere'> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, DRAW_LOCK]);
      const lottery = await client.query<{ drawn: boolean; lottery_id: string }>(
        'SELECT drawn_at IS NOT NULL AS drawn, lottery_id FROM lottery WHERE id = 1 FOR UPDATE',
      );
      if (lottery.rows[0].drawn) {
        await client.query('COMMIT');
        return 'elsewhere';
      }
      const finished = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM agencies WHERE finished AND agency = ANY($1)', [
        [...this.options.roster],
      ]);
      if (finished.rows[0].n < this.options.roster.length) throw new Error('not every roster agency has finished yet');
      await client.query('INSERT INTO winners (agency, document) SELECT agency, document FROM bets WHERE number = $1', [WINNING_NUMBER]);
      await client.query('UPDATE lottery SET drawn_at = now(), announced_at = now() WHERE id = 1');
      await client.query('SELECT pg_notify($1, $2)', [DRAW_CHANNEL, lottery.rows[0].lottery_id]);
      await client.query('COMMIT');
    } catch (error) {
      broken = error as Error;
      throw error;
    } finally {
      client.release(broken); // dropped, not rolled back on: the database rolls back a connection that goes away
    }
    return this.#winners();
  }

  async threadExited(_threadId: number, agency: number): Promise<boolean> {
    await this.#release(agency);
    return false;
  }

  async close(): Promise<boolean> {
    this.#closing = true;
    clearInterval(this.#heartbeat);
    await Promise.all(this.#committers.map((committer) => committer.drain()));
    for (const agency of [...this.#claims.keys()]) await this.#release(agency);
    await this.#lease?.end().catch(() => undefined);
    await this.#pool.end();
    return true;
  }

  // ---- the lease connection ---------------------------------------------------

  async #connectLease(): Promise<void> {
    const lease = new pg.Client({
      connectionString: this.options.url,
      keepAlive: true,
      connectionTimeoutMillis: 5000,
      query_timeout: this.options.queryTimeoutMs ?? 15_000,
      application_name: 'lottery-server-lease',
    });
    lease.on('error', (error) => this.#leaseLost(lease, error));
    lease.on('end', () => this.#leaseLost(lease, new Error('the lease connection ended')));
    lease.on('notification', (n) => {
      if (n.channel === DRAW_CHANNEL) for (const callback of this.#drawnElsewhere) callback();
    });
    await lease.connect();
    await lease.query(`LISTEN ${DRAW_CHANNEL}`);
    this.#lease = lease;
    clearInterval(this.#heartbeat);
    // A lease connection that hangs is noticed: a query that does not come back in time ends it.
    this.#heartbeat = setInterval(() => void lease.query('SELECT 1').catch((error: Error) => this.#leaseLost(lease, error)), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  /** Every agency lock went with the connection: the sessions here end (their agencies resume anywhere); reconnect. */
  #leaseLost(lease: pg.Client, error: Error): void {
    if (this.#lease !== lease || this.#closing) return;
    this.#lease = null;
    clearInterval(this.#heartbeat);
    lease.removeAllListeners('end');
    void lease.end().catch(() => undefined);
    this.#databaseError('lease', error);
    for (const [agency, claim] of this.#claims) {
      claim.broken = true;
      claim.lost(claim.lastTicket + 1, 'unavailable', 'the central lost its connection to the database');
      this.#claims.delete(agency);
    }
    void this.#reconnectLease();
  }

  async #reconnectLease(): Promise<void> {
    for (let attempt = 1; !this.#closing; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * attempt)));
      try {
        await this.#connectLease();
        this.options.logger.info('database', 'success', { detail: 'reconnected', attempt });
        // A draw made while we were away was not notified to us.
        for (const callback of this.#drawnElsewhere) callback();
        return;
      } catch (error) {
        this.options.logger.warning('database', 'in_progress', { error: (error as Error).message, attempt, detail: 'reconnecting' });
      }
    }
  }

  #databaseError(what: string, error: Error): void {
    if (this.#closing) return;
    this.options.logger.error('database', 'fail', {
      connection: what,
      error: error.message,
      detail: 'nothing unconfirmed is acknowledged; agencies resume from the database',
    });
  }

  // ---- one worker's requests --------------------------------------------------

  #serve(port: MessagePort): void {
    let claim: (Claim & { port: MessagePort; lastTicket: number }) | null = null;
    const reply = (message: StoreReply) => port.postMessage(message);
    const refuse = (id: number, failure: StoreFailure, error: unknown) =>
      reply({ op: 'refused', id, failure, message: (error as Error).message ?? String(error) });
    port.on('message', (request: StoreRequest) => {
      switch (request.op) {
        case 'ledger':
          this.#claim(request.agency, port).then(
            ({ ledger, claimed }) => {
              claim = claimed;
              reply({ op: 'reply', id: request.id, value: ledger });
            },
            (error: ClaimError) => refuse(request.id, error.failure ?? 'unavailable', error),
          );
          return;
        case 'append':
        case 'settle': {
          if (!claim) return reply({ op: 'lost', from: request.ticket, failure: 'unavailable', message: 'no session: say Hello first' });
          claim.lastTicket = request.ticket;
          return this.#committers[laneOf(claim.agency)].enqueue({
            claim,
            ticket: request.ticket,
            rows: request.op === 'append' ? request.rows : null,
            bets: request.op === 'append' ? request.bets : 0,
            position: request.position,
          });
        }
        case 'finish':
          this.#finish(claim, request.agency, request.total).then(
            (value) => reply({ op: 'reply', id: request.id, value }),
            (error: ClaimError) => refuse(request.id, error.failure ?? 'unavailable', error),
          );
          return;
        case 'winners':
          this.#winners(request.agency).then(
            (documents) => reply({ op: 'reply', id: request.id, value: documents.get(request.agency) ?? [] }),
            (error) => refuse(request.id, 'unavailable', error),
          );
      }
    });
  }

  /** Takes the agency's lock and a new session number; its ledger as the database holds it. */
  async #claim(
    agency: number,
    port: MessagePort,
  ): Promise<{ ledger: AgencyLedger; claimed: Claim & { port: MessagePort; lastTicket: number } }> {
    const lease = this.#lease;
    if (!lease) throw claimError('unavailable', 'the central is reconnecting to the database');
    const locked = await lease.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [LOCK_NAMESPACE, agency]);
    if (!locked.rows[0].ok) throw claimError('busy', `agency ${agency} has a session at another central`);
    try {
      const row = await this.#pool.query<{ stored: number; settled: number; finished: boolean; session: number }>(
        `INSERT INTO agencies (agency, session) VALUES ($1, 1)
           ON CONFLICT (agency) DO UPDATE SET session = agencies.session + 1
           RETURNING stored, settled, finished, session`,
        [agency],
      );
      const { stored, settled, finished, session } = row.rows[0];
      const claimed = {
        agency,
        session,
        settled,
        broken: false,
        port,
        lastTicket: 0,
        committed: (through: number) => port.postMessage({ op: 'committed', through } satisfies StoreReply),
        lost: (from: number, failure: StoreFailure, message: string) =>
          port.postMessage({ op: 'lost', from, failure, message } satisfies StoreReply),
      };
      this.#claims.set(agency, claimed);
      return { ledger: { stored, settled, finished }, claimed };
    } catch (error) {
      await lease.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, agency]).catch(() => undefined);
      throw error;
    }
  }

  async #release(agency: number): Promise<void> {
    const claim = this.#claims.get(agency);
    if (!claim) return;
    this.#claims.delete(agency);
    claim.broken = true;
    claim.port.close();
    await this.#lease?.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, agency]).catch(() => undefined);
  }

  async #finish(claim: Claim | null, agency: number, total: number): Promise<FinishOutcome> {
    if (!claim || claim.agency !== agency) throw claimError('unavailable', 'no session: say Hello first');
    const done = await this.#pool.query('UPDATE agencies SET finished = true WHERE agency = $1 AND session = $2 AND stored = $3', [
      agency,
      claim.session,
      total,
    ]);
    if (done.rowCount === 1) return { ok: true };
    const row = await this.#pool.query<{ stored: number; session: number }>('SELECT stored, session FROM agencies WHERE agency = $1', [
      agency,
    ]);
    if (row.rows[0]?.session !== claim.session) throw claimError('busy', `agency ${agency}'s session was taken over at another central`);
    return { ok: false, stored: row.rows[0].stored };
  }

  async #winners(agency?: number): Promise<Map<number, string[]>> {
    const result = await this.#pool.query<{ agency: number; document: string }>(
      agency === undefined
        ? 'SELECT agency, document FROM winners ORDER BY agency, document'
        : 'SELECT agency, document FROM winners WHERE agency = $1 ORDER BY document',
      agency === undefined ? [] : [agency],
    );
    const winners = new Map<number, string[]>();
    for (const { agency: a, document } of result.rows) {
      let list = winners.get(a);
      if (!list) winners.set(a, (list = []));
      list.push(document);
    }
    return winners;
  }
}

type ClaimError = Error & { failure?: StoreFailure };

function claimError(failure: StoreFailure, message: string): ClaimError {
  return Object.assign(new Error(message), { failure });
}

async function connectWithRetry(pool: pg.Pool, options: PgStoreOptions): Promise<pg.PoolClient> {
  const deadline = Date.now() + (options.connectTimeoutMs ?? 30_000);
  for (let attempt = 1; ; attempt++) {
    try {
      return await pool.connect();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`cannot reach the database ${redact(options.url)}: ${(error as Error).message}`);
      options.logger.warning('database', 'in_progress', {
        url: redact(options.url),
        attempt,
        error: (error as Error).message,
        retry_in: '1s',
      });
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function sameRoster(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** The URL without its password, for logs. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured database';
  }
}
