/**
 * One agency's conversation with the central, run inside that connection's
 * worker. A strict state machine:
 *
 *   greeting --Hello--> [authenticating --Proof-->] betting --Done--> finished
 *            --WinnersRequest--> waiting --draw--> answered
 *
 * Echo is answered in any state. Anything out of order, a skipped or repeated
 * batch sequence number, or a second Hello is a protocol error: the session
 * answers Error and the connection closes, with nothing stored from it.
 *
 * Batches received together (one socket read) are checked and staged, then
 * written with one write, made durable with a single (group-committed) sync,
 * then logged and answered together, in order.
 */
import { isUtf8 } from 'node:buffer';
import type { Logger } from '../common/logger.js';
import {
  encodeBatchAck,
  encodeChallenge,
  NONCE_BYTES,
  encodeBatchRejected,
  encodeEcho,
  encodeErrorReply,
  encodeWelcome,
  encodeWinnersPages,
  ErrorCode,
  errorCodeName,
  MessageType,
  NO_BET_INDEX,
  PROTOCOL_VERSION,
  validateBet,
  todayNumberUtc,
  decodeBetBatch,
  BodyReader,
  type Bet,
  type ClientMessage,
  type Done,
  type Echo,
  type Hello,
  type Proof,
} from '../protocol/index.js';
import { runDraw } from './coordinator.js';
import { DRAW_STATE as DRAW_STATE_SLOT, DrawState, type SharedState } from './shared-state.js';
import { StoreError, type BetFile } from './storage/bet-file.js';
import { BatchLineWriter } from './storage/batch-lines.js';
import { formatBetLines } from './storage/csv-line.js';
import { readWinners, recordFinished } from './storage/sidecars.js';

type Phase = 'greeting' | 'authenticating' | 'betting' | 'finished' | 'waiting' | 'answered' | 'closed';

export interface SessionDeps {
  readonly state: SharedState;
  readonly betFile: BetFile;
  readonly logger: Logger;
  readonly betsFile: string;
  /** Agencies the draw waits for (0: no draw). */
  readonly agencies: number;
  /** Agency secrets; null when the central runs unauthenticated. */
  readonly secrets: ReadonlyMap<number, string> | null;
  readonly peer: string;
  /** Queues bytes for the socket. */
  send(bytes: Buffer): void;
  /** Called once when the session wants its connection closed. */
  close(): void;
  /** Announces the agency this session speaks for. */
  claimed(agency: number): void;
}

/** A batch checked and turned into lines, not yet written. */
interface Staged {
  readonly seq: number;
  readonly count: number;
  /** End of its lines in the session's BatchLineWriter. */
  readonly end: number;
  /** Decoded bets, kept only for single-bet sessions (their bets are logged one by one). */
  readonly bets: readonly Bet[] | null;
}

/** A batch owed an answer: an ack once its write is durable, or a rejection, in arrival order. */
type Pending =
  | { readonly seq: number; readonly writeSeq: number; readonly stored: number; readonly count: number; readonly bets: readonly Bet[] | null }
  | { readonly seq: number; readonly count: number; readonly rejected: { readonly code: ErrorCode; readonly betIndex: number; readonly reason: string } };

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
    const { logger, betFile } = this.deps;
    try {
      while (this.#pending.length > 0) {
        const pending = this.#pending;
        this.#pending = [];
        let newest = 0;
        for (const p of pending) if ('writeSeq' in p) newest = p.writeSeq;
        await betFile.durable(newest);
        const answers: Buffer[] = [];
        const lines: string[] = [];
        const log = (line: string | null) => line !== null && lines.push(line);
        for (const p of pending) {
          if ('rejected' in p) {
            const { code, betIndex, reason } = p.rejected;
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

  /** Ends the session with an Error frame (connection-fatal) and a log line. */
  fail(code: ErrorCode, message: string): void {
    if (this.closed) return;
    this.#writeStaged(); // batches that arrived before the fault are stored (an agency resumes past them)
    this.deps.logger.warning('protocol_error', 'fail', {
      agency: this.#agency,
      ip: this.deps.peer,
      code: errorCodeName(code),
      error: message,
    });
    this.deps.send(encodeErrorReply({ type: MessageType.Error, code, message }));
    this.#close();
  }

  /** Ends the session because the central is stopping: not a failure, so logged as a normal close. */
  goodbye(reason: string): void {
    if (this.closed) return;
    this.#writeStaged();
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
   * resumes from the stored count. (Their batches are written either way;
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
    const { secrets } = this.deps;
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
    this.#admit(hello);
  }

  #authFailed(agency: number, reason: string): void {
    this.deps.logger.warning('auth', 'fail', { agency, ip: this.deps.peer, reason });
    this.fail(ErrorCode.AuthFailed, 'authentication failed');
  }

  /** The agency is who it says: claim its slot and tell it where its stored bets end. */
  #admit(hello: Hello): void {
    const { state } = this.deps;
    if (!state.claimAgency(hello.agency)) {
      return this.fail(ErrorCode.AgencyBusy, `agency ${hello.agency} already has an open session`);
    }
    this.#agency = hello.agency;
    this.#singleBet = hello.singleBet;
    this.#lineWriter = new BatchLineWriter(hello.agency);
    this.deps.claimed(hello.agency);
    const finished = state.isFinished(hello.agency);
    const drawDone = state.drawState() === DrawState.Done;
    this.#phase = finished ? 'finished' : 'betting';
    const stored = state.stored(hello.agency);
    this.deps.logger.info('session_started', 'success', { agency: hello.agency, ip: this.deps.peer, stored: stored });
    this.deps.send(encodeWelcome({ type: MessageType.Welcome, stored, finished, drawDone }));
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
    const seq = body.readUInt32BE(0); // FrameDecoder guarantees the 6-byte minimum
    if (seq !== this.#nextSeq) return this.fail(ErrorCode.BadSequence, `batch sequence ${seq} where ${this.#nextSeq} was expected`);
    this.#nextSeq++;
    const lines = this.#lineWriter!;
    let count = this.#singleBet ? -1 : lines.append(body, todayNumberUtc());
    let bets: readonly Bet[] | null = null;
    if (count < 0) {
      // The slow path: decode, to name the exact problem (and for single-bet sessions, whose bets are logged one by one).
      const batch = decodeBetBatch(new BodyReader(body)); // throws ProtocolError on bad structure
      for (let i = 0; i < batch.bets.length; i++) {
        const problem = validateBet(batch.bets[i]!);
        if (problem) return this.#reject(seq, batch.bets.length, ErrorCode.InvalidBet, i, `bet ${i + 1}: ${problem}`);
      }
      lines.appendLines(formatBetLines(this.#agency, batch.bets));
      count = batch.bets.length;
      if (this.#singleBet) bets = batch.bets;
    }
    this.#staged.push({ seq, count, end: lines.length, bets });
    if (lines.length >= STAGE_LIMIT_BYTES) this.#writeStaged();
  }

  /** Writes every staged batch under one lock hold; a refused write rejects them all. */
  #writeStaged(): void {
    const staged = this.#staged;
    if (staged.length === 0) return;
    this.#staged = [];
    const lines = this.#lineWriter!;
    let count = 0;
    for (const s of staged) count += s.count;
    try {
      const { seq: writeSeq, storedBefore } = this.deps.betFile.append(this.#agency, lines.lines, staged.map((s) => s.end), count);
      let stored = storedBefore;
      for (const s of staged) {
        stored += s.count;
        this.#pending.push({ seq: s.seq, writeSeq, stored, count: s.count, bets: s.bets });
      }
    } catch (error) {
      const code = error instanceof StoreError ? error.code : ErrorCode.StorageFailure;
      const reason = error instanceof StoreError ? error.message : `could not store the batch: ${(error as Error).message}`;
      for (const s of staged) this.#pending.push({ seq: s.seq, count: s.count, rejected: { code, betIndex: NO_BET_INDEX, reason } });
    } finally {
      lines.reset();
    }
  }

  /** Refuses a batch whole; its answer follows those of the batches before it. */
  #reject(seq: number, count: number, code: ErrorCode, betIndex: number, reason: string): void {
    this.#writeStaged();
    this.#pending.push({ seq, count, rejected: { code, betIndex, reason } });
  }

  #done(done: Done): void {
    if (this.#unwelcomed()) return this.fail(ErrorCode.UnexpectedMessage, 'done before a completed hello');
    if (this.#phase !== 'betting') return this.fail(ErrorCode.UnexpectedMessage, 'second done');
    const { state, logger, betsFile } = this.deps;
    const stored = state.stored(this.#agency);
    if (done.total !== stored) {
      return this.fail(ErrorCode.CountMismatch, `agency says it sent ${done.total} bets, the central holds ${stored}`);
    }
    this.#phase = 'finished';
    if (!state.markFinished(this.#agency)) return;
    try {
      recordFinished(betsFile, this.#agency);
    } catch (error) {
      logger.error('agency_finished', 'fail', { agency: this.#agency, error: (error as Error).message });
    }
    const finished = state.countFinished();
    logger.info('agency_finished', 'success', { agency: this.#agency, bets: stored, finished: finished, expected: this.deps.agencies });
    // The arrival that completes the expected set is the coordinator.
    if (finished === this.deps.agencies) runDraw(betsFile, state, logger, true);
  }

  async #winners(): Promise<void> {
    if (this.#unwelcomed()) return this.fail(ErrorCode.UnexpectedMessage, 'winners request before a completed hello');
    if (this.#phase === 'betting') return this.fail(ErrorCode.UnexpectedMessage, 'winners request before done');
    if (this.#phase !== 'finished') return this.fail(ErrorCode.UnexpectedMessage, 'second winners request');
    if (this.deps.agencies === 0) return this.fail(ErrorCode.UnexpectedMessage, 'no draw is configured (SERVER_AGENCIES=0)');
    this.#phase = 'waiting';
    const outcome = await this.#awaitDraw();
    if (outcome === 'aborted') return;
    if (outcome === 'shutdown') return this.goodbye('the central is shutting down before the draw');
    if (outcome === 'failed') return this.fail(ErrorCode.StorageFailure, 'the draw failed; see the central logs');
    const documents = readWinners(this.deps.betsFile, this.#agency) ?? [];
    this.deps.logger.info('winners_sent', 'success', { agency: this.#agency, winners: documents.length });
    for (const page of encodeWinnersPages(documents)) this.deps.send(page);
    this.#phase = 'answered';
  }

  /** The barrier: parks without blocking the thread (Atomics.waitAsync), in slices. */
  async #awaitDraw(): Promise<'done' | 'failed' | 'shutdown' | 'aborted'> {
    const { state } = this.deps;
    for (;;) {
      const draw = state.drawState();
      if (draw === DrawState.Done) return 'done';
      if (draw === DrawState.Failed) return 'failed';
      if (state.isShuttingDown()) return 'shutdown';
      if (this.#aborted) return 'aborted';
      // Waits only while the slot still holds the value just read, so a draw
      // finishing in between is never missed; shutdown notifies this slot too.
      const waiting = Atomics.waitAsync(state.slots, DRAW_STATE_SLOT, draw, WAIT_SLICE_MS);
      // The timer is a second guarantee that the slice ends, whatever happens to the waiter.
      if (waiting.async) await Promise.race([waiting.value, sleep(WAIT_SLICE_MS)]);
    }
  }
}
