/**
 * Crash and restart. The server is SIGKILLed mid-ingest and started again on
 * the same bets file; agencies resume from what the central holds, so the
 * final bets.csv is the input exactly, without duplicates. A server restarted
 * after the draw answers with the stored result and draws nothing again.
 *
 * SIGKILL keeps the page cache, so these tests prove crash consistency of the
 * process (recovery, resume, exactly-once), not durability against power loss.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import t, { type Test as Tap } from 'tap';
import {
  assertLogShape,
  assertWellFormed,
  findLogs,
  finishClient,
  generateData,
  readInputBets,
  readStoredBets,
  startClient,
  startServer,
  winnersOf,
  workDir,
  type ClientRun,
} from '../helpers/processes.js';

const AGENCIES = 3;
const BETS = 12_000;
const WINNERS = [1, 2, 0];
const BATCH = 3;
/** What a crash in the middle of a write could leave at the end of bets.csv. */
const TORN = '2,Cortada,A medias,1234';

function checkRuns(t: Tap, runs: readonly ClientRun[]): void {
  runs.forEach((run, i) => {
    t.equal(run.code, 0, `agency ${i + 1} exits 0`, { stdout: run.stdout, stderr: run.stderr });
    t.equal(winnersOf(run), WINNERS[i], `agency ${i + 1} gets ${WINNERS[i]} winners`);
    assertLogShape(t, run.lines, `client ${i + 1}`);
  });
}

function checkExact(t: Tap, betsFile: string, files: readonly string[]): void {
  const stored = readStoredBets(betsFile);
  assertWellFormed(t, stored);
  files.forEach((file, i) => {
    const input = readInputBets(file, i + 1);
    const mine = stored.byAgency.get(i + 1) ?? [];
    t.equal(mine.length, input.length, `agency ${i + 1}: ${input.length} bets stored, no duplicates`);
    t.same(mine, input, `agency ${i + 1}: exactly its file, in order`);
  });
  t.equal(stored.keys.length, BETS * AGENCIES, 'nothing else is stored');
}

t.test('SIGKILL mid-ingest, restart on the same port: running agencies resume', async (t) => {
  const files = await generateData(t, workDir(t, 'data'), { agencies: AGENCIES, bets: BETS, winners: WINNERS, seed: 4242 });
  const dir = workDir(t, 'central');
  const first = await startServer(t, { agencies: AGENCIES, dir, name: 'server-1' });
  const clients = files.map((dataFile, i) =>
    startClient(t, { id: i + 1, port: first.port, dataFile, batch: BATCH, loopAmount: 300, loopPeriod: '100ms' }),
  );
  // Every agency is in a session before the crash, and some batches are in.
  await Promise.all(clients.map((c) => c.waitForLog((l) => l.action === 'session' && l.result === 'success', 'session | result: success')));
  await first.process.waitForCount((l) => l.action === 'apuesta_recibida' && l.result === 'success', 600, 'apuesta_recibida lines');
  t.equal(await first.stop('SIGKILL'), null, 'first server killed');
  const storedAtCrash = readStoredBets(first.betsFile).keys.length;
  t.ok(storedAtCrash > 0 && storedAtCrash < BETS * AGENCIES, `killed mid-ingest (${storedAtCrash} bets stored)`);
  t.equal(findLogs(first.logs(), 'sorteo').length, 0, 'no draw before the crash');

  const second = await startServer(t, { agencies: AGENCIES, dir, port: first.port, name: 'server-2' });
  const recovery = findLogs(second.logs(), 'recovery', 'success')[0];
  t.ok(recovery, 'the restarted server logs its recovery');
  // A batch caught between its data and its index entry by the kill was never acknowledged and
  // is cut whole; every acknowledged bet (logged apuesta_recibida before its ack) must survive.
  const acknowledged = findLogs(first.logs(), 'apuesta_recibida', 'success').reduce((sum, l) => sum + Number(l.fields['cantidad']), 0);
  t.ok(
    Number(recovery?.fields['bets']) >= acknowledged && Number(recovery?.fields['bets']) <= storedAtCrash,
    `recovery keeps every acknowledged bet (${acknowledged} ≤ ${recovery?.fields['bets']} ≤ ${storedAtCrash})`,
  );

  const runs = await Promise.all(clients.map((c) => finishClient(c)));
  checkRuns(t, runs);
  runs.forEach((run, i) => {
    t.ok(findLogs(run.logs, 'session', 'success').length >= 2, `agency ${i + 1} opened a second session after the crash`);
  });
  checkExact(t, second.betsFile, files);
  t.equal(findLogs(second.logs(), 'sorteo').length, 1, 'one sorteo, by the restarted server');

  t.equal(await second.stop(), 0, 'restarted server exits 0');
  assertLogShape(t, first.lines(), 'server-1');
  assertLogShape(t, second.lines(), 'server-2');
});

t.test('SIGKILL everything mid-ingest, torn last line, restart, rerun; restart after the draw', async (t) => {
  const files = await generateData(t, workDir(t, 'data'), { agencies: AGENCIES, bets: BETS, winners: WINNERS, seed: 4343 });
  const dir = workDir(t, 'central');
  const first = await startServer(t, { agencies: AGENCIES, dir, name: 'server-1' });
  const clients = files.map((dataFile, i) => startClient(t, { id: i + 1, port: first.port, dataFile, batch: BATCH, loopAmount: 3 }));
  await first.process.waitForCount((l) => l.action === 'apuesta_recibida' && l.result === 'success', 600, 'apuesta_recibida lines');
  t.equal(await first.stop('SIGKILL'), null, 'server killed');
  for (const c of clients) await c.stop('SIGKILL');
  // As if the crash had cut a write in the middle of a line.
  appendFileSync(first.betsFile, TORN);

  const second = await startServer(t, { agencies: AGENCIES, dir, name: 'server-2' });
  const recovery = findLogs(second.logs(), 'recovery', 'success')[0];
  const discarded = Number(recovery?.fields['discarded_bytes']);
  t.ok(discarded >= TORN.length, `recovery cuts the torn last line (${discarded} bytes discarded)`);
  t.ok(
    second.logs().some((l) => l.level === 'WARNING' && Object.values(l.fields).includes(String(discarded))),
    'and warns about the discarded bytes',
  );
  const resumedFrom = readStoredBets(second.betsFile).byAgency;

  const reruns = await Promise.all(
    files.map((dataFile, i) => finishClient(startClient(t, { id: i + 1, port: second.port, dataFile, batch: BATCH }))),
  );
  checkRuns(t, reruns);
  reruns.forEach((run, i) => {
    const summary = findLogs(run.logs, 'bets_summary', 'success')[0];
    const before = resumedFrom.get(i + 1)?.length ?? 0;
    t.equal(summary?.fields['resumed_after'], String(before), `agency ${i + 1} resumes after its ${before} stored bets`);
  });
  checkExact(t, second.betsFile, files);
  t.equal(findLogs(second.logs(), 'sorteo').length, 1, 'one sorteo');
  t.equal(await second.stop(), 0, 'server exits 0');

  // After the draw: a new server on the same file answers from the stored result.
  const before = readFileSync(second.betsFile);
  const third = await startServer(t, { agencies: AGENCIES, dir, name: 'server-3' });
  const again = await Promise.all(
    files.map((dataFile, i) => finishClient(startClient(t, { id: i + 1, port: third.port, dataFile, batch: BATCH }))),
  );
  checkRuns(t, again);
  t.equal(findLogs(third.logs(), 'sorteo').length, 0, 'no second sorteo line');
  t.equal(findLogs(third.logs(), 'draw_reused', 'success').length, 1, 'the stored result is reused (draw_reused)');
  t.ok(readFileSync(third.betsFile).equals(before), 'bets.csv is unchanged: nothing was sent twice');
  t.equal(await third.stop(), 0, 'server exits 0');

  for (const [name, server] of [
    ['server-1', first],
    ['server-2', second],
    ['server-3', third],
  ] as const) {
    assertLogShape(t, server.lines(), name);
  }
});

t.test('an agency SIGKILLed mid-stream and rerun at once resumes without duplicates', async (t) => {
  const files = await generateData(t, workDir(t, 'data'), { agencies: 2, bets: BETS, winners: [2, 1], seed: 4444 });
  const server = await startServer(t, { agencies: 2 });
  const doomed = startClient(t, { id: 1, port: server.port, dataFile: files[0], batch: BATCH });
  await server.process.waitForCount(
    (l) => l.action === 'apuesta_recibida' && l.fields['agency'] === '1',
    300,
    'apuesta_recibida lines of agency 1',
  );
  await doomed.stop('SIGKILL');
  // Rerun at once: the central may not have seen the old connection go yet (busy agency → retry).
  const runs = await Promise.all(
    files.map((dataFile, i) => finishClient(startClient(t, { id: i + 1, port: server.port, dataFile, batch: BATCH, loopAmount: 50 }))),
  );
  runs.forEach((run, i) => {
    t.equal(run.code, 0, `agency ${i + 1} exits 0`, { stdout: run.stdout, stderr: run.stderr });
    t.equal(winnersOf(run), [2, 1][i], `agency ${i + 1} gets its winners`);
    assertLogShape(t, run.lines, `client ${i + 1}`);
  });
  const resumed = Number(findLogs(runs[0].logs, 'bets_summary')[0]?.fields['resumed_after']);
  t.ok(resumed >= 900, `agency 1 resumed after its stored bets (${resumed})`);
  const stored = readStoredBets(server.betsFile);
  assertWellFormed(t, stored);
  files.forEach((file, i) =>
    t.same(stored.byAgency.get(i + 1), readInputBets(file, i + 1), `agency ${i + 1}: exactly its file, once, in order`),
  );
  t.equal(await server.stop(), 0, 'server exits 0');
  assertLogShape(t, server.lines(), 'server');
});
