/**
 * Agencies are who they say. With a secrets file (SERVER_SECRETS_FILE) the
 * central challenges every Hello and admits only a Proof equal to
 * HMAC-SHA256(secret, "lottery-auth-v1" || u16be agency || clientNonce ||
 * serverNonce). Every way around it is refused with an Error frame
 * (ERR_AUTH_FAILED, or ERR_UNEXPECTED_MESSAGE for messages out of place),
 * the connection is closed, the attempt is logged, and nothing is stored:
 *
 *   - a wrong secret; another agency's id signed with one's own secret;
 *   - a recorded handshake replayed on a new connection (the server nonce
 *     differs), waiting for the challenge or blasting it all at once;
 *   - no handshake: a BetBatch straight after connecting; Hello then a
 *     BetBatch, Done or WinnersRequest without the Proof; a Proof without a
 *     Hello; a second Hello instead of the Proof; an agency with no secret.
 *
 * Afterwards honest agencies (CLI_SECRET and CLI_SECRET_FILE) finish with
 * their winners, and bets.csv holds exactly their bets. The real client with
 * a wrong or missing secret exits 1. Without secrets the central says at
 * start-up that it runs unauthenticated.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { computeProof } from '../../common/auth.js';
import { ErrorCode, errorCodeName, MessageType, type Bet, type Challenge } from '../../protocol/index.js';
import {
  assertLogShape,
  assertSameBets,
  findLogs,
  finishClient,
  generateData,
  readInputBets,
  readStoredBets,
  startClient,
  startServer,
  winnersOf,
  workDir,
  type ServerHandle,
} from '../helpers/processes.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { batchFrame, doneFrame, helloFrame, proofFrame, winnersRequestFrame } from '../helpers/reliability.js';

const SECRETS: Record<number, string> = { 1: 'correct-horse-one', 2: 'battery-staple-two', 3: 'agency-three-secret' };
const BET: Bet = { firstName: 'Mallory', lastName: 'Intruder', document: '66666666', birthdate: '1980-01-01', number: 7574 };

function secretsFile(dir: string): string {
  const path = join(dir, 'secrets.txt');
  writeFileSync(path, `# agency secret\n1 ${SECRETS[1]}\n2 ${SECRETS[2]}\n3=${SECRETS[3]}\n`);
  return path;
}

/** The next frame must be an Error with one of `codes`, then the central closes. */
async function refused(t: Test, peer: RawPeer, codes: readonly number[], what: string): Promise<void> {
  const reply = await peer.next(10_000);
  t.ok(reply.type === MessageType.Error && codes.includes(reply.code), `${what}: refused with ${codes.map(errorCodeName).join(' or ')}`, {
    got: reply.type === MessageType.Error ? `${errorCodeName(reply.code)}: ${reply.message}` : reply,
  });
  await peer.waitClosed(10_000);
  t.ok(peer.isClosed, `${what}: the central closed the connection`);
}

async function challenged(peer: RawPeer, agency: number, nonce: Buffer): Promise<Challenge> {
  await peer.write(helloFrame(agency, nonce));
  const reply = await peer.next(10_000);
  if (reply.type !== MessageType.Challenge) throw new Error(`expected a Challenge, got ${JSON.stringify(reply)}`);
  return reply;
}

t.test('with a secrets file: every bypass is refused, logged, and stores nothing; honest agencies finish', async (t) => {
  const dir = workDir(t, 'central');
  const secrets = secretsFile(dir);
  const server: ServerHandle = await startServer(t, { agencies: 2, dir, env: { SERVER_SECRETS_FILE: secrets } });
  const config = findLogs(server.logs(), 'config', 'success')[0];
  t.equal(config?.fields['auth'], '3 agency secrets', 'the config line says secrets are on');
  t.equal(findLogs(server.logs(), 'auth').filter((l) => l.fields['mode'] === 'unauthenticated').length, 0, 'no unauthenticated warning');

  let authFails = 0;
  let unexpected = 0;

  await t.test('wrong secret', async (t) => {
    const peer = await RawPeer.open(t, server.port);
    const nonce = randomBytes(16);
    const { nonce: serverNonce } = await challenged(peer, 1, nonce);
    await peer.write(proofFrame(computeProof('not-the-secret-of-1', 1, nonce, serverNonce)));
    await refused(t, peer, [ErrorCode.AuthFailed], 'wrong secret');
    authFails++;
  });

  await t.test("another agency's id with one's own secret", async (t) => {
    for (const signedAs of [2, 1]) {
      const peer = await RawPeer.open(t, server.port);
      const nonce = randomBytes(16);
      const { nonce: serverNonce } = await challenged(peer, 2, nonce);
      // Agency 1's secret over agency 2's id, and over its own id (a Proof made for another Hello).
      await peer.write(proofFrame(computeProof(SECRETS[1], signedAs, nonce, serverNonce)));
      await peer.write(batchFrame(0, [BET], 1));
      await refused(t, peer, [ErrorCode.AuthFailed], `Hello as 2, Proof with 1's secret signed as ${signedAs}`);
      authFails++;
    }
  });

  await t.test('a recorded handshake replayed on a new connection', async (t) => {
    // The genuine session, as an eavesdropper records it.
    const genuine = await RawPeer.open(t, server.port);
    const nonce = randomBytes(16);
    const hello = helloFrame(1, nonce);
    await genuine.write(hello);
    const first = await genuine.next();
    if (first.type !== MessageType.Challenge) throw new Error(`expected a Challenge, got ${JSON.stringify(first)}`);
    const proof = proofFrame(computeProof(SECRETS[1], 1, nonce, first.nonce));
    await genuine.write(proof);
    const welcome = await genuine.next();
    t.equal(welcome.type, MessageType.Welcome, 'the genuine handshake is welcomed');
    genuine.destroy();
    await genuine.closed;

    // Replay, waiting for the challenge.
    const replay = await RawPeer.open(t, server.port);
    await replay.write(hello);
    const second = await replay.next();
    t.equal(second.type, MessageType.Challenge, 'the replayed Hello gets a challenge');
    if (second.type === MessageType.Challenge) t.notOk(second.nonce.equals(first.nonce), 'with a fresh server nonce');
    await replay.write(proof);
    await replay.write(batchFrame(0, [BET], 1));
    await refused(t, replay, [ErrorCode.AuthFailed], 'replayed Proof');
    authFails++;

    // Replay blasted at once: Hello, Proof, a batch, Done.
    const blast = await RawPeer.open(t, server.port);
    await blast.write(Buffer.concat([hello, proof, batchFrame(0, [BET], 1), doneFrame(1)]));
    const challenge = await blast.next();
    t.equal(challenge.type, MessageType.Challenge, 'the blasted replay gets a challenge first');
    await refused(t, blast, [ErrorCode.AuthFailed], 'blasted replay');
    authFails++;
  });

  await t.test('no handshake at all', async (t) => {
    const cases: { what: string; send: (nonce: Buffer) => Buffer[]; challenge: boolean; code: number }[] = [
      {
        what: 'BetBatch straight after connecting',
        send: () => [batchFrame(0, [BET], 1)],
        challenge: false,
        code: ErrorCode.UnexpectedMessage,
      },
      { what: 'Done straight after connecting', send: () => [doneFrame(0)], challenge: false, code: ErrorCode.UnexpectedMessage },
      {
        what: 'WinnersRequest straight after connecting',
        send: () => [winnersRequestFrame()],
        challenge: false,
        code: ErrorCode.UnexpectedMessage,
      },
      { what: 'a Proof without a Hello', send: () => [proofFrame(randomBytes(32))], challenge: false, code: ErrorCode.UnexpectedMessage },
      {
        what: 'Hello then BetBatch without the Proof',
        send: (n) => [helloFrame(1, n), batchFrame(0, [BET], 1)],
        challenge: true,
        code: ErrorCode.UnexpectedMessage,
      },
      {
        what: 'Hello then Done without the Proof',
        send: (n) => [helloFrame(1, n), doneFrame(0)],
        challenge: true,
        code: ErrorCode.UnexpectedMessage,
      },
      {
        what: 'Hello then WinnersRequest without the Proof',
        send: (n) => [helloFrame(2, n), winnersRequestFrame()],
        challenge: true,
        code: ErrorCode.UnexpectedMessage,
      },
      {
        what: 'Hello then a second Hello instead of the Proof',
        send: (n) => [helloFrame(1, n), helloFrame(1, n)],
        challenge: true,
        code: ErrorCode.UnexpectedMessage,
      },
      {
        what: 'Hello of an agency the roster does not expect',
        send: (n) => [helloFrame(9, n), batchFrame(0, [BET], 1)],
        challenge: false,
        code: ErrorCode.NotExpected,
      },
    ];
    for (const c of cases) {
      const peer = await RawPeer.open(t, server.port);
      const nonce = randomBytes(16);
      for (const frame of c.send(nonce)) await peer.write(frame);
      if (c.challenge) t.equal((await peer.next()).type, MessageType.Challenge, `${c.what}: the Hello is challenged`);
      await refused(t, peer, [c.code], c.what);
      if (c.code === ErrorCode.AuthFailed) authFails++;
      else if (c.code === ErrorCode.UnexpectedMessage) unexpected++;
    }
  });

  await t.test('the real client with a wrong or missing secret exits 1', async (t) => {
    const data = join(workDir(t, 'intruder'), 'agency.csv');
    writeFileSync(data, 'Mallory,Intruder,66666666,1980-01-01,7574\n');
    const cases: { what: string; env: Record<string, string | undefined> }[] = [
      { what: 'wrong CLI_SECRET', env: { CLI_SECRET: 'definitely-wrong' } },
      { what: "agency 2's secret for agency 1", env: { CLI_SECRET: SECRETS[2] } },
      { what: 'no secret at all', env: {} },
    ];
    for (const c of cases) {
      const run = await finishClient(
        startClient(t, { id: 1, port: server.port, dataFile: data, loopAmount: 3, loopPeriod: '50ms', env: c.env }),
        30_000,
      );
      t.equal(run.code, 1, `${c.what}: exit 1`, { stdout: run.stdout });
      t.equal(winnersOf(run), undefined, `${c.what}: no winners`);
      assertLogShape(t, run.lines, `client (${c.what})`);
      if (c.env['CLI_SECRET']) authFails++;
    }
  });

  t.equal(readFileSync(server.betsFile).length, 0, 'after every refused attempt bets.csv is still empty');
  const fails = await server.process.waitForCount((l) => l.action === 'auth' && l.result === 'fail', authFails, 'auth fail lines', 10_000);
  t.equal(fails.length, authFails, `each failed proof is logged as auth | result: fail (${authFails})`);
  t.ok(
    fails.every((l) => l.level === 'WARNING' && l.fields['agency'] !== undefined && l.fields['ip'] !== undefined),
    'with the agency and the peer address',
  );
  const protocolErrors = await server.process.waitForCount(
    (l) => l.action === 'protocol_error' && l.fields['code'] === 'ERR_UNEXPECTED_MESSAGE',
    unexpected,
    'ERR_UNEXPECTED_MESSAGE lines',
    10_000,
  );
  t.equal(protocolErrors.length, unexpected, `each message out of place is logged as protocol_error (${unexpected})`);

  await t.test('honest agencies, CLI_SECRET and CLI_SECRET_FILE, finish with their winners', async (t) => {
    const files = await generateData(t, workDir(t, 'data'), { agencies: 2, bets: [300, 250], winners: [1, 2], seed: 77 });
    const secretFile = join(workDir(t, 'secret'), 'agency-2.secret');
    writeFileSync(secretFile, `${SECRETS[2]}\n`);
    const runs = await Promise.all([
      finishClient(startClient(t, { id: 1, port: server.port, dataFile: files[0], env: { CLI_SECRET: SECRETS[1] } }), 60_000),
      finishClient(startClient(t, { id: 2, port: server.port, dataFile: files[1], env: { CLI_SECRET_FILE: secretFile } }), 60_000),
    ]);
    runs.forEach((run, i) => {
      t.equal(run.code, 0, `agency ${i + 1} exits 0`, { stdout: run.stdout });
      t.equal(winnersOf(run), [1, 2][i], `agency ${i + 1} gets its own winners`);
    });
    const stored = readStoredBets(server.betsFile);
    assertSameBets(t, stored.keys, [...readInputBets(files[0], 1), ...readInputBets(files[1], 2)], 'bets.csv after the honest agencies');
    t.notOk(readFileSync(server.betsFile, 'utf8').includes('Mallory'), 'no intruder bet anywhere');

    // After the draw, agency 2's winners are still out of reach with agency 1's secret.
    const peer = await RawPeer.open(t, server.port);
    const nonce = randomBytes(16);
    const { nonce: serverNonce } = await challenged(peer, 2, nonce);
    await peer.write(Buffer.concat([proofFrame(computeProof(SECRETS[1], 2, nonce, serverNonce)), winnersRequestFrame()]));
    await refused(t, peer, [ErrorCode.AuthFailed], "asking for agency 2's winners with agency 1's secret");
  });

  t.equal(await server.stop('SIGTERM'), 0, 'the central stops cleanly');
  assertLogShape(t, server.lines(), 'central');
});

t.test('without secrets the central warns at start-up that it is unauthenticated', async (t) => {
  const server = await startServer(t, { agencies: 1 });
  const line = server.lines().find((l) => /action: auth \| result: success \| mode: unauthenticated/.test(l));
  t.ok(line, 'the start-up log has action: auth | result: success | mode: unauthenticated', { lines: server.lines() });
  t.equal(findLogs(server.logs(), 'config', 'success')[0]?.fields['auth'], 'off', 'the config line says auth: off');
  // And then anyone may speak for an agency: a Hello is welcomed without a challenge.
  const peer = await RawPeer.open(t, server.port);
  await peer.write(helloFrame(1, randomBytes(16)));
  t.equal((await peer.next()).type, MessageType.Welcome, 'a Hello is welcomed at once');
  peer.destroy();
  t.equal(await server.stop('SIGTERM'), 0, 'stops cleanly');
});
