/**
 * Many agencies at once with tiny batches: the shared mutex must keep every
 * batch whole in bets.csv (no lost, duplicated or interleaved lines) and the
 * draw must give each agency its own winners.
 */
import t, { type Test } from 'tap';
import { MessageType } from '../../protocol/index.js';
import {
  assertLogShape,
  assertSameBets,
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
} from '../helpers/processes.js';
import { frames, RawPeer } from '../helpers/raw-peer.js';

/** Hello as an agency that already finished, then WinnersRequest; returns the documents of every page. */
async function askWinners(t: Test, port: number, agency: number, pages: number[] = []): Promise<string[]> {
  const peer = await RawPeer.open(t, port);
  await peer.write(frames.hello(agency));
  const welcome = await peer.next();
  t.match(welcome, { type: MessageType.Welcome, finished: true, drawDone: true }, `agency ${agency} is welcomed as finished, draw done`);
  await peer.write(frames.winnersRequest());
  const documents: string[] = [];
  for (;;) {
    const page = await peer.next();
    if (page.type !== MessageType.Winners) throw new Error(`expected Winners, got ${JSON.stringify(page)}`);
    documents.push(...page.documents);
    pages.push(page.documents.length);
    if (page.last) break;
  }
  peer.end();
  await peer.waitClosed();
  return documents;
}

const AGENCIES = 22;
const BETS = 240;
const BATCH = 3;
const WINNERS = Array.from({ length: AGENCIES }, (_, i) => i % 4);

t.test(`${AGENCIES} agencies at once, batches of ${BATCH}`, async (t) => {
  const files = await generateData(t, workDir(t, 'data'), { agencies: AGENCIES, bets: BETS, winners: WINNERS, seed: 2222 });
  const server = await startServer(t, { agencies: AGENCIES });
  const clients = files.map((dataFile, i) => startClient(t, { id: i + 1, port: server.port, dataFile, batch: BATCH, loopAmount: 20 }));
  const runs = await Promise.all(clients.map((c) => finishClient(c)));

  runs.forEach((run, i) => {
    t.equal(run.code, 0, `agency ${i + 1} exits 0`, { stdout: run.stdout, stderr: run.stderr });
    t.equal(winnersOf(run), WINNERS[i], `agency ${i + 1} gets its own ${WINNERS[i]} winners`);
    assertLogShape(t, run.lines, `client ${i + 1}`);
  });

  const stored = readStoredBets(server.betsFile);
  assertWellFormed(t, stored);
  const inputs = files.map((file, i) => readInputBets(file, i + 1));
  assertSameBets(t, stored.keys, inputs.flat(), 'bets.csv');
  inputs.forEach((input, i) => {
    t.same(stored.byAgency.get(i + 1), input, `agency ${i + 1}: its lines are its file, in order`);
  });

  // A batch is one write under the lock: each agency's lines come in runs that
  // start and end on batch boundaries (a run may hold several of its batches).
  const broken: string[] = [];
  const seen = new Map<number, number>();
  let at = 0;
  while (at < stored.keys.length) {
    const agency = Number(stored.keys[at].split('\u001f')[0]);
    let end = at;
    while (end < stored.keys.length && Number(stored.keys[end].split('\u001f')[0]) === agency) end++;
    const before = seen.get(agency) ?? 0;
    const after = before + (end - at);
    seen.set(agency, after);
    if (before % BATCH !== 0 || (after % BATCH !== 0 && after !== BETS))
      broken.push(`agency ${agency}: lines ${at + 1}..${end} hold its bets ${before + 1}..${after}`);
    at = end;
  }
  t.same(broken.slice(0, 10), [], "no batch is split by another agency's lines");

  const logs = server.logs();
  t.equal(findLogs(logs, 'sorteo').length, 1, 'exactly one sorteo');
  const sorteo = logs.findIndex((l) => l.action === 'sorteo');
  t.ok(
    logs.every((l, i) => l.action !== 'apuesta_recibida' || i < sorteo),
    'every apuesta_recibida before sorteo',
  );
  t.equal(findLogs(logs, 'apuesta_recibida', 'fail').length, 0, 'no batch rejected');

  // Each agency's own winners, document by document, asked again over the wire after the draw.
  await server.process.waitForCount((l) => l.action === 'worker_stopped', AGENCIES, 'worker_stopped for every agency');
  for (const agency of [1, 2, 3, 4, AGENCIES]) {
    const expected = inputs[agency - 1]
      .map((k) => k.split('\u001f'))
      .filter((f) => f[5] === '7574')
      .map((f) => f[3]);
    t.same(await askWinners(t, server.port, agency), expected, `agency ${agency}: the central answers exactly its winning documents`);
  }

  t.equal(await server.stop(), 0, 'server exits 0');
  assertLogShape(t, server.lines(), 'server');
});

t.test('an agency with more winners than one page holds', async (t) => {
  // 9,000 winning documents of 8 digits take ~81 kB: more than one 64 KiB Winners page.
  const files = await generateData(t, workDir(t, 'data'), { agencies: 2, bets: [9000, 50], winners: [9000, 1], seed: 99 });
  const server = await startServer(t, { agencies: 2 });
  const runs = await Promise.all(
    files.map((dataFile, i) => finishClient(startClient(t, { id: i + 1, port: server.port, dataFile, batch: 200 }))),
  );
  t.equal(runs[0]?.code, 0, 'agency 1 exits 0', { stdout: runs[0]?.stdout });
  t.equal(winnersOf(runs[0]), 9000, 'agency 1 logs cant_ganadores 9000');
  t.equal(winnersOf(runs[1]), 1, 'agency 2 logs cant_ganadores 1');
  await server.process.waitForCount((l) => l.action === 'worker_stopped', 2, 'worker_stopped for both agencies');
  const expected = readInputBets(files[0], 1).map((k) => k.split('\u001f')[3]);
  const pages: number[] = [];
  t.same(await askWinners(t, server.port, 1, pages), expected, 'all 9,000 documents arrive, in order');
  t.ok(pages.length >= 2, `over several Winners pages (${pages.join(' + ')})`);
  t.equal(await server.stop(), 0, 'server exits 0');
  for (const run of runs) assertLogShape(t, run.lines, 'client');
  assertLogShape(t, server.lines(), 'server');
});
