/**
 * The echo health check (byte-identical answer, receive_message log line,
 * before hello and inside a session) and the connection limit (extra
 * connections get Error TooManyConnections and are closed, with a log line).
 */
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { connect } from 'node:net';
import t from 'tap';
import { ErrorCode, MessageType } from '../../protocol/index.js';
import { Bytes } from '../helpers/bytes.js';
import { assertLogShape, delay, startServer, type LogLine } from '../helpers/processes.js';
import { frames, RawPeer } from '../helpers/raw-peer.js';

const received = (msg: string) => (l: LogLine) =>
  l.action === 'receive_message' && l.result === 'success' && l.fields['ip'] === '127.0.0.1' && l.fields['msg'] === msg;

t.test('echo', async (t) => {
  const server = await startServer(t, { agencyIds: '1,7' });

  await t.test('before hello: the identical frame comes back', async (t) => {
    const peer = await RawPeer.open(t, server.port);
    const frame = frames.echo('hola central');
    await peer.write(frame);
    const back = await peer.waitBytes(frame.length);
    t.same(back, frame, 'byte-identical reply');
    await server.waitForLog(received('hola central'), 'receive_message for "hola central"');
    t.pass('logged receive_message | result: success | ip: 127.0.0.1 | msg: hola central');

    // Still usable afterwards: a second echo, then a session.
    const again = frames.echo('otra vez');
    await peer.write(again);
    t.same((await peer.waitBytes(frame.length + again.length)).subarray(frame.length), again, 'a second echo on the same connection');
    await peer.write(frames.hello(1));
    const welcome = await peer.waitBytes(frame.length + again.length + 10);
    t.equal(welcome[frame.length + again.length], MessageType.Welcome, 'hello after echo is welcomed');
    peer.end();
    await peer.waitClosed();
  });

  await t.test('inside a session, split into single bytes, and at the size limit', async (t) => {
    const peer = await RawPeer.open(t, server.port);
    await peer.write(frames.hello(7));
    t.equal((await peer.next()).type, MessageType.Welcome, 'welcomed');
    const frame = frames.echo('eco en sesión');
    for (const byte of frame) await peer.write(Buffer.from([byte]));
    const echoed = await peer.nextFrame();
    t.same(echoed.bytes, frame, 'byte-identical reply to a frame sent one byte at a time');
    await server.waitForLog(received('eco en sesión'), 'receive_message inside a session');

    const big = frames.echo(Buffer.alloc(4096, 0x61));
    await peer.write(big);
    t.same((await peer.nextFrame()).bytes, big, 'a 4096-byte echo comes back whole');

    const empty = frames.echo(Buffer.alloc(0));
    await peer.write(empty);
    t.same((await peer.nextFrame()).bytes, empty, 'an empty echo comes back');

    // A separator or a newline in the text must not break the log line's shape.
    const tricky = frames.echo('uno|dos\ntres: cuatro');
    await peer.write(tricky);
    t.same((await peer.nextFrame()).bytes, tricky, 'text with | and a newline comes back unchanged');

    const binary = frames.echo(Buffer.from([0xff, 0x00, 0x7c]));
    await peer.write(binary);
    t.same((await peer.nextFrame()).bytes, binary, 'non-text bytes come back unchanged');
    peer.end();
    await peer.waitClosed();
  });

  await t.test('an echo over the limit is refused', async (t) => {
    const peer = await RawPeer.open(t, server.port);
    await peer.write(new Bytes().u8(0x0e).u32(4097).build());
    const reply = await peer.next();
    t.match(reply, { type: MessageType.Error, code: ErrorCode.FrameTooLarge }, 'Error FrameTooLarge');
    await peer.waitClosed();
  });

  t.equal(await server.stop(), 0, 'server exits 0');
  assertLogShape(t, server.lines(), 'server');
});

t.test('connection limit', async (t) => {
  const LIMIT = 2;
  const server = await startServer(t, { agencies: 1, env: { SERVER_MAX_CONNECTIONS: String(LIMIT) } });
  const held = [];
  for (let i = 0; i < LIMIT; i++) {
    const peer = await RawPeer.open(t, server.port);
    // An answered echo proves the connection is admitted (it has its worker).
    await peer.write(frames.echo(`held ${i}`));
    await peer.nextFrame();
    held.push(peer);
  }

  for (let i = 0; i < 2; i++) {
    const extra = await RawPeer.open(t, server.port);
    const reply = await extra.next();
    t.match(
      reply,
      { type: MessageType.Error, code: ErrorCode.TooManyConnections },
      `extra connection ${i + 1} gets Error TooManyConnections`,
    );
    await extra.waitClosed();
    t.pass(`extra connection ${i + 1} is closed`);
  }
  const refused = await server.process.waitForCount(
    (l) => l.action === 'connection_refused' && l.result === 'fail',
    2,
    'connection_refused | result: fail',
  );
  t.equal(refused.length, 2, 'each refusal is logged with result fail');

  const stillFine = held[0];
  const ping = frames.echo('sigo aquí');
  await stillFine.write(ping);
  t.same((await stillFine.nextFrame()).bytes, ping, 'admitted connections are unaffected');

  // Once one closes, a new connection is admitted again.
  held[1].end();
  await held[1].waitClosed();
  await server.waitForLine(/action: worker_stopped \| result: success/);
  const later = await RawPeer.open(t, server.port);
  const hello = frames.echo('de nuevo');
  await later.write(hello);
  t.same((await later.nextFrame()).bytes, hello, 'a slot freed by a closed connection is reused');

  for (const peer of [stillFine, later]) peer.end();
  t.equal(await server.stop(), 0, 'server exits 0');
  assertLogShape(t, server.lines(), 'server');
});

t.test('frame size limit (SERVER_MAX_FRAME_BYTES)', async (t) => {
  const LIMIT = 256;
  const server = await startServer(t, { agencyIds: '5', env: { SERVER_MAX_FRAME_BYTES: String(LIMIT) } });
  const bets = (extra: number) =>
    [60, 60, 37 + extra].map((n, i) => ({
      first: 'A'.repeat(n),
      last: 'Lopez',
      document: `3011122${i}`,
      birthdate: '1990-05-17',
      number: 1,
    }));

  const peer = await RawPeer.open(t, server.port);
  await peer.write(frames.hello(5));
  t.equal((await peer.next()).type, MessageType.Welcome, 'welcomed');
  const fits = frames.betBatch(0, bets(0));
  t.equal(fits.length, LIMIT, `a ${LIMIT}-byte batch frame…`);
  await peer.write(fits);
  t.match(await peer.next(), { type: MessageType.BatchAck, seq: 0, stored: 3 }, '… is accepted');

  const over = frames.betBatch(1, bets(1));
  t.equal(over.length, LIMIT + 1, `a ${LIMIT + 1}-byte batch frame…`);
  await peer.write(over);
  t.match(await peer.next(), { type: MessageType.Error, code: ErrorCode.FrameTooLarge }, '… gets Error FrameTooLarge');
  await peer.waitClosed();
  t.pass('and the connection is closed');
  await server.waitForLog(
    (l) => l.action === 'protocol_error' && l.result === 'fail' && l.fields['code'] === 'ERR_FRAME_TOO_LARGE' && l.fields['agency'] === '5',
    'protocol_error ERR_FRAME_TOO_LARGE for agency 5',
  );
  t.equal(await server.stop(), 0, 'server exits 0');
  assertLogShape(t, server.lines(), 'server');
});

const hasProc = existsSync('/proc/self/status');
t.test(
  "a peer that never reads its echo replies cannot grow the server's memory",
  { skip: hasProc ? false : "needs /proc to read the server's memory" },
  async (t) => {
    const pid = (server: { process: { pid: number | undefined } }) => server.process.pid!;
    const rssMb = (p: number) => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : NaN;
    };
    const server = await startServer(t, { agencies: 1 });
    const serverPid = pid(server);
    await delay(300);
    const before = rssMb(serverPid);

    // Echo frames of 4 kB, written as fast as the server takes them, replies never read.
    const FLOOD_MB = 128;
    const frame = frames.echo(Buffer.alloc(4096, 0x61));
    const socket = connect({ host: '127.0.0.1', port: server.port });
    t.teardown(() => socket.destroy());
    socket.pause();
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    let sent = 0;
    let peak = before;
    const deadline = Date.now() + 8000;
    while (sent < FLOOD_MB * 1024 * 1024 && Date.now() < deadline) {
      sent += frame.length;
      if (!socket.write(frame)) {
        // Wait for the server to take more, but not forever: it may (rightly) stop reading.
        // The abort takes the wait's listeners off when the delay wins (they would pile up on the socket).
        const gaveUp = new AbortController();
        await Promise.race([once(socket, 'drain', { signal: gaveUp.signal }), delay(250)]).finally(() => gaveUp.abort());
        peak = Math.max(peak, rssMb(serverPid));
      }
    }
    await delay(500);
    peak = Math.max(peak, rssMb(serverPid));
    const grew = peak - before;
    t.ok(
      grew < FLOOD_MB / 2,
      `server memory grew ${grew.toFixed(0)} MB while a peer pushed ${(sent / 1048576).toFixed(0)} MB it never read back`,
      {
        before: `${before.toFixed(0)} MB`,
        peak: `${peak.toFixed(0)} MB`,
      },
    );
    socket.destroy();
    t.equal(await server.stop(), 0, 'server exits 0');
    assertLogShape(t, server.lines(), 'server');
  },
);
