/**
 * Graceful shutdown. SIGTERM to the server mid-ingest and while agencies wait
 * at the barrier, SIGTERM to a client mid-stream: each exits 0, logs the
 * closure of what it held, and bets.csv holds only whole, acknowledged batches.
 */
import t, { type Test } from 'tap';
import {
  assertLogShape,
  assertWellFormed,
  delay,
  findLogs,
  finishClient,
  generateData,
  readInputBets,
  readStoredBets,
  startClient,
  startServer,
  workDir,
  type LogLine,
  type ServerHandle,
} from '../helpers/processes.js';

const BATCH = 3;

/** The server's closure lines, in a sensible order, ending with shutdown success. */
function checkServerClosures(t: Test, server: ServerHandle, agencies: readonly number[]): void {
  const logs = server.logs();
  const index = (action: string, result = 'success') => logs.findIndex((l) => l.action === action && l.result === result);
  t.ok(index('shutdown', 'in_progress') >= 0, 'logs shutdown | result: in_progress');
  t.ok(index('listener_closed') > index('shutdown', 'in_progress'), 'logs listener_closed');
  for (const agency of agencies) {
    t.ok(
      findLogs(logs, 'connection_closed', 'success').some((l) => l.fields['agency'] === String(agency)),
      `logs connection_closed for agency ${agency}`,
    );
    t.ok(
      findLogs(logs, 'worker_stopped').some((l) => l.fields['agency'] === String(agency)),
      `logs worker_stopped for agency ${agency}`,
    );
  }
  t.same(
    findLogs(logs, 'worker_stopped', 'fail').map((l) => l.raw),
    [],
    'no worker had to be stopped by force',
  );
  t.ok(index('bets_file_closed') > index('listener_closed'), 'logs bets_file_closed');
  t.equal(logs[logs.length - 1]?.action, 'shutdown', 'the last line is shutdown');
  t.equal(logs[logs.length - 1]?.result, 'success', '… with result success');
}

/** Stored bets per agency, as logged by the server (apuesta_recibida success). */
function loggedPerAgency(logs: readonly LogLine[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const l of findLogs(logs, 'apuesta_recibida', 'success')) {
    const agency = Number(l.fields['agency']);
    counts.set(agency, (counts.get(agency) ?? 0) + Number(l.fields['cantidad']));
  }
  return counts;
}

/** Every agency's stored lines are a prefix of its file made of whole batches, all of them logged. */
function checkWholeBatches(t: Test, server: ServerHandle, files: readonly string[], batch: number): Map<number, number> {
  const stored = readStoredBets(server.betsFile);
  assertWellFormed(t, stored);
  const logged = loggedPerAgency(server.logs());
  const counts = new Map<number, number>();
  files.forEach((file, i) => {
    const agency = i + 1;
    const input = readInputBets(file, agency);
    const mine = stored.byAgency.get(agency) ?? [];
    counts.set(agency, mine.length);
    t.same(mine, input.slice(0, mine.length), `agency ${agency}: its ${mine.length} stored bets are the start of its file`);
    t.ok(mine.length % batch === 0 || mine.length === input.length, `agency ${agency}: ${mine.length} bets are whole batches of ${batch}`);
    t.equal(mine.length, logged.get(agency) ?? 0, `agency ${agency}: every stored batch was logged (and so acknowledged)`);
  });
  return counts;
}

t.test('SIGTERM to the server mid-ingest', async (t) => {
  const files = await generateData(t, workDir(t, 'data'), { agencies: 3, bets: 12_000, seed: 777 });
  const server = await startServer(t, { agencies: 3 });
  const clients = files.map((dataFile, i) =>
    startClient(t, { id: i + 1, port: server.port, dataFile, batch: BATCH, loopAmount: 2, env: { CLI_LOG_LEVEL: 'DEBUG' } }),
  );
  // Every agency in session first: on a loaded machine the last one may still be starting when the others have sent 300 batches.
  await server.process.waitForCount((l) => l.action === 'session_started' && l.result === 'success', 3, 'session_started lines');
  await server.process.waitForCount((l) => l.action === 'apuesta_recibida' && l.result === 'success', 300, 'apuesta_recibida lines');
  const started = Date.now();
  t.equal(await server.stop('SIGTERM'), 0, 'server exits 0');
  t.ok(Date.now() - started < 5000, `and promptly (${Date.now() - started} ms)`);
  checkServerClosures(t, server, [1, 2, 3]);
  t.equal(findLogs(server.logs(), 'sorteo').length, 0, 'no draw');

  const runs = await Promise.all(clients.map((c) => finishClient(c)));
  const counts = checkWholeBatches(t, server, files, BATCH);
  runs.forEach((run, i) => {
    const acked = findLogs(run.logs, 'batch_ack', 'success').map((l) => Number(l.fields['stored']));
    const highest = Math.max(0, ...acked);
    t.ok(
      highest <= counts.get(i + 1)!,
      `agency ${i + 1}: every acknowledged bet is stored (acked up to ${highest}, stored ${counts.get(i + 1)})`,
    );
    assertLogShape(t, run.lines, `client ${i + 1}`);
  });
  assertLogShape(t, server.lines(), 'server');
});

t.test('SIGTERM to the server while agencies wait at the barrier', async (t) => {
  const files = await generateData(t, workDir(t, 'data'), { agencies: 2, bets: 300, winners: [1, 1], seed: 778 });
  const server = await startServer(t, { agencies: 3 });
  const clients = files.map((dataFile, i) => startClient(t, { id: i + 1, port: server.port, dataFile, batch: 10, loopAmount: 2 }));
  await server.process.waitForCount((l) => l.action === 'agency_finished' && l.result === 'success', 2, 'agency_finished lines');
  await delay(500); // each agency sends its winners request right after Done, and parks
  const started = Date.now();
  t.equal(await server.stop('SIGTERM'), 0, 'server exits 0');
  t.ok(Date.now() - started < 5000, `the barrier lets go at once (${Date.now() - started} ms)`);
  checkServerClosures(t, server, [1, 2]);
  t.equal(findLogs(server.logs(), 'sorteo').length, 0, 'no draw: an agency is missing');

  const runs = await Promise.all(clients.map((c) => finishClient(c)));
  runs.forEach((run, i) => {
    t.match(run.stdout, /ERR_SHUTTING_DOWN/, `agency ${i + 1} is told the central is shutting down`);
    t.equal(findLogs(run.logs, 'consulta_ganadores').length, 0, `agency ${i + 1} gets no winners`);
    assertLogShape(t, run.lines, `client ${i + 1}`);
  });
  const stored = readStoredBets(server.betsFile);
  assertWellFormed(t, stored);
  files.forEach((file, i) => t.same(stored.byAgency.get(i + 1), readInputBets(file, i + 1), `agency ${i + 1}: all its bets are stored`));
  assertLogShape(t, server.lines(), 'server');
});

t.test('SIGTERM to a client mid-stream', async (t) => {
  const [file] = await generateData(t, workDir(t, 'data'), { agencies: 1, bets: 20_000, seed: 779 });
  const server = await startServer(t, { agencies: 1 });
  // One bet per batch and one batch in flight: slow enough to stop in the middle.
  const client = startClient(t, { id: 1, port: server.port, dataFile: file, batch: 1, env: { CLI_BATCH_WINDOW: '1' } });
  await server.process.waitForCount((l) => l.action === 'apuesta_recibida' && l.result === 'success', 50, 'apuesta_recibida lines');
  client.child.kill('SIGTERM');
  const run = await finishClient(client, 30_000);
  t.equal(run.code, 0, 'client exits 0', { stdout: run.stdout, stderr: run.stderr });
  const actions = run.logs.map((l) => `${l.action}:${l.result}`);
  for (const expected of ['shutdown:in_progress', 'data_file_closed:success', 'socket_closed:success', 'shutdown:success']) {
    t.ok(actions.includes(expected), `client logs ${expected.replace(':', ' | result: ')}`);
  }
  t.equal(actions[actions.length - 1], 'shutdown:success', 'shutdown success is its last line');
  t.equal(findLogs(run.logs, 'loop_finished').length, 0, 'no loop_finished: it did not finish');
  assertLogShape(t, run.lines, 'client');

  await server.waitForLog((l) => l.action === 'connection_closed' && l.fields['agency'] === '1', 'connection_closed for agency 1');
  await server.waitForLog((l) => l.action === 'worker_stopped' && l.fields['agency'] === '1', 'worker_stopped for agency 1');
  const counts = checkWholeBatches(t, server, [file], 1);
  t.ok(counts.get(1)! >= 50 && counts.get(1)! < 20_000, `stopped in the middle (${counts.get(1)} stored)`);

  t.equal(await server.stop('SIGINT'), 0, 'server exits 0 on SIGINT');
  assertLogShape(t, server.lines(), 'server');
});

t.test('SIGTERM to a client waiting at the barrier; the draw still happens later', async (t) => {
  const files = await generateData(t, workDir(t, 'data'), { agencies: 2, bets: 200, winners: [1, 2], seed: 780 });
  const server = await startServer(t, { agencies: 2 });
  const waiting = startClient(t, { id: 1, port: server.port, dataFile: files[0], batch: 10 });
  await server.waitForLog((l) => l.action === 'agency_finished' && l.fields['agency'] === '1', 'agency_finished for agency 1');
  await delay(500); // the winners request is parked at the barrier by now
  waiting.child.kill('SIGTERM');
  const stopped = await finishClient(waiting, 30_000);
  t.equal(stopped.code, 0, 'the waiting client exits 0', { stdout: stopped.stdout, stderr: stopped.stderr });
  t.equal(findLogs(stopped.logs, 'shutdown', 'success').length, 1, 'and logs shutdown | result: success');
  assertLogShape(t, stopped.lines, 'client 1 (stopped)');
  const noticed = await server
    .waitForLog((l) => l.action === 'worker_stopped' && l.fields['agency'] === '1', 'the parked worker ends', 5_000)
    .then(
      () => true,
      () => false,
    );
  t.ok(noticed, 'the server notices the hang-up: the parked session ends (connection_closed, worker_stopped for agency 1)', {
    lastServerLines: server.lines().slice(-3),
  });

  // Generous retries: until the hang-up is noticed the central may still hold agency 1's session.
  const runs = await Promise.all(
    files.map((dataFile, i) => finishClient(startClient(t, { id: i + 1, port: server.port, dataFile, batch: 10, loopAmount: 100 }))),
  );
  runs.forEach((run, i) => {
    t.equal(run.code, 0, `agency ${i + 1} exits 0`, { stdout: run.stdout, stderr: run.stderr });
    t.equal(Number(findLogs(run.logs, 'consulta_ganadores')[0]?.fields['cant_ganadores']), i + 1, `agency ${i + 1} gets ${i + 1} winners`);
    assertLogShape(t, run.lines, `client ${i + 1}`);
  });
  t.equal(findLogs(server.logs(), 'sorteo').length, 1, 'one sorteo');
  const stored = readStoredBets(server.betsFile);
  files.forEach((file, i) => t.same(stored.byAgency.get(i + 1), readInputBets(file, i + 1), `agency ${i + 1}: all its bets, once`));
  t.equal(await server.stop(), 0, 'server exits 0');
  assertLogShape(t, server.lines(), 'server');
});
