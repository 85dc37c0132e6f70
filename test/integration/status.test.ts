/**
 * The status port from outside, on real processes: the reference dataset run
 * by five agencies, then /metrics read back as Prometheus text (bets stored
 * per agency = the input, batches = the acks logged, agencies finished =
 * expected, winners 2,3,3,2,0); /healthz, /readyz, 405 on anything but
 * GET/HEAD; a restart reports what recovery kept; batches rejected counted by
 * error code (a raw peer); a status port already taken stops the start;
 * /readyz is 503 while the store cannot be recovered yet (a database that is
 * not up), and 200 once it is.
 */
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import t from 'tap';
import { ErrorCode, MessageType } from '../../protocol/index.js';
import { Postgres, postgresUnavailable } from '../helpers/postgres.js';
import {
  assertLogShape,
  closedPort,
  delay,
  findLogs,
  finishClient,
  readInputBets,
  REFERENCE_BETS,
  REFERENCE_DATA,
  REFERENCE_FILES,
  REFERENCE_WINNERS,
  SERVER_MAIN,
  spawnNode,
  startClient,
  startServer,
  workDir,
} from '../helpers/processes.js';
import { frames, RawPeer, type RawBet } from '../helpers/raw-peer.js';
import { http, parseMetrics, samplesOf, statusPortOf, valueOf } from '../helpers/status.js';

const requireAll = process.env['LOTTERY_REQUIRE_ALL'] === '1';

async function metrics(port: number) {
  const answer = await http(port, '/metrics');
  if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}: ${answer.body}`);
  return { text: answer.body, samples: parseMetrics(answer.body), type: answer.headers['content-type'] };
}

if (!REFERENCE_FILES.every((f) => existsSync(f))) {
  const missing = `reference dataset not found in ${REFERENCE_DATA}`;
  if (requireAll) t.fail(missing);
  else t.test('the reference run', async (t) => t.plan(0, missing));
} else {
  t.test('/metrics after the reference run; health, readiness, read-only', async (t) => {
    const server = await startServer(t, { agencies: 5, args: ['--status-port', '0'] });
    const status = await statusPortOf(server.process);
    const listening = server.logs().findIndex((l) => l.action === 'listening');
    const statusAt = server.logs().findIndex((l) => l.action === 'status_listening');
    const recoveryAt = server.logs().findIndex((l) => l.action === 'recovery');
    t.ok(
      statusAt >= 0 && statusAt < recoveryAt && recoveryAt < listening,
      'the status port opens before recovery, which comes before listening',
    );

    t.equal((await http(status, '/healthz')).status, 200, '/healthz: 200');
    const ready = await http(status, '/readyz');
    t.equal(ready.status, 200, '/readyz: 200 once listening');
    t.equal(ready.body.trim(), 'ready', '/readyz says ready');
    for (const [method, path] of [
      ['POST', '/'],
      ['PUT', '/metrics'],
      ['DELETE', '/readyz'],
      ['PATCH', '/events'],
    ]) {
      const answer = await http(status, path, method);
      t.equal(answer.status, 405, `${method} ${path}: 405`);
      t.equal(answer.headers['allow'], 'GET, HEAD', `${method} ${path}: Allow: GET, HEAD`);
    }
    t.equal((await http(status, '/nothing-here')).status, 404, 'an unknown path: 404');
    const head = await http(status, '/metrics', 'HEAD');
    t.equal(head.status, 200, 'HEAD /metrics: 200');
    t.equal(head.body, '', 'HEAD has no body');

    const before = await metrics(status);
    t.match(before.type, /^text\/plain; version=0\.0\.4/, 'Prometheus text content type');
    for (let agency = 1; agency <= 5; agency++) {
      t.equal(
        valueOf(before.samples, 'lottery_bets_stored_total', { agency: String(agency) }),
        0,
        `agency ${agency}: 0 stored before it starts`,
      );
    }
    t.equal(valueOf(before.samples, 'lottery_agencies_expected'), 5, 'agencies expected: 5');
    t.equal(valueOf(before.samples, 'lottery_agencies_finished'), 0, 'agencies finished: 0');
    t.equal(valueOf(before.samples, 'lottery_draw_state'), 0, 'draw state: waiting');

    const clients = REFERENCE_FILES.map((dataFile, i) => startClient(t, { id: i + 1, port: server.port, dataFile, batch: 100 }));
    const runs = await Promise.all(clients.map((c) => finishClient(c)));
    runs.forEach((run, i) => t.equal(run.code, 0, `agency ${i + 1} exits 0`, { stdout: run.stdout, stderr: run.stderr }));

    const after = await metrics(status);
    const { samples } = after;
    let sum = 0;
    REFERENCE_FILES.forEach((file, i) => {
      const agency = String(i + 1);
      const stored = valueOf(samples, 'lottery_bets_stored_total', { agency });
      t.equal(stored, readInputBets(file, i + 1).length, `agency ${agency}: bets stored = its input`);
      sum += stored;
      t.equal(valueOf(samples, 'lottery_winners', { agency }), REFERENCE_WINNERS[i], `agency ${agency}: ${REFERENCE_WINNERS[i]} winners`);
    });
    t.equal(sum, REFERENCE_BETS, 'bets stored per agency add up to the 78,697 input bets');
    t.equal(samplesOf(samples, 'lottery_bets_stored_total').length, 5, 'one series per agency, no others');

    const acked = findLogs(server.logs(), 'apuesta_recibida', 'success').length;
    t.equal(valueOf(samples, 'lottery_batches_total', { result: 'stored' }), acked, 'batches stored = apuesta_recibida success lines');
    t.ok(acked >= Math.ceil(REFERENCE_BETS / 100), `at least ${Math.ceil(REFERENCE_BETS / 100)} batches of 100`);
    t.same(samplesOf(samples, 'lottery_batches_total', { result: 'rejected' }), [], 'no batch rejected');
    t.equal(valueOf(samples, 'lottery_agencies_finished'), valueOf(samples, 'lottery_agencies_expected'), 'agencies finished = expected');
    t.equal(valueOf(samples, 'lottery_agencies_finished'), 5, 'five agencies finished');
    t.equal(valueOf(samples, 'lottery_draw_state'), 2, 'draw state: drawn');
    t.ok(valueOf(samples, 'lottery_draw_duration_seconds') > 0, 'the draw took some time');
    t.equal(valueOf(samples, 'lottery_ready'), 1, 'ready');

    // The group commit's latency histogram: cumulative buckets ending in +Inf = count, and a sum.
    const buckets = samplesOf(samples, 'lottery_commit_duration_seconds_bucket');
    const count = valueOf(samples, 'lottery_commit_duration_seconds_count');
    t.ok(count > 0, `commits were timed (${count})`);
    t.equal(buckets.at(-1)?.labels['le'], '+Inf', 'the last bucket is +Inf');
    t.equal(buckets.at(-1)?.value, count, '+Inf bucket = count');
    t.ok(
      buckets.every((b, i) => i === 0 || b.value >= buckets[i - 1].value),
      'buckets are cumulative',
    );
    t.ok(valueOf(samples, 'lottery_commit_duration_seconds_sum') > 0, 'a positive sum of latencies');
    t.ok(valueOf(samples, 'process_resident_memory_bytes') > 10_000_000, 'process memory is reported');

    // Agencies exit after their answer; their connections close soon after.
    let open = valueOf(samples, 'lottery_connections_open');
    for (let i = 0; i < 100 && open > 0; i++) {
      await delay(100);
      open = valueOf((await metrics(status)).samples, 'lottery_connections_open');
    }
    t.equal(open, 0, 'no connection left open');

    t.equal(await server.stop(), 0, 'SIGTERM: exit 0');
    const logs = server.logs();
    t.equal(findLogs(logs, 'status_server_closed', 'success').length, 1, 'one status_server_closed line');
    t.same(
      logs.filter((l) => l.result === 'fail').map((l) => l.raw),
      [],
      'nothing prints result: fail',
    );
    assertLogShape(t, server.lines(), 'server');

    // A restart on the same files reports what recovery kept.
    const again = await startServer(t, { agencies: 5, betsFile: server.betsFile, args: ['--status-port', '0'] });
    const recovered = (await metrics(await statusPortOf(again.process))).samples;
    REFERENCE_FILES.forEach((file, i) =>
      t.equal(
        valueOf(recovered, 'lottery_bets_stored_total', { agency: String(i + 1) }),
        readInputBets(file, i + 1).length,
        `after a restart, agency ${i + 1}'s stored bets are what recovery kept`,
      ),
    );
    t.equal(valueOf(recovered, 'lottery_agencies_finished'), 5, 'after a restart: five finished');
    t.equal(valueOf(recovered, 'lottery_winners', { agency: '2' }), 3, 'after a restart: the stored draw is reported');
    t.equal(await again.stop(), 0, 'the restarted central exits 0');
  });
}

t.test('batches by result and code: stored, and rejected with ERR_INVALID_BET', async (t) => {
  const server = await startServer(t, { agencies: 0, args: ['--status-port', '0'] });
  const status = await statusPortOf(server.process);
  const peer = await RawPeer.open(t, server.port);
  await peer.write(frames.hello(7));
  t.equal((await peer.next()).type, MessageType.Welcome, 'agency 7 welcomed');
  const good: RawBet = { first: 'Ana', last: 'Gómez', document: '30111222', birthdate: '1990-05-17', number: 1234 };
  await peer.write(frames.betBatch(0, [good, good, good]));
  t.equal((await peer.next()).type, MessageType.BatchAck, 'a batch of 3 acknowledged');
  await peer.write(frames.betBatch(1, [good, { ...good, number: 10000 }]));
  t.match(await peer.next(), { type: MessageType.BatchRejected, code: ErrorCode.InvalidBet }, 'a batch with number 10000 rejected');
  await peer.write(frames.betBatch(2, [{ ...good, birthdate: '2023-02-30' }]));
  t.match(await peer.next(), { type: MessageType.BatchRejected, code: ErrorCode.InvalidBet }, 'a batch with 2023-02-30 rejected');
  const { samples } = await metrics(status);
  t.equal(valueOf(samples, 'lottery_batches_total', { result: 'stored', code: 'none' }), 1, 'one batch stored');
  t.equal(valueOf(samples, 'lottery_batches_total', { result: 'rejected', code: 'ERR_INVALID_BET' }), 2, 'two rejected, ERR_INVALID_BET');
  t.equal(valueOf(samples, 'lottery_bets_stored_total', { agency: '7' }), 3, "agency 7: the stored batch's 3 bets, none of the rejected");
  t.equal(valueOf(samples, 'lottery_agencies_connected'), 1, 'one agency connected');
  t.equal(valueOf(samples, 'lottery_connections_open'), 1, 'one connection open');
  t.equal(valueOf(samples, 'lottery_agencies_expected'), 0, 'no roster: none expected');
  peer.destroy();
});

t.test('a status port that cannot be opened stops the start with one clear line', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as AddressInfo).port;
  const central = spawnNode(t, 'central', SERVER_MAIN, ['--host', '127.0.0.1', '--port', '0', '--status-port', String(port)], {
    cwd: workDir(t),
  });
  const exit = await central.waitExit(30_000);
  t.equal(exit.code, 1, 'exit 1');
  const failed = findLogs(central.logs(), 'startup', 'fail');
  t.equal(failed.length, 1, 'one startup | result: fail line');
  t.match(failed[0]?.fields['error'], new RegExp(`status port 127\\.0\\.0\\.1:${port}.*EADDRINUSE`), 'it names the status port and why');
  t.equal(findLogs(central.logs(), 'recovery').length, 0, 'before any recovery');
});

t.test('/readyz is 503 while the store is not recovered, 200 once it is', async (t) => {
  const pgMissing = postgresUnavailable();
  if (pgMissing !== null) {
    if (requireAll) t.fail(`PostgreSQL is required here (LOTTERY_REQUIRE_ALL=1): ${pgMissing}`);
    // Without a database server, the first half still holds: a database that never comes up.
  }
  const pg = pgMissing === null ? await Postgres.start(t) : null;
  pg?.stop();
  const url = pg ? pg.url : `postgres://lottery@127.0.0.1:${await closedPort()}/lottery`;
  const dir = workDir(t);
  const central = spawnNode(
    t,
    'central',
    SERVER_MAIN,
    ['--host', '127.0.0.1', '--port', '0', '--agencies', '2', '--status-port', '0', '--database-url', url],
    { cwd: dir },
  );
  const status = await statusPortOf(central);
  // The database is down: recovery is retrying.
  await central.waitForLog((l) => l.action === 'database' && l.result === 'in_progress', 'database in_progress');
  t.equal((await http(status, '/healthz')).status, 200, '/healthz: 200 while recovering');
  const waiting = await http(status, '/readyz');
  t.equal(waiting.status, 503, '/readyz: 503 while the store is not recovered');
  t.equal(waiting.body.trim(), 'recovering', '/readyz says recovering');
  t.equal(valueOf((await metrics(status)).samples, 'lottery_ready'), 0, 'lottery_ready 0');
  t.equal(findLogs(central.logs(), 'listening').length, 0, 'the agency port is not listening yet');
  if (!pg) return;

  await delay(500);
  t.equal((await http(status, '/readyz')).status, 503, 'still 503 a moment later');
  pg.startServer();
  await central.waitForLog((l) => l.action === 'listening', 'listening', 60_000);
  const ready = await http(status, '/readyz');
  t.equal(ready.status, 200, '/readyz: 200 once recovered and listening');
  t.equal(valueOf((await metrics(status)).samples, 'lottery_ready'), 1, 'lottery_ready 1');
  t.equal(await central.stop('SIGTERM'), 0, 'SIGTERM: exit 0');
  t.equal(findLogs(central.logs(), 'status_server_closed', 'success').length, 1, 'status_server_closed logged');
});
