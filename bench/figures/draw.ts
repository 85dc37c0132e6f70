/**
 * Figure 5: the draw over 10,000,000 stored bets: bets.csv written directly
 * in the stored format, the central started on it (recovery, not timed), then
 * the load generator times the last Done + WinnersRequest to the last answer.
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { generateBets } from '../../scripts/generate-data.js';
import type { PostgresCluster } from '../../scripts/postgres-cluster.js';
import { WINNING_NUMBER } from '../checksum.js';
import { Central } from '../lib/central.js';
import { checkCentral, checkExit } from '../lib/checks.js';
import { runLoadgen } from '../lib/loadgen.js';
import { correctnessError, figure, fmt, row, say, verdict } from '../lib/report.js';
import { args, SEED, sizes, TARGET } from '../lib/settings.js';
import { runDir } from '../lib/workspace.js';

export interface DrawRun {
  readonly lines: number;
  readonly drawMs: number;
  readonly prepareMs: number;
  readonly startupMs: number;
  readonly serverPeakRss: number;
  readonly serverCores: number;
}

/** Writes bets.csv directly in the stored format; returns each agency's count and winning documents. */
function writeStoredFile(path: string, lines: number, agencies: number): Map<number, { count: number; winners: string[] }> {
  const expected = new Map<number, { count: number; winners: string[] }>();
  const fd = openSync(path, 'w');
  try {
    let chunk = '';
    for (let agency = 1; agency <= agencies; agency++) {
      const bets = Math.floor(lines / agencies) + (agency <= lines % agencies ? 1 : 0);
      const winners: string[] = [];
      for (const bet of generateBets({ agency, bets, seed: SEED ^ 0x5a5a })) {
        chunk += `${agency},${bet.firstName},${bet.lastName},${bet.document},${bet.birthdate},${bet.number}\n`;
        if (bet.number === WINNING_NUMBER) winners.push(bet.document);
        if (chunk.length >= 1 << 20) {
          writeSync(fd, chunk);
          chunk = '';
        }
      }
      expected.set(agency, { count: bets, winners });
    }
    writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  return expected;
}

/**
 * The draw over `lines` stored bets, in bets.csv or (with `pg`) in PostgreSQL's
 * `bets`, loaded with COPY after a first central made the schema; the agencies'
 * ledgers say every bet is stored and none has said Done.
 */
export async function drawRun(lines: number, agencies: number, pg?: PostgresCluster): Promise<DrawRun> {
  const label = pg ? 'draw-postgres' : 'draw';
  const dir = runDir(label);
  const betsFile = join(dir, 'bets.csv');
  const listenTimeoutMs = 120_000 + lines / 10;
  const t0 = performance.now();
  let expected: Map<number, { count: number; winners: string[] }>;
  if (pg) {
    pg.psql('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    const first = await Central.start({
      label: `${label}-schema`,
      betsFile,
      agencies,
      durable: true,
      listenTimeoutMs,
      databaseUrl: pg.url,
    });
    checkExit(label, first.proc, (await first.stop()).exit);
    const copy = join(pg.dir, 'stored.csv'); // the server reads it: a folder the postgres user can read
    expected = writeStoredFile(copy, lines, agencies);
    pg.psql(`COPY bets FROM '${copy}' WITH (FORMAT csv)`);
    const ledgers = [...expected].map(([agency, e]) => `(${agency}, ${e.count}, ${e.count})`).join(', ');
    pg.psql(`INSERT INTO agencies (agency, stored, settled) VALUES ${ledgers}`);
    pg.psql('VACUUM ANALYZE bets'); // as autovacuum would have, after the load
    rmSync(copy);
  } else {
    expected = writeStoredFile(betsFile, lines, agencies);
  }
  const prepareMs = performance.now() - t0;
  say(`  wrote ${fmt.n(lines)} stored bets in ${fmt.s(prepareMs)}; starting the central on them`);
  const central = await Central.start({ label, betsFile, agencies, durable: true, listenTimeoutMs, databaseUrl: pg?.url });
  const startupMs = central.listeningAt - central.startedAt;
  let run;
  try {
    const list = [...expected.keys()].join(',');
    run = await runLoadgen(label, central, ['--mode', 'draw', '--agencies', list], listenTimeoutMs);
  } catch (error) {
    await central.stop();
    throw error;
  }
  const { before, exit } = await central.stop();
  let expectedWinners = 0;
  for (const e of expected.values()) expectedWinners += e.winners.length;
  checkCentral(label, central, exit, expectedWinners);
  if (central.recoveredBets !== lines)
    correctnessError(`${label}: the central recovered ${central.recoveredBets ?? 'no'} bets, the file has ${lines}`);
  for (const [agency, want] of expected) {
    const got = run.result.agencies.find((a) => a.agency === agency);
    if (!got) {
      correctnessError(`${label}: no answer for agency ${agency}`);
      continue;
    }
    if (got.stored !== want.count)
      correctnessError(`${label}: agency ${agency}: Welcome says ${got.stored} stored, the file has ${want.count}`);
    const a = [...got.winners].sort().join(',');
    const b = [...want.winners].sort().join(',');
    if (a !== b)
      correctnessError(`${label}: agency ${agency}: got ${got.winners.length} winners, expected ${want.winners.length} (documents differ)`);
  }
  if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
  return {
    lines,
    drawMs: run.result.drawMs ?? NaN,
    prepareMs,
    startupMs,
    serverPeakRss: before?.peakRss ?? NaN,
    serverCores: run.serverCores,
  };
}

export async function draw(): Promise<void> {
  await figure(`5. draw over ${fmt.n(sizes.drawLines)} stored bets`, async () => {
    const run = await drawRun(sizes.drawLines, sizes.drawAgencies);
    say(
      `  draw: ${fmt.s(run.drawMs)} from the last Done+WinnersRequest to the last answer; central start-up (recovery of the file) ` +
        `${fmt.s(run.startupMs)}; peak RSS ${fmt.mb(run.serverPeakRss)}`,
    );
    row(
      `5. draw over ${fmt.n(run.lines)} stored bets, ${sizes.drawAgencies} agencies (file in page cache)`,
      `${fmt.s(run.drawMs)} (central start-up with recovery, not counted: ${fmt.s(run.startupMs)}; peak RSS ${fmt.mb(run.serverPeakRss)})`,
      `≤ ${TARGET.drawSeconds} s`,
      verdict(run.drawMs / 1000 <= TARGET.drawSeconds),
    );
  });
}
