/**
 * The roster: the central knows whom the draw waits for, and nobody else
 * counts. Faults: an agency id nobody expects (the case that once ran the
 * draw without agency 5), a roster from SERVER_AGENCY_IDS and from a secrets
 * file, and a central restarted on another lottery's files.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ErrorCode, MessageType } from '../../protocol/index.js';
import { delay, findLogs, readStoredBets, SERVER_MAIN, spawnNode, startServer, workDir, type ServerHandle } from '../helpers/processes.js';
import { frames, RawPeer } from '../helpers/raw-peer.js';
import { doneAndWinners, openSession, welcomeWithRetry } from '../helpers/reliability.js';

/** Hello, Done(0) and the winners request of an agency with an empty file; the winners arrive after the draw. */
async function finishEmpty(port: number, agency: number): Promise<{ peer: RawPeer; winners: Promise<string[]> }> {
  const { peer } = await welcomeWithRetry(port, agency);
  return { peer, winners: doneAndWinners(peer, 0, 60_000) };
}

async function refused(t: Test, server: ServerHandle, agency: number, secret?: string): Promise<void> {
  const peer = await RawPeer.connect(server.port);
  const reply = await openSession(peer, agency, secret === undefined ? {} : { secret });
  t.match(reply, { type: MessageType.Error, code: ErrorCode.NotExpected }, `agency ${agency} is refused with ERR_NOT_EXPECTED`);
  await peer.waitClosed();
  await server.waitForLog(
    (l) => l.action === 'session_refused' && /is not on this lottery's roster/.test(l.fields['error'] ?? ''),
    'a session_refused line',
  );
}

t.test('an agency nobody expects is refused, stores nothing, and does not count', async (t) => {
  const server = await startServer(t, { agencies: 5 });
  const waiting = await Promise.all([1, 2, 3, 4].map((agency) => finishEmpty(server.port, agency)));
  await refused(t, server, 999);
  // The stranger tries to sneak bets and a Done in the same write as its Hello.
  const sneaky = await RawPeer.connect(server.port);
  await sneaky.write(
    Buffer.concat([
      frames.hello(999),
      frames.betBatch(0, [{ first: 'No', last: 'Body', document: '1', birthdate: '1990-01-01', number: 7574 }]),
      frames.done(1),
    ]),
  );
  t.match(await sneaky.next(), { type: MessageType.Error, code: ErrorCode.NotExpected }, 'with bets and Done behind its Hello too');
  await sneaky.waitClosed();
  await delay(500);
  t.equal(findLogs(server.logs(), 'sorteo').length, 0, 'four of five expected agencies finished: no draw');
  t.equal(readStoredBets(server.betsFile).keys.length, 0, 'nothing stored');
  const fifth = await finishEmpty(server.port, 5);
  for (const w of [...waiting, fifth]) {
    t.same(await w.winners, [], 'each agency gets its (empty) winners once the fifth finished');
    w.peer.destroy();
  }
  t.equal(findLogs(server.logs(), 'sorteo', 'success').length, 1, 'one draw');
  const finished = findLogs(server.logs(), 'agency_finished').map((l) => l.fields['agency']);
  t.same(finished.sort(), ['1', '2', '3', '4', '5'], 'only roster agencies counted');
  t.equal(await server.stop(), 0, 'stops cleanly');
});

t.test('SERVER_AGENCY_IDS names the roster', async (t) => {
  const server = await startServer(t, { agencyIds: '2,5-6' });
  const config = findLogs(server.logs(), 'config')[0];
  t.match(config?.fields, { agencies: '3', roster: '2,5-6' }, 'the config line shows the roster');
  await refused(t, server, 1);
  await refused(t, server, 4);
  const all = await Promise.all([2, 5, 6].map((agency) => finishEmpty(server.port, agency)));
  for (const w of all) {
    t.same(await w.winners, [], 'roster agencies finish and get their answer');
    w.peer.destroy();
  }
  t.equal(findLogs(server.logs(), 'sorteo', 'success').length, 1, 'the draw ran once the three had finished');
  t.equal(await server.stop(), 0, 'stops cleanly');
});

t.test('a secrets file implies its ids', async (t) => {
  const dir = workDir(t, 'secrets');
  const secrets = join(dir, 'secrets.txt');
  const SECRET = { 3: 'secret-of-agency-3', 4: 'secret-of-agency-4' };
  writeFileSync(secrets, `3 ${SECRET[3]}\n4 ${SECRET[4]}\n`);
  // No SERVER_AGENCIES: the roster is the secrets file's ids.
  const server = await startServer(t, { agencies: null, dir, env: { SERVER_SECRETS_FILE: secrets } });
  t.match(findLogs(server.logs(), 'config')[0]?.fields, { agencies: '2', roster: '3-4' }, 'roster 3-4');
  await refused(t, server, 1, 'whatever-it-says');
  for (const agency of [3, 4] as const) {
    const peer = await RawPeer.connect(server.port);
    t.match(
      await openSession(peer, agency, { secret: SECRET[agency], nonce: randomBytes(16) }),
      { type: MessageType.Welcome },
      `agency ${agency} proves its secret and is welcomed`,
    );
    peer.destroy();
  }
  t.equal(await server.stop(), 0, 'stops cleanly');
});

t.test("a central restarted on another lottery's files refuses to start; with the same settings it recovers", async (t) => {
  const dir = workDir(t, 'lottery');
  const first = await startServer(t, { agencies: 3, dir });
  const lottery = findLogs(first.logs(), 'recovery')[0]?.fields['lottery'];
  t.match(findLogs(first.logs(), 'recovery')[0]?.fields, { state: 'new' }, 'a new lottery');
  t.equal(await first.stop(), 0, 'stops');

  const other = spawnNode(
    t,
    'other-roster',
    SERVER_MAIN,
    ['--host', '127.0.0.1', '--port', '0', '--agencies', '4', '--bets-file', first.betsFile],
    { cwd: dir },
  );
  const exit = await other.waitExit(30_000);
  t.equal(exit.code, 2, 'another roster on the same files: exit 2, a configuration problem');
  const critical = other.logs().find((l) => l.level === 'CRITICAL');
  t.match(
    critical?.fields['error'],
    new RegExp(`lottery ${lottery}.*roster of 3 agencies is not the configured one \\(4\\)`),
    'one line says which lottery the files belong to',
    { line: critical?.raw },
  );

  const same = await startServer(t, { agencies: 3, dir });
  t.match(findLogs(same.logs(), 'recovery')[0]?.fields, { state: 'recovered', lottery }, 'the same settings recover the same lottery');
  t.equal(await same.stop(), 0, 'stops');
});
