/**
 * `lottery-server report`, from outside, on stores written by real runs:
 *
 *   - the reference dataset (winners 2, 3, 3, 2, 0) through a real central,
 *     reported while that central still runs, as a table, CSV and JSON, each
 *     parsed: per agency its bets (the input's) and winners, and the totals;
 *     the store's files are byte for byte the same afterwards;
 *   - before the draw (one agency of two done), and where there is no store
 *     at all: exit 3, nothing on stdout, the reason on stderr; after the
 *     second agency, the report;
 *   - on PostgreSQL (a real server, test/helpers/postgres.ts): no lottery yet,
 *     no draw yet, then the report, with the database unchanged by it;
 *   - bad options: exit 2, naming what was wrong.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Postgres, postgresUnavailable } from '../helpers/postgres.js';
import {
  assertLogShape,
  finishClient,
  generateData,
  readInputBets,
  REFERENCE_DATA,
  REFERENCE_FILES,
  REFERENCE_WINNERS,
  SERVER_MAIN,
  spawnNode,
  startClient,
  startServer,
  winnersOf,
  workDir,
} from '../helpers/processes.js';

t.setTimeout(600_000);

interface ReportRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function report(t: Test, args: readonly string[], env: Readonly<Record<string, string>> = {}, cwd?: string): Promise<ReportRun> {
  const proc = spawnNode(t, 'report', SERVER_MAIN, ['report', ...args], { cwd: cwd ?? workDir(t), env });
  const exit = await proc.waitExit(60_000);
  return { code: exit.code, stdout: proc.stdout, stderr: proc.stderr };
}

interface Line {
  agency: number;
  bets: number;
  winners: number;
}

/** The table's rows and its totals row. */
function parseTable(text: string): { lines: Line[]; total: { bets: number; winners: number } | null; header: boolean } {
  const lines: Line[] = [];
  let total: { bets: number; winners: number } | null = null;
  for (const row of text.split('\n')) {
    const m = /^\s*(\d+|total)\s+(\d+)\s+(\d+)\s*$/.exec(row);
    if (!m) continue;
    if (m[1] === 'total') total = { bets: Number(m[2]), winners: Number(m[3]) };
    else lines.push({ agency: Number(m[1]), bets: Number(m[2]), winners: Number(m[3]) });
  }
  return { lines, total, header: /^\s*agency\s+bets\s+winners\s*$/m.test(text) };
}

function parseCsvReport(text: string): { header: string; lines: Line[] } {
  const [header, ...rows] = text.trimEnd().split('\n');
  return {
    header,
    lines: rows.map((row) => {
      const [agency, bets, winners] = row.split(',').map(Number);
      return { agency, bets, winners };
    }),
  };
}

function digest(paths: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const path of paths) {
    out[path] = existsSync(path) ? `${createHash('sha256').update(readFileSync(path)).digest('hex')} ${statSync(path).mtimeMs}` : 'missing';
  }
  return out;
}

/** Why a test cannot run here; CI (LOTTERY_REQUIRE_ALL=1) runs it anyway, and it fails saying why. */
const skipUnless = (why: string | null) => (why !== null && process.env['LOTTERY_REQUIRE_ALL'] !== '1' ? why : false);
const referenceMissing = REFERENCE_FILES.every((f) => existsSync(f)) ? null : `reference dataset not found in ${REFERENCE_DATA}`;

t.test(
  'the reference dataset: the report in three formats, beside the running central',
  { skip: skipUnless(referenceMissing) },
  async (t) => {
    if (referenceMissing) return void t.fail(referenceMissing);
    const server = await startServer(t, { agencies: 5 });
    const runs = await Promise.all(
      REFERENCE_FILES.map((dataFile, i) => finishClient(startClient(t, { id: i + 1, port: server.port, dataFile, batch: 100 }))),
    );
    runs.forEach((run, i) => t.equal(winnersOf(run), REFERENCE_WINNERS[i], `agency ${i + 1} has its ${REFERENCE_WINNERS[i]} winners`));
    const expected = REFERENCE_FILES.map((file, i) => ({
      agency: i + 1,
      bets: readInputBets(file, i + 1).length,
      winners: REFERENCE_WINNERS[i],
    }));
    const totalBets = expected.reduce((sum, l) => sum + l.bets, 0);
    t.equal(totalBets, 78_697, 'the inputs hold 78,697 bets');

    const storeFiles = [server.betsFile, `${server.betsFile}.journal`, `${server.betsFile}.winners`];
    const before = digest(storeFiles);
    const store = ['--bets-file', server.betsFile];

    const table = await report(t, [...store]);
    t.equal(table.code, 0, 'table: exit 0', { stderr: table.stderr });
    t.equal(table.stderr, '', 'table: nothing on stderr');
    const parsed = parseTable(table.stdout);
    t.ok(parsed.header, 'table: a header row agency, bets, winners', { stdout: table.stdout });
    t.same(parsed.lines, expected, 'table: bets and winners per agency');
    t.same(parsed.total, { bets: 78_697, winners: 10 }, 'table: the totals row');
    t.match(table.stdout, /file store: /, 'table: says which store it read');

    const csv = await report(t, [...store, '--format', 'csv']);
    t.equal(csv.code, 0, 'csv: exit 0');
    const csvParsed = parseCsvReport(csv.stdout);
    t.equal(csvParsed.header, 'agency,bets,winners', 'csv: the header');
    t.same(csvParsed.lines, expected, 'csv: one row per agency');

    const json = await report(t, [...store, '--format', 'JSON']);
    t.equal(json.code, 0, 'json: exit 0 (the format is case-insensitive)');
    const doc = JSON.parse(json.stdout) as {
      store: string;
      where: string;
      drawnAt: string;
      agencies: Line[];
      total: { bets: number; winners: number };
    };
    t.equal(doc.store, 'file', 'json: store');
    t.equal(doc.where, server.betsFile, 'json: where');
    t.ok(Math.abs(Date.parse(doc.drawnAt) - Date.now()) < 600_000, `json: drawnAt is the draw's time (${doc.drawnAt})`);
    t.same(doc.agencies, expected, 'json: agencies');
    t.same(doc.total, { bets: 78_697, winners: 10 }, 'json: total');

    // The same store named through the environment, from the central's own directory.
    const viaEnv = await report(t, ['--format', 'csv'], { SERVER_BETS_FILE: server.betsFile });
    t.equal(viaEnv.stdout, csv.stdout, 'SERVER_BETS_FILE names the store as --bets-file does');
    const relative = await report(t, ['--format', 'csv'], {}, server.dir);
    t.equal(relative.stdout, csv.stdout, 'the default ./bets.csv, as the central has it');

    t.same(digest(storeFiles), before, 'the store is untouched: same bytes, same modification times');
    t.ok(server.process.alive, 'the central ran all along');
    t.equal(await server.stop(), 0, 'and stops cleanly afterwards');
    assertLogShape(t, server.lines(), 'the central');
  },
);

t.test('no draw yet: exit 3 and why; the report once the last agency is done', async (t) => {
  const dir = workDir(t);
  const [first, second] = await generateData(t, dir, { agencies: 2, bets: [300, 200], winners: [1, 2], seed: 31 });

  const nothing = await report(t, ['--bets-file', join(dir, 'nowhere', 'bets.csv')]);
  t.equal(nothing.code, 3, 'no store at all: exit 3');
  t.equal(nothing.stdout, '', 'no store at all: nothing on stdout');
  t.match(nothing.stderr, /no lottery at .*nowhere/, 'no store at all: says there is no lottery at that path');
  assertLogShape(t, nothing.stderr.trimEnd().split('\n'), 'the report on stderr');

  const server = await startServer(t, { agencies: 2 });
  const store = ['--bets-file', server.betsFile];
  const empty = await report(t, store);
  t.equal(empty.code, 3, 'a central with no bets yet: exit 3');
  t.match(empty.stderr, /action: report \| result: fail \| reason: no_draw_yet/, 'a log line saying no draw yet');

  // Agency 1 finishes sending and waits for the draw, which waits for agency 2.
  const agency1 = startClient(t, { id: 1, port: server.port, dataFile: first });
  await agency1.waitForLog((l) => l.action === 'bets_summary', 'agency 1 sent its file');
  const waiting = await report(t, [...store, '--format', 'json']);
  t.equal(waiting.code, 3, 'one agency of two done: exit 3');
  t.equal(waiting.stdout, '', 'nothing on stdout, not even for --format json');
  t.match(waiting.stderr, /no draw yet/, 'the reason on stderr');

  const agency2 = startClient(t, { id: 2, port: server.port, dataFile: second });
  const runs = await Promise.all([finishClient(agency1), finishClient(agency2)]);
  t.same(
    runs.map((r) => winnersOf(r)),
    [1, 2],
    'the draw happened: 1 and 2 winners',
  );
  const done = await report(t, [...store, '--format', 'csv']);
  t.equal(done.code, 0, 'after the draw: exit 0', { stderr: done.stderr });
  t.same(
    parseCsvReport(done.stdout).lines,
    [
      { agency: 1, bets: 300, winners: 1 },
      { agency: 2, bets: 200, winners: 2 },
    ],
    'the report',
  );
});

t.test('bad options: exit 2, naming what was wrong', async (t) => {
  const cases: { args: string[]; env?: Record<string, string>; names: RegExp }[] = [
    { args: ['--format', 'xml'], names: /--format.*table, csv, json.*"xml"/ },
    { args: ['--no-such-option'], names: /--no-such-option/ },
    { args: ['--format'], names: /--format/ },
    { args: ['--database-timeout', 'soon'], names: /--database-timeout/ },
    { args: [], env: { SERVER_DATABASE_URL: 'mysql://db/lottery' }, names: /SERVER_DATABASE_URL.*postgres/ },
    { args: ['--database-url', 'not a url'], names: /--database-url/ },
    { args: ['--bets-file', ' '], names: /--bets-file/ },
  ];
  for (const c of cases) {
    const run = await report(t, c.args, c.env);
    const what = `report ${c.args.join(' ')} ${JSON.stringify(c.env ?? {})}`;
    t.equal(run.code, 2, `${what}: exit 2`);
    t.equal(run.stdout, '', `${what}: nothing on stdout`);
    t.match(run.stderr, c.names, `${what}: names the problem`);
  }
});

t.test('a store that is not a lottery: exit 1, saying which file', async (t) => {
  const dir = workDir(t);
  const betsFile = join(dir, 'bets.csv');
  writeFileSync(betsFile, '1,Ana,Gómez,30111222,1990-05-17,7574\n');
  writeFileSync(`${betsFile}.journal`, 'this is not a journal, just text long enough to hold a header of sixty-four bytes\n');
  writeFileSync(`${betsFile}.winners`, '1,30111222\n');
  const run = await report(t, ['--bets-file', betsFile]);
  t.equal(run.code, 1, 'exit 1');
  t.equal(run.stdout, '', 'nothing on stdout');
  t.match(run.stderr, /bets\.csv\.journal is not a lottery journal/, 'names the journal and what is wrong with it');
});

const pgUnavailable = postgresUnavailable();
t.test('on PostgreSQL: no lottery, no draw, then the report; the database unchanged', { skip: skipUnless(pgUnavailable) }, async (t) => {
  if (pgUnavailable) return void t.fail(`PostgreSQL is required here: ${pgUnavailable}`);
  const pg = await Postgres.start(t);
  const database = ['--database-url', pg.url];
  const fresh = await report(t, database);
  t.equal(fresh.code, 3, 'an empty database: exit 3');
  t.match(fresh.stderr, /no lottery in the database/, 'says no central has started on it');
  t.equal(pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), '0\n', 'and created nothing');

  const dir = workDir(t);
  const files = await generateData(t, dir, { agencies: 3, bets: [400, 250, 120], winners: [2, 0, 1], seed: 32 });
  const server = await startServer(t, { agencies: 3, env: { SERVER_DATABASE_URL: pg.url } });
  const undrawn = await report(t, [], { SERVER_DATABASE_URL: pg.url });
  t.equal(undrawn.code, 3, 'a lottery not drawn yet: exit 3');
  t.match(undrawn.stderr, /no draw yet in the database/, 'says so');

  const runs = await Promise.all(files.map((dataFile, i) => finishClient(startClient(t, { id: i + 1, port: server.port, dataFile }))));
  t.same(
    runs.map((r) => winnersOf(r)),
    [2, 0, 1],
    'the draw: 2, 0 and 1 winners',
  );
  const snapshot = () =>
    pg.psql(
      "SELECT (SELECT count(*) FROM bets), (SELECT count(*) FROM winners), (SELECT string_agg(agency || ':' || stored || ':' || finished, ',' ORDER BY agency) FROM agencies), (SELECT drawn_at FROM lottery)",
    );
  const before = snapshot();
  const json = await report(t, [...database, '--format', 'json']);
  t.equal(json.code, 0, 'json: exit 0', { stderr: json.stderr });
  const doc = JSON.parse(json.stdout) as { store: string; where: string; agencies: Line[]; total: { bets: number; winners: number } };
  t.equal(doc.store, 'postgres', 'json: the database store');
  t.same(
    doc.agencies,
    [
      { agency: 1, bets: 400, winners: 2 },
      { agency: 2, bets: 250, winners: 0 },
      { agency: 3, bets: 120, winners: 1 },
    ],
    'json: per agency',
  );
  t.same(doc.total, { bets: 770, winners: 3 }, 'json: totals');
  const table = await report(t, ['--format', 'table'], { SERVER_DATABASE_URL: pg.url });
  t.same(parseTable(table.stdout).total, { bets: 770, winners: 3 }, 'table: the totals row');
  t.match(table.stdout, /postgres store/, 'table: says which store it read');
  t.equal(snapshot(), before, 'the database is unchanged by the reports');
  t.equal(await server.stop(), 0, 'the central, running all along, stops cleanly');

  const unreachable = await report(t, [
    '--database-url',
    `postgres://postgres@127.0.0.1:${pg.port + 1}/lottery`,
    '--database-timeout',
    '2s',
  ]);
  t.equal(unreachable.code, 1, 'a database that cannot be reached: exit 1');
  t.match(unreachable.stderr, /cannot reach the database/, 'says so');
});
