/**
 * Bad input over the wire, from a raw peer, while honest agencies run: each
 * misbehaviour is answered (Error frame and close, or BatchRejected and the
 * session goes on), logged with `result: fail`, and changes nothing else:
 * the honest agencies finish, the draw is right, and nothing from a refused
 * batch reaches bets.csv.
 */
import t from 'tap';
import type { Test } from 'tap';
import { ErrorCode, MessageType, type ServerMessage } from '../../protocol/index.js';
import { Bytes } from '../helpers/bytes.js';
import {
  assertLogShape,
  assertWellFormed,
  findLogs,
  finishClient,
  generateData,
  readInputBets,
  readStoredBets,
  showKey,
  startClient,
  startServer,
  winnersOf,
  workDir,
  type LogLine,
  type ServerHandle,
} from '../helpers/processes.js';
import { frames, RawPeer, type RawBet } from '../helpers/raw-peer.js';
import { welcomeWithRetry } from '../helpers/reliability.js';

const IDLE_TIMEOUT_MS = 2000;
const WINNERS = [2, 1, 0];
/** The agencies of the hostile sessions below. */
const HOSTILE = [102, 103, 104, 106, 108, 109, 110, 111, 113];

const bet = (last: string, over: Partial<RawBet> = {}): RawBet => ({
  first: 'Ana',
  last,
  document: '30111222',
  birthdate: '1990-05-17',
  number: 1234,
  ...over,
});

/** The bets a hostile peer got acknowledged; they must be in bets.csv, exactly. */
const ACCEPTED = {
  quoted: bet('Pérez, Jr.', { first: 'Juan "Pepe"', document: '40111222', number: 42 }),
  beforeSkip: bet('Aceptado', { document: '40333444', number: 77 }),
};
/** Last names only ever sent in refused batches or broken sessions: never stored. */
const NEVER_STORED = ['Rechazado', 'FechaMala', 'Prematuro', 'Salteado', 'Truncado', 'SinCierre'];

function expectError(t: Test, message: ServerMessage, code: number, what: string): void {
  t.equal(message.type, MessageType.Error, `${what}: the server answers with an Error frame`);
  if (message.type === MessageType.Error) t.equal(message.code, code, `${what}: error code ${code}`, { message: message.message });
}

/** Runs `act`, then waits for one more log line matching `match` than there was before. */
async function expectLog(server: ServerHandle, match: (l: LogLine) => boolean, what: string, act: () => Promise<void>): Promise<LogLine> {
  const before = server.logs().filter(match).length;
  await act();
  const found = await server.process.waitForCount(match, before + 1, what, 30_000);
  return found[found.length - 1];
}

const protocolError = (code: string, agency?: number) => (l: LogLine) =>
  l.action === 'protocol_error' &&
  l.result === 'fail' &&
  l.fields['code'] === code &&
  (agency === undefined || l.fields['agency'] === String(agency));

t.test('hostile peers while honest agencies run', async (t) => {
  const files = await generateData(t, workDir(t, 'data'), { agencies: 3, bets: 1500, winners: WINNERS, seed: 31337 });
  // The roster holds the hostile sessions' agencies too (others are refused at Hello); they say Done at the end.
  const server = await startServer(t, { agencyIds: `1-3,${HOSTILE.join(',')}`, env: { SERVER_IDLE_TIMEOUT: `${IDLE_TIMEOUT_MS}ms` } });
  const { port } = server;
  // Two honest agencies stream (and then wait at the barrier) while the peers misbehave.
  const honest = [1, 2].map((id) => startClient(t, { id, port, dataFile: files[id - 1], batch: 5, loopAmount: 20 }));

  await t.test('garbage bytes', async (t) => {
    const peer = await RawPeer.open(t, port);
    await expectLog(server, protocolError('ERR_UNKNOWN_TYPE', 0), 'protocol_error ERR_UNKNOWN_TYPE', async () => {
      await peer.write(Buffer.from('GET / HTTP/1.1\r\nHost: central\r\n\r\n'));
      expectError(t, await peer.next(), ErrorCode.UnknownType, 'garbage');
    });
    await peer.waitClosed();
    t.pass('the connection is closed');
  });

  await t.test('oversized length prefix', async (t) => {
    const peer = await RawPeer.open(t, port);
    await expectLog(server, protocolError('ERR_FRAME_TOO_LARGE', 0), 'protocol_error ERR_FRAME_TOO_LARGE', async () => {
      // BetBatch claiming 2 GiB: refused on the header, before any body byte.
      await peer.write(new Bytes().u8(0x03).u32(0x7fffffff).build());
      expectError(t, await peer.next(), ErrorCode.FrameTooLarge, 'huge length');
    });
    await peer.waitClosed();

    // One byte over the 8 kB frame limit, in a live session.
    const second = await RawPeer.open(t, port);
    await second.write(frames.hello(102));
    t.equal((await second.next()).type, MessageType.Welcome, 'hello is welcomed');
    await expectLog(server, protocolError('ERR_FRAME_TOO_LARGE', 102), 'ERR_FRAME_TOO_LARGE for agency 102', async () => {
      await second.write(
        new Bytes()
          .u8(0x03)
          .u32(8192 - 5 + 1)
          .build(),
      );
      expectError(t, await second.next(), ErrorCode.FrameTooLarge, '8188-byte batch body');
    });
    await second.waitClosed();
  });

  await t.test('truncated frame, then disconnect', async (t) => {
    const peer = await RawPeer.open(t, port);
    await peer.write(frames.hello(103));
    t.equal((await peer.next()).type, MessageType.Welcome, 'hello is welcomed');
    const batch = frames.betBatch(0, [bet('Truncado')]);
    await expectLog(server, protocolError('ERR_TRUNCATED', 103), 'protocol_error ERR_TRUNCATED for agency 103', async () => {
      peer.end(batch.subarray(0, batch.length - 7));
    });
    await peer.waitClosed();
    t.pass('the connection is closed');
  });

  await t.test('invalid bets are rejected whole; the session goes on', async (t) => {
    const peer = await RawPeer.open(t, port);
    await peer.write(frames.hello(104));
    const welcome = await peer.next();
    t.match(welcome, { type: MessageType.Welcome, stored: 0 }, 'welcomed with nothing stored');

    const refused = [
      { bets: [bet('Rechazado'), bet('Rechazado', { number: 10000 })], index: 1, what: 'number 10000' },
      { bets: [bet('FechaMala', { birthdate: '2023-02-30' })], index: 0, what: 'birthdate 2023-02-30' },
      { bets: [bet('Rechazado'), bet('Rechazado'), bet('Rechazado', { document: '12a45' })], index: 2, what: 'document 12a45' },
      { bets: [bet('Rechazado', { first: ' ' })], index: 0, what: 'blank first name' },
    ];
    for (const [seq, { bets, index, what }] of refused.entries()) {
      const rejectedLine = (l: LogLine) => l.action === 'apuesta_recibida' && l.result === 'fail' && l.fields['agency'] === '104';
      const line = await expectLog(server, rejectedLine, `apuesta_recibida fail for ${what}`, async () => {
        await peer.write(frames.betBatch(seq, bets));
        const reply = await peer.next();
        t.match(
          reply,
          { type: MessageType.BatchRejected, seq, code: ErrorCode.InvalidBet, betIndex: index },
          `${what}: BatchRejected(seq ${seq}, InvalidBet, bet ${index})`,
        );
      });
      t.equal(line.fields['cantidad'], String(bets.length), `${what}: logged apuesta_recibida | result: fail | cantidad: ${bets.length}`);
    }
    // The next sequence number is acknowledged on the same connection.
    await peer.write(frames.betBatch(refused.length, [ACCEPTED.quoted]));
    t.match(await peer.next(), { type: MessageType.BatchAck, seq: refused.length, stored: 1 }, 'the following valid batch is acked');
    peer.end();
    await peer.waitClosed();
  });

  await t.test('a client that never sends', async (t) => {
    const peer = await RawPeer.open(t, port);
    const started = Date.now();
    const idle = (l: LogLine) => l.action === 'connection_idle' && l.result === 'fail';
    await expectLog(server, idle, 'connection_idle | result: fail', async () => {
      expectError(t, await peer.next(IDLE_TIMEOUT_MS + 20_000), ErrorCode.IdleTimeout, 'silence');
    });
    await peer.waitClosed();
    const waited = Date.now() - started;
    t.ok(waited >= IDLE_TIMEOUT_MS - 100, `closed after the idle timeout (${waited} ms)`);
  });

  await t.test('a second hello', async (t) => {
    const peer = await RawPeer.open(t, port);
    await peer.write(frames.hello(106));
    t.equal((await peer.next()).type, MessageType.Welcome, 'first hello is welcomed');
    await expectLog(server, protocolError('ERR_UNEXPECTED_MESSAGE', 106), 'ERR_UNEXPECTED_MESSAGE for agency 106', async () => {
      await peer.write(frames.hello(106));
      expectError(t, await peer.next(), ErrorCode.UnexpectedMessage, 'second hello');
    });
    await peer.waitClosed();
  });

  await t.test('a batch before hello', async (t) => {
    const peer = await RawPeer.open(t, port);
    await expectLog(server, protocolError('ERR_UNEXPECTED_MESSAGE', 0), 'ERR_UNEXPECTED_MESSAGE before hello', async () => {
      await peer.write(frames.betBatch(0, [bet('Prematuro')]));
      expectError(t, await peer.next(), ErrorCode.UnexpectedMessage, 'batch before hello');
    });
    await peer.waitClosed();
  });

  await t.test('a skipped sequence number', async (t) => {
    const peer = await RawPeer.open(t, port);
    await peer.write(frames.hello(108));
    t.equal((await peer.next()).type, MessageType.Welcome, 'welcomed');
    await peer.write(frames.betBatch(0, [ACCEPTED.beforeSkip]));
    t.match(await peer.next(), { type: MessageType.BatchAck, seq: 0, stored: 1 }, 'batch 0 is acked');
    await expectLog(server, protocolError('ERR_BAD_SEQUENCE', 108), 'ERR_BAD_SEQUENCE for agency 108', async () => {
      await peer.write(frames.betBatch(2, [bet('Salteado')]));
      expectError(t, await peer.next(), ErrorCode.BadSequence, 'batch 2 after batch 0');
    });
    await peer.waitClosed();
  });

  await t.test('winners before done', async (t) => {
    const peer = await RawPeer.open(t, port);
    await peer.write(frames.hello(109));
    t.equal((await peer.next()).type, MessageType.Welcome, 'welcomed');
    await expectLog(server, protocolError('ERR_UNEXPECTED_MESSAGE', 109), 'ERR_UNEXPECTED_MESSAGE for agency 109', async () => {
      await peer.write(frames.winnersRequest());
      expectError(t, await peer.next(), ErrorCode.UnexpectedMessage, 'winners before done');
    });
    await peer.waitClosed();
  });

  await t.test('more ways to be wrong', async (t) => {
    // A Done whose total is not what the central holds must not count the agency as finished.
    const liar = await RawPeer.open(t, port);
    await liar.write(frames.hello(110));
    t.equal((await liar.next()).type, MessageType.Welcome, 'welcomed');
    await expectLog(server, protocolError('ERR_COUNT_MISMATCH', 110), 'ERR_COUNT_MISMATCH for agency 110', async () => {
      await liar.write(frames.done(5));
      expectError(t, await liar.next(), ErrorCode.CountMismatch, 'done with a wrong total');
    });
    await liar.waitClosed();

    // Two sessions for one agency at once.
    const first = await RawPeer.open(t, port);
    await first.write(frames.hello(111));
    t.equal((await first.next()).type, MessageType.Welcome, 'first session welcomed');
    const second = await RawPeer.open(t, port);
    await expectLog(server, protocolError('ERR_AGENCY_BUSY'), 'ERR_AGENCY_BUSY', async () => {
      await second.write(frames.hello(111));
      expectError(t, await second.next(), ErrorCode.AgencyBusy, 'second session of agency 111');
    });
    await second.waitClosed();
    first.end();
    await first.waitClosed();

    const version = await RawPeer.open(t, port);
    await expectLog(server, protocolError('ERR_UNSUPPORTED_VERSION'), 'ERR_UNSUPPORTED_VERSION', async () => {
      await version.write(frames.hello(112, { version: 1 }));
      expectError(t, await version.next(), ErrorCode.UnsupportedVersion, 'hello version 1 (agencies from before exact resume)');
    });
    await version.waitClosed();

    // A reply type sent to the central is an unknown type there.
    const backwards = await RawPeer.open(t, port);
    await expectLog(server, protocolError('ERR_UNKNOWN_TYPE'), 'ERR_UNKNOWN_TYPE for a Welcome sent to the central', async () => {
      await backwards.write(new Bytes().u32(0).u8(0).frame(0x82));
      expectError(t, await backwards.next(), ErrorCode.UnknownType, 'a Welcome frame sent to the central');
    });
    await backwards.waitClosed();

    const zero = await RawPeer.open(t, port);
    await expectLog(server, protocolError('ERR_OUT_OF_RANGE'), 'ERR_OUT_OF_RANGE', async () => {
      await zero.write(frames.hello(0));
      expectError(t, await zero.next(), ErrorCode.OutOfRange, 'hello for agency 0');
    });
    await zero.waitClosed();

    const utf8 = await RawPeer.open(t, port);
    await utf8.write(frames.hello(113));
    t.equal((await utf8.next()).type, MessageType.Welcome, 'welcomed');
    const badName = new Bytes()
      .u32(0) // seq
      .u32(1) // position
      .u16(1) // count
      .u8(2)
      .raw('c3 28') // firstName: a cut two-byte sequence
      .str8('SinCierre') // lastName
      .str8('30111222') // document
      .utf8('1990-05-17') // birthdate
      .u16(1234) // number
      .frame(0x03);
    await expectLog(server, protocolError('ERR_INVALID_UTF8', 113), 'ERR_INVALID_UTF8 for agency 113', async () => {
      await utf8.write(badName);
      expectError(t, await utf8.next(), ErrorCode.InvalidUtf8, 'invalid UTF-8 in a name');
    });
    await utf8.waitClosed();
  });

  // The hostile agencies finish (Done with what the central holds), then the last honest one
  // comes in after all of that; the draw must still be right.
  for (const agency of HOSTILE) {
    const { peer, welcome } = await welcomeWithRetry(port, agency);
    await peer.write(frames.done(welcome.stored));
    await server.waitForLog((l) => l.action === 'agency_finished' && l.fields['agency'] === String(agency), `agency ${agency} finished`);
    peer.destroy();
  }
  t.equal(findLogs(server.logs(), 'sorteo').length, 0, 'no draw while an expected agency is missing');
  const last = startClient(t, { id: 3, port, dataFile: files[2], batch: 5, loopAmount: 20 });
  const runs = await Promise.all([...honest, last].map((c) => finishClient(c)));
  runs.forEach((run, i) => {
    t.equal(run.code, 0, `honest agency ${i + 1} exits 0`, { stdout: run.stdout, stderr: run.stderr });
    t.equal(winnersOf(run), WINNERS[i], `honest agency ${i + 1} gets ${WINNERS[i]} winners`);
    assertLogShape(t, run.lines, `client ${i + 1}`);
  });

  const logs = server.logs();
  t.equal(findLogs(logs, 'sorteo').length, 1, 'exactly one sorteo');
  t.match(findLogs(logs, 'sorteo')[0]?.fields, { winners: '3' }, 'the draw found the 3 winners of the honest agencies');

  const stored = readStoredBets(server.betsFile);
  assertWellFormed(t, stored);
  for (const id of [1, 2, 3]) t.same(stored.byAgency.get(id), readInputBets(files[id - 1], id), `agency ${id}: all its bets, once`);
  const key = (agency: number, b: RawBet) => [agency, b.first, b.last, b.document, b.birthdate, b.number].join('\u001f');
  t.same(
    stored.byAgency.get(104)?.map(showKey),
    [key(104, ACCEPTED.quoted)].map(showKey),
    'agency 104: only the acked batch, quotes and comma intact',
  );
  t.same(
    stored.byAgency.get(108)?.map(showKey),
    [key(108, ACCEPTED.beforeSkip)].map(showKey),
    'agency 108: only the batch acked before the bad sequence',
  );
  t.same(
    [...stored.byAgency.keys()].sort((a, b) => a - b),
    [1, 2, 3, 104, 108],
    'no other agency stored anything',
  );
  const leaked = stored.keys.map(showKey).filter((line) => NEVER_STORED.some((name) => line.includes(name)));
  t.same(leaked, [], 'nothing from a refused batch or a broken session is stored');

  t.equal(await server.stop(), 0, 'server exits 0');
  assertLogShape(t, server.lines(), 'server');
});
