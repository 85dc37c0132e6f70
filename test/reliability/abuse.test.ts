/**
 * Abuse is contained. While five honest agencies stream their bets, the
 * central gets, all from 127.0.0.1:
 *
 *   - 1,000 connections opened at once that never say anything;
 *   - 2.5 s later, 200 connections sending random bytes (pure noise, oversized
 *     headers, oversized echoes, a Hello for an unknown agency followed by
 *     noise), opened over one second;
 *   - then 50 connections that connect and say nothing.
 *
 * The central runs with SERVER_IDLE_TIMEOUT=2s, the default
 * SERVER_MAX_CONNECTIONS (128), and SERVER_LISTEN_BACKLOG=1024 (see below).
 * Every attacking connection must be closed by the central within a bounded
 * time, with an Error frame (ERR_TOO_MANY_CONNECTIONS beyond the limit,
 * ERR_IDLE_TIMEOUT for silence, a framing error for garbage); the honest
 * agencies must finish with the right winners and exactly their bets; the
 * central must still answer an echo afterwards and have no worker left.
 *
 * Memory: VmRSS of the central is sampled from /proc every 100 ms during the
 * whole attack. Each connection holds a worker thread (~9–12 MB), and at most
 * SERVER_MAX_CONNECTIONS exist, so the bound asserted is
 *
 *   RSS before the attack + SERVER_MAX_CONNECTIONS × 12 MiB + 300 MiB
 *
 * (≈ 1.9 GB for 128; measured peaks on this machine: about 1.1–1.3 GB).
 *
 * Why the backlog: with the contract's default SERVER_LISTEN_BACKLOG=5 the
 * kernel, not the central, deals with a burst of 1,000 connects: most never
 * reach accept(), so they get no Error frame (silent ones stay ESTABLISHED on
 * the client side for good; ones that send a byte are reset after up to
 * ~2 minutes). That is recorded in .tmp/bugs.md; this test looks at what the
 * central does with the connections it is given.
 *
 * LOTTERY_SOAK=1: the reference dataset, and three waves of the attack.
 */
import { connect } from 'node:net';
import t from 'tap';
import { ErrorCode, errorCodeName, MessageType } from '../../protocol/index.js';
import { delay, findLogs, startClient, startServer, workDir } from '../helpers/processes.js';
import { RawPeer, frames } from '../helpers/raw-peer.js';
import {
  assertExactEnd,
  awaitAgencies,
  chooseSeed,
  loadDataset,
  readRssKb,
  Rng,
  RssSampler,
  SOAK,
  threadsOf,
} from '../helpers/reliability.js';

const FLOOD = 1000;
const GARBAGE = 200;
const SILENT = 50;
const WAVES = SOAK ? 3 : 1;
const IDLE_TIMEOUT = '2s';
const MAX_CONNECTIONS = 128;
const PER_WORKER_MB = 12;
const MARGIN_MB = 300;
/**
 * Every attacking connection must be closed by the central within this. Each
 * admitted connection costs a worker thread's start (0.1–0.2 s of CPU here,
 * more with coverage on), and a wave admits about 500–650 of them as the
 * silent ones time out: shedding it took 61–97 s alone and 125 s in the
 * full suite under coverage on this 2-core machine.
 */
const CLOSE_LIMIT_MS = 240_000;

t.setTimeout(SOAK ? 900_000 : 420_000);

interface Outcome {
  readonly kind: 'flood' | 'garbage' | 'silent';
  /** Code of the Error frame the central sent; 'other' when it sent frames but no Error; null for nothing. */
  readonly reply: number | 'other' | null;
  /** When the central closed it (ms after the attack began); null when it was still open at the limit. */
  readonly closedAtMs: number | null;
  readonly connectError?: string;
}

function attacker(port: number, kind: Outcome['kind'], chunks: readonly Buffer[], began: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let head = Buffer.alloc(0);
    let connectError: string | undefined;
    let settled = false;
    const timer = setTimeout(() => finish(null), CLOSE_LIMIT_MS);
    const finish = (closedAtMs: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const reply = errorIn(head);
      resolve({ kind, reply, closedAtMs, ...(connectError ? { connectError } : {}) });
    };
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
    });
    socket.on('data', (data: Buffer) => {
      if (head.length < 8192) head = Buffer.concat([head, data]).subarray(0, 8192);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      connectError ??= error.code ?? error.message;
    });
    socket.on('close', () => finish(Date.now() - began));
  });
}

/** The code of the first Error frame in `bytes`; 'other' when there are bytes but no Error frame; null when empty. */
function errorIn(bytes: Buffer): Outcome['reply'] {
  if (bytes.length === 0) return null;
  let at = 0;
  while (at + 5 <= bytes.length) {
    if (bytes[at] === MessageType.Error && at + 7 <= bytes.length) return bytes.readUInt16BE(at + 5);
    at += 5 + bytes.readUInt32BE(at + 1);
  }
  return 'other';
}

function garbage(rng: Rng): Buffer[] {
  const kind = rng.int(0, 9);
  if (kind < 6) {
    // Pure noise, in one to three writes.
    const noise = rng.bytes(rng.logInt(1, 16_384));
    const cut = rng.int(0, noise.length);
    return rng.bool() ? [noise] : [noise.subarray(0, cut), noise.subarray(cut)].filter((b) => b.length > 0);
  }
  if (kind < 8) return [Buffer.concat([Buffer.from([0x03, 0xff, 0xff, 0xff, 0xff]), rng.bytes(rng.int(0, 64))])]; // a 4 GiB bet batch
  if (kind < 9) return [Buffer.concat([Buffer.from([0x0e, 0x00, 0x00, 0x10, 0x01]), rng.bytes(rng.int(0, 4096))])]; // an echo over 4096
  return [frames.hello(rng.int(1000, 60_000)), rng.bytes(rng.int(1, 512))]; // hello for an unknown agency, then noise
}

function tally(outcomes: readonly Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) {
    const key = `${o.kind}:${o.reply === null ? 'no reply' : o.reply === 'other' ? 'other' : errorCodeName(o.reply)}${o.closedAtMs === null ? ' (still open)' : ''}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

t.test('connection flood, garbage and silent connections while honest agencies finish', async (t) => {
  const seed = chooseSeed(t, 'abuse');
  const rng = new Rng(seed);
  const data = await loadDataset(t, {
    preferReference: SOAK,
    bets: [5_000, 4_000, 3_000, 2_000, 1_000],
    winners: [2, 0, 1, 3, 1],
    seed: seed % 100_000,
  });
  const server = await startServer(t, {
    agencies: 5,
    dir: workDir(t, 'central'),
    env: { SERVER_IDLE_TIMEOUT: IDLE_TIMEOUT, SERVER_MAX_CONNECTIONS: String(MAX_CONNECTIONS), SERVER_LISTEN_BACKLOG: '1024' },
  });
  const pid = server.process.pid!;
  const baseKb = readRssKb(pid)!;
  const baseThreads = threadsOf(pid)!;
  const boundMb = Math.round(baseKb / 1024 + MAX_CONNECTIONS * PER_WORKER_MB + MARGIN_MB);
  t.comment(`central before the attack: ${(baseKb / 1024).toFixed(0)} MB RSS, ${baseThreads} threads; bound ${boundMb} MB`);

  const sampler = new RssSampler(pid, 100);
  let peakThreads = baseThreads;
  const threadTimer = setInterval(() => (peakThreads = Math.max(peakThreads, threadsOf(pid) ?? 0)), 100);
  const began = Date.now();
  const agencies = data.files.map((dataFile, i) =>
    startClient(t, {
      id: i + 1,
      port: server.port,
      dataFile,
      batch: 50,
      loopAmount: 100_000,
      loopPeriod: '100ms',
      name: `agency-${i + 1}`,
    }),
  );

  const outcomes: Outcome[] = [];
  for (let wave = 0; wave < WAVES; wave++) {
    // The flood first, all at once; garbage and silence once its admitted part idles out (2 s),
    // so that they reach workers rather than all being refused at the door.
    const attacks: Promise<Outcome>[] = [];
    for (let i = 0; i < FLOOD; i++) attacks.push(attacker(server.port, 'flood', [], began));
    await delay(2_500);
    for (let i = 0; i < GARBAGE; i++) {
      attacks.push(attacker(server.port, 'garbage', garbage(rng), began));
      if (i % 20 === 19) await delay(100);
    }
    for (let i = 0; i < SILENT; i++) attacks.push(attacker(server.port, 'silent', [], began));
    outcomes.push(...(await Promise.all(attacks)));
    t.comment(`wave ${wave + 1} over after ${Date.now() - began} ms; peak so far ${(sampler.peakKb / 1024).toFixed(0)} MB`);
  }
  const finals = await awaitAgencies(t, agencies, 180_000, [server.process]);
  sampler.stop();
  clearInterval(threadTimer);
  const peakMb = sampler.peakKb / 1024;
  t.comment(`attack and honest run took ${Date.now() - began} ms; outcomes ${JSON.stringify(tally(outcomes))}`);
  t.comment(
    `central RSS peak ${peakMb.toFixed(0)} MB over ${sampler.samples.length} samples (before: ${(baseKb / 1024).toFixed(0)} MB); threads peak ${peakThreads}`,
  );

  t.ok(peakMb < boundMb, `central RSS stayed under ${boundMb} MB during the attack (peak ${peakMb.toFixed(0)} MB)`);
  // Beyond the workers: libuv's pool (4 threads) starts lazily, at the first file or crypto job it is given.
  t.ok(
    peakThreads <= baseThreads + MAX_CONNECTIONS + 4 + 2,
    `no more than SERVER_MAX_CONNECTIONS workers at once (threads peak ${peakThreads})`,
  );
  const open = outcomes.filter((o) => o.closedAtMs === null);
  t.equal(open.length, 0, `the central closed every attacking connection within ${CLOSE_LIMIT_MS / 1000} s`);
  const quiet = outcomes.filter((o) => o.kind !== 'garbage');
  const badQuiet = quiet.filter((o) => o.reply !== ErrorCode.TooManyConnections && o.reply !== ErrorCode.IdleTimeout);
  t.same(tally(badQuiet), {}, 'every silent connection got ERR_TOO_MANY_CONNECTIONS or ERR_IDLE_TIMEOUT');
  t.ok(
    quiet.some((o) => o.reply === ErrorCode.TooManyConnections),
    'the flood beyond the limit was refused with ERR_TOO_MANY_CONNECTIONS',
  );
  t.ok(
    quiet.some((o) => o.reply === ErrorCode.IdleTimeout),
    'silent admitted connections were dropped with ERR_IDLE_TIMEOUT',
  );
  const garbageOdd = outcomes.filter((o) => o.kind === 'garbage' && o.reply === 'other');
  t.same(tally(garbageOdd), {}, 'no garbage connection was answered without an Error frame (some may see a reset first)');
  const garbageErrors = outcomes.filter((o) => o.kind === 'garbage' && typeof o.reply === 'number').length;
  t.ok(garbageErrors >= GARBAGE * WAVES * 0.9, `garbage connections got an Error frame (${garbageErrors} of ${GARBAGE * WAVES})`);

  assertExactEnd(t, data, server.betsFile, finals, [server.process]);
  const refusedLogs = findLogs(server.logs(), 'connection_refused', 'fail').length;
  const idleLogs = findLogs(server.logs(), 'connection_idle', 'fail').length;
  t.comment(`central logged ${refusedLogs} connection_refused and ${idleLogs} connection_idle`);
  const refusedSeen = outcomes.filter((o) => o.reply === ErrorCode.TooManyConnections).length;
  t.ok(refusedLogs >= refusedSeen, `each refusal is logged (${refusedLogs} lines for ${refusedSeen} refusals seen by attackers)`);

  const peer = await RawPeer.open(t, server.port);
  await peer.write(frames.echo('still there?'));
  const echo = await peer.nextFrame();
  t.equal(echo.bytes.toString('hex'), frames.echo('still there?').toString('hex'), 'the central still answers an echo');
  peer.destroy();
  for (let i = 0; i < 150 && (threadsOf(pid) ?? 99) > baseThreads + 1; i++) await delay(100);
  t.ok((threadsOf(pid) ?? 99) <= baseThreads + 1, `every worker is gone afterwards (threads ${threadsOf(pid)}, before ${baseThreads})`);
  t.comment(`central RSS after the attack: ${((readRssKb(pid) ?? 0) / 1024).toFixed(0)} MB`);
  t.equal(await server.stop('SIGTERM'), 0, 'the central stops cleanly');
});
