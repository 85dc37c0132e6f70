/**
 * Several centrals on one real PostgreSQL (test/helpers/postgres.ts: initdb
 * and postgres on a free port; no mocks), with the same promises as one
 * central on its files: an ack means committed, nothing stored twice, one
 * draw, each agency answered with its own winners. Faults, one scenario each:
 *
 *   - three centrals, the reference dataset's five agencies spread across
 *     them (CLI_SERVER_ADDRESS lists all three), one central SIGKILLed
 *     mid-run and not restarted: its agencies move to another and finish;
 *   - the database crashes (immediate stop) mid-run and comes back: the
 *     centrals acknowledge nothing that did not commit, reconnect, go on;
 *   - the connection to the database hangs (a proxy stops forwarding): the
 *     queries time out, are logged, and the run goes on once it flows again;
 *   - a COPY's answers come only after its timeout: its connection is
 *     dropped at once, so the late answers reach nothing;
 *   - a central SIGKILLed again and again and restarted (the crash loop);
 *   - two copies of one agency on two centrals at once: one is refused;
 *   - an unexpected agency, and a central on another lottery's database.
 *
 * Every run ends with the `bets` table holding every input bet exactly once,
 * the `agencies` ledger matching, and `sorteo` logged once across all logs.
 */
import { connect, createServer, type Socket } from 'node:net';
import { parse as parseCsv } from 'csv-parse/sync';
import t, { type Test } from 'tap';
import { ErrorCode, MessageType } from '../../protocol/index.js';
import { Postgres, postgresUnavailable } from '../helpers/postgres.js';
import {
  assertLogShape,
  assertSameBets,
  delay,
  findLogs,
  SERVER_MAIN,
  spawnNode,
  startClient,
  startServer,
  winnersOf,
  workDir,
  type BetKey,
  type ClientRun,
  type Proc,
  type ServerHandle,
} from '../helpers/processes.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { awaitAgencies, loadDataset, openSession, type Dataset } from '../helpers/reliability.js';

t.setTimeout(900_000);

const unavailable = postgresUnavailable();
if (unavailable !== null && process.env['LOTTERY_REQUIRE_ALL'] !== '1') {
  t.plan(0, `PostgreSQL is not available here: ${unavailable}`);
} else {
  t.test('PostgreSQL can run here', async (t) => t.equal(unavailable, null, 'a server can be started (LOTTERY_REQUIRE_ALL=1 requires it)'));
  if (unavailable === null) scenarios();
}

function scenarios(): void {
  t.test('three centrals, one SIGKILLed mid-run and not restarted: every bet once, one draw', async (t) => {
    const { pg, data } = await prepare(t);
    const centrals = await Promise.all([1, 2, 3].map((i) => central(t, pg, `central-${i}`)));
    const agencies = runAgencies(
      t,
      data,
      centrals.map((c) => c.port),
    );
    await untilStored(pg, data.total * 0.3);
    t.equal(await centrals[1].stop('SIGKILL'), null, 'central 2 killed mid-run');
    const finals = await awaitAgencies(
      t,
      agencies,
      300_000,
      centrals.map((c) => c.process),
    );
    await checkEnd(
      t,
      pg,
      data,
      finals,
      centrals.map((c) => c.process),
    );
    for (const c of [centrals[0], centrals[2]]) t.equal(await c.stop(), 0, `${c.process.name} stops cleanly`);
  });

  t.test('the database crashes mid-run and comes back: nothing unconfirmed acknowledged, the run goes on', async (t) => {
    const { pg, data } = await prepare(t);
    const centrals = await Promise.all([1, 2].map((i) => central(t, pg, `central-${i}`)));
    const agencies = runAgencies(
      t,
      data,
      centrals.map((c) => c.port),
    );
    await untilStored(pg, data.total * 0.3);
    pg.stop('immediate');
    await delay(1500);
    pg.startServer();
    const finals = await awaitAgencies(
      t,
      agencies,
      300_000,
      centrals.map((c) => c.process),
    );
    await checkEnd(
      t,
      pg,
      data,
      finals,
      centrals.map((c) => c.process),
    );
    const reconnected = centrals.flatMap((c) => findLogs(c.logs(), 'database', 'success'));
    t.ok(reconnected.length >= 1, 'the centrals logged their reconnection', { lines: reconnected.map((l) => l.raw) });
    for (const c of centrals) t.equal(await c.stop(), 0, `${c.process.name} stops cleanly`);
  });

  t.test('a database connection that hangs is timed out, logged, and the run goes on', async (t) => {
    const { pg, data } = await prepare(t);
    const proxy = await HangingProxy.start(t, pg.port);
    const one = await central(t, pg, 'central-1', { url: `postgres://postgres@127.0.0.1:${proxy.port}/lottery`, timeout: '2s' });
    const agencies = runAgencies(t, data, [one.port]);
    await untilStored(pg, data.total * 0.3);
    proxy.hang();
    await one.waitForLog((l) => l.action === 'database' && l.result === 'fail', 'a database failure logged', 30_000);
    t.pass('the hanging connection was given up and logged');
    proxy.flow();
    const finals = await awaitAgencies(t, agencies, 300_000, [one.process]);
    await checkEnd(t, pg, data, finals, [one.process]);
    t.equal(await one.stop(), 0, 'the central stops cleanly');
  });

  // The fault of a CI run: the COPY's first answer came after its timeout, on a connection still open for
  // a ROLLBACK, and pg-copy-streams threw on it (TypeError: reading 'sendCopyFail' of null), ending the central.
  t.test('a COPY whose answers come only after its timeout: the connection is dropped, the central lives, exact', async (t) => {
    const { pg, data } = await prepare(t);
    const proxy = await HangingProxy.start(t, pg.port);
    proxy.hangAnswersAfter('COPY bets_');
    const one = await central(t, pg, 'central-1', { url: `postgres://postgres@127.0.0.1:${proxy.port}/lottery`, timeout: '2s' });
    const agencies = runAgencies(t, data, [one.port]);
    await proxy.answersHung;
    // The COPY times out 2 s after it was sent; its answers arrive half a second later, on any connection still open.
    await delay(2500);
    proxy.flow();
    await one.waitForLog(
      (l) => l.action === 'database' && l.result === 'fail' && l.fields['connection'] === 'commit',
      'the unanswered commit timed out and was logged',
      30_000,
    );
    const finals = await awaitAgencies(t, agencies, 300_000, [one.process]);
    await checkEnd(t, pg, data, finals, [one.process]);
    t.equal(one.process.stderr.includes('TypeError'), false, 'nothing was thrown in the central', {
      stderr: one.process.stderr.slice(-2000),
    });
    t.equal(await one.stop(), 0, 'the central stops cleanly');
  });

  t.test('a central killed again and again, restarted each time on the same database: exact', async (t) => {
    const { pg, data } = await prepare(t);
    const runs: Proc[] = [];
    let current = await central(t, pg, 'central-1');
    runs.push(current.process);
    const port = current.port;
    const agencies = runAgencies(t, data, [port]);
    for (const fraction of [0.15, 0.35, 0.55, 0.75]) {
      await untilStored(pg, data.total * fraction);
      await current.stop('SIGKILL');
      current = await central(t, pg, `central-${runs.length + 1}`, { port });
      runs.push(current.process);
    }
    const finals = await awaitAgencies(t, agencies, 300_000, runs);
    await checkEnd(t, pg, data, finals, runs);
    t.equal(await current.stop(), 0, 'the last central stops cleanly');
  });

  t.test('two copies of one agency on two centrals at once: one is refused', async (t) => {
    const pg = await Postgres.start(t);
    const [a, b] = await Promise.all([central(t, pg, 'central-a'), central(t, pg, 'central-b')]);
    const first = await RawPeer.open(t, a.port);
    t.match(await openSession(first, 1), { type: MessageType.Welcome }, 'agency 1 is welcomed at central a');
    const second = await RawPeer.open(t, b.port);
    t.match(
      await openSession(second, 1),
      { type: MessageType.Error, code: ErrorCode.AgencyBusy },
      'its copy at central b gets ERR_AGENCY_BUSY',
    );
    first.destroy();
    // The first session's central lets go when its connection closes: the copy is welcomed then.
    let welcomed = false;
    for (let i = 0; i < 100 && !welcomed; i++) {
      const again = await RawPeer.open(t, b.port);
      welcomed = (await openSession(again, 1)).type === MessageType.Welcome;
      again.destroy();
      if (!welcomed) await delay(50);
    }
    t.ok(welcomed, 'once the first session ended, central b welcomes agency 1');
    const stranger = await RawPeer.open(t, b.port);
    t.match(
      await openSession(stranger, 999),
      { type: MessageType.Error, code: ErrorCode.NotExpected },
      'an agency off the roster is refused',
    );
    for (const c of [a, b]) t.equal(await c.stop(), 0, 'stops cleanly');

    const other = await startRefused(t, pg, 'other-roster', 3);
    t.equal(other.code, 2, 'a central with another roster on this database exits 2');
    t.match(other.critical, /holds lottery \w+ .*roster of 5 agencies/, 'naming the lottery it found');
  });

  // Fault: a database written by a central of another schema version (the wrong URL, or an upgrade without a new database).
  t.test('a database of another schema version is refused and left as it is', async (t) => {
    const pg = await Postgres.start(t);
    pg.psql('CREATE TABLE lottery_schema (version int NOT NULL); INSERT INTO lottery_schema VALUES (1); CREATE TABLE bets (agency int)');
    const server = await startRefused(t, pg, 'old-schema', 5);
    t.not(server.code, 0, 'the central does not start');
    t.match(server.critical, /schema version 1; this central uses \d+/, 'naming the version it found');
    t.equal(
      pg.psql("SELECT string_agg(relname || ':' || relkind::text, ',' ORDER BY relname) FROM pg_class WHERE relname LIKE 'bets%'").trim(),
      'bets:r',
      'its tables are untouched',
    );
  });
}

// ---------------------------------------------------------------------------

async function prepare(t: Test): Promise<{ pg: Postgres; data: Dataset }> {
  const pg = await Postgres.start(t);
  const data = await loadDataset(t, {
    preferReference: true,
    bets: [27_000, 25_000, 16_000, 9_000, 1_000],
    winners: [2, 3, 3, 2, 0],
    seed: 13,
  });
  return { pg, data };
}

/** A central on `pg` with a roster of `agencies` that is expected to refuse to start: its exit code and its CRITICAL line's error. */
async function startRefused(t: Test, pg: Postgres, name: string, agencies: number): Promise<{ code: number | null; critical: unknown }> {
  const server = spawnNode(t, name, SERVER_MAIN, ['--host', '127.0.0.1', '--port', '0', '--agencies', String(agencies)], {
    cwd: workDir(t, name),
    env: { SERVER_DATABASE_URL: pg.url },
  });
  const { code } = await server.waitExit(60_000);
  return { code, critical: server.logs().find((l) => l.level === 'CRITICAL')?.fields['error'] };
}

function central(t: Test, pg: Postgres, name: string, opts: { url?: string; timeout?: string; port?: number } = {}): Promise<ServerHandle> {
  return startServer(t, {
    agencies: 5,
    name,
    port: opts.port ?? 0,
    env: { SERVER_DATABASE_URL: opts.url ?? pg.url, ...(opts.timeout ? { SERVER_DATABASE_TIMEOUT: opts.timeout } : {}) },
  });
}

/** The five agencies, each given every central (they start at different ones). */
function runAgencies(t: Test, data: Dataset, ports: readonly number[]): Proc[] {
  const address = ports.map((p) => `127.0.0.1:${p}`).join(',');
  return data.files.map((dataFile, i) =>
    startClient(t, { id: i + 1, dataFile, env: { CLI_SERVER_ADDRESS: address }, loopAmount: 1000, loopPeriod: '100ms' }),
  );
}

async function untilStored(pg: Postgres, bets: number): Promise<void> {
  for (let i = 0; i < 6000; i++) {
    let stored = 0;
    try {
      stored = Number(pg.psql('SELECT coalesce(sum(stored), 0) FROM agencies'));
    } catch {
      // the database is restarting
    }
    if (stored >= bets) return;
    await delay(20);
  }
}

/** The `bets` table as bet keys per agency, read with psql as an auditor would. */
function storedInDatabase(pg: Postgres): Map<number, BetKey[]> {
  const csv = pg.psql(
    "COPY (SELECT agency, first_name, last_name, document, to_char(birthdate, 'YYYY-MM-DD'), number FROM bets) TO STDOUT WITH (FORMAT csv)",
  );
  const byAgency = new Map<number, BetKey[]>();
  const rows: unknown = parseCsv(csv);
  for (const fields of rows as string[][]) {
    const agency = Number(fields[0]);
    let list = byAgency.get(agency);
    if (!list) byAgency.set(agency, (list = []));
    list.push(fields.join('\u001f'));
  }
  return byAgency;
}

async function checkEnd(t: Test, pg: Postgres, data: Dataset, finals: readonly ClientRun[], centrals: readonly Proc[]): Promise<void> {
  finals.forEach((run, i) => {
    t.equal(run.code, 0, `agency ${i + 1} exits 0`, { stdout: run.stdout.slice(-3000) });
    t.equal(winnersOf(run), data.winners[i], `agency ${i + 1} gets ${data.winners[i]} winners`);
  });
  const stored = storedInDatabase(pg);
  data.inputs.forEach((input, i) => assertSameBets(t, stored.get(i + 1) ?? [], input, `agency ${i + 1} in the bets table`));
  t.same(
    [...stored.keys()].sort(),
    data.inputs.map((_, i) => i + 1),
    'no other agency in the bets table',
  );
  t.equal(
    pg
      .psql(
        "SELECT string_agg(DISTINCT tableoid::regclass || ':' || agency % 2, ',' ORDER BY tableoid::regclass || ':' || agency % 2) FROM bets",
      )
      .trim(),
    'bets_0:0,bets_1:1',
    "each lane's partition holds its agencies' bets only (even agencies in bets_0, odd in bets_1)",
  );
  const ledger = pg.psql('SELECT agency, stored, finished FROM agencies ORDER BY agency').trim().split('\n');
  t.same(
    ledger,
    data.inputs.map((input, i) => `${i + 1}|${input.length}|t`),
    'the agencies ledger matches: stored counts, everyone finished',
  );
  t.equal(
    Number(pg.psql('SELECT count(*) FROM winners')),
    data.winners.reduce((a, b) => a + b, 0),
    'the winners table holds the draw',
  );
  const sorteos = centrals.flatMap((c) => findLogs(c.logs(), 'sorteo', 'success'));
  t.equal(sorteos.length, 1, "exactly one sorteo across every central's log", { sorteos: sorteos.map((l) => l.raw) });
  for (const c of centrals) assertLogShape(t, c.lines(), c.name);
  await Promise.resolve();
}

/**
 * A TCP proxy to the database that can stop forwarding (a connection that
 * hangs, not one that breaks): everything at once (`hang`), or only the
 * database's answers on the first connection that sends a given text
 * (`hangAnswersAfter`). What it held back is delivered by `flow`, late.
 */
class HangingProxy {
  #hung = false;
  #marker: Buffer | null = null;
  readonly #held: (() => void)[] = [];
  readonly #flows: (() => void)[] = [];
  #answersHung!: () => void;
  /** Resolves once a connection sent the `hangAnswersAfter` text. */
  readonly answersHung = new Promise<void>((resolve) => (this.#answersHung = resolve));

  private constructor(readonly port: number) {}

  static async start(t: Test, target: number): Promise<HangingProxy> {
    let proxy: HangingProxy;
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connect(target, '127.0.0.1');
      let answersHung = false;
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk: Buffer) => {
        if (proxy.#marker && chunk.includes(proxy.#marker)) {
          proxy.#marker = null;
          answersHung = true;
          proxy.#answersHung();
        }
        if (proxy.#hung) proxy.#held.push(() => upstream.write(chunk));
        else upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (proxy.#hung || answersHung) proxy.#held.push(() => client.write(chunk));
        else client.write(chunk);
      });
      proxy.#flows.push(() => (answersHung = false));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new HangingProxy((server.address() as { port: number }).port);
    t.teardown(() => {
      for (const s of sockets) s.destroy();
      server.close();
    });
    return proxy;
  }

  /** From the first connection that sends `text` on, that connection gets no answers until `flow`. */
  hangAnswersAfter(text: string): void {
    this.#marker = Buffer.from(text);
  }

  hang(): void {
    this.#hung = true;
  }

  flow(): void {
    this.#hung = false;
    for (const resume of this.#flows) resume();
    for (const send of this.#held.splice(0)) send();
  }
}
