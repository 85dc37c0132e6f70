/**
 * Stateful fuzzing of sessions against a live central (fast-check).
 *
 * Each generated scenario is one to four concurrent connections, each a
 * random script of steps: Hello (right or wrong version, single-bet flag),
 * Proof without a challenge, BetBatch with the right / a repeated / a skipped
 * sequence number or a file position that goes backwards, and sometimes an
 * invalid bet, with invalid rows of the agency's file skipped in between (so
 * positions jump), malformed batches (bad UTF-8,
 * a count that does not match), bursts of pipelined batches, Done with the
 * right or a wrong total, WinnersRequest, Echo, garbage (unknown type,
 * oversized header, agency 0), a valid batch followed by garbage in the same
 * write, a batch cut short followed by FIN, an abrupt reset, a reconnect
 * (the Welcome must say exactly how many of the agency's bets are stored, and
 * a settled position no earlier than the last batch answered and no later
 * than the last batch sent; the script then resumes from it),
 * and a second connection for an agency that already has one (ERR_AGENCY_BUSY).
 *
 * A model of the session state machine (docs/protocol.md, server/session.ts)
 * predicts every reply; the executor checks each one within a deadline
 * (never hangs) and that the central closes after every Error. After each
 * scenario, every agency it touched is asked for its Welcome, and bets.csv
 * must hold, per agency, exactly the bets of acknowledged batches, in order:
 * nothing from rejected, refused, malformed or cut batches, and nothing from
 * a batch the central never answered (the protocol promises each batch one
 * answer: its BatchRejected, or the first BatchAck at or after its seq). At the end the central still answers an
 * echo and no worker failed.
 *
 * The central waits for 65,535 agencies, so the draw never runs here and a
 * winners request after Done parks (the script ends there). Fast default:
 * 40 scenarios; LOTTERY_SOAK=1: 400. LOTTERY_SEED replays a run.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ErrorCode, errorCodeName, MessageType, type ServerMessage } from '../../protocol/index.js';
import { Bytes } from '../helpers/bytes.js';
import { findLogs, readStoredBets, startServer, workDir, type ServerHandle } from '../helpers/processes.js';
import { frames, RawPeer, type RawBet } from '../helpers/raw-peer.js';
import { chooseSeed, Rng, SOAK } from '../helpers/reliability.js';

const RUNS = SOAK ? 400 : 40;
const REPLY_MS = 10_000;
const CLOSE_MS = 8_000;

t.setTimeout(SOAK ? 1_800_000 : 240_000);

// ---------------------------------------------------------------------------
// steps

type Step =
  | { readonly k: 'hello'; readonly badVersion: boolean; readonly single: boolean }
  | { readonly k: 'proof' }
  | { readonly k: 'batch'; readonly seq: 'next' | 'repeat' | 'skip' | 'backwards'; readonly n: number; readonly invalid: number | null }
  | { readonly k: 'malformed'; readonly kind: 'utf8' | 'count-more' | 'count-less' | 'count-zero' }
  | { readonly k: 'burst'; readonly n: number }
  | { readonly k: 'done'; readonly delta: number }
  | { readonly k: 'winners' }
  | { readonly k: 'echo'; readonly size: number }
  | { readonly k: 'garbage'; readonly kind: 'unknown' | 'too-large' | 'agency-zero' }
  | { readonly k: 'batchThenGarbage' }
  | { readonly k: 'truncate'; readonly frac: number }
  | { readonly k: 'abort' }
  | { readonly k: 'abortInFlight'; readonly n: number }
  | { readonly k: 'reconnect' }
  | { readonly k: 'busy' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('hello' as const), badVersion: fc.boolean(), single: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ k: 'proof' as const }) },
  {
    weight: 12,
    arbitrary: fc.record({
      k: fc.constant('batch' as const),
      seq: fc.constantFrom(
        'next' as const,
        'next' as const,
        'next' as const,
        'next' as const,
        'repeat' as const,
        'skip' as const,
        'backwards' as const,
      ),
      n: fc.integer({ min: 1, max: 6 }),
      invalid: fc.option(fc.integer({ min: 0, max: 60 }), { freq: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('malformed' as const),
      kind: fc.constantFrom('utf8' as const, 'count-more' as const, 'count-less' as const, 'count-zero' as const),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('burst' as const), n: fc.integer({ min: 2, max: 6 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('done' as const), delta: fc.constantFrom(0, 0, 0, 1, -1, 1000) }) },
  { weight: 2, arbitrary: fc.constant({ k: 'winners' as const }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('echo' as const), size: fc.integer({ min: 0, max: 300 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('garbage' as const),
      kind: fc.constantFrom('unknown' as const, 'too-large' as const, 'agency-zero' as const),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ k: 'batchThenGarbage' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('truncate' as const), frac: fc.double({ min: 0, max: 0.999, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'abort' as const }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('abortInFlight' as const), n: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 2, arbitrary: fc.constant({ k: 'reconnect' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'busy' as const }) },
);

/** Usually a valid Hello first, so that scripts get past the greeting. */
const scriptArb = fc.record({
  greet: fc.boolean().chain((b) => (b ? fc.constant(true) : fc.boolean())), // ~75 %
  steps: fc.array(stepArb, { minLength: 1, maxLength: 14 }),
});
const scenarioArb = fc.record({
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
  connections: fc.array(scriptArb, { minLength: 1, maxLength: 4 }),
});
type Script = { readonly greet: boolean; readonly steps: readonly Step[] };

// ---------------------------------------------------------------------------
// the model

/**
 * acked: must be stored; rejected / refused: must not be; unanswered: the central closed without
 * answering it (must not be stored: each batch gets an ack or a rejection); dropped: we hung up
 * before its answer could come (stored whole or not at all, either is fine).
 */
type Fate = 'acked' | 'rejected' | 'refused' | 'unanswered' | 'dropped';
interface BatchRecord {
  readonly keys: string[];
  fate: Fate;
  readonly how: string;
}
interface AgencyModel {
  stored: number;
  /** The position of the last batch answered (acked or rejected): the central has settled at least this far. */
  settled: number;
  /** The highest position of any batch that may have been stored. */
  maxSent: number;
  finished: boolean;
  readonly batches: BatchRecord[];
}

const model = new Map<number, AgencyModel>();
let nextAgency = 1000;
let nextDocument = 10_000_000;

const NAMES = ['José María', 'Muñoz', 'Ana', "O'Brien", 'Smith, Jr', 'Zoë "Z"', 'Łukasz', 'Ñandú', 'Li', 'Renée'];
const UNKNOWN_TYPES = [0x00, 0x06, 0x07, 0x0d, 0x0f, 0x42, 0x7f, 0x81, 0x86, 0xff];

function validBet(rng: Rng): RawBet {
  return {
    first: rng.pick(NAMES),
    last: rng.pick(NAMES),
    document: String(nextDocument++),
    birthdate: `${rng.int(1901, 2005)}-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`,
    number: rng.int(0, 9999),
  };
}

/** Bets validateBet refuses, though the frame itself is well formed. */
function invalidBet(rng: Rng, which: number): RawBet {
  const bet = validBet(rng);
  switch (which % 9) {
    case 0:
      return { ...bet, first: '   ' };
    case 1:
      return { ...bet, last: 'Tab\tbed' };
    case 2:
      return { ...bet, document: '12ab' };
    case 3:
      return { ...bet, document: '12345678901' };
    case 4:
      return { ...bet, birthdate: '2023-02-30' };
    case 5:
      return { ...bet, birthdate: '1899-12-31' };
    case 6:
      return { ...bet, birthdate: '2999-01-01' };
    case 7:
      return { ...bet, number: rng.int(10_000, 65_535) };
    default:
      return { ...bet, first: 'x'.repeat(101) };
  }
}

function keyOf(agency: number, bet: RawBet): string {
  return [String(agency), bet.first, bet.last, bet.document, bet.birthdate, String(bet.number)].join('\u001f');
}

function describe(m: ServerMessage): string {
  switch (m.type) {
    case MessageType.Error:
      return `Error ${errorCodeName(m.code)} (${m.message})`;
    case MessageType.BatchAck:
      return `BatchAck(seq ${m.seq}, stored ${m.stored})`;
    case MessageType.BatchRejected:
      return `BatchRejected(seq ${m.seq}, ${errorCodeName(m.code)})`;
    case MessageType.Welcome:
      return `Welcome(stored ${m.stored}, settled ${m.settled}, finished ${m.finished})`;
    default:
      return `message 0x${m.type.toString(16)}`;
  }
}

class Violation extends Error {}

// ---------------------------------------------------------------------------
// one connection's script

type Phase = 'greeting' | 'betting' | 'finished' | 'waiting' | 'closed';

class Conn {
  peer: RawPeer | null = null;
  phase: Phase = 'closed';
  nextSeq = 0;
  /** The file position of the last batch this session sent (from the Welcome's settled). */
  position = 0;
  readonly trace: string[] = [];
  readonly agency = nextAgency++;

  constructor(
    private readonly port: number,
    private readonly rng: Rng,
  ) {
    model.set(this.agency, { stored: 0, settled: 0, maxSent: 0, finished: false, batches: [] });
  }

  get m(): AgencyModel {
    return model.get(this.agency)!;
  }

  fail(message: string): never {
    throw new Violation(`agency ${this.agency}: ${message}\n  trace: ${this.trace.join(' → ')}`);
  }

  async open(): Promise<void> {
    this.peer = await RawPeer.connect(this.port);
    this.phase = 'greeting';
    this.nextSeq = 0;
  }

  async next(what: string): Promise<ServerMessage> {
    try {
      const m = await this.peer!.next(REPLY_MS);
      this.trace.push(`⇐ ${describe(m)}`);
      return m;
    } catch (error) {
      return this.fail(`no reply to ${what}: ${(error as Error).message}`);
    }
  }

  async send(bytes: Buffer, what: string): Promise<void> {
    this.trace.push(what);
    await this.peer!.write(bytes).catch((error: Error) => this.fail(`could not send ${what}: ${error.message}`));
  }

  /** The next frame is an Error with `code`, then the central closes. */
  async expectError(code: number | readonly number[], what: string): Promise<void> {
    const codes = typeof code === 'number' ? [code] : code;
    const m = await this.next(what);
    if (m.type !== MessageType.Error || !codes.includes(m.code))
      this.fail(`${what}: expected Error ${codes.map(errorCodeName).join(' or ')}, got ${describe(m)}`);
    await this.expectClosed(what);
  }

  async expectClosed(what: string): Promise<void> {
    await this.peer!.waitClosed(CLOSE_MS).catch(() => this.fail(`${what}: the central did not close the connection within ${CLOSE_MS} ms`));
    this.phase = 'closed';
  }

  /** Nothing is owed: an Echo must come back as the very next frame. */
  async sync(what: string): Promise<void> {
    const payload = this.rng.bytes(this.rng.int(0, 40));
    await this.send(frames.echo(payload), 'Echo(sync)');
    const m = await this.next(`the echo after ${what}`);
    if (m.type !== MessageType.Echo || !Buffer.from(m.payload).equals(payload))
      this.fail(`after ${what}: expected the echo back, got ${describe(m)}`);
  }

  record(keys: string[], fate: Fate, how: string): BatchRecord {
    const rec: BatchRecord = { keys, fate, how };
    this.m.batches.push(rec);
    return rec;
  }

  async hello(badVersion: boolean, single: boolean): Promise<void> {
    const version = badVersion ? 2 : 3; // 2 waited for an ack per batch
    await this.send(frames.hello(this.agency, { version, flags: single ? 1 : 0 }), `Hello(v${version}${single ? ', single' : ''})`);
    if (this.phase !== 'greeting') return this.expectError(ErrorCode.UnexpectedMessage, 'a second Hello');
    if (badVersion) return this.expectError(ErrorCode.UnsupportedVersion, 'Hello version 2');
    await this.welcomed(await this.next('Hello'), 'Hello');
  }

  async welcomed(m: ServerMessage, what: string): Promise<void> {
    if (m.type !== MessageType.Welcome) this.fail(`${what}: expected Welcome, got ${describe(m)}`);
    this.checkWelcome(m.stored, m.settled, m.finished, what);
    this.phase = m.finished ? 'finished' : 'betting';
    this.position = m.settled;
  }

  checkWelcome(stored: number, settled: number, finished: boolean, what: string): void {
    const m = this.m;
    // A batch the central never answered may or may not be stored; the Welcome settles it (and the file check judges it).
    const unanswered = m.batches.filter((b) => b.fate === 'unanswered' || b.fate === 'dropped').reduce((n, b) => n + b.keys.length, 0);
    if (stored < m.stored || stored > m.stored + unanswered)
      this.fail(`${what}: Welcome says ${stored} stored, the model has ${m.stored} acknowledged (+${unanswered} unanswered)`);
    if (settled < m.settled || settled > m.maxSent)
      this.fail(`${what}: Welcome says settled ${settled}, the model has ${m.settled}..${m.maxSent}`);
    m.stored = stored;
    m.settled = settled;
    if (finished !== m.finished) this.fail(`${what}: Welcome says finished=${finished}, the model says ${m.finished}`);
  }

  /** A batch frame with `bets`; returns the reply the model expects handled. */
  async batch(seqKind: 'next' | 'repeat' | 'skip' | 'backwards', bets: RawBet[], invalidAt: number | null): Promise<void> {
    const seq =
      seqKind === 'next' || seqKind === 'backwards'
        ? this.nextSeq
        : seqKind === 'repeat'
          ? this.nextSeq > 0
            ? this.nextSeq - 1
            : 7
          : this.nextSeq + 1 + this.rng.int(0, 3);
    // Rows of the file that are not bets may lie between two batches: the position jumps over them.
    const position = seqKind === 'backwards' ? this.position + bets.length - 1 - this.rng.int(0, 2) : this.nextPosition(bets.length);
    const keys = bets.map((b) => keyOf(this.agency, b));
    await this.send(
      frames.betBatch(seq, bets, Math.max(0, position)),
      `BetBatch(seq ${seq}, position ${position}, ${bets.length}${invalidAt === null ? '' : `, invalid #${invalidAt}`})`,
    );
    if (this.phase === 'greeting') {
      this.record(keys, 'refused', 'batch before Hello');
      return this.expectError(ErrorCode.UnexpectedMessage, 'a batch before Hello');
    }
    if (this.phase === 'finished') {
      this.record(keys, 'refused', 'batch after Done');
      return this.expectError(ErrorCode.UnexpectedMessage, 'a batch after Done');
    }
    if (seq !== this.nextSeq) {
      this.record(keys, 'refused', `batch with seq ${seq} where ${this.nextSeq} was expected`);
      return this.expectError(ErrorCode.BadSequence, `a batch with seq ${seq}`);
    }
    if (seqKind === 'backwards') {
      this.record(keys, 'refused', `batch ending at ${position}, which cannot hold ${bets.length} bets after ${this.position}`);
      return this.expectError(ErrorCode.BadPosition, `a batch whose position goes backwards`);
    }
    this.nextSeq++;
    this.sent(position);
    const reply = await this.next(`batch ${seq}`);
    if (invalidAt !== null) {
      this.record(keys, 'rejected', 'batch with an invalid bet');
      if (
        reply.type !== MessageType.BatchRejected ||
        reply.seq !== seq ||
        reply.code !== ErrorCode.InvalidBet ||
        reply.betIndex !== invalidAt
      ) {
        this.fail(`batch ${seq} with invalid bet #${invalidAt}: expected BatchRejected(INVALID_BET, ${invalidAt}), got ${describe(reply)}`);
      }
      // Refused, yet settled: a resume goes on after it.
      this.m.settled = position;
      return;
    }
    if (reply.type !== MessageType.BatchAck || reply.seq !== seq || reply.stored !== this.m.stored + bets.length) {
      this.record(keys, 'unanswered', `batch ${seq} answered wrongly`);
      this.fail(`batch ${seq}: expected BatchAck(seq ${seq}, stored ${this.m.stored + bets.length}), got ${describe(reply)}`);
    }
    this.m.stored += bets.length;
    this.m.settled = position;
    this.record(keys, 'acked', `batch ${seq}`);
  }

  /** The position of a next batch of `count` bets, maybe after a few rows that are not bets. */
  nextPosition(count: number): number {
    return this.position + this.rng.int(0, 2) + count;
  }

  /** A batch at `position` went out in this session: the next one starts after it. */
  sent(position: number): void {
    this.position = position;
    this.m.maxSent = Math.max(this.m.maxSent, position);
  }

  async run(script: Script): Promise<void> {
    await this.open();
    if (script.greet) await this.hello(false, false);
    for (const step of script.steps) {
      if (this.phase === 'waiting') break;
      if (this.phase === 'closed' && step.k !== 'reconnect') continue;
      await this.step(step);
    }
    await this.close();
  }

  async close(): Promise<void> {
    if (!this.peer) return;
    if (this.phase === 'waiting' || this.phase === 'closed') {
      this.peer.destroy();
      await this.peer.closed;
      return;
    }
    // A polite end: FIN; the central answers what it owes and closes.
    this.peer.end();
    await this.expectClosed('FIN at the end of the script');
  }

  async step(step: Step): Promise<void> {
    const rng = this.rng;
    switch (step.k) {
      case 'hello':
        return this.hello(step.badVersion, step.single);
      case 'proof':
        await this.send(new Bytes().raw(rng.bytes(32)).frame(0x02), 'Proof');
        return this.expectError(ErrorCode.UnexpectedMessage, 'a Proof without a Challenge');
      case 'batch': {
        const bets = Array.from({ length: step.n }, () => validBet(rng));
        const invalidAt = step.invalid === null ? null : step.invalid % step.n;
        if (invalidAt !== null) bets[invalidAt] = invalidBet(rng, step.invalid!);
        return this.batch(step.seq, bets, invalidAt);
      }
      case 'malformed': {
        const seq = this.nextSeq;
        const bets = Array.from({ length: 2 }, () => validBet(rng));
        let bytes: Buffer;
        let code: number;
        if (step.kind === 'utf8') {
          const body = new Bytes()
            .u32(seq)
            .u32(this.position + 1)
            .u16(1)
            .u8(2)
            .raw([0xc3, 0x28])
            .str8('Bad')
            .str8(bets[0].document)
            .utf8(bets[0].birthdate)
            .u16(1);
          bytes = body.frame(0x03);
          code = ErrorCode.InvalidUtf8;
        } else {
          const count = step.kind === 'count-more' ? 3 : step.kind === 'count-less' ? 1 : 0;
          const body = new Bytes()
            .u32(seq)
            .u32(this.position + 3)
            .u16(count);
          for (const b of bets) body.str8(b.first).str8(b.last).str8(b.document).utf8(b.birthdate).u16(b.number);
          bytes = body.frame(0x03);
          code =
            step.kind === 'count-more' ? ErrorCode.Truncated : step.kind === 'count-less' ? ErrorCode.TrailingBytes : ErrorCode.OutOfRange;
        }
        this.record(
          bets.map((b) => keyOf(this.agency, b)),
          'refused',
          `malformed batch (${step.kind})`,
        );
        await this.send(bytes, `malformed BetBatch (${step.kind})`);
        // Outside betting the batch is out of place whatever its bytes; which error wins is not specified.
        if (this.phase !== 'betting')
          return this.expectError([code, ErrorCode.UnexpectedMessage], `a malformed batch (${step.kind}) out of place`);
        return this.expectError(code, `a malformed batch (${step.kind})`);
      }
      case 'burst': {
        if (this.phase !== 'betting') return this.batch('next', [validBet(rng)], null);
        const batches = Array.from({ length: step.n }, () => Array.from({ length: rng.int(1, 4) }, () => validBet(rng)));
        const first = this.nextSeq;
        const positions = batches.map((bets) => {
          const position = this.nextPosition(bets.length);
          this.sent(position);
          return position;
        });
        await this.send(
          Buffer.concat(batches.map((bets, i) => frames.betBatch(first + i, bets, positions[i]))),
          `burst of ${step.n} batches from seq ${first}`,
        );
        // An ack answers its batch and every earlier one: the central acks each durable group once.
        for (let answered = 0; answered < batches.length;) {
          const oldest = first + answered;
          const reply = await this.next(`burst batches ${oldest}..${first + batches.length - 1}`);
          const through = reply.type === MessageType.BatchAck ? reply.seq - first : -1;
          const expected = this.m.stored + batches.slice(answered, through + 1).reduce((sum, bets) => sum + bets.length, 0);
          if (reply.type !== MessageType.BatchAck || through < answered || through >= batches.length || reply.stored !== expected) {
            this.fail(
              `burst batch ${oldest}: expected a BatchAck for it or a later burst batch, with its stored total, got ${describe(reply)}`,
            );
          }
          for (; answered <= through; answered++) {
            const bets = batches[answered];
            this.m.stored += bets.length;
            this.m.settled = positions[answered]!;
            this.record(
              bets.map((b) => keyOf(this.agency, b)),
              'acked',
              `burst batch ${first + answered}`,
            );
          }
        }
        this.nextSeq += batches.length;
        return;
      }
      case 'done': {
        const total = Math.max(0, this.m.stored + step.delta);
        await this.send(frames.done(total), `Done(${total})`);
        if (this.phase === 'greeting') return this.expectError(ErrorCode.UnexpectedMessage, 'Done before Hello');
        if (this.phase === 'finished') return this.expectError(ErrorCode.UnexpectedMessage, 'a second Done');
        if (total !== this.m.stored) return this.expectError(ErrorCode.CountMismatch, `Done(${total}) with ${this.m.stored} stored`);
        this.phase = 'finished';
        this.m.finished = true;
        return this.sync('Done');
      }
      case 'winners':
        await this.send(frames.winnersRequest(), 'WinnersRequest');
        if (this.phase === 'greeting') return this.expectError(ErrorCode.UnexpectedMessage, 'WinnersRequest before Hello');
        if (this.phase === 'betting') return this.expectError(ErrorCode.UnexpectedMessage, 'WinnersRequest before Done');
        // Finished: parked until a draw that never comes here. Nothing may come back meanwhile.
        {
          this.phase = 'waiting';
          const before = this.peer!.framesSoFar().length;
          await new Promise((r) => setTimeout(r, 100));
          if (this.peer!.framesSoFar().length > before || this.peer!.isClosed)
            this.fail('a parked winners request was answered or closed before any draw');
        }
        return;
      case 'echo': {
        const payload = rng.bytes(step.size);
        await this.send(frames.echo(payload), `Echo(${step.size})`);
        const m = await this.next('Echo');
        if (m.type !== MessageType.Echo || !Buffer.from(m.payload).equals(payload))
          this.fail(`Echo: expected the same payload back, got ${describe(m)}`);
        return;
      }
      case 'garbage': {
        if (step.kind === 'unknown') {
          await this.send(Buffer.concat([Buffer.from([rng.pick(UNKNOWN_TYPES)]), rng.bytes(rng.int(0, 30))]), 'garbage (unknown type)');
          return this.expectError(ErrorCode.UnknownType, 'an unknown message type');
        }
        if (step.kind === 'too-large') {
          await this.send(Buffer.from([0x03, 0x00, 0x00, 0x23, 0x28]), 'BetBatch header of 9000 bytes');
          return this.expectError(ErrorCode.FrameTooLarge, 'an oversized batch header');
        }
        await this.send(frames.hello(0), 'Hello(agency 0)');
        return this.expectError(ErrorCode.OutOfRange, 'Hello for agency 0');
      }
      case 'batchThenGarbage': {
        if (this.phase !== 'betting') return this.batch('next', [validBet(rng)], null);
        const seq = this.nextSeq++;
        const bets = [validBet(rng), validBet(rng)];
        const rec = this.record(
          bets.map((b) => keyOf(this.agency, b)),
          'unanswered',
          `batch ${seq} sent together with garbage`,
        );
        const position = this.nextPosition(bets.length);
        this.sent(position);
        await this.send(
          Buffer.concat([frames.betBatch(seq, bets, position), Buffer.from([0x42, 1, 2, 3])]),
          `BetBatch(seq ${seq}, 2) + garbage in one write`,
        );
        let m = await this.next(`batch ${seq} followed by garbage`);
        if (m.type === MessageType.BatchAck) {
          if (m.seq !== seq || m.stored !== this.m.stored + bets.length) this.fail(`batch ${seq}: wrong ack ${describe(m)}`);
          this.m.stored += bets.length;
          this.m.settled = position;
          rec.fate = 'acked';
          m = await this.next('the garbage after an acked batch');
        }
        if (m.type !== MessageType.Error || m.code !== ErrorCode.UnknownType)
          this.fail(`garbage after batch ${seq}: expected Error ERR_UNKNOWN_TYPE, got ${describe(m)}`);
        return this.expectClosed('garbage after a batch');
      }
      case 'truncate': {
        const bets = [validBet(rng), validBet(rng), validBet(rng)];
        const frame = frames.betBatch(this.nextSeq, bets, this.position + bets.length);
        const cut = Math.floor(step.frac * frame.length);
        this.record(
          bets.map((b) => keyOf(this.agency, b)),
          'refused',
          `batch cut after ${cut} of ${frame.length} bytes`,
        );
        this.trace.push(`BetBatch cut at ${cut}/${frame.length} + FIN`);
        this.peer!.end(cut > 0 ? frame.subarray(0, cut) : undefined);
        return this.expectClosed('a batch cut short, then FIN');
      }
      case 'abort':
        this.trace.push('reset');
        this.peer!.destroy();
        await this.peer!.closed;
        this.phase = 'closed';
        return;
      case 'abortInFlight': {
        if (this.phase !== 'betting') return this.batch('next', [validBet(rng)], null);
        const batches = Array.from({ length: step.n }, () => Array.from({ length: rng.int(1, 4) }, () => validBet(rng)));
        const first = this.nextSeq;
        for (const bets of batches)
          this.record(
            bets.map((b) => keyOf(this.agency, b)),
            'dropped',
            `batch in flight when we reset`,
          );
        this.trace.push(`${step.n} batches from seq ${first} then reset at once`);
        const positions = batches.map((bets) => {
          const position = this.nextPosition(bets.length);
          this.sent(position);
          return position;
        });
        this.peer!.socket.write(Buffer.concat(batches.map((bets, i) => frames.betBatch(first + i, bets, positions[i]))));
        this.peer!.socket.resetAndDestroy();
        await this.peer!.closed;
        this.phase = 'closed';
        return;
      }
      case 'reconnect': {
        await this.close();
        this.trace.push('reconnect');
        for (let attempt = 0; ; attempt++) {
          await this.open();
          await this.send(frames.hello(this.agency), 'Hello');
          const m = await this.next('Hello after reconnecting');
          if (m.type === MessageType.Error && m.code === ErrorCode.AgencyBusy && attempt < 100) {
            // The previous connection's worker has not let go of the agency yet.
            await this.expectClosed('ERR_AGENCY_BUSY');
            await new Promise((r) => setTimeout(r, 30));
            continue;
          }
          return this.welcomed(m, 'Hello after reconnecting');
        }
      }
      case 'busy': {
        if (this.phase !== 'betting' && this.phase !== 'finished') return;
        const other = await RawPeer.connect(this.port);
        try {
          await other.write(frames.hello(this.agency));
          const m = await other.next(REPLY_MS);
          this.trace.push(`second connection ⇐ ${describe(m)}`);
          if (m.type !== MessageType.Error || m.code !== ErrorCode.AgencyBusy)
            this.fail(`a second session for a live agency: expected ERR_AGENCY_BUSY, got ${describe(m)}`);
          await other.waitClosed(CLOSE_MS);
        } finally {
          other.destroy();
        }
        return this.sync('a refused second session');
      }
    }
  }
}

// ---------------------------------------------------------------------------
// the file check

/** bets.csv, per agency, must be the acknowledged batches in order; anything else is named. */
function checkFile(betsFile: string, agencies: Iterable<number>): string[] {
  const stored = readStoredBets(betsFile);
  const problems: string[] = [];
  if (!stored.endsWithNewline || stored.malformed.length > 0)
    problems.push(`bets.csv is not whole well-formed lines (${stored.malformed.length} malformed)`);
  for (const agency of stored.byAgency.keys())
    if (!model.has(agency)) problems.push(`bets.csv holds agency ${agency}, which no scenario used`);
  for (const agency of agencies) {
    const m = model.get(agency)!;
    const actual = stored.byAgency.get(agency) ?? [];
    // Walk the agency's batches in the order they were sent: acknowledged ones must be there
    // whole, dropped ones may be there whole, nothing else may be there at all.
    let at = 0;
    const wrong: string[] = [];
    for (const b of m.batches) {
      const here = actual.slice(at, at + b.keys.length);
      const present = here.length === b.keys.length && here.every((k, i) => k === b.keys[i]);
      if (b.fate === 'acked') {
        if (present) at += b.keys.length;
        else wrong.push(`acknowledged ${b.how} is missing at record ${at}`);
      } else if (present) {
        at += b.keys.length;
        if (b.fate !== 'dropped')
          wrong.push(`${b.fate} ${b.how} was stored${b.fate === 'unanswered' ? ' though the central never acknowledged it' : ''}`);
      }
    }
    if (at !== actual.length) wrong.push(`${actual.length - at} stored bets of agency ${agency} match no batch in order`);
    if (wrong.length > 0) problems.push(`agency ${agency}: ${wrong.join('; ')}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------

t.test('random message sequences from concurrent connections', async (t) => {
  const seed = chooseSeed(t, 'session fuzz');
  const server: ServerHandle = await startServer(t, { agencies: 65_535, dir: workDir(t, 'central') });
  let scenarios = 0;
  let steps = 0;
  const began = Date.now();
  const property = fc.asyncProperty(scenarioArb, async (scenario) => {
    scenarios++;
    const rng = new Rng(scenario.seed);
    const conns = scenario.connections.map(() => new Conn(server.port, new Rng(rng.int(1, 0x7fffffff))));
    steps += scenario.connections.reduce((n, c) => n + c.steps.length, 0);
    try {
      await Promise.all(conns.map((c, i) => c.run(scenario.connections[i])));
    } finally {
      for (const c of conns) c.peer?.destroy();
    }
    // Every agency of the scenario: once its connections are gone, the Welcome tells what is stored.
    for (const c of conns) {
      for (let attempt = 0; ; attempt++) {
        const probe = await RawPeer.connect(server.port);
        try {
          await probe.write(frames.hello(c.agency));
          const m = await probe.next(REPLY_MS);
          if (m.type === MessageType.Error && m.code === ErrorCode.AgencyBusy && attempt < 100) {
            await new Promise((r) => setTimeout(r, 30));
            continue;
          }
          if (m.type !== MessageType.Welcome) return c.fail(`probe: expected Welcome, got ${describe(m)}`);
          c.checkWelcome(m.stored, m.settled, m.finished, 'probe after the scenario');
          break;
        } finally {
          probe.destroy();
          await probe.closed;
        }
      }
    }
    const problems = checkFile(
      server.betsFile,
      conns.map((c) => c.agency),
    );
    if (problems.length > 0) {
      throw new Violation(`${problems.join('\n')}\n  traces:\n${conns.map((c) => `  [${c.agency}] ${c.trace.join(' → ')}`).join('\n')}`);
    }
    if (server.process.exit) throw new Violation(`the central exited: ${JSON.stringify(server.process.exit)}`);
  });
  const result = await fc.check(property, { seed, numRuns: RUNS, endOnFailure: true });
  t.comment(`${scenarios} scenarios, ${steps} steps, ${model.size} agencies in ${Date.now() - began} ms`);
  if (result.failed) t.comment(`violation: ${(result.errorInstance as Error | undefined)?.message ?? String(result.errorInstance)}`);
  t.notOk(result.failed, result.failed ? (fc.defaultReportMessage(result) ?? 'property failed') : `${RUNS} scenarios, no violation`);

  // Never crashed: still answers an echo; no worker died of an internal error.
  t.equal(server.process.exit, null, 'the central is still running');
  const peer = await RawPeer.open(t, server.port);
  await peer.write(frames.echo('alive?'));
  const echo = await peer.nextFrame(REPLY_MS);
  t.equal(echo.bytes.toString('hex'), frames.echo('alive?').toString('hex'), 'and answers an echo');
  peer.destroy();
  t.same(
    findLogs(server.logs(), 'worker', 'fail').map((l) => l.raw),
    [],
    'no worker failed with an internal error',
  );
  t.equal(server.process.stderr, '', 'nothing on stderr');
  const whole = checkFile(server.betsFile, model.keys());
  t.same(whole, [], 'bets.csv as a whole holds exactly the acknowledged batches of every scenario');
  t.comment(`bets.csv: ${readFileSync(server.betsFile).length} bytes`);
  t.equal(await server.stop('SIGTERM'), 0, 'the central stops cleanly');
});

t.test('a valid batch followed by garbage in the same write', async (t) => {
  // The example the fuzzer keeps finding, pinned down: the protocol promises each batch one
  // BatchAck or one BatchRejected, and the file only acknowledged batches.
  const server = await startServer(t, { agencies: 65_535, dir: workDir(t, 'pinned') });
  const peer = await RawPeer.open(t, server.port);
  await peer.write(frames.hello(77));
  t.equal((await peer.next()).type, MessageType.Welcome, 'welcomed');
  const bet: RawBet = { first: 'Pinned', last: 'Example', document: '55555555', birthdate: '1990-05-05', number: 1234 };
  await peer.write(Buffer.concat([frames.betBatch(0, [bet]), Buffer.from([0x42, 0, 0, 0, 0])]));
  const replies: ServerMessage[] = [];
  for (;;) {
    const m = await peer.next(REPLY_MS).catch(() => null);
    if (!m) break;
    replies.push(m);
    if (m.type === MessageType.Error) break;
  }
  await peer.waitClosed(CLOSE_MS);
  const acked = replies.some((m) => m.type === MessageType.BatchAck && m.seq === 0);
  const stored = readFileSync(server.betsFile, 'utf8').includes('55555555');
  t.comment(`replies: ${replies.map(describe).join(', ')}; stored: ${stored}`);
  t.ok(replies.at(-1)?.type === MessageType.Error, 'the garbage is answered with an Error and the connection closes');
  t.equal(stored, acked, acked ? 'the batch was acknowledged and is stored' : 'the batch was never acknowledged, so it must not be stored');
  t.equal(await server.stop('SIGTERM'), 0, 'stops cleanly');
});
