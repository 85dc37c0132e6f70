/**
 * Load generator for the benchmark: one process, one connection per agency.
 *
 * ingest mode — the central's capacity without any agency-side work:
 *   node dist/bench/load-generator.js --port P --mode ingest \
 *     --file 1=/path/agency-1.csv --file 2=... [--batch 200] [--window 128]
 * Every file is read and cut into BetBatch frames BEFORE the clock starts
 * (at most --batch bets and 8 kB per frame, like the agency's BatchEncoder). Then
 * every connection says Hello and gets its Welcome (stored must be 0). The
 * clock runs from the first batch written to the last BatchAck received;
 * each connection keeps up to --window batches in flight, and an ack answers
 * its seq and every earlier batch (acks are cumulative). Afterwards each
 * agency sends Done(total) and WinnersRequest and reads its winners.
 *
 * draw mode — the draw alone, over bets already in bets.csv:
 *   node dist/bench/load-generator.js --port P --mode draw --agencies 1,2,3
 * Every agency says Hello. All but the last then send Done(total = stored
 * from the Welcome) and an Echo, whose answer proves the Done was handled,
 * then WinnersRequest (parked until the draw). After --settle-ms (default
 * 300) the last agency sends Done+WinnersRequest: its Done starts the draw.
 * The clock runs from that write to the last Winners page received by anyone.
 *
 * --tls-dir DIR (either mode): mutual TLS with the certificates `npm run certs`
 * wrote to DIR: the central is verified with DIR/ca.crt and each agency
 * presents DIR/agency-<id>.crt. Connections and handshakes are made before
 * the clock starts; encryption is timed.
 *
 * --start on-signal (ingest mode): once every connection has its Welcome,
 * print `EVENT ready` and wait for SIGUSR2 before the clock starts, so that
 * several load generators (one per central, figure 9) send together, none
 * of them still encoding while the others are measured.
 *
 * Output: `EVENT start` / `EVENT end` around the measured window (so the
 * benchmark can sample the server's CPU), then one `RESULT {json}` line.
 * Any protocol surprise is fatal: message on stderr, exit 1.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { parse as parseCsv } from 'csv-parse/sync';
import {
  betSize,
  decodeMessage,
  encodeBetBatch,
  encodeDone,
  encodeEcho,
  encodeHello,
  encodeWinnersRequest,
  errorCodeName,
  FrameDecoder,
  MAX_BATCH_BETS_BYTES,
  MessageType,
  PROTOCOL_VERSION,
  SERVER_FRAME_LIMITS,
  type Bet,
  type ServerMessage,
} from '../protocol/index.js';

interface Options {
  host: string;
  port: number;
  mode: 'ingest' | 'draw';
  files: Array<{ agency: number; path: string }>;
  agencies: number[];
  batch: number;
  window: number;
  settleMs: number;
  /** Mutual TLS with the certificates in this folder; null: plain TCP. */
  tlsDir: string | null;
  /** Ingest mode: start at once, or at SIGUSR2 after `EVENT ready`. */
  start: 'now' | 'on-signal';
}

function fail(message: string): never {
  process.stderr.write(`load-generator: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    host: '127.0.0.1',
    port: 0,
    mode: 'ingest',
    files: [],
    agencies: [],
    batch: 200,
    window: 128,
    settleMs: 300,
    tlsDir: null,
    start: 'now',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) fail(`${flag} needs a value`);
    switch (flag) {
      case '--host':
        o.host = value;
        break;
      case '--port':
        o.port = Number(value);
        break;
      case '--mode':
        if (value !== 'ingest' && value !== 'draw') fail(`unknown mode ${value}`);
        o.mode = value;
        break;
      case '--file': {
        const eq = value.indexOf('=');
        if (eq <= 0) fail(`--file wants AGENCY=PATH, got ${value}`);
        o.files.push({ agency: Number(value.slice(0, eq)), path: value.slice(eq + 1) });
        break;
      }
      case '--agencies':
        o.agencies = value.split(',').map(Number);
        break;
      case '--batch':
        o.batch = Number(value);
        break;
      case '--window':
        o.window = Number(value);
        break;
      case '--start':
        if (value !== 'now' && value !== 'on-signal') fail(`--start wants now or on-signal, got ${value}`);
        o.start = value;
        break;
      case '--settle-ms':
        o.settleMs = Number(value);
        break;
      case '--tls-dir':
        o.tlsDir = value;
        break;
      default:
        fail(`unknown flag ${flag}`);
    }
  }
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) fail('--port is required');
  if (o.mode === 'ingest' && o.files.length === 0) fail('ingest mode needs --file');
  if (o.mode === 'draw' && o.agencies.length === 0) fail('draw mode needs --agencies');
  return o;
}

// ---- reading and encoding (before the clock) ---------------------------------

/** The file's rows as bets. Plain lines are split on commas; anything quoted goes through csv-parse. */
function readBets(path: string): Bet[] {
  let text = readFileSync(path, 'utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const bets: Bet[] = [];
  for (let line of text.split('\n')) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    let fields: string[];
    if (line.includes('"')) {
      const records: string[][] = parseCsv(line, { trim: true, relax_column_count: true, relax_quotes: true });
      fields = records[0] ?? [];
    } else {
      fields = line.split(',').map((f) => f.trim());
    }
    if (fields.length !== 5) fail(`${path}: not a bet: ${JSON.stringify(line)}`);
    const [firstName, lastName, document, birthdate, number] = fields as [string, string, string, string, string];
    bets.push({ firstName, lastName, document, birthdate, number: Number(number) });
  }
  return bets;
}

interface Encoded {
  readonly frames: Buffer[];
  readonly counts: number[];
  readonly bets: number;
}

/** Batches of at most `max` bets and 8 kB, as the agency's BatchEncoder cuts them (with the generic codec: pre-encoding is not timed). */
function encode(bets: readonly Bet[], max: number): Encoded {
  const frames: Buffer[] = [];
  const counts: number[] = [];
  let batch: Bet[] = [];
  let bytes = 0;
  let position = 0; // every row is a bet: a batch ends at the record of its last bet
  const flush = () => {
    position += batch.length;
    frames.push(encodeBetBatch({ type: MessageType.BetBatch, seq: frames.length, position, bets: batch }));
    counts.push(batch.length);
    batch = [];
    bytes = 0;
  };
  for (const bet of bets) {
    const size = betSize(bet);
    if (batch.length === max || bytes + size > MAX_BATCH_BETS_BYTES) flush();
    batch.push(bet);
    bytes += size;
  }
  if (batch.length > 0) flush();
  return { frames, counts, bets: bets.length };
}

// ---- one connection ------------------------------------------------------------

class Peer {
  readonly socket: Socket;
  readonly #decoder = new FrameDecoder(SERVER_FRAME_LIMITS);
  readonly #inbox: ServerMessage[] = [];
  #waiter: ((m: ServerMessage) => void) | null = null;
  /** When set, messages go here instead of the inbox (the pipelined phase). */
  handler: ((m: ServerMessage) => void) | null = null;

  private constructor(
    readonly agency: number,
    socket: Socket,
  ) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = this.#decoder.push(chunk);
      } catch (error) {
        fail(`agency ${agency}: bad bytes from the central: ${(error as Error).message}`);
      }
      // Writes triggered by these messages leave together.
      socket.cork();
      for (const frame of frames) {
        const message = decodeMessage(frame) as ServerMessage;
        if (message.type === MessageType.Error) {
          fail(`agency ${agency}: the central sent Error ${errorCodeName(message.code)}: ${message.message}`);
        }
        if (this.handler) this.handler(message);
        else if (this.#waiter) {
          const waiter = this.#waiter;
          this.#waiter = null;
          waiter(message);
        } else this.#inbox.push(message);
      }
      socket.uncork();
    });
    socket.on('error', (error) => fail(`agency ${agency}: connection error: ${error.message}`));
    socket.on('end', () => {
      if (!this.closing) fail(`agency ${agency}: the central closed the connection`);
    });
  }

  closing = false;

  static open(host: string, port: number, agency: number, tlsDir: string | null): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = tlsDir
        ? connectTls({
            host,
            port,
            ca: readFileSync(join(tlsDir, 'ca.crt')),
            cert: readFileSync(join(tlsDir, `agency-${agency}.crt`)),
            key: readFileSync(join(tlsDir, `agency-${agency}.key`)),
          })
        : connect({ host, port });
      socket.setNoDelay(true);
      socket.once(tlsDir ? 'secureConnect' : 'connect', () => {
        socket.removeListener('error', reject);
        resolve(new Peer(agency, socket));
      });
      socket.once('error', reject);
    });
  }

  next(): Promise<ServerMessage> {
    const queued = this.#inbox.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  async hello(): Promise<{ stored: number; finished: boolean }> {
    const nonce = Buffer.alloc(16);
    this.socket.write(encodeHello({ type: MessageType.Hello, version: PROTOCOL_VERSION, agency: this.agency, singleBet: false, nonce }));
    const reply = await this.next();
    if (reply.type === MessageType.Challenge) fail(`agency ${this.agency}: the central requires authentication; run it without secrets`);
    if (reply.type !== MessageType.Welcome) fail(`agency ${this.agency}: expected Welcome, got 0x${reply.type.toString(16)}`);
    return { stored: reply.stored, finished: reply.finished };
  }

  /** Done(total), then an Echo whose answer proves the central has handled the Done (messages are handled in order). */
  async doneConfirmed(total: number): Promise<void> {
    const payload = Buffer.from(`done ${this.agency}`);
    this.socket.write(Buffer.concat([encodeDone({ type: MessageType.Done, total }), encodeEcho({ type: MessageType.Echo, payload })]));
    const reply = await this.next();
    if (reply.type !== MessageType.Echo || !reply.payload.equals(payload))
      fail(`agency ${this.agency}: expected the Echo after Done, got 0x${reply.type.toString(16)}`);
  }

  /** Done(total) and WinnersRequest in one write. */
  finish(total: number): void {
    this.socket.write(Buffer.concat([encodeDone({ type: MessageType.Done, total }), encodeWinnersRequest()]));
  }

  async winners(): Promise<string[]> {
    const documents: string[] = [];
    for (;;) {
      const page = await this.next();
      if (page.type !== MessageType.Winners) fail(`agency ${this.agency}: expected Winners, got 0x${page.type.toString(16)}`);
      documents.push(...page.documents);
      if (page.last) return documents;
    }
  }

  close(): void {
    this.closing = true;
    this.socket.end();
  }
}

// ---- modes -------------------------------------------------------------------

interface AgencyResult {
  agency: number;
  stored: number;
  winners: string[];
  frames?: number;
  /** Hello sent → Welcome received. */
  welcomeMs?: number;
  /** First batch written (all connections start together) → this connection's first BatchAck. */
  firstAckMs?: number;
}

async function ingest(o: Options): Promise<void> {
  const t0 = performance.now();
  const encoded = o.files.map(({ agency, path }) => ({ agency, ...encode(readBets(path), o.batch) }));
  const encodeMs = performance.now() - t0;
  // All connections at once; each one's time to connect and to get its Welcome (the central starts a worker per connection).
  const opened = performance.now();
  const peers = await Promise.all(encoded.map((e) => Peer.open(o.host, o.port, e.agency, o.tlsDir)));
  const connected = performance.now();
  const welcomeMs = await Promise.all(
    peers.map(async (peer) => {
      const sent = performance.now();
      const welcome = await peer.hello();
      if (welcome.stored !== 0 || welcome.finished)
        fail(`agency ${peer.agency}: the central already holds ${welcome.stored} of its bets; use a fresh bets file`);
      return performance.now() - sent;
    }),
  );
  const connectMs = connected - opened;
  const totalBets = encoded.reduce((n, e) => n + e.bets, 0);
  if (o.start === 'on-signal') {
    await new Promise((go) => {
      process.once('SIGUSR2', go);
      process.stdout.write('EVENT ready\n');
    });
  }

  process.stdout.write('EVENT start\n');
  const start = performance.now();
  const runs = peers.map((peer, i) => pipeline(peer, encoded[i], o.window, start));
  const outcomes = await Promise.all(runs);
  const end = performance.now();
  process.stdout.write('EVENT end\n');

  const agencies: AgencyResult[] = [];
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i];
    peer.handler = null;
    peer.finish(outcomes[i].stored);
  }
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i];
    const winners = await peer.winners();
    peer.close();
    agencies.push({
      agency: peer.agency,
      stored: outcomes[i].stored,
      winners,
      frames: encoded[i].frames.length,
      welcomeMs: welcomeMs[i],
      firstAckMs: outcomes[i].firstAckMs,
    });
  }
  const ingestMs = end - start;
  report({
    mode: 'ingest',
    bets: totalBets,
    encodeMs,
    connectMs,
    ingestMs,
    betsPerSecond: totalBets / (ingestMs / 1000),
    window: o.window,
    agencies,
  });
}

/** Streams one agency's frames with up to `window` unacknowledged; resolves after the last ack. */
function pipeline(peer: Peer, e: Encoded, window: number, start: number): Promise<{ stored: number; firstAckMs: number }> {
  return new Promise((resolve) => {
    let next = 0;
    let done = 0; // frames answered: an ack answers its frame and every earlier one
    let stored = 0;
    let firstAckMs = -1;
    const fill = () => {
      while (next - done < window && next < e.frames.length) peer.socket.write(e.frames[next++]);
    };
    peer.handler = (m) => {
      if (m.type === MessageType.BatchRejected)
        fail(`agency ${peer.agency}: batch ${m.seq} rejected: ${errorCodeName(m.code)}: ${m.reason}`);
      if (m.type !== MessageType.BatchAck) fail(`agency ${peer.agency}: expected BatchAck, got 0x${m.type.toString(16)}`);
      if (m.seq < done || m.seq >= next) fail(`agency ${peer.agency}: ack for batch ${m.seq}, which is not in flight`);
      if (firstAckMs < 0) firstAckMs = performance.now() - start;
      done = m.seq + 1;
      if (m.stored > stored) stored = m.stored;
      if (done === e.frames.length) {
        if (stored !== e.bets) fail(`agency ${peer.agency}: last ack says ${stored} stored, ${e.bets} were sent`);
        resolve({ stored, firstAckMs });
      } else {
        fill();
      }
    };
    if (e.frames.length === 0) {
      resolve({ stored: 0, firstAckMs: 0 });
      return;
    }
    peer.socket.cork();
    fill();
    peer.socket.uncork();
  });
}

async function draw(o: Options): Promise<void> {
  const peers = await Promise.all(o.agencies.map((agency) => Peer.open(o.host, o.port, agency, o.tlsDir)));
  const stored: number[] = [];
  for (const peer of peers) {
    const welcome = await peer.hello();
    if (welcome.finished) fail(`agency ${peer.agency}: already finished; use a fresh bets file`);
    stored.push(welcome.stored);
  }
  const last = peers.length - 1;
  const answers: Array<Promise<string[]>> = [];
  // Every other agency's Done is handled (Echo answered) before its WinnersRequest is parked,
  // so the last agency's Done is exactly the one that starts the draw.
  await Promise.all(peers.slice(0, last).map((peer, i) => peer.doneConfirmed(stored[i])));
  for (let i = 0; i < last; i++) {
    peers[i].socket.write(encodeWinnersRequest());
    answers.push(peers[i].winners());
  }
  await new Promise((resolve) => setTimeout(resolve, o.settleMs));
  process.stdout.write('EVENT start\n');
  const start = performance.now();
  peers[last].finish(stored[last]);
  answers.push(peers[last].winners());
  let lastAnswer = start;
  const winners = await Promise.all(answers.map((p) => p.then((docs) => ((lastAnswer = Math.max(lastAnswer, performance.now())), docs))));
  process.stdout.write('EVENT end\n');
  for (const peer of peers) peer.close();
  report({
    mode: 'draw',
    drawMs: lastAnswer - start,
    agencies: peers.map((peer, i) => ({ agency: peer.agency, stored: stored[i], winners: winners[i] })),
  });
}

function report(result: object): void {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

const options = parseArgs(process.argv.slice(2));
(options.mode === 'ingest' ? ingest(options) : draw(options)).then(
  () => process.exit(0),
  (error: unknown) => fail(String((error as Error)?.stack ?? error)),
);
