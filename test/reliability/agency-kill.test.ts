/**
 * Agencies killed mid-stream: while five agencies send their bets, a random
 * running agency process is killed with SIGKILL at random moments (50–400 ms
 * apart) and started again (with a possibly different batch size: resuming depends on the
 * central's count of stored bets, not on how the file was batched). Kills hit
 * every phase: reading the file, streaming, waiting for acks, after Done while
 * waiting for the draw. A restarted agency may find its old session still
 * held for a moment (ERR_AGENCY_BUSY) and retries.
 *
 * End state: the input multiset exactly, the right winners, one sorteo.
 * Fast default: reference dataset, 16 kills; LOTTERY_SOAK=1: 44 kills on more data.
 */
import t from 'tap';
import { delay, finishClient, findLogs, startClient, startServer, workDir, type ClientRun, type Proc } from '../helpers/processes.js';
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

const SCHEDULED_KILLS = SOAK ? 44 : 16;
const RUN_LIMIT_MS = SOAK ? 1_200_000 : 200_000;

t.setTimeout(RUN_LIMIT_MS + 120_000);

function finishedCount(betsFile: string): number {
  return journaledFinished(betsFile).size;
}

t.test('SIGKILL agencies at random moments and start them again: end state exact', async (t) => {
  const seed = chooseSeed(t, 'agency kills');
  const rng = new Rng(seed);
  const data = await loadDataset(t, {
    preferReference: !SOAK,
    bets: SOAK ? [90_000, 60_000, 40_000, 20_000, 4_000] : [27_000, 25_000, 16_000, 9_000, 1_000],
    winners: [1, 0, 2, 1, 3],
    seed: seed % 100_000,
  });
  const server = await startServer(t, { agencies: 5, dir: workDir(t, 'central') });
  const batchSizes = [1, 5, 10, 33, 64, 100, 200];
  const current: Proc[] = [];
  const launches = [0, 0, 0, 0, 0];
  const launch = (i: number) => {
    launches[i]++;
    const batch = rng.pick(batchSizes);
    current[i] = startClient(t, {
      id: i + 1,
      port: server.port,
      dataFile: data.files[i],
      batch,
      loopAmount: 100_000,
      loopPeriod: '50ms',
      name: `agency-${i + 1}-run-${launches[i]}`,
    });
  };
  // The last agency starts only once every scheduled kill has happened: until then the draw cannot
  // run, so the kills are sure to land — on agencies streaming, and on agencies parked after Done.
  const HELD = 4;
  for (let i = 0; i < HELD; i++) launch(i);

  const running = () => current.map((p, i) => (p && p.exit === null ? i : -1)).filter((i) => i >= 0);
  const killLog: string[] = [];
  let kills = 0;
  const began = Date.now();
  const progress = progressOf(server.betsFile, () => [server.process, ...current]);
  let lastProgress = progress();
  let lastChange = Date.now();
  // Kills come at random moments, 50–400 ms apart, until SCHEDULED_KILLS happened; then the agencies run free.
  let nextKillAt = Date.now() + rng.int(50, 400);
  const parked = (i: number) => findLogs(current[i].logs(), 'bets_summary').length > 0;
  const parkedKill = () => killLog.some((l) => /waiting for the draw/.test(l));
  const scheduleDone = () => kills >= SCHEDULED_KILLS && parkedKill();
  while (running().length > 0 || current[HELD] === undefined) {
    if (progress() !== lastProgress) {
      lastProgress = progress();
      lastChange = Date.now();
    }
    if (Date.now() - began > RUN_LIMIT_MS || Date.now() - lastChange > 45_000) {
      dumpTails(t, [server.process, ...current]);
      throw new Error(
        Date.now() - lastChange > 45_000
          ? `no progress for 45 s after ${kills} kills: the run is stuck`
          : `agencies did not finish within ${RUN_LIMIT_MS} ms (${kills} kills)`,
      );
    }
    const failed = current.findIndex((p) => p && p.exit !== null && p.exit.code !== 0);
    if (failed !== -1) {
      dumpTails(t, [server.process, ...current]);
      throw new Error(`agency ${failed + 1} exited ${JSON.stringify(current[failed].exit)}`);
    }
    await delay(10);
    if (scheduleDone() && current[HELD] === undefined) launch(HELD);
    if (scheduleDone() || Date.now() < nextKillAt) continue;
    // After the random kills, one more on an agency parked after Done if none hit one yet (a slow
    // machine can keep every random kill before Done): the agencies are held, so one parks in time.
    const alive = kills >= SCHEDULED_KILLS ? running().filter(parked) : running();
    if (alive.length === 0) continue;
    const victim = rng.pick(alive);
    const size = fileSize(server.betsFile);
    await current[victim].stop('SIGKILL');
    nextKillAt = Date.now() + rng.int(50, 400);
    // It may have finished on its own just before the signal: then nothing was killed.
    if (current[victim].exit?.signal !== 'SIGKILL') continue;
    kills++;
    const phase = parked(victim)
      ? 'after Done, waiting for the draw'
      : findLogs(current[victim].logs(), 'session', 'success').length > 0
        ? 'streaming'
        : 'before its session';
    killLog.push(
      `#${kills} agency ${victim + 1} ${phase}, at ${size} bytes, ${finishedCount(server.betsFile)} finished, ${Date.now() - began} ms`,
    );
    await delay(rng.int(0, 200));
    launch(victim);
  }
  t.comment(`${kills} agency kills, launches per agency ${launches.join(', ')}, ${Date.now() - began} ms`);
  t.comment(killLog.join('\n'));
  t.ok(kills >= SCHEDULED_KILLS, `at least ${SCHEDULED_KILLS} agency kills happened`);

  const finals: ClientRun[] = await Promise.all(current.map((p) => finishClient(p, 60_000)));
  t.ok(parkedKill(), 'some kills hit an agency parked after Done, waiting for the draw');
  const busy = findLogs(server.logs(), 'protocol_error').filter((l) => l.fields['code'] === 'ERR_AGENCY_BUSY').length;
  t.comment(`ERR_AGENCY_BUSY answers while a killed agency's session was still held: ${busy}`);
  assertExactEnd(t, data, server.betsFile, finals, [server.process]);
  t.equal(await server.stop('SIGTERM'), 0, 'the central stops cleanly');
});
