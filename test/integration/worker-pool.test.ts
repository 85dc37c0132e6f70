/**
 * Connection workers started at boot (server/worker-pool.ts): more
 * connections than the pool holds are all served, each by a worker of its
 * own that ends with its connection, a spare waits only while some roster
 * agency has no connection, and a central stopped with idle workers still
 * waiting closes them with one line and exits 0.
 */
import { setTimeout as delay } from 'node:timers/promises';
import t from 'tap';
import { MessageType } from '../../protocol/index.js';
import { findLogs, startServer, type ServerHandle } from '../helpers/processes.js';
import { frames, RawPeer } from '../helpers/raw-peer.js';

t.test('a central stopped before any agency came closes its idle workers and exits 0', async (t) => {
  const server = await startServer(t, { agencies: 3 });
  t.equal(await server.stop('SIGTERM'), 0, 'exits 0');
  const logs = server.logs();
  const index = (action: string) => logs.findIndex((l) => l.action === action && l.result === 'success');
  const pool = findLogs(logs, 'worker_pool_closed', 'success');
  t.equal(pool.length, 1, 'one worker_pool_closed line');
  t.equal(pool[0]?.fields['idle_workers'], '3', 'the workers started for the roster of three were idle');
  t.ok(index('worker_pool_closed') > index('listener_closed'), 'after listener_closed');
  t.ok(index('bets_file_closed') > index('worker_pool_closed'), 'before bets_file_closed');
  t.same(findLogs(logs, 'worker_stopped'), [], 'an idle worker is no connection: no worker_stopped line');
  t.same(
    logs.filter((l) => l.result === 'fail').map((l) => l.raw),
    [],
    'nothing failed',
  );
});

t.test('connections beyond the pool are served, one worker each, and each worker ends with its connection', async (t) => {
  // No roster (any agency, no draw): the pool starts its default two, then keeps one spare; six sessions, two at a time.
  const server = await startServer(t, { agencies: 0 });
  for (let round = 0; round < 3; round++) {
    const peers = await Promise.all([RawPeer.open(t, server.port), RawPeer.open(t, server.port)]);
    await Promise.all(peers.map((peer, i) => peer.write(frames.hello(round * 2 + i + 1))));
    for (const [i, peer] of peers.entries()) {
      const reply = await peer.next();
      t.equal(reply.type, MessageType.Welcome, `round ${round + 1}, agency ${round * 2 + i + 1}: welcomed`);
      peer.destroy();
      await peer.closed;
    }
  }
  const agencies = [1, 2, 3, 4, 5, 6];
  for (const agency of agencies) {
    await server.waitForLog(
      (l) => l.action === 'worker_stopped' && l.fields['agency'] === String(agency),
      `the worker of agency ${agency} ends with its connection`,
    );
  }
  const logs = server.logs();
  const accepted = findLogs(logs, 'connection_accepted', 'success').map((l) => l.fields['connection']);
  const stopped = findLogs(logs, 'worker_stopped', 'success').map((l) => l.fields['connection']);
  t.equal(accepted.length, 6, 'six connections accepted');
  t.same([...stopped].sort(), [...accepted].sort(), 'one worker stopped per connection, no other');
  t.ok(
    findLogs(logs, 'worker_stopped', 'success').every((l) => l.fields['code'] === '0'),
    'every worker exited 0',
  );
  t.equal(await server.stop('SIGTERM'), 0, 'exits 0');
  const pool = findLogs(server.logs(), 'worker_pool_closed', 'success');
  t.equal(pool.length, 1, 'one worker_pool_closed line');
  t.ok(Number(pool[0]?.fields['idle_workers']) >= 1, 'the spare worker was still idle');
});

t.test('a spare waits only while some roster agency has no connection', async (t) => {
  const connectBoth = async (server: ServerHandle) => {
    const peers = await Promise.all([RawPeer.open(t, server.port), RawPeer.open(t, server.port)]);
    await Promise.all(peers.map((peer, i) => peer.write(frames.hello(i + 1))));
    for (const [i, peer] of peers.entries()) t.equal((await peer.next()).type, MessageType.Welcome, `agency ${i + 1} welcomed`);
    return peers;
  };
  const idleAtStop = async (server: ServerHandle) => {
    t.equal(await server.stop('SIGTERM'), 0, 'exits 0');
    return findLogs(server.logs(), 'worker_pool_closed', 'success')[0]?.fields['idle_workers'];
  };

  const full = await startServer(t, { agencies: 2 });
  await connectBoth(full);
  await delay(300); // time for a spare to start, were one wanted
  t.equal(await idleAtStop(full), '0', 'both agencies of the roster connected: no idle worker waits');

  const left = await startServer(t, { agencies: 2 });
  const [first] = await connectBoth(left);
  first.destroy();
  await left.waitForLog((l) => l.action === 'worker_stopped' && l.fields['agency'] === '1', "agency 1's worker ends with its connection");
  await delay(300);
  t.equal(await idleAtStop(left), '1', 'agency 1 gone: a spare waits for its return');
});
