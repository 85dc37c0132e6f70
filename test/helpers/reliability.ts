/**
 * Shared tools of the fault-injection suite (test/reliability): a seeded
 * PRNG whose seed is logged and can be replayed, the fast/soak switch, a TCP
 * proxy that cuts connections after a chosen number of bytes, an RSS sampler
 * reading /proc, an independent formatter of stored bet lines, and a small
 * protocol driver on top of RawPeer.
 *
 * Environment:
 *   LOTTERY_SOAK=1    longer runs: more kills, more data, more fuzz runs
 *   LOTTERY_SEED=N    replay a run: every random choice derives from N
 */
import { randomInt } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import {
  encodeBetBatch,
  encodeDone,
  encodeHello,
  encodeProof,
  encodeWinnersRequest,
  MessageType,
  PROTOCOL_VERSION,
  type Bet,
  type ServerMessage,
  type Welcome,
} from '../../protocol/index.js';
import { computeProof } from '../../common/auth.js';
import {
  assertLogShape,
  assertSameBets,
  assertWellFormed,
  findLogs,
  finishClient,
  generateData,
  readInputBets,
  readStoredBets,
  REFERENCE_DATA,
  REFERENCE_WINNERS,
  winnersOf,
  workDir,
  type BetKey,
  type ClientRun,
  type Proc,
} from './processes.js';
import { RawPeer } from './raw-peer.js';

/** Long mode, behind an environment variable (see docs/reliability-tests.md). */
export const SOAK = process.env['LOTTERY_SOAK'] === '1';

// ---------------------------------------------------------------------------
// randomness that can be replayed

/** The run's seed: LOTTERY_SEED when given, else a fresh one; logged either way. */
export function chooseSeed(t: Test, what: string): number {
  const given = process.env['LOTTERY_SEED'];
  const seed = given !== undefined && given.trim() !== '' ? Number(given) >>> 0 : randomInt(1, 2 ** 31);
  t.comment(
    `${what}: seed ${seed}${given ? ' (from LOTTERY_SEED)' : ''}; replay with LOTTERY_SEED=${seed}${SOAK ? ' LOTTERY_SOAK=1' : ''}`,
  );
  return seed;
}

/** mulberry32: small, fast, and the same sequence on every Node version. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** [0, 1) */
  next(): number {
    let z = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  bool(p = 0.5): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }

  /** Log-uniform integer in [lo, hi] (lo ≥ 1): small values as likely as large magnitudes. */
  logInt(lo: number, hi: number): number {
    return Math.min(hi, Math.floor(Math.exp(Math.log(lo) + this.next() * (Math.log(hi + 1) - Math.log(lo)))));
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(0, 255);
    return out;
  }
}

// ---------------------------------------------------------------------------
// datasets

export interface Dataset {
  readonly files: string[];
  readonly winners: number[];
  /** Every input bet as a key (agency-prefixed), per agency, in file order. */
  readonly inputs: BetKey[][];
  readonly total: number;
  /** Bytes bets.csv will hold at the end. */
  readonly storedBytes: number;
  readonly description: string;
}

/**
 * The course's reference dataset (../shared/data, 78,697 bets, winners
 * 2,3,3,2,0) when `preferReference` and it is present; otherwise generated
 * data of the given shape. Says which one it uses.
 */
export async function loadDataset(
  t: Test,
  opts: { preferReference: boolean; bets: readonly number[]; winners: readonly number[]; seed: number },
): Promise<Dataset> {
  const reference = Array.from({ length: 5 }, (_, i) => join(REFERENCE_DATA, `agency-${i + 1}.csv`));
  let files: string[];
  let winners: number[];
  let description: string;
  if (opts.preferReference && reference.every((f) => existsSync(f))) {
    files = reference;
    winners = [...REFERENCE_WINNERS];
    description = `reference dataset ${REFERENCE_DATA}`;
  } else {
    if (opts.preferReference) t.comment(`reference dataset absent at ${REFERENCE_DATA}: using generated data of similar size instead`);
    files = await generateData(t, workDir(t, 'data'), {
      agencies: opts.bets.length,
      bets: opts.bets,
      winners: opts.winners,
      seed: opts.seed,
      crlf: true,
    });
    winners = [...opts.winners];
    description = `generated data (${opts.bets.join(',')} bets, seed ${opts.seed})`;
  }
  const inputs = files.map((f, i) => readInputBets(f, i + 1));
  let storedBytes = 0;
  for (const list of inputs) for (const key of list) storedBytes += Buffer.byteLength(keyToStoredLine(key));
  const total = inputs.reduce((n, l) => n + l.length, 0);
  t.comment(`data: ${description}: ${total} bets, ${storedBytes} bytes once stored`);
  return { files, winners, inputs, total, storedBytes, description };
}

// ---------------------------------------------------------------------------
// stored lines, written independently of server/storage/csv-line.ts

/** A field as Python's csv module (QUOTE_MINIMAL) writes it. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** The bets.csv line of one bet. */
export function storedLine(agency: number, bet: Bet): string {
  return `${agency},${csvField(bet.firstName)},${csvField(bet.lastName)},${bet.document},${bet.birthdate},${bet.number}\n`;
}

function keyToStoredLine(key: BetKey): string {
  const [agency, first, last, document, birthdate, number] = key.split('\u001f') as [string, string, string, string, string, string];
  return `${agency},${csvField(first)},${csvField(last)},${document},${birthdate},${Number(number)}\n`;
}

/** The key readStoredBets/readInputBets use for a bet. */
export function betKey(agency: number, bet: Bet): BetKey {
  return [String(agency), bet.firstName, bet.lastName, bet.document, bet.birthdate, String(bet.number)].join('\u001f');
}

/**
 * Agencies whose Done the central journaled (`<bets>.journal`: a 64-byte
 * header, then 32-byte entries; kind 3 is "finished", agency is u16 at 2).
 * Read independently of server/storage; torn or unreadable entries are skipped.
 */
export function journaledFinished(betsFile: string): Set<number> {
  const finished = new Set<number>();
  let bytes: Buffer;
  try {
    bytes = readFileSync(`${betsFile}.journal`);
  } catch {
    return finished;
  }
  for (let at = 64; at + 32 <= bytes.length; at += 32) if (bytes[at] === 3) finished.add(bytes.readUInt16BE(at + 2));
  return finished;
}

/** Size of a file, 0 when it does not exist (yet). */
export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------
// a cutting TCP proxy

/**
 * Where one proxied connection is cut: after `up` bytes client → server or
 * `down` bytes server → client, whichever comes first (a budget alone can
 * outlast what its direction carries, and the connection then runs free).
 */
export interface Cut {
  readonly up?: number;
  readonly down?: number;
}

/**
 * Forwards 127.0.0.1:port ↔ 127.0.0.1:target. For each new connection it asks
 * `plan` whether and where to cut; a cut forwards exactly its budget of bytes
 * in the direction that reaches it first (so it usually lands inside a
 * frame) and then drops both sides. Backpressure is kept in both directions.
 */
export class CuttingProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  connections = 0;
  cuts = 0;
  /** Cuts that left a frame half sent (header or body incomplete). */
  midFrameCuts = 0;
  /** Bytes forwarded per direction, for the report. */
  bytesUp = 0;
  bytesDown = 0;

  private constructor(
    server: Server,
    readonly port: number,
  ) {
    this.#server = server;
  }

  static async start(t: Test, target: () => number, plan: (connection: number) => Cut | null): Promise<CuttingProxy> {
    let proxy: CuttingProxy | undefined;
    const server = createServer({ allowHalfOpen: true }, (client) => proxy!.#handle(client, target(), plan));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new CuttingProxy(server, (server.address() as { port: number }).port);
    t.teardown(() => proxy.close());
    return proxy;
  }

  close(): void {
    this.#server.close();
    for (const s of this.#sockets) s.destroy();
  }

  #handle(client: Socket, targetPort: number, plan: (connection: number) => Cut | null): void {
    const n = ++this.connections;
    const cut = plan(n);
    const upstream = connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true, noDelay: true });
    client.setNoDelay(true);
    this.#sockets.add(client).add(upstream);
    let dead = false;
    const kill = () => {
      if (dead) return;
      dead = true;
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', kill);
      s.on('close', () => {
        this.#sockets.delete(s);
        kill();
      });
    }
    client.pause();
    upstream.once('connect', () => client.resume());
    const counted = { up: 0, down: 0 };
    const frames = { up: new FrameBoundaries(), down: new FrameBoundaries() };
    const pipe = (from: Socket, to: Socket, direction: 'up' | 'down') => {
      from.on('data', (chunk: Buffer) => {
        if (dead) return;
        let out = chunk;
        let cutNow = false;
        const budget = cut?.[direction];
        if (budget !== undefined && counted[direction] + chunk.length >= budget) {
          out = chunk.subarray(0, budget - counted[direction]);
          cutNow = true;
        }
        counted[direction] += out.length;
        frames[direction].feed(out);
        if (direction === 'up') this.bytesUp += out.length;
        else this.bytesDown += out.length;
        if (cutNow) {
          this.cuts++;
          if (frames[direction].inside) this.midFrameCuts++;
          dead = true; // nothing more crosses
          const drop = () => {
            client.destroy();
            upstream.destroy();
          };
          if (out.length === 0) drop();
          else to.write(out, drop);
          return;
        }
        if (!to.write(out)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
      from.on('end', () => {
        if (!dead) to.end();
      });
    };
    pipe(client, upstream, 'up');
    pipe(upstream, client, 'down');
  }
}

/** Follows `u8 type, u32be length, body` frames through a byte stream to tell whether it stops inside one. */
class FrameBoundaries {
  #header = 0;
  #length = 0;
  #body = 0;

  feed(bytes: Buffer): void {
    let i = 0;
    while (i < bytes.length) {
      if (this.#header < 5) {
        if (this.#header >= 1) this.#length = this.#length * 256 + bytes[i];
        this.#header++;
        i++;
        if (this.#header === 5) this.#body = this.#length;
      } else {
        const take = Math.min(this.#body, bytes.length - i);
        this.#body -= take;
        i += take;
      }
      if (this.#header === 5 && this.#body === 0) {
        this.#header = 0;
        this.#length = 0;
      }
    }
  }

  get inside(): boolean {
    return this.#header > 0;
  }
}

// ---------------------------------------------------------------------------
// memory

/** Samples a process's VmRSS from /proc every `intervalMs`. */
export class RssSampler {
  readonly samples: { atMs: number; kb: number }[] = [];
  readonly #timer: NodeJS.Timeout;
  readonly #started = Date.now();

  constructor(
    readonly pid: number,
    intervalMs = 100,
  ) {
    this.#timer = setInterval(() => this.sample(), intervalMs);
    this.sample();
  }

  sample(): number | null {
    const kb = readRssKb(this.pid);
    if (kb !== null) this.samples.push({ atMs: Date.now() - this.#started, kb });
    return kb;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  get peakKb(): number {
    return this.samples.reduce((m, s) => Math.max(m, s.kb), 0);
  }
}

export function readRssKb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * The process's threads, less libuv's thread pool: Node 24 starts that pool
 * (four threads, named libuv-worker) at its first use, which may come after a
 * baseline count, while Node 20 starts it at launch and names no thread.
 */
export function threadsOf(pid: number): number | null {
  try {
    let count = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        if (readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').trim() !== 'libuv-worker') count++;
      } catch {
        // the thread ended while we looked
      }
    }
    return count;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// a protocol driver over RawPeer (encoders from protocol/, which have their own tests)

export function helloFrame(agency: number, nonce: Buffer, opts: { version?: number; singleBet?: boolean } = {}): Buffer {
  return encodeHello({
    type: MessageType.Hello,
    version: opts.version ?? PROTOCOL_VERSION,
    agency,
    singleBet: opts.singleBet ?? false,
    nonce,
  });
}

/** A BetBatch; `position` is the agency file's record of its last bet (every row a bet: the bets sent so far). */
export function batchFrame(seq: number, bets: readonly Bet[], position: number): Buffer {
  return encodeBetBatch({ type: MessageType.BetBatch, seq, position, bets: [...bets] });
}

export function doneFrame(total: number): Buffer {
  return encodeDone({ type: MessageType.Done, total });
}

export function winnersRequestFrame(): Buffer {
  return encodeWinnersRequest();
}

export function proofFrame(mac: Buffer): Buffer {
  return encodeProof({ type: MessageType.Proof, mac });
}

/** Hello (and Proof when challenged and a secret is given); resolves with the Welcome or the refusal. */
export async function openSession(peer: RawPeer, agency: number, opts: { secret?: string; nonce?: Buffer } = {}): Promise<ServerMessage> {
  const nonce = opts.nonce ?? Buffer.alloc(16, 7);
  await peer.write(helloFrame(agency, nonce));
  let reply = await peer.next();
  if (reply.type === MessageType.Challenge && opts.secret !== undefined) {
    await peer.write(proofFrame(computeProof(opts.secret, agency, nonce, reply.nonce)));
    reply = await peer.next();
  }
  return reply;
}

/** Retries a Hello while the agency is still held by a closing connection (ERR_AGENCY_BUSY). */
export async function welcomeWithRetry(
  port: number,
  agency: number,
  opts: { secret?: string; tries?: number } = {},
): Promise<{ peer: RawPeer; welcome: Welcome }> {
  let last: ServerMessage | undefined;
  for (let i = 0; i < (opts.tries ?? 100); i++) {
    const peer = await RawPeer.connect(port);
    const reply = await openSession(peer, agency, opts);
    if (reply.type === MessageType.Welcome) return { peer, welcome: reply };
    last = reply;
    peer.destroy();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`agency ${agency}: no Welcome after retries; last reply ${JSON.stringify(last)}`);
}

/**
 * Sends `bets`, the agency's file after the Welcome's settled records (every
 * row a bet), in batches of `size`, all at once (pipelined, seq from 0), then
 * reads acks until every batch is answered (an ack answers every batch up to
 * its seq); resolves with the agency's stored total.
 */
export async function streamBets(
  peer: RawPeer,
  bets: readonly Bet[],
  size: number,
  welcome: { stored: number; settled: number },
): Promise<number> {
  let seq = 0;
  let total = welcome.stored;
  for (let i = 0; i < bets.length; i += size) {
    const batch = bets.slice(i, i + size);
    await peer.write(batchFrame(seq++, batch, welcome.settled + i + batch.length));
  }
  if (seq === 0) return total;
  const answers = await peer.answersThrough(seq - 1);
  for (const [i, reply] of answers.entries()) {
    if (reply.type !== MessageType.BatchAck) throw new Error(`batch ${i}: expected BatchAck, got ${JSON.stringify(reply)}`);
    total = reply.stored;
  }
  return total;
}

// ---------------------------------------------------------------------------
// the end state every fault test asks for

function sameOrder(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Nothing lost, nothing doubled: bets.csv holds every input bet exactly once,
 * each agency's in file order, nothing else; every agency exited 0 with its
 * winners; `sorteo` was logged exactly once across every run of the central.
 */
export function assertExactEnd(t: Test, data: Dataset, betsFile: string, finals: readonly ClientRun[], centralRuns: readonly Proc[]): void {
  finals.forEach((run, i) => {
    t.equal(run.code, 0, `agency ${i + 1} exits 0`, { stdout: run.stdout.slice(-3000), stderr: run.stderr.slice(-2000) });
    t.equal(winnersOf(run), data.winners[i], `agency ${i + 1} gets ${data.winners[i]} winners`);
    assertLogShape(t, run.lines, `agency ${i + 1}`);
  });
  const stored = readStoredBets(betsFile);
  assertWellFormed(t, stored);
  t.equal(stored.keys.length, data.total, `bets.csv holds ${data.total} bets`);
  data.inputs.forEach((input, i) => {
    const mine = stored.byAgency.get(i + 1) ?? [];
    assertSameBets(t, mine, input, `agency ${i + 1}`);
    t.ok(sameOrder(mine, input), `agency ${i + 1}: stored in file order`);
  });
  t.equal(stored.byAgency.size, data.inputs.length, 'no other agency appears');
  const sorteos = centralRuns.flatMap((p) => findLogs(p.logs(), 'sorteo'));
  t.equal(sorteos.filter((l) => l.result === 'success').length, 1, 'exactly one sorteo across all runs of the central', {
    sorteos: sorteos.map((l) => l.raw),
  });
  t.equal(sorteos.filter((l) => l.result !== 'success').length, 0, 'no failed draw');
  centralRuns.forEach((p) => assertLogShape(t, p.lines(), p.name));
}

/** The last stdout lines of each process, as comments: what a failing run was doing. */
export function dumpTails(t: Test, procs: readonly Proc[], lines = 30): void {
  for (const p of procs) {
    const stderr = p.stderr.trim() === '' ? '' : `\n--- ${p.name} stderr ---\n${p.stderr.slice(-3000)}`;
    t.comment(`--- ${p.name} (exit ${JSON.stringify(p.exit)}) last lines ---\n${p.lines().slice(-lines).join('\n')}${stderr}`);
  }
}

/**
 * Waits for every agency to exit. Fails fast — with every process's last lines
 * — as soon as one exits with a non-zero code (the others would wait for a
 * draw that never comes), when nothing moved (`progress` unchanged) for
 * `stallMs`, or when `limitMs` has passed.
 */
export async function awaitAgencies(
  t: Test,
  agencies: readonly Proc[],
  limitMs: number,
  context: readonly Proc[],
  stall?: { readonly progress: () => number; readonly stallMs: number },
): Promise<ClientRun[]> {
  const deadline = Date.now() + limitMs;
  let last = stall?.progress();
  let lastChange = Date.now();
  for (;;) {
    const failed = agencies.find((p) => p.exit !== null && p.exit.code !== 0);
    if (stall) {
      const now = stall.progress();
      if (now !== last) {
        last = now;
        lastChange = Date.now();
      }
    }
    const stalled = stall !== undefined && Date.now() - lastChange > stall.stallMs;
    if (failed || stalled || Date.now() > deadline) {
      dumpTails(t, [...context, ...agencies]);
      for (const p of agencies) await p.kill();
      throw new Error(
        failed
          ? `${failed.name} exited ${JSON.stringify(failed.exit)}: ${failed.lines().slice(-1)[0] ?? ''}`
          : stalled
            ? `no progress for ${stall.stallMs} ms (no stored bet, no log line): the run is stuck`
            : `agencies still running after ${limitMs} ms`,
      );
    }
    if (agencies.every((p) => p.exit !== null)) return Promise.all(agencies.map((p) => finishClient(p, 10_000)));
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Something that changes whenever a run moves: the bets file grows or any process logs a line. */
export function progressOf(betsFile: string, procs: () => readonly Proc[]): () => number {
  return () => fileSize(betsFile) + procs().reduce((n, p) => n + p.lines().length, 0);
}

/** Done(total), then the winners request; resolves with every winning document once the last page came. */
export async function doneAndWinners(peer: RawPeer, total: number, timeoutMs = 30_000): Promise<string[]> {
  await peer.write(doneFrame(total));
  await peer.write(winnersRequestFrame());
  const documents: string[] = [];
  for (;;) {
    const reply = await peer.next(timeoutMs);
    if (reply.type !== MessageType.Winners) throw new Error(`expected Winners, got ${JSON.stringify(reply)}`);
    documents.push(...reply.documents);
    if (reply.last) return documents;
  }
}

/** An agency's input row for a bet (`first,last,document,birthdate,number`), CSV-quoted where needed. */
export function inputLine(bet: Bet): string {
  return `${csvField(bet.firstName)},${csvField(bet.lastName)},${bet.document},${bet.birthdate},${bet.number}`;
}
