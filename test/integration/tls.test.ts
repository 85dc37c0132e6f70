/**
 * TLS between agencies and the central, through the real programs and
 * certificates made by `npm run certs` (scripts/make-certs.ts, openssl):
 *
 *   - mutual TLS: the five reference agencies finish with their own
 *     certificates (winners 2,3,3,2,0, bets.csv complete) while, at the same
 *     time, a raw plaintext socket, a plaintext agency, an agency with a
 *     certificate from another CA, one with an expired certificate, one with
 *     none, and one whose certificate names another agency are each refused
 *     with one log line, get no worker (but the last, refused at its Hello
 *     with ERR_CERTIFICATE_MISMATCH), and store nothing; a silent peer is
 *     dropped after the handshake timeout;
 *   - server-only TLS: an agency verifies the central; it refuses a central
 *     signed by another CA, a central whose certificate is not for the name
 *     it connected to, and a central that does not speak TLS; each once, with
 *     a line naming the problem and exit 1;
 *   - HMAC secrets together with mutual TLS.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import {
  assertLogShape,
  assertSameBets,
  assertWellFormed,
  findLogs,
  finishClient,
  readInputBets,
  readStoredBets,
  REFERENCE_DATA,
  REPO_ROOT,
  spawnNode,
  startClient,
  startServer,
  winnersOf,
  workDir,
  type ClientRun,
  type LogLine,
} from '../helpers/processes.js';

const CERTS_MAIN = join(REPO_ROOT, 'dist', 'scripts', 'make-certs.js');
const EXPECTED_WINNERS = [2, 3, 3, 2, 0];

/** Runs the certificate script; returns the folder. */
async function makeCerts(t: Test, name: string, extra: readonly string[] = []): Promise<string> {
  const out = workDir(t, name);
  const proc = spawnNode(t, 'make-certs', CERTS_MAIN, ['--out', out, '--agencies', '5', ...extra]);
  const exit = await proc.waitExit(120_000);
  if (exit.code !== 0) throw new Error(`make-certs exited ${exit.code}: ${proc.stderr}`);
  return out;
}

const serverTls = (dir: string, mutual: boolean) => ({
  SERVER_TLS_CERT: join(dir, 'server.crt'),
  SERVER_TLS_KEY: join(dir, 'server.key'),
  ...(mutual ? { SERVER_TLS_CA: join(dir, 'ca.crt') } : {}),
});

const agencyTls = (caDir: string, certDir?: string, cert?: string, key?: string) => ({
  CLI_TLS_CA: join(caDir, 'ca.crt'),
  ...(certDir && cert
    ? { CLI_TLS_CERT: join(certDir, cert), CLI_TLS_KEY: join(certDir, key ?? cert.replace(/(-expired)?\.crt$/, '.key')) }
    : {}),
});

/** A bets file whose documents appear in no reference file: finding one in bets.csv means an intruder got through. */
function intruderBets(dir: string, name: string): { path: string; documents: string[] } {
  const documents = ['99000001', '99000002', '99000003'].map((d) => `${d}${name.length}`);
  const path = join(dir, `${name}.csv`);
  writeFileSync(path, documents.map((d) => `Intruso,${name},${d},1990-01-01,7574\n`).join(''));
  return { path, documents };
}

function errorOf(run: ClientRun): string {
  return findLogs(run.logs, 'agency', 'fail')[0]?.fields['error'] ?? '';
}

const files = EXPECTED_WINNERS.map((_, i) => join(REFERENCE_DATA, `agency-${i + 1}.csv`));

t.test('mutual TLS: the reference agencies finish; every intruder is refused once and stores nothing', async (t) => {
  const certs = await makeCerts(t, 'certs', ['--expired']);
  const otherCa = await makeCerts(t, 'other-ca');
  const server = await startServer(t, { agencies: 5, env: { ...serverTls(certs, true), SERVER_TLS_HANDSHAKE_TIMEOUT: '5s' } });
  t.equal(server.logs().find((l) => l.action === 'config')?.fields['tls'], 'mutual', 'the config line says mutual TLS');
  t.equal(findLogs(server.logs(), 'auth').length, 0, 'no "unauthenticated" warning: certificates name the agencies');
  const address = { CLI_SERVER_ADDRESS: `localhost:${server.port}` };

  const honest = files.map((dataFile, i) =>
    startClient(t, { id: i + 1, dataFile, batch: 100, env: { ...address, ...agencyTls(certs, certs, `agency-${i + 1}.crt`) } }),
  );

  const dir = workDir(t, 'intruders');
  const intruder = (name: string, id: number, env: Record<string, string>) => {
    const bets = intruderBets(dir, name);
    return { name, bets, proc: startClient(t, { id, dataFile: bets.path, loopAmount: 1, name, env: { ...address, ...env } }) };
  };
  const intruders = [
    intruder('plaintext', 1, {}),
    intruder('wrong-ca', 2, agencyTls(certs, otherCa, 'agency-2.crt')),
    intruder('expired', 4, agencyTls(certs, certs, 'agency-4-expired.crt', 'agency-4.key')),
    intruder('no-cert', 5, agencyTls(certs)),
    intruder('other-id', 3, agencyTls(certs, certs, 'agency-4.crt')),
  ];

  // A peer that connects and says nothing holds no slot beyond the handshake timeout.
  const silent = connect({ host: '127.0.0.1', port: server.port });
  silent.on('error', () => undefined);
  silent.resume(); // read, so that the central's FIN is seen and the socket closes
  const silentClosed = once(silent, 'close');

  // A raw plaintext socket that sends a Hello-shaped frame: no TLS record, no answer, closed.
  const raw = connect({ host: '127.0.0.1', port: server.port });
  await once(raw, 'connect');
  const answer: Buffer[] = [];
  raw.on('data', (chunk: Buffer) => answer.push(chunk));
  raw.on('error', () => undefined);
  raw.write(Buffer.from('000001000501000000', 'hex'));
  await once(raw, 'close');
  t.equal(Buffer.concat(answer).length, 0, 'the plaintext socket gets no byte back and is closed');

  const expectations: Record<string, { code: RegExp }> = {
    plaintext: { code: /gave up after 1 failed attempts/ },
    'wrong-ca': { code: /ERR_CERTIFICATE_REFUSED: client certificate refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE/ },
    expired: { code: /ERR_CERTIFICATE_REFUSED: client certificate refused: CERT_HAS_EXPIRED/ },
    'no-cert': { code: /ERR_CERTIFICATE_REFUSED: no client certificate/ },
    'other-id': { code: /ERR_CERTIFICATE_MISMATCH: the client certificate names "agency-4", not agency-3/ },
  };
  for (const { name, proc } of intruders) {
    const run = await finishClient(proc);
    t.equal(run.code, 1, `${name}: the agency exits 1`, { stdout: run.stdout, stderr: run.stderr });
    t.match(errorOf(run), expectations[name].code, `${name}: its error line names the refusal`);
    t.equal(
      findLogs(run.logs, 'connect', 'in_progress').length + findLogs(run.logs, 'session', 'in_progress').length,
      0,
      `${name}: no retry`,
    );
    assertLogShape(t, run.lines, name);
  }

  await silentClosed;
  t.pass('the silent peer was disconnected by the central');

  const runs = await Promise.all(honest.map((c) => finishClient(c)));
  runs.forEach((run, i) => {
    t.equal(run.code, 0, `agency ${i + 1} over mutual TLS exits 0`, { stdout: run.stdout, stderr: run.stderr });
    t.equal(winnersOf(run), EXPECTED_WINNERS[i], `agency ${i + 1}: ${EXPECTED_WINNERS[i]} winners`);
    t.equal(findLogs(run.logs, 'config')[0]?.fields['tls'], 'mutual', `agency ${i + 1}: config line says tls: mutual`);
    assertLogShape(t, run.lines, `agency ${i + 1}`);
  });

  const stored = readStoredBets(server.betsFile);
  assertWellFormed(t, stored);
  assertSameBets(
    t,
    stored.keys,
    files.flatMap((file, i) => readInputBets(file, i + 1)),
    'bets.csv',
  );
  const intruderDocuments = new Set(intruders.flatMap((i) => i.bets.documents));
  t.same(
    stored.keys.filter((key) => intruderDocuments.has(key.split('\u001f')[3])),
    [],
    'no bet of any intruder is stored',
  );

  const logs = server.logs();
  const handshakeFails = findLogs(logs, 'tls_handshake', 'fail');
  t.equal(
    handshakeFails.length,
    6,
    'one tls_handshake fail line per refused handshake (silent, raw socket, plaintext, wrong CA, expired, none)',
    {
      lines: handshakeFails.map((l) => l.raw),
    },
  );
  t.ok(
    handshakeFails.every((l) => l.level === 'WARNING' && l.fields['ip'] === '127.0.0.1'),
    'each a WARNING naming the peer',
  );
  const errors = handshakeFails.map((l) => l.fields['error']);
  for (const pattern of [
    /TLS handshake timeout/,
    /wrong version number/,
    /UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    /CERT_HAS_EXPIRED/,
    /no client certificate/,
  ]) {
    t.ok(
      errors.some((e) => pattern.test(e ?? '')),
      `a refusal says ${pattern.source}`,
    );
  }
  t.equal(errors.filter((e) => /wrong version number/.test(e ?? '')).length, 2, 'both plaintext peers: wrong version number');
  const identity = findLogs(logs, 'tls_identity', 'fail');
  t.equal(identity.length, 1, 'one tls_identity fail line for the certificate that names another agency');
  t.match(identity[0]?.fields['code'], 'ERR_CERTIFICATE_MISMATCH', 'with the stable error code');
  // Workers: one per honest agency, one for the Hello refused by its certificate's name; none for a failed handshake.
  t.equal(findLogs(logs, 'connection_accepted').length, 6, 'only completed, verified handshakes reach a worker');
  const otherFails = logs.filter((l) => l.result === 'fail' && l.action !== 'tls_handshake' && l.action !== 'tls_identity');
  t.same(
    otherFails.map((l) => l.raw),
    [],
    'nothing else failed at the central',
  );
  t.equal(findLogs(logs, 'sorteo', 'success').length, 1, 'the draw ran once');
  t.equal(await server.stop(), 0, 'the central exits 0 on SIGTERM');
  assertLogShape(t, server.lines(), 'server');
});

t.test('server-only TLS: the agency verifies the central, and refuses a central it cannot verify', async (t) => {
  const certs = await makeCerts(t, 'certs');
  const otherCa = await makeCerts(t, 'other-ca');
  // Listening on every address: 127.0.0.2 reaches it too, a name its certificate does not carry.
  const server = await startServer(t, { agencies: 1, env: serverTls(certs, false), args: ['--host', '0.0.0.0'] });
  t.equal(server.logs().find((l) => l.action === 'config')?.fields['tls'], 'server', 'the config line says server TLS');
  const dataFile = join(REPO_ROOT, '.data', 'agency-1.csv');
  const agency = (address: string, caDir: string, name: string) =>
    finishClient(startClient(t, { id: 1, dataFile, loopAmount: 3, name, env: { CLI_SERVER_ADDRESS: address, ...agencyTls(caDir) } }));

  const refusals: [string, string, string, RegExp][] = [
    [
      'another CA',
      `localhost:${server.port}`,
      otherCa,
      /(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN).*does not verify with CLI_TLS_CA/,
    ],
    ['another name', `127.0.0.2:${server.port}`, certs, /ERR_TLS_CERT_ALTNAME_INVALID.*not for the name connected to/],
  ];
  for (const [what, address, caDir, pattern] of refusals) {
    const run = await agency(address, caDir, what);
    t.equal(run.code, 1, `${what}: the agency exits 1`, { stdout: run.stdout });
    const tls = findLogs(run.logs, 'tls_handshake', 'fail');
    t.equal(tls.length, 1, `${what}: one tls_handshake fail line`);
    t.equal(tls[0]?.level, 'ERROR', `${what}: at ERROR`);
    t.match(tls[0]?.fields['error'], pattern, `${what}: it names the problem`);
    t.equal(findLogs(run.logs, 'connect', 'in_progress').length, 0, `${what}: not retried (waiting does not fix a certificate)`);
    t.equal(findLogs(run.logs, 'apuesta_enviada').length + findLogs(run.logs, 'consulta_ganadores').length, 0, `${what}: nothing sent`);
  }
  t.equal(readStoredBets(server.betsFile).keys.length, 0, 'nothing was stored');

  const ok = await agency(`localhost:${server.port}`, certs, 'verified');
  t.equal(ok.code, 0, 'an agency that verifies the central by name finishes', { stdout: ok.stdout });
  t.equal(winnersOf(ok), 2, 'with its 2 winners');
  t.equal(findLogs(ok.logs, 'config')[0]?.fields['tls'], 'server', 'its config line says tls: server');
  const ip = await agency(`127.0.0.1:${server.port}`, certs, 'by-ip');
  t.equal(ip.code, 0, 'the certificate carries IP 127.0.0.1 too: an agency connecting by address finishes', { stdout: ip.stdout });
  assertSameBets(t, readStoredBets(server.betsFile).keys, readInputBets(dataFile, 1), 'bets.csv');
  t.equal(await server.stop(), 0, 'the central exits 0');
  assertLogShape(t, server.lines(), 'server');

  // A central without TLS: the agency's ClientHello meets a plaintext protocol.
  const plain = await startServer(t, { agencies: 1 });
  const run = await agency(`localhost:${plain.port}`, certs, 'plain central');
  t.equal(run.code, 1, 'a TLS agency facing a plaintext central exits 1', { stdout: run.stdout });
  t.match(findLogs(run.logs, 'tls_handshake', 'fail')[0]?.fields['error'], /does the central speak TLS\?/, 'and says why');
  t.equal(readStoredBets(plain.betsFile).keys.length, 0, 'nothing stored at the plaintext central');
});

t.test('HMAC secrets keep working together with mutual TLS', async (t) => {
  const certs = await makeCerts(t, 'certs');
  const dir = workDir(t, 'secrets');
  const secrets = join(dir, 'secrets.txt');
  writeFileSync(secrets, '1 correct-horse-one\n2 battery-staple-two\n');
  const server = await startServer(t, { agencies: 2, env: { ...serverTls(certs, true), SERVER_SECRETS_FILE: secrets } });
  const address = { CLI_SERVER_ADDRESS: `localhost:${server.port}` };
  const agency = (id: number, secret: string) =>
    finishClient(
      startClient(t, {
        id,
        dataFile: join(REPO_ROOT, '.data', `agency-${id}.csv`),
        loopAmount: 1,
        env: { ...address, ...agencyTls(certs, certs, `agency-${id}.crt`), CLI_SECRET: secret },
      }),
    );
  const wrong = await agency(2, 'not-the-secret');
  t.equal(wrong.code, 1, 'a valid certificate with a wrong secret is refused', { stdout: wrong.stdout });
  t.match(errorOf(wrong), /ERR_AUTH_FAILED/, 'with ERR_AUTH_FAILED');
  const runs = await Promise.all([agency(1, 'correct-horse-one'), agency(2, 'battery-staple-two')]);
  runs.forEach((run, i) => t.equal(run.code, 0, `agency ${i + 1} with certificate and secret finishes`, { stdout: run.stdout }));
  t.same(
    runs.map((r) => winnersOf(r)),
    [2, 3],
    'winners of the sample files',
  );
  const fails: LogLine[] = server.logs().filter((l) => l.result === 'fail');
  t.ok(
    fails.length > 0 && fails.every((l) => l.action === 'auth' || l.fields['code'] === 'ERR_AUTH_FAILED'),
    'the only failure at the central is the wrong secret',
    {
      lines: fails.map((l) => l.raw),
    },
  );
  t.equal(await server.stop(), 0, 'the central exits 0');
});
