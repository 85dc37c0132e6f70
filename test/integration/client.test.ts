/**
 * The agency's own behaviours against a real central: single-bet mode from
 * the environment, invalid rows in its file (reported by line, not sent, the
 * run goes on; --strict stops), a central that cannot be reached, an agency
 * the roster does not expect, and (against a scripted central) refused
 * batches, cumulative acks, and an ack for a batch never sent.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { encodeBatchAck, encodeBatchRejected, encodeWelcome, encodeWinners, ErrorCode, MessageType } from '../../protocol/index.js';
import { scriptedCentral } from '../helpers/raw-peer.js';
import {
  assertLogShape,
  closedPort,
  delay,
  findLogs,
  readStoredBets,
  runClient,
  startClient,
  finishClient,
  startServer,
  winnersOf,
  workDir,
} from '../helpers/processes.js';

const SINGLE = { NOMBRE: 'Santiago Lionel', APELLIDO: 'Lorca', DOCUMENTO: '30904465', NACIMIENTO: '1999-03-17', NUMERO: '7574' };

t.test('single-bet mode', async (t) => {
  const server = await startServer(t, { agencyIds: '7' });
  const run = await runClient(t, { id: 7, port: server.port, env: SINGLE });
  t.equal(run.code, 0, 'client exits 0', { stdout: run.stdout, stderr: run.stderr });
  t.ok(
    run.lines.some((l) => / INFO +action: apuesta_enviada \| result: success \| dni: 30904465 \| numero: 7574$/.test(l)),
    'client logs apuesta_enviada | result: success | dni: 30904465 | numero: 7574',
  );
  await server.waitForLine(/action: apuesta_almacenada \| result: success \| dni: 30904465 \| numero: 7574$/);
  t.pass('server logs apuesta_almacenada | result: success | dni: 30904465 | numero: 7574');
  t.equal(findLogs(run.logs, 'loop_finished', 'success').length, 1, 'client logs loop_finished');
  assertLogShape(t, run.lines, 'client');

  const expected = '7,Santiago Lionel,Lorca,30904465,1999-03-17,7574\n';
  t.equal(readStoredBets(server.betsFile).keys.length, 1, 'bets.csv holds one bet');
  t.equal(readFileSync(server.betsFile, 'utf8'), expected, 'bets.csv holds exactly that line');

  // Sent again (say, after a crash of the agency): stored once all the same.
  const again = await runClient(t, { id: 7, port: server.port, env: SINGLE });
  t.equal(again.code, 0, 'a second run exits 0');
  t.equal(readFileSync(server.betsFile, 'utf8'), expected, 'the bet is not stored twice');
  assertLogShape(t, again.lines, 'client (second run)');

  t.equal(await server.stop(), 0, 'server exits 0');
  assertLogShape(t, server.lines(), 'server');
});

t.test('invalid rows in the bets file', async (t) => {
  const dir = workDir(t, 'data');
  const file = join(dir, 'agency-4.csv');
  writeFileSync(
    file,
    '\uFEFF' + // a UTF-8 byte-order mark, as some editors write
      [
        'Ana,Gómez,30111222,1990-05-17,7574', // 1
        'Luis,Pérez,30111223,1991-06-18,12', // 2
        'Sin,Numero,30111224,1992-07-19', // 3: four fields
        'Eva,Díaz,30111225,2023-02-30,99', // 4: no such date
        'Juan,Ruiz,30111226,1993-08-20,10000', // 5: number too large
        'Rosa,Paz,3011X227,1994-09-21,5', // 6: document with a letter
        'Olga,Vera,30111228,1995-10-22,7574', // 7
        '"Pérez, María",Gómez,30111229,1996-11-23,3', // 8: a quoted name holding a comma
        '',
      ].join('\r\n'),
  );
  const server = await startServer(t, { agencyIds: '4' });
  const run = await runClient(t, { id: 4, port: server.port, dataFile: file, batch: 2 });
  t.equal(run.code, 0, 'the run goes on and exits 0', { stdout: run.stdout, stderr: run.stderr });
  const invalid = findLogs(run.logs, 'invalid_bet', 'fail');
  t.same(
    invalid.map((l) => l.fields['line']),
    ['3', '4', '5', '6'],
    'each invalid row is reported with its line number',
  );
  t.ok(
    invalid.every((l) => (l.fields['reason'] ?? '').length > 0),
    'each with a reason',
  );
  const summary = findLogs(run.logs, 'bets_summary', 'success')[0];
  t.match(summary?.fields, { sent: '4', rejected: '0', invalid_rows: '4' }, 'the summary says 4 sent, 0 rejected, 4 invalid rows');
  t.equal(winnersOf(run), 2, 'both winners among the valid rows are found');
  const stored = readStoredBets(server.betsFile).keys.map((k) => k.split('\u001f'));
  t.same(
    stored.map((f) => f[3]),
    ['30111222', '30111223', '30111228', '30111229'],
    'only the valid rows are stored',
  );
  t.equal(stored[0]?.[1], 'Ana', 'the byte-order mark is not part of the first name');
  t.equal(stored[3]?.[1], 'Pérez, María', 'a quoted name with a comma is stored (and quoted) intact');
  assertLogShape(t, run.lines, 'client');

  // --strict: stop at the first invalid row, exit 1.
  const strictServer = await startServer(t, { agencyIds: '4' });
  const strict = await runClient(t, { id: 4, port: strictServer.port, dataFile: file, batch: 2, args: ['--strict'] });
  t.equal(strict.code, 1, '--strict exits 1');
  t.same(
    findLogs(strict.logs, 'invalid_bet', 'fail').map((l) => l.fields['line']),
    ['3'],
    '--strict stops at the first invalid row (line 3)',
  );
  t.equal(findLogs(strict.logs, 'consulta_ganadores').length, 0, 'no winners asked');
  t.ok(
    strict.logs.some((l) => l.result === 'fail' && l.level === 'ERROR'),
    'the failure is logged as an error',
  );
  const strictStored = readStoredBets(strictServer.betsFile).keys;
  t.ok(
    strictStored.every((k) => !k.includes('Olga')),
    'nothing after the invalid row was sent',
  );
  assertLogShape(t, strict.lines, 'client --strict');

  for (const s of [server, strictServer]) {
    t.equal(await s.stop(), 0, 'server exits 0');
    assertLogShape(t, s.lines(), 'server');
  }
});

t.test('server unreachable', async (t) => {
  const port = await closedPort();
  const dir = workDir(t, 'data');
  const file = join(dir, 'agency-1.csv');
  writeFileSync(file, 'Ana,Gómez,30111222,1990-05-17,7574\n');
  const started = Date.now();
  const run = await runClient(t, { id: 1, port, dataFile: file, loopAmount: 3, loopPeriod: '200ms' });
  const took = Date.now() - started;
  t.equal(run.code, 1, 'exits 1', { stdout: run.stdout, stderr: run.stderr });
  t.equal(findLogs(run.logs, 'connect', 'in_progress').length, 2, 'two connect | result: in_progress retries');
  t.equal(findLogs(run.logs, 'connect', 'fail').length, 1, 'then connect | result: fail');
  t.equal(findLogs(run.logs, 'connect', 'success').length, 0, 'never connected');
  t.ok(took >= 400, `waits loop.period between attempts (${took} ms)`);
  t.equal(findLogs(run.logs, 'loop_finished').length, 0, 'no loop_finished');
  assertLogShape(t, run.lines, 'client');
});

t.test('a long retry loop: each wait takes its abort listener off again (no MaxListenersExceededWarning)', async (t) => {
  const port = await closedPort();
  const file = join(workDir(t, 'data'), 'agency-1.csv');
  writeFileSync(file, 'Ana,Gómez,30111222,1990-05-17,7574\n');
  // Node warns at the 11th listener on one AbortSignal: 15 waits would have left 15.
  const run = await runClient(t, { id: 1, port, dataFile: file, loopAmount: 16, loopPeriod: '10ms' });
  t.equal(run.code, 1, 'exits 1', { stdout: run.stdout, stderr: run.stderr });
  t.equal(findLogs(run.logs, 'connect', 'in_progress').length, 15, 'fifteen waits between sixteen attempts');
  t.notMatch(run.stderr, /MaxListenersExceededWarning|Warning/, 'no warning on stderr', { stderr: run.stderr });
});

t.test('an agency that is not on the roster is refused, stores nothing, and does not count', async (t) => {
  const dir = workDir(t, 'data');
  const first = join(dir, 'agency-1.csv');
  const stranger = join(dir, 'agency-999.csv');
  writeFileSync(first, 'Ana,Gómez,30111222,1990-05-17,7574\n');
  writeFileSync(stranger, '');
  const server = await startServer(t, { agencies: 2 });
  const run = await runClient(t, { id: 999, port: server.port, dataFile: stranger });
  t.equal(run.code, 1, 'the stranger exits 1', { stdout: run.stdout });
  t.match(findLogs(run.logs, 'agency', 'fail')[0]?.fields['error'], /ERR_NOT_EXPECTED/, 'and says why');
  const refused = findLogs(server.logs(), 'session_refused', 'fail');
  t.equal(refused.length, 1, 'the central logs one session_refused line');
  t.match(refused[0]?.fields, { code: 'ERR_NOT_EXPECTED' }, 'with the stable code');
  t.equal(findLogs(server.logs(), 'agency_finished').length, 0, 'it does not count as finished');

  // Agency 1 finishing is not enough: the draw still waits for agency 2.
  const one = startClient(t, { id: 1, port: server.port, dataFile: first });
  await server.waitForLog((l) => l.action === 'agency_finished' && l.fields['agency'] === '1', 'agency 1 finished');
  await delay(300);
  t.equal(findLogs(server.logs(), 'sorteo').length, 0, 'no draw before agency 2');
  const two = await runClient(t, { id: 2, port: server.port, dataFile: stranger });
  t.equal(two.code, 0, 'agency 2 finishes');
  t.equal((await finishClient(one)).code, 0, 'agency 1 gets its answer');
  t.equal(findLogs(server.logs(), 'sorteo', 'success').length, 1, 'one draw, once both expected agencies finished');
  t.equal(readStoredBets(server.betsFile).keys.length, 1, "only agency 1's bet is stored");
  t.equal(await server.stop(), 0, 'server exits 0');
  assertLogShape(t, server.lines(), 'server');
});

/** A central that welcomes, answers each batch as `onBatch` says, and has no winners. */
async function batchAnsweringCentral(t: Test, onBatch: (seq: number) => Buffer | null) {
  return scriptedCentral(t, (m) => {
    if (m.type === MessageType.Hello)
      return encodeWelcome({ type: MessageType.Welcome, stored: 0, settled: 0, finished: false, drawDone: false });
    if (m.type === MessageType.BetBatch) return onBatch(m.seq);
    if (m.type === MessageType.WinnersRequest) return encodeWinners({ type: MessageType.Winners, last: true, documents: [] });
    return null;
  });
}

t.test('a client whose batches the central refuses reports them and exits 1', async (t) => {
  // The central refuses batches only for reasons a real agency cannot produce
  // (its own check matches the central's), so a scripted central plays that part.
  const dir = workDir(t, 'data');
  const file = join(dir, 'agency-3.csv');
  writeFileSync(file, Array.from({ length: 9 }, (_, i) => `Tarde,Pérez,4000000${i},1990-05-17,7574`).join('\n') + '\n');
  const central = await batchAnsweringCentral(t, (seq) =>
    encodeBatchRejected({ type: MessageType.BatchRejected, seq, code: ErrorCode.InvalidBet, betIndex: 0, reason: 'refused by the script' }),
  );
  const run = await runClient(t, { id: 3, port: central.port, dataFile: file, batch: 4 });
  const rejected = findLogs(run.logs, 'batch_rejected', 'fail');
  t.equal(rejected.length, 3, 'each refused batch is reported (4 + 4 + 1 bets)');
  t.ok(
    rejected.every((l) => l.fields['code'] === 'ERR_INVALID_BET'),
    'with the code the central gave',
  );
  t.match(findLogs(run.logs, 'bets_summary')[0]?.fields, { sent: '0', rejected: '9' }, 'the summary counts 9 rejected bets');
  t.same(
    central.received.filter((m) => m.type === MessageType.Done).map((m) => m.type === MessageType.Done && m.total),
    [0],
    'Done carries the 0 bets acknowledged',
  );
  // Contract: exit code 1 means a runtime failure, "rejected data" included.
  t.equal(run.code, 1, 'exits 1: its data was rejected', { stdout: run.stdout });
  assertLogShape(t, run.lines, 'client');
});

t.test('one BatchAck for the newest batch answers every batch before it (acks are cumulative)', async (t) => {
  const dir = workDir(t, 'data');
  const file = join(dir, 'agency-4.csv');
  writeFileSync(file, Array.from({ length: 9 }, (_, i) => `Ana,Gómez,4100000${i},1990-05-17,${i}`).join('\n') + '\n');
  // Batches 0, 1, 2 (4 + 4 + 1 bets): only the last is answered, as a central acks a durable group.
  const central = await batchAnsweringCentral(t, (seq) =>
    seq === 2 ? encodeBatchAck({ type: MessageType.BatchAck, seq: 2, stored: 9 }) : null,
  );
  const run = await runClient(t, { id: 4, port: central.port, dataFile: file, batch: 4 });
  t.equal(run.code, 0, 'the agency exits 0', { stdout: run.stdout, stderr: run.stderr });
  t.match(
    findLogs(run.logs, 'summary')[0]?.fields,
    { sent: '9', batches: '3', rejected: '0' },
    'the summary counts 3 batches and 9 bets sent',
  );
  t.same(
    central.received.filter((m) => m.type === MessageType.Done).map((m) => m.type === MessageType.Done && m.total),
    [9],
    'Done carries the 9 bets acknowledged',
  );
  assertLogShape(t, run.lines, 'client');
});

t.test('a central that acknowledges a batch the agency never sent is a broken connection, not a stored batch', async (t) => {
  // Fault: a peer that lies (or a stream that went wrong): an ack names seq 7 when batches 0..2 are in flight.
  const dir = workDir(t, 'data');
  const file = join(dir, 'agency-5.csv');
  writeFileSync(file, Array.from({ length: 9 }, (_, i) => `Ana,Gómez,4200000${i},1990-05-17,${i}`).join('\n') + '\n');
  const central = await batchAnsweringCentral(t, (seq) =>
    seq === 0 ? encodeBatchAck({ type: MessageType.BatchAck, seq: 7, stored: 9 }) : null,
  );
  const run = await runClient(t, { id: 5, port: central.port, dataFile: file, batch: 4, env: { CLI_LOOP_AMOUNT: '1' } });
  t.equal(run.code, 1, 'the agency exits 1', { stdout: run.stdout });
  t.match(
    findLogs(run.logs, 'agency', 'fail')[0]?.fields,
    { error: /the central answered batch 7, which is not awaiting an answer/ },
    'and says which answer was wrong',
  );
  t.equal(central.received.filter((m) => m.type === MessageType.Done).length, 0, 'it never says Done to that central');
});

t.test('SIGTERM while the client retries an unreachable central', async (t) => {
  const port = await closedPort();
  const dir = workDir(t, 'data');
  const file = join(dir, 'agency-1.csv');
  writeFileSync(file, 'Ana,Gómez,30111222,1990-05-17,7574\n');
  const client = startClient(t, { id: 1, port, dataFile: file, loopAmount: 10, loopPeriod: '30s' });
  await client.waitForLine(/action: connect \| result: in_progress/);
  const started = Date.now();
  client.child.kill('SIGTERM');
  const run = await finishClient(client, 20_000);
  t.equal(run.code, 0, 'exits 0', { stdout: run.stdout, stderr: run.stderr });
  t.ok(Date.now() - started < 5000, 'at once, without waiting out loop.period');
  t.equal(findLogs(run.logs, 'shutdown', 'success').length, 1, 'logs shutdown | result: success');
  assertLogShape(t, run.lines, 'client');
});

t.test('an agency with an empty bets file still takes part in the draw', async (t) => {
  const dir = workDir(t, 'data');
  const empty = join(dir, 'agency-1.csv');
  const other = join(dir, 'agency-2.csv');
  writeFileSync(empty, '');
  writeFileSync(other, 'Ana,Gómez,30111222,1990-05-17,7574\r\n');
  const server = await startServer(t, { agencies: 2 });
  const runs = await Promise.all([
    runClient(t, { id: 1, port: server.port, dataFile: empty }),
    runClient(t, { id: 2, port: server.port, dataFile: other }),
  ]);
  runs.forEach((run, i) => {
    t.equal(run.code, 0, `agency ${i + 1} exits 0`, { stdout: run.stdout, stderr: run.stderr });
    t.equal(winnersOf(run), i, `agency ${i + 1} gets ${i} winners`);
    assertLogShape(t, run.lines, `client ${i + 1}`);
  });
  t.equal(findLogs(server.logs(), 'sorteo', 'success').length, 1, 'the draw runs');
  t.equal(await server.stop(), 0, 'server exits 0');
  assertLogShape(t, server.lines(), 'server');
});

t.test('a central that goes silent while it owes acks (its machine died): the agency presumes it gone and moves on', async (t) => {
  // Fault: the central's machine loses power, or its container dies with its
  // network: no FIN, no reset; what the agency sends is never acked. Played by
  // a peer that welcomes, then never reads or answers again and never closes.
  const dir = workDir(t, 'data');
  const file = join(dir, 'agency-1.csv');
  const rows = 8_000; // numbers 0..7999: one bet on 7574
  writeFileSync(file, Array.from({ length: rows }, (_, i) => `Ana,Gómez,${30_000_000 + i},1990-05-17,${i}`).join('\n') + '\n');
  let welcomed = 0;
  const silent = createServer((socket) => {
    socket.once('data', () => {
      socket.pause(); // the Hello, and never another byte
      welcomed++;
      socket.write(encodeWelcome({ type: MessageType.Welcome, stored: 0, settled: 0, finished: false, drawDone: false }));
    });
    socket.on('error', () => undefined);
    t.teardown(() => socket.destroy());
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const server = await startServer(t, { agencyIds: '1' });
  const env = {
    CLI_SERVER_ADDRESS: `127.0.0.1:${(silent.address() as { port: number }).port},127.0.0.1:${server.port}`,
    CLI_REPLY_TIMEOUT: '1s',
  };
  const started = Date.now();
  const run = await runClient(t, { id: 1, dataFile: file, batch: 100, env }, 60_000);
  t.equal(welcomed, 1, 'the silent central welcomed the agency once');
  t.equal(run.code, 0, 'the agency exits 0', { stdout: run.stdout.slice(-3000), stderr: run.stderr });
  t.match(
    findLogs(run.logs, 'session', 'in_progress')[0]?.fields,
    { error: /^the central sent nothing for 1000 ms while a reply was due; presumed gone$/ },
    'it says why it left the first central',
  );
  t.ok(Date.now() - started < 30_000, `and left it after the reply timeout, not TCP's (${Date.now() - started} ms in all)`);
  t.equal(readStoredBets(server.betsFile).keys.length, rows, 'the second central stores every bet');
  t.equal(winnersOf(run), 1, 'and answers its one winner');
  t.equal(await server.stop(), 0, 'server exits 0');
});
