/**
 * One agency's conversation with the central, run inside that connection's
 * worker. A strict state machine:
 *
 *   greeting --Hello--> [authenticating --Proof-->] betting --Done--> finished
 *            --WinnersRequest--> waiting --draw--> answered
 *
 * Echo is answered in any state. Anything out of order, a skipped or repeated
 * batch sequence number, a file position that goes backwards, or a second
 * Hello is a protocol error: the session answers Error and the connection
 * closes.
 *
 * Batches received together (one socket read) are checked and staged, then
 * written as one store write, made durable by the store's group commit, then
 * logged and answered together, in order. A batch with an invalid bet is
 * refused whole, and its file position is settled durably too, so that the
 * agency's resume point stays exact. A write the store cannot make ends the
 * session with ERR_STORAGE_UNAVAILABLE: the agency comes back and resumes
 * from its durable ledger.
 */
import { isUtf8 } from 'node:buffer';
import type { Logger } from '../common/logger.js';
import {
  BATCH_COUNT_OFFSET,
  BATCH_POSITION_OFFSET,
  BATCH_SEQ_OFFSET,
  BodyReader,
  decodeBetBatch,
  encodeBatchAck,
  encodeBatchRejected,
  encodeChallenge,
  encodeEcho,
  encodeErrorReply,
  encodeWelcome,
  encodeWinnersPages,
  ErrorCode,
  errorCodeName,
  MessageType,
  NO_BET_INDEX,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  todayNumberUtc,
  validateBet,
  type Bet,
  type ClientMessage,
  type Done,
  type Echo,
  type Hello,
  type Proof,
} from '../protocol/index.js';
import { DRAW_STATE, DrawState, type CentralState } from './central-state.js';
import { BatchLineWriter } from './storage/batch-lines.js';
import { formatBetLines } from './storage/csv-line.js';
import { StoreClosed, StoreFailed, StoreUnavailable, type BetStore, type Ticket } from './storage/store.js';

type Phase = 'greeting' | 'authenticating' | 'betting' | 'finished' | 'waiting' | 'answered' | 'closed';

export interface SessionDeps {
  readonly store: BetStore;
  readonly central: CentralState;
  readonly logger: Logger;
  /** A draw is configured (a roster): only roster agencies are admitted. */
  readonly drawConfigured: boolean;
  /** Agency secrets; null when the central runs unauthenticated. */
  readonly secrets: ReadonlyMap<number, string> | null;
  readonly peer: string;
  /** Queues bytes for the socket. */
  send(bytes: Buffer): void;
  /** Called once when the session wants its connection closed. */
  close(): void;
  /** Announces the agency this session speaks for. */
  claimed(agency: number): void;
  /** The agency's Done is durable: the coordinator counts it. */
  finished(agency: number): void;
}

/** A batch checked and turned into lines, not yet written. */
interface Staged {
  readonly seq: number;
  readonly count: number;
  /** The agency's file position after this batch. */
  readonly position: number;
  /** Decoded bets, kept only for single-bet sessions (their bets are logged one by one). */
  readonly bets: readonly Bet[] | null;
}

interface Refusal {
  readonly code: ErrorCode;
  readonly betIndex: number;
  readonly reason: string;
}

/** A batch owed an answer once its ticket is durable (an ack, or a refusal), in arrival order. */
type Pending =
  | { readonly seq: number; readonly ticket: Ticket; readonly stored: number; readonly count: number; readonly bets: readonly Bet[] | null }
  | { readonly seq: number; readonly ticket: Ticket | null; readonly count: number; readonly refused: Refusal };

/** Staged lines are written once they reach this size, even mid-read. */
const STAGE_LIMIT_BYTES = 32 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * node:crypto costs every worker about 1 MB (measured on Node 24), and only a
 * central with agency secrets needs it: loaded at the first Hello it checks.
 */
let authModule: Promise<typeof import('../common/auth.js')> | undefined;
const loadAuth = () => (authModule ??= import('../common/auth.js'));

/** How long a parked winners request sleeps before re-checking for shutdown or hang-up. */
const WAIT_SLICE_MS = 250;

export class Session {
  #phase: Phase = 'greeting';
  #agency = 0;
  #singleBet = false;
  #nextSeq = 0;
  /** The agency's file position after the last batch received. */
  #position = 0;
  /** The agency's stored bets, counting every batch written. */
  #stored = 0;
  #staged: Staged[] = [];
  #pending: Pending[] = [];
  #aborted = false;
  /** The Hello being authenticated, and the nonce we challenged it with. */
  #challenge: { hello: Hello; nonce: Buffer } | null = null;
  #acking: Promise<void> | null = null;
  #lineWriter: BatchLineWriter | null = null;

  constructor(private readonly deps: SessionDeps) {}

  get phase(): Phase {
    return this.#phase;
  }

  get closed(): boolean {
    return this.#phase === 'closed';
  }

  /** True while batches are written but not yet acknowledged: the peer is waiting on us. */
  get owesAcks(): boolean {
    return this.#staged.length > 0 || this.#pending.length > 0 || this.#acking !== null;
  }

  /** The agency, once a Hello was accepted (0 before). */
  get agency(): number {
    return this.#agency;
  }

  /**
   * Handles any message but a bet batch (see `handleBatch`). Batches are
   * acknowledged only once durable (see `settle`), so every other message
   * first waits until earlier batches are acknowledged: replies keep their order.
   */
  async handle(message: ClientMessage): Promise<void> {
    if (this.closed) return;
    await this.settled();
    if (this.closed) return;
    switch (message.type) {
      case MessageType.Echo:
        return this.#echo(message);
      case MessageType.Hello:
        return this.#hello(message);
      case MessageType.Done:
        return this.#done(message);
      case MessageType.WinnersRequest:
        return this.#winners();
      case MessageType.Proof:
        return this.#proof(message);
      case MessageType.BetBatch:
        return this.fail(ErrorCode.UnexpectedMessage, 'bet batches are handled by handleBatch');
      default:
        return this.fail(ErrorCode.UnexpectedMessage, `message type ${(message as { type: number }).type} is not for the central`);
    }
  }

  /** Writes the staged batches and starts answering them as they become durable; does not wait. */
  settle(): void {
    this.#writeStaged();
    if (this.#pending.length > 0 && this.#acking === null) this.#acking = this.#answerLoop();
  }

  /** Resolves once every batch received so far is answered. */
  async settled(): Promise<void> {
    this.settle();
    while (this.#acking) await this.#acking;
  }

  /**
   * Answers in arrival order: waits for the newest pending write to be
   * durable, then logs every answer up to it in one write and sends them in one.
   */
  async #answerLoop(): Promise<void> {
    const { logger } = this.deps;
    try {
      while (this.#pending.length > 0 && !this.closed) {
        const pending = this.#pending;
        this.#pending = [];
        let newest: Ticket | null = null;
        for (const p of pending) if (p.ticket !== null) newest = p.ticket;
        if (newest !== null && !(await this.#durable(newest))) return;
        const answers: Buffer[] = [];
        const lines: string[] = [];
        const log = (line: string | null) => line !== null && lines.push(line);
        for (const p of pending) {
          if ('refused' in p) {
            const { code, betIndex, reason } = p.refused;
            log(logger.format('WARNING', 'apuesta_recibida', 'fail', { cantidad: p.count, agency: this.#agency, code: errorCodeName(code), reason }));
            answers.push(encodeBatchRejected({ type: MessageType.BatchRejected, seq: p.seq, code, betIndex, reason }));
            continue;
          }
          log(logger.format('INFO', 'apuesta_recibida', 'success', { cantidad: p.count, agency: this.#agency }));
          for (const bet of p.bets ?? []) log(logger.format('INFO', 'apuesta_almacenada', 'success', { dni: bet.document, numero: bet.number }));
          answers.push(encodeBatchAck({ type: MessageType.BatchAck, seq: p.seq, stored: p.stored }));
        }
        // Logged before the answers leave: an observer never sees an ack first.
        logger.write(lines);
        if (!this.closed) this.deps.send(answers.length === 1 ? answers[0]! : Buffer.concat(answers));
      }
    } finally {
      this.#acking = null;
    }
  }

  /** Waits for a ticket; false (and the session closed) when the store fail-stopped. */
  async #durable(ticket: Ticket): Promise<boolean> {
    try {
      await this.deps.store.durable(ticket);
      return true;
    } catch (error) {
      if (!(error instanceof StoreFailed)) throw error;
      this.#storeFailed();
      return false;
    }
  }

  /** Ends the session with an Error frame (connection-fatal) and a log line. */
  fail(code: ErrorCode, message: string, action = 'protocol_error'): void {
    if (this.closed) return;
    this.#writeStaged(); // batches that arrived before the fault are stored (an agency resumes past them)
    if (this.closed) return;
    this.deps.logger.warning(action, 'fail', { agency: this.#agency, ip: this.deps.peer, code: errorCodeName(code), error: message });
    this.deps.send(encodeErrorReply({ type: MessageType.Error, code, message }));
    this.#close();
  }

  /** Ends the session because the central is stopping: not a failure, so logged as a normal close. */
  goodbye(reason: string): void {
    if (this.closed) return;
    this.#writeStaged();
    if (this.closed) return;
    this.deps.logger.info('session_closed', 'success', { agency: this.#agency, ip: this.deps.peer, reason });
    this.deps.send(encodeErrorReply({ type: MessageType.Error, code: ErrorCode.ShuttingDown, message: reason }));
    this.#close();
  }

  /** The peer is gone or the central stops: leave any wait at once. */
  abort(): void {
    this.#aborted = true;
  }

  /**
   * The peer stopped sending. Close without waiting for acks still owed: a
   * peer that hung up cannot read them, and an agency that is still alive
   * resumes from its durable ledger. (Their batches are written either way;
   * only the acks are dropped.)
   */
  finish(): void {
    if (!this.closed) this.#close();
  }

  /** True until a Hello (and its Proof, with secrets) was accepted. */
  #unwelcomed(): boolean {
    return this.#phase === 'greeting' || this.#phase === 'authenticating';
  }

  #close(): void {
    this.#phase = 'closed';
    this.deps.close();
  }

  /** The store fail-stopped: the central is ending; nothing more is answered. */
  #storeFailed(): void {
    if (this.closed) return;
    this.#staged = [];
    this.#pending = [];
    this.#close();
  }

  #echo(message: Echo): void {
    const payload = message.payload;
    // The logger keeps the line on one line; bytes that are not text are shown in hex.
    const text = isUtf8(payload) ? payload.toString('utf8').trim() : `0x${payload.toString('hex')}`;
    this.deps.logger.info('receive_message', 'success', { ip: this.deps.peer, msg: text });
    this.deps.send(encodeEcho(message));
  }

  async #hello(hello: Hello): Promise<void> {
    if (this.#phase !== 'greeting') return this.fail(ErrorCode.UnexpectedMessage, 'second hello in one session');
    if (hello.version !== PROTOCOL_VERSION) {
      return this.fail(ErrorCode.UnsupportedVersion, `protocol version ${hello.version} is not supported (this central speaks ${PROTOCOL_VERSION})`);
    }
    const { secrets, store, drawConfigured } = this.deps;
    if (drawConfigured && !store.expects(hello.agency)) {
      return this.fail(ErrorCode.NotExpected, `agency ${hello.agency} is not on this lottery's roster`, 'session_refused');
    }
    if (!secrets) return this.#admit(hello);
    if (!secrets.has(hello.agency)) return this.#authFailed(hello.agency, `agency ${hello.agency} has no secret at this central`);
    const nonce = (await loadAuth()).newNonce(NONCE_BYTES);
    if (this.closed) return;
    this.#challenge = { hello, nonce };
    this.#phase = 'authenticating';
    this.deps.send(encodeChallenge({ type: MessageType.Challenge, nonce }));
  }

  async #proof(proof: Proof): Promise<void> {
    const challenge = this.#challenge;
    if (this.#phase !== 'authenticating' || !challenge) return this.fail(ErrorCode.UnexpectedMessage, 'proof without a challenge');
    this.#challenge = null;
    const { hello, nonce } = challenge;
    const secret = this.deps.secrets!.get(hello.agency)!;
    const { verifyProof } = await loadAuth();
    if (this.closed) return;
    if (!verifyProof(secret, hello.agency, hello.nonce, nonce, proof.mac)) {
      return this.#authFailed(hello.agency, `proof does not match the secret of agency ${hello.agency}`);
    }
    return this.#admit(hello);
  }

  #authFailed(agency: number, reason: string): void {
    this.deps.logger.warning('auth', 'fail', { agency, ip: this.deps.peer, reason });
    this.fail(ErrorCode.AuthFailed, 'authentication failed');
  }

  /** The agency is who it says: claim its slot and tell it where its durable ledger stands. */
  async #admit(hello: Hello): Promise<void> {
    const { central, store } = this.deps;
    if (!central.claimAgency(hello.agency)) {
      return this.fail(ErrorCode.AgencyBusy, `agency ${hello.agency} already has an open session`);
    }
    this.#agency = hello.agency;
    this.#singleBet = hello.singleBet;
    this.deps.claimed(hello.agency);
    let ledger;
    try {
      ledger = await store.ledger(hello.agency);
    } catch (error) {
      if (!(error instanceof StoreFailed)) throw error;
      return this.#storeFailed();
    }
    if (this.closed) return;
    this.#lineWriter = new BatchLineWriter(hello.agency);
    this.#position = ledger.settled;
    this.#stored = ledger.stored;
    this.#phase = ledger.finished ? 'finished' : 'betting';
    const drawDone = central.drawState() === DrawState.Done;
    this.deps.logger.info('session_started', 'success', { agency: hello.agency, ip: this.deps.peer, stored: ledger.stored, settled: ledger.settled });
    this.deps.send(encodeWelcome({ type: MessageType.Welcome, stored: ledger.stored, settled: ledger.settled, finished: ledger.finished, drawDone }));
  }

  /**
   * A BetBatch frame body. Checked and turned into CSV lines on the bytes
   * (BatchLineWriter); only a batch the fast path is unsure of is decoded
   * into objects, to find the exact problem.
   */
  handleBatch(body: Buffer): void {
    if (this.closed) return;
    if (this.#unwelcomed()) return this.fail(ErrorCode.UnexpectedMessage, 'bet batch before a completed hello');
    if (this.#phase !== 'betting') return this.fail(ErrorCode.UnexpectedMessage, 'bet batch after done');
    // FrameDecoder guarantees the fixed part.
    const seq = body.readUInt32BE(BATCH_SEQ_OFFSET);
    const position = body.readUInt32BE(BATCH_POSITION_OFFSET);
    const declared = body.readUInt16BE(BATCH_COUNT_OFFSET);
    if (seq !== this.#nextSeq) return this.fail(ErrorCode.BadSequence, `batch sequence ${seq} where ${this.#nextSeq} was expected`);
    if (position < this.#position + Math.max(declared, 1)) {
      return this.fail(ErrorCode.BadPosition, `batch ${seq} ends at record ${position}, which cannot hold ${declared} bets after record ${this.#position}`);
    }
    this.#nextSeq++;
    this.#position = position;
    const lines = this.#lineWriter!;
    let count = this.#singleBet ? -1 : lines.append(body, todayNumberUtc());
    let bets: readonly Bet[] | null = null;
    if (count < 0) {
      // The slow path: decode, to name the exact problem (and for single-bet sessions, whose bets are logged one by one).
      const batch = decodeBetBatch(new BodyReader(body)); // throws ProtocolError on bad structure
      for (let i = 0; i < batch.bets.length; i++) {
        const problem = validateBet(batch.bets[i]!);
        if (problem) return this.#refuse(seq, batch.bets.length, position, { code: ErrorCode.InvalidBet, betIndex: i, reason: `bet ${i + 1}: ${problem}` });
      }
      lines.appendLines(formatBetLines(this.#agency, batch.bets));
      count = batch.bets.length;
      if (this.#singleBet) bets = batch.bets;
    }
    this.#staged.push({ seq, count, position, bets });
    if (lines.length >= STAGE_LIMIT_BYTES) this.#writeStaged();
  }

  /** Writes every staged batch as one store write. */
  #writeStaged(): void {
    const staged = this.#staged;
    if (staged.length === 0) return;
    this.#staged = [];
    const lines = this.#lineWriter!;
    let count = 0;
    for (const s of staged) count += s.count;
    try {
      const ticket = this.deps.store.append(this.#agency, lines.lines, count, staged[staged.length - 1]!.position);
      for (const s of staged) {
        this.#stored += s.count;
        this.#pending.push({ seq: s.seq, ticket, stored: this.#stored, count: s.count, bets: s.bets });
      }
    } catch (error) {
      this.#storeRefused(error, staged);
    } finally {
      lines.reset();
    }
  }

  /** Refuses a batch whole, settling its position durably; its answer follows those of the batches before it. */
  #refuse(seq: number, count: number, position: number, refusal: Refusal): void {
    this.#writeStaged();
    if (this.closed) return;
    try {
      this.#pending.push({ seq, count, ticket: this.deps.store.settle(this.#agency, position), refused: refusal });
    } catch (error) {
      this.#storeRefused(error, [{ seq, count, position, bets: null }], refusal);
    }
  }

  /** What a store exception means for the batches it was about. */
  #storeRefused(error: unknown, staged: readonly Staged[], refusal?: Refusal): void {
    if (error instanceof StoreClosed) {
      // The draw has begun: refused, not settled (nothing more is stored for anyone).
      for (const s of staged) {
        const reason = refusal?.reason ?? error.message;
        this.#pending.push({ seq: s.seq, count: s.count, ticket: null, refused: { code: ErrorCode.DrawClosed, betIndex: refusal?.betIndex ?? NO_BET_INDEX, reason } });
      }
    } else if (error instanceof StoreUnavailable) {
      this.fail(ErrorCode.StorageUnavailable, `${error.message}; reconnect and resume later`, 'storage_unavailable');
    } else if (error instanceof StoreFailed) {
      this.#storeFailed();
    } else {
      throw error;
    }
  }

  async #done(done: Done): Promise<void> {
    if (this.#unwelcomed()) return this.fail(ErrorCode.UnexpectedMessage, 'done before a completed hello');
    if (this.#phase !== 'betting') return this.fail(ErrorCode.UnexpectedMessage, 'second done');
    let outcome;
    try {
      outcome = await this.deps.store.finish(this.#agency, done.total);
    } catch (error) {
      return this.#storeRefused(error, []);
    }
    if (this.closed) return;
    if (!outcome.ok) {
      return this.fail(ErrorCode.CountMismatch, `agency says it sent ${done.total} bets, the central holds ${outcome.stored}`);
    }
    this.#phase = 'finished';
    this.deps.finished(this.#agency);
  }

  async #winners(): Promise<void> {
    if (this.#unwelcomed()) return this.fail(ErrorCode.UnexpectedMessage, 'winners request before a completed hello');
    if (this.#phase === 'betting') return this.fail(ErrorCode.UnexpectedMessage, 'winners request before done');
    if (this.#phase !== 'finished') return this.fail(ErrorCode.UnexpectedMessage, 'second winners request');
    if (!this.deps.drawConfigured) return this.fail(ErrorCode.UnexpectedMessage, 'no draw is configured (SERVER_AGENCIES=0)');
    this.#phase = 'waiting';
    const outcome = await this.#awaitDraw();
    if (outcome === 'aborted') return;
    if (outcome === 'shutdown') return this.goodbye('the central is shutting down before the draw');
    const documents = await this.deps.store.winners(this.#agency);
    if (this.closed) return;
    this.deps.logger.info('winners_sent', 'success', { agency: this.#agency, winners: documents.length });
    for (const page of encodeWinnersPages([...documents])) this.deps.send(page);
    this.#phase = 'answered';
  }

  /** The barrier: parks without blocking the thread (Atomics.waitAsync), in slices. */
  async #awaitDraw(): Promise<'done' | 'shutdown' | 'aborted'> {
    const { central } = this.deps;
    for (;;) {
      const draw = central.drawState();
      if (draw === DrawState.Done) return 'done';
      if (central.isShuttingDown()) return 'shutdown';
      if (this.#aborted) return 'aborted';
      // Waits only while the slot still holds the value just read, so a draw
      // finishing in between is never missed; shutdown notifies this slot too.
      const waiting = Atomics.waitAsync(central.slots, DRAW_STATE, draw, WAIT_SLICE_MS);
      // The timer is a second guarantee that the slice ends, whatever happens to the waiter.
      if (waiting.async) await Promise.race([waiting.value, sleep(WAIT_SLICE_MS)]);
    }
  }
}
