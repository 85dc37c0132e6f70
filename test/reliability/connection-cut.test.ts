/**
 * Connections cut mid-frame: the agencies reach the central through a TCP
 * proxy in the test that forwards bytes both ways and drops a connection
 * after a random number of bytes — usually in the middle of a frame: a Hello,
 * a BetBatch, an ack, a Winners page. Three cuts in four are on the way in
 * (agency → central; log-uniform 1 B..30 kB, sometimes 30..200 kB), one in
 * four on the way back (central → agency, log-uniform 1 B..4 kB: inside a
 * Welcome, an ack, a Winners page), backed by an up cut at 30..200 kB since a
 * connection may carry fewer bytes back than its budget. Every connection is
 * cut until the planned number of cuts happened; later ones run free, so the
 * agencies finish. The central must store no part of a cut batch, keep
 * running, and let the agency resume exactly once.
 *
 * End state: the input multiset exactly, the right winners, one sorteo.
 * Fast default: reference dataset, 60 cuts; LOTTERY_SOAK=1: 400 cuts on more data.
 */
import t from 'tap';
import { findLogs, startClient, startServer, workDir } from '../helpers/processes.js';
import {
  assertExactEnd,
  awaitAgencies,
  chooseSeed,
  progressOf,
  CuttingProxy,
  loadDataset,
  Rng,
  SOAK,
  type Cut,
} from '../helpers/reliability.js';

const CUTS = SOAK ? 400 : 60;
const RUN_LIMIT_MS = SOAK ? 1_200_000 : 200_000;

t.setTimeout(RUN_LIMIT_MS + 60_000);

t.test('a proxy cuts connections after random byte counts: agencies resume, end state exact', async (t) => {
  const seed = chooseSeed(t, 'connection cuts');
  const rng = new Rng(seed);
  const data = await loadDataset(t, {
    preferReference: !SOAK,
    bets: SOAK ? [90_000, 60_000, 40_000, 20_000, 4_000] : [27_000, 25_000, 16_000, 9_000, 1_000],
    winners: [0, 2, 1, 1, 2],
    seed: seed % 100_000,
  });
  const server = await startServer(t, { agencies: 5, dir: workDir(t, 'central') });
  // Cut until CUTS connections were actually cut (a budget larger than what a connection carries cuts nothing).
  let proxy: CuttingProxy | undefined;
  const plan = (): Cut | null => {
    if (proxy!.cuts >= CUTS) return null;
    // A connection may carry fewer bytes back than a down budget (a Welcome, a few acks), so a late up cut backs it.
    if (rng.bool(0.25)) return { down: rng.logInt(1, 4_000), up: rng.int(30_000, 200_000) };
    return { up: rng.bool(0.85) ? rng.logInt(1, 30_000) : rng.int(30_000, 200_000) };
  };
  proxy = await CuttingProxy.start(t, () => server.port, plan);
  const began = Date.now();
  const clients = data.files.map((dataFile, i) =>
    startClient(t, {
      id: i + 1,
      port: proxy.port,
      dataFile,
      batch: rng.pick([1, 10, 50, 100, 300]),
      loopAmount: 100_000,
      loopPeriod: '50ms',
      name: `agency-${i + 1}`,
    }),
  );
  const stall = { progress: progressOf(server.betsFile, () => [server.process, ...clients]), stallMs: 45_000 };
  const finals = await awaitAgencies(t, clients, RUN_LIMIT_MS, [server.process], stall).finally(() =>
    t.comment(
      `${proxy.connections} proxied connections, ${proxy.cuts} cuts (${proxy.midFrameCuts} inside a frame), ` +
        `${proxy.bytesUp} bytes in, ${proxy.bytesDown} bytes out, ${Date.now() - began} ms`,
    ),
  );
  // The agencies may finish before the plan runs out (a large budget can outlast a whole file), so half the plan is the floor.
  t.ok(proxy.cuts >= CUTS / 2, `the proxy cut at least ${CUTS / 2} connections (${proxy.cuts} of ${CUTS} planned)`);
  t.ok(proxy.midFrameCuts >= 1, `some cuts landed inside a frame (${proxy.midFrameCuts})`);
  const truncated = findLogs(server.logs(), 'protocol_error').filter((l) => l.fields['code'] === 'ERR_TRUNCATED').length;
  t.comment(`the central logged ${truncated} truncated frames`);
  assertExactEnd(t, data, server.betsFile, finals, [server.process]);
  t.equal(await server.stop('SIGTERM'), 0, 'the central stops cleanly');
});
