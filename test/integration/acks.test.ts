/**
 * Acks are cumulative (protocol version 3): the central answers a session's
 * batches in arrival order, with one BatchAck for each run of batches it made
 * durable together, and a refused batch gets its own BatchRejected between
 * the acks of the batches around it. A raw peer over a real socket against a
 * real central; the stored bets are read back from bets.csv. An agency of
 * version 2, which waits for an ack per batch, is refused at Hello.
 */
import t from 'tap';
import { ErrorCode, MessageType } from '../../protocol/index.js';
import { readStoredBets, startServer } from '../helpers/processes.js';
import { frames, RawPeer, type RawBet } from '../helpers/raw-peer.js';

const bet = (agency: number, seq: number, i: number, number = 1): RawBet => ({
  first: 'Ana',
  last: 'Gómez',
  document: String(agency * 1_000_000 + seq * 100 + i),
  birthdate: '1990-05-17',
  number,
});

t.test('a burst of batches written at once is answered by fewer acks, each covering every batch up to its seq', async (t) => {
  const server = await startServer(t, { agencyIds: '1' });
  const peer = await RawPeer.open(t, server.port);
  await peer.write(frames.hello(1));
  t.match(await peer.next(), { type: MessageType.Welcome, stored: 0 }, 'welcomed');
  const batches = Array.from({ length: 40 }, (_, seq) => [bet(1, seq, 0), bet(1, seq, 1), bet(1, seq, 2)]);
  await peer.write(Buffer.concat(batches.map((bets, seq) => frames.betBatch(seq, bets))));

  const answers = await peer.answersThrough(batches.length - 1);
  const acks = [...new Set(answers)];
  t.ok(
    acks.every((a) => a.type === MessageType.BatchAck),
    'every batch is acknowledged',
  );
  t.ok(acks.length < batches.length, `${acks.length} acks answer ${batches.length} batches`);
  t.same(
    acks.map((a) => (a.type === MessageType.BatchAck ? a.stored : -1)),
    acks.map((a) => (a.seq + 1) * 3),
    "each ack's stored total counts every batch up to its seq",
  );
  t.match(answers.at(-1), { type: MessageType.BatchAck, seq: 39, stored: 120 }, 'the last ack names the last batch');
  peer.end();
  await peer.waitClosed();
  t.equal(readStoredBets(server.betsFile).keys.length, 120, 'bets.csv holds the 120 bets');
  t.equal(await server.stop(), 0, 'the central exits 0');
});

t.test('a refused batch inside a burst: the batches before it are acked first, its rejection next, then the rest', async (t) => {
  const server = await startServer(t, { agencyIds: '2' });
  const peer = await RawPeer.open(t, server.port);
  await peer.write(frames.hello(2));
  t.match(await peer.next(), { type: MessageType.Welcome, stored: 0 }, 'welcomed');
  const INVALID = 4;
  const batches = Array.from({ length: 10 }, (_, seq) => [bet(2, seq, 0), bet(2, seq, 1, seq === INVALID ? 10_000 : 1)]);
  await peer.write(Buffer.concat(batches.map((bets, seq) => frames.betBatch(seq, bets))));

  const answers = await peer.answersThrough(batches.length - 1);
  t.match(
    answers[INVALID],
    { type: MessageType.BatchRejected, seq: INVALID, code: ErrorCode.InvalidBet, betIndex: 1 },
    'batch 4 is rejected',
  );
  t.match(
    answers[INVALID - 1],
    { type: MessageType.BatchAck, seq: INVALID - 1, stored: 8 },
    'right after the ack that covers batches 0..3',
  );
  t.match(answers.at(-1), { type: MessageType.BatchAck, seq: 9, stored: 18 }, 'and an ack covers the rest, not counting the rejected bets');
  t.same(
    [...new Set(answers.filter((r) => r.type === MessageType.BatchRejected).map((r) => r.seq))],
    [INVALID],
    'nothing else is rejected',
  );
  peer.end();
  await peer.waitClosed();

  const again = await RawPeer.open(t, server.port);
  await again.write(frames.hello(2));
  t.match(
    await again.next(),
    { type: MessageType.Welcome, stored: 18, settled: 10_000 },
    'a new session: 18 stored, the file settled through batch 9',
  );
  again.end();
  t.equal(readStoredBets(server.betsFile).keys.length, 18, 'bets.csv holds the 18 bets of the 9 valid batches');
  t.equal(await server.stop(), 0, 'the central exits 0');
});

t.test('an agency of protocol version 2 (an ack per batch) is refused at Hello', async (t) => {
  const server = await startServer(t, { agencyIds: '3' });
  const peer = await RawPeer.open(t, server.port);
  await peer.write(frames.hello(3, { version: 2 }));
  t.match(await peer.next(), { type: MessageType.Error, code: ErrorCode.UnsupportedVersion }, 'Error UnsupportedVersion');
  await peer.waitClosed();
  t.equal(await server.stop(), 0, 'the central exits 0');
});
