/**
 * Crash loop: five agencies stream their bets while the central is killed
 * with SIGKILL at random moments and restarted each time on the same bets
 * file and port. The agencies reconnect and resume from the count the
 * Welcome gives them. At the end the stored bets are the input multiset
 * exactly (per agency, in file order), every agency got its right number of
 * winners, and `sorteo` was logged once across every run of the central.
 *
 * Kill moments are random but spread over the whole run: most wait until
 * bets.csv has reached a random fraction of its final size, some until a
 * random number of agencies have finished (Done / draw / winners phase), and
 * some hit a restarting central before or while it recovers. Each kill comes
 * a random 0–60 ms after its trigger and a random 20–150 ms after the last
 * start (short: the agencies store the whole reference dataset in about a
 * second, and later triggers must still find a run in progress). The seed fixes the schedule (thresholds, delays, batch sizes); the
 * exact interleaving with the processes' own timing cannot be replayed.
 *
 * SIGKILL keeps the page cache, so this proves crash consistency of the
 * process (recovery, resume, exactly once, one draw), not durability against
 * power loss.
 *
 * Fast default: the reference dataset and ≥ 6 kills. LOTTERY_SOAK=1: about
 * 300,000 generated bets and ≥ 20 kills.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  delay,
  finishClient,
  findLogs,
  SERVER_MAIN,
  spawnNode,
  startClient,
  startServer,
  winnersOf,
  workDir,
  type Proc,
  type ServerHandle,
} from '../helpers/processes.js';
import {
  assertExactEnd,
  chooseSeed,
  dumpTails,
  fileSize,
  journaledFinished,
  loadDataset,
  progressOf,
  Rng,
  SOAK,
} from '../helpers/reliability.js';

const SCHEDULED_BYTE_KILLS = SOAK ? 24 : 6;
const SCHEDULED_END_KILLS = SOAK ? 4 : 2;
const MIN_KILLS = SOAK ? 20 : 6;
const RUN_LIMIT_MS = SOAK ? 1_500_000 : 240_000;

t.setTimeout(RUN_LIMIT_MS + 120_000);

type Trigger = { readonly kind: 'bytes'; readonly at: number } | { readonly kind: 'finished'; readonly at: number };

function finishedCount(betsFile: string): number {
  return journaledFinished(betsFile).size;
}

t.test('SIGKILL the central at random moments: agencies resume, end state exact, one draw', async (t) => {
  const seed = chooseSeed(t, 'crash loop');
  const rng = new Rng(seed);
  const data = await loadDataset(t, {
    preferReference: !SOAK,
    bets: SOAK ? [120_000, 90_000, 60_000, 25_000, 5_000] : [27_000, 25_000, 16_000, 9_000, 1_000],
    winners: [2, 1, 0, 3, 1],
    seed: seed % 100_000,
  });
  const dir = workDir(t, 'central');
  const betsFile = `${dir}/bets.csv`;
  const runs: Proc[] = [];
  let port = 0;
  const start = async (): Promise<ServerHandle> => {
    const server = await startServer(t, { agencies: 5, dir, betsFile, port, name: `server-${runs.length + 1}` });
    port = server.port;
    runs.push(server.process);
    return server;
  };

  const triggers: Trigger[] = [];
  for (let i = 0; i < SCHEDULED_BYTE_KILLS; i++)
    triggers.push({ kind: 'bytes', at: Math.floor(data.storedBytes * (0.02 + 0.4 * rng.next())) });
  for (let i = 0; i < SCHEDULED_END_KILLS; i++) triggers.push({ kind: 'finished', at: rng.int(1, 4) });
  const batches = data.files.map(() => rng.pick([1, 7, 10, 25, 64, 100, 150]));
  t.comment(`batch sizes per agency: ${batches.join(', ')}`);

  let server = await start();
  const clients = data.files.map((dataFile, i) =>
    startClient(t, { id: i + 1, port, dataFile, batch: batches[i], loopAmount: 100_000, loopPeriod: '50ms', name: `agency-${i + 1}` }),
  );
  let allExited = false;
  void Promise.all(clients.map((c) => c.exited)).then(() => (allExited = true));

  const killLog: string[] = [];
  let kills = 0;
  let startupKills = 0;
  const began = Date.now();
  let upSince = Date.now();
  let minUptime = rng.int(20, 150);
  const progress = progressOf(betsFile, () => [...runs, ...clients]);
  let lastProgress = progress();
  let lastChange = Date.now();
  while (!allExited) {
    if (progress() !== lastProgress) {
      lastProgress = progress();
      lastChange = Date.now();
    }
    if (Date.now() - began > RUN_LIMIT_MS || Date.now() - lastChange > 45_000) {
      dumpTails(t, [server.process, ...clients]);
      throw new Error(
        Date.now() - lastChange > 45_000
          ? `no progress for 45 s after ${kills} kills: the run is stuck`
          : `the run did not finish within ${RUN_LIMIT_MS} ms (${kills} kills so far)`,
      );
    }
    const failed = clients.find((c) => c.exit !== null && c.exit.code !== 0);
    if (failed) {
      dumpTails(t, [server.process, ...clients]);
      throw new Error(`${failed.name} exited ${JSON.stringify(failed.exit)} during the crash loop`);
    }
    await delay(20);
    if (Date.now() - upSince < minUptime) continue;
    const size = fileSize(betsFile);
    const finished = finishedCount(betsFile);
    const index = triggers.findIndex((tr) => (tr.kind === 'bytes' ? size >= tr.at : finished >= tr.at));
    if (index === -1) continue;
    const [trigger] = triggers.splice(index, 1);
    await delay(rng.int(0, 60));
    if (allExited) break;
    await server.stop('SIGKILL');
    kills++;
    killLog.push(
      `#${kills} ${trigger.kind}≥${trigger.at}: at ${fileSize(betsFile)} bytes, ${finishedCount(betsFile)} finished, ${Date.now() - began} ms`,
    );
    // Sometimes the restarted central dies too, before or while it recovers.
    while (rng.bool(SOAK ? 0.25 : 0.2)) {
      const doomed = spawnNode(
        t,
        `server-${runs.length + 1}-startup`,
        SERVER_MAIN,
        ['--host', '127.0.0.1', '--port', String(port), '--agencies', '5', '--bets-file', betsFile],
        { cwd: dir },
      );
      runs.push(doomed);
      await delay(rng.int(0, 250));
      await doomed.stop('SIGKILL');
      kills++;
      startupKills++;
      killLog.push(`#${kills} during start-up`);
    }
    await delay(rng.int(0, 300)); // the central stays down a moment; agencies get ECONNREFUSED and retry
    server = await start();
    upSince = Date.now();
    minUptime = rng.int(20, 150);
  }
  t.comment(`${kills} kills (${startupKills} during start-up), ${runs.length} runs of the central, ${Date.now() - began} ms`);
  t.comment(killLog.join('\n'));
  if (triggers.length > 0) t.comment(`triggers not reached before the agencies finished: ${JSON.stringify(triggers)}`);
  t.ok(kills >= MIN_KILLS, `at least ${MIN_KILLS} kills happened (${kills})`);

  const results = await Promise.all(clients.map((c) => finishClient(c, 60_000)));
  const sessions = results.map((r) => findLogs(r.logs, 'session', 'success').length);
  t.comment(`sessions per agency: ${sessions.join(', ')}`);
  t.ok(
    sessions.some((n) => n > 1),
    'agencies reconnected after kills',
  );
  assertExactEnd(t, data, betsFile, results, runs);

  // One more crash after the draw: the restarted central reuses the result and draws nothing again.
  const before = readFileSync(betsFile);
  await server.stop('SIGKILL');
  const last = await start();
  t.ok(findLogs(last.logs(), 'draw_reused', 'success').length === 1, 'restarted after the draw: draw_reused');
  const again = await finishClient(
    startClient(t, { id: 1, port, dataFile: data.files[0], batch: 10, loopAmount: 20, loopPeriod: '50ms', name: 'agency-1-again' }),
  );
  t.equal(again.code, 0, 'agency 1 asks again and exits 0', { stdout: again.stdout });
  t.equal(winnersOf(again), data.winners[0], 'and gets the same winners');
  t.same(readFileSync(betsFile).equals(before), true, 'bets.csv is unchanged by the late session');
  t.equal(findLogs(last.logs(), 'sorteo').length, 0, 'no second sorteo');
  t.equal(await last.stop('SIGTERM'), 0, 'the last central stops cleanly');
});
