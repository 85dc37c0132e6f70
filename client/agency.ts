/**
 * One agency's run: connect (with retries), say Hello, resume after the
 * records the central has settled, stream the file in pipelined batches, say
 * Done, ask for the winners. A dropped connection is not fatal: the agency
 * reconnects and resumes from the central's durable position, so every bet is
 * stored exactly once, whatever was refused on the way.
 */
import { randomBytes } from 'node:crypto';
import { computeProof } from '../common/auth.js';
import type { Logger } from '../common/logger.js';
import {
  encodeBetBatch,
  encodeDone,
  encodeHello,
  encodeProof,
  encodeWinnersRequest,
  ErrorCode,
  errorCodeName,
  MessageType,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  type Bet,
  type ServerMessage,
  type Welcome,
} from '../protocol/index.js';
import type { ClientConfig } from './config.js';
import { Connection, ConnectionError, TlsError } from './connection.js';
import { FileBatches } from './file-batches.js';
import { SendCounters } from './progress.js';

/** The run cannot succeed; exit code 1. */
export class AgencyError extends Error {
  override readonly name = 'AgencyError';
}

/** Error codes after which trying again later can succeed. */
const RETRIABLE = new Set<number>([
  ErrorCode.AgencyBusy,
  ErrorCode.ShuttingDown,
  ErrorCode.TooManyConnections,
  ErrorCode.IdleTimeout,
  ErrorCode.StorageUnavailable,
]);

export interface AgencyResult {
  readonly winners: readonly string[];
  readonly sent: number;
  readonly rejected: number;
  readonly invalidRows: number;
}

/** What the run should send: the whole file, or one bet from the environment. */
export type BetInput = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'single'; readonly bet: Bet };

interface Progress {
  /** The central answered Hello with Welcome: it is up and serving. */
  welcomed: boolean;
  sent: number;
  rejected: number;
  invalidRows: number;
}

export class Agency {
  /** Run-wide counts, read by the progress display and the summary (client/progress.ts). */
  readonly counters = new SendCounters();
  #connection: Connection | null = null;
  /** Index in config.centrals of the central to try first. */
  #central: number;

  constructor(
    private readonly config: ClientConfig,
    private readonly input: BetInput,
    private readonly logger: Logger,
    private readonly signal: AbortSignal,
  ) {
    this.#central = (config.id - 1) % config.centrals.length;
  }

  /** Runs to the end; throws AgencyError when it cannot. */
  async run(): Promise<AgencyResult> {
    let failures = 0;
    for (;;) {
      const progress: Progress = { welcomed: false, sent: 0, rejected: 0, invalidRows: 0 };
      try {
        const connection = await this.#connect();
        const winners = await this.#session(connection, progress);
        return { winners, sent: progress.sent, rejected: progress.rejected, invalidRows: progress.invalidRows };
      } catch (error) {
        if (this.signal.aborted) throw error;
        if (error instanceof TlsError) {
          const central = this.config.centrals[this.#central];
          this.logger.error('tls_handshake', 'fail', { client_id: this.config.id, server_address: central.address, error: error.message });
          throw error;
        }
        if (!(error instanceof ConnectionError) && !(error instanceof RetryLater)) throw error;
        // A central that welcomed us is alive: a session it ended (a full disk, a restart) does not use up the attempts.
        failures = progress.welcomed ? 1 : failures + 1;
        // With several centrals, the next session starts at the next one: this one may be going away.
        this.#central = (this.#central + 1) % this.config.centrals.length;
        if (failures >= this.config.loopAmount) {
          throw new AgencyError(`gave up after ${failures} failed attempts: ${error.message}`);
        }
        this.logger.warning('session', 'in_progress', {
          client_id: this.config.id,
          error: error.message,
          retry_in: this.config.loopPeriod,
        });
        await this.#sleep(this.config.loopPeriodMs);
      } finally {
        this.close();
      }
    }
  }

  /** Closes the socket (safe to call twice). */
  close(): void {
    this.#connection?.close();
    this.#connection = null;
  }

  /**
   * Connects to a central: the one that served last (at first, one chosen by
   * the agency's id, so that agencies spread over the list), moving on to
   * the next at once when one fails. An attempt is one round of the list;
   * `loop.period` passes between rounds.
   */
  async #connect(): Promise<Connection> {
    const { centrals, loopAmount, loopPeriodMs, serverAddress } = this.config;
    for (let attempt = 1; ; attempt++) {
      let reason = '';
      for (let tried = 0; tried < centrals.length; tried++) {
        const central = centrals[this.#central];
        try {
          this.#connection = await Connection.open(central.host, central.port, this.config.tls, this.config.replyTimeoutMs);
          this.logger.info('connect', 'success', { server_address: central.address, attempt });
          return this.#connection;
        } catch (error) {
          if (this.signal.aborted) throw new AgencyError('stopped');
          // A certificate that does not verify is not fixed by waiting, nor by trusting another central less.
          if (error instanceof TlsError) throw error;
          reason = `${central.address}: ${(error as Error).message}`;
          if (centrals.length > 1)
            this.logger.warning('connect', 'in_progress', {
              server_address: central.address,
              attempt,
              error: (error as Error).message,
              detail: 'trying the next central',
            });
          this.#central = (this.#central + 1) % centrals.length;
        }
      }
      if (attempt >= loopAmount) {
        this.logger.error('connect', 'fail', { server_address: serverAddress, attempt, error: reason });
        throw new AgencyError(`server ${serverAddress} unreachable after ${attempt} attempts: ${reason}`);
      }
      this.logger.warning('connect', 'in_progress', {
        server_address: serverAddress,
        attempt,
        error: reason,
        retry_in: this.config.loopPeriod,
      });
      await this.#sleep(loopPeriodMs);
    }
  }

  async #session(connection: Connection, progress: Progress): Promise<string[]> {
    const single = this.input.kind === 'single';
    const nonce = randomBytes(NONCE_BYTES);
    await connection.send(
      encodeHello({ type: MessageType.Hello, version: PROTOCOL_VERSION, agency: this.config.id, singleBet: single, nonce }),
    );
    const welcome = await this.#handshake(connection, nonce);
    progress.welcomed = true;
    this.logger.info('session', 'success', {
      client_id: this.config.id,
      stored: welcome.stored,
      settled: welcome.settled,
      finished: welcome.finished,
    });
    if (this.input.kind === 'single') {
      await this.#sendSingle(connection, this.input.bet, welcome);
      return [];
    }
    let total = welcome.stored;
    this.counters.resume(welcome.stored, welcome.settled);
    if (!welcome.finished) {
      const file = this.#openFile(this.input.path, welcome.settled, progress);
      try {
        total = await this.#sendFile(connection, file, welcome.stored, progress);
      } finally {
        file.close();
      }
      this.logger.info('bets_summary', 'success', {
        client_id: this.config.id,
        sent: progress.sent,
        rejected: progress.rejected,
        invalid_rows: progress.invalidRows,
        resumed_after: welcome.settled,
      });
      await connection.send(encodeDone({ type: MessageType.Done, total }));
    }
    await connection.send(encodeWinnersRequest());
    const winners: string[] = [];
    for (;;) {
      const page = expect(await connection.next(true), MessageType.Winners, 'winners request');
      winners.push(...page.documents);
      if (page.last) return winners;
    }
  }

  /** The file as batches, skipping the `skip` records the central has settled. */
  #openFile(path: string, skip: number, progress: Progress): FileBatches {
    const { batchMaxAmount, strict } = this.config;
    return new FileBatches(path, batchMaxAmount, skip, this.signal, (row) => {
      progress.invalidRows++;
      this.counters.invalidRow(row.line);
      this.logger.warning('invalid_bet', 'fail', { file: path, line: row.line, reason: row.error });
      if (strict) throw new AgencyError(`${path} line ${row.line}: ${row.error}`);
    });
  }

  /** Welcome directly, or after answering the central's challenge with our secret. */
  async #handshake(connection: Connection, nonce: Buffer): Promise<Welcome> {
    const reply = await connection.next();
    if (reply.type !== MessageType.Challenge) return expect(reply, MessageType.Welcome, 'hello');
    if (!this.config.secret) throw new AgencyError('the central requires an agency secret: set CLI_SECRET or CLI_SECRET_FILE');
    const mac = computeProof(this.config.secret, this.config.id, nonce, reply.nonce);
    await connection.send(encodeProof({ type: MessageType.Proof, mac }));
    return expect(await connection.next(), MessageType.Welcome, 'proof');
  }

  async #sendSingle(connection: Connection, bet: Bet, welcome: Welcome): Promise<void> {
    if (welcome.settled > 0 && welcome.stored === 0) throw new AgencyError('the central refused this bet in an earlier run');
    if (welcome.settled === 0) {
      await connection.send(encodeBetBatch({ type: MessageType.BetBatch, seq: 0, position: 1, bets: [bet] }));
      const reply = await connection.next();
      if (reply.type === MessageType.BatchRejected) {
        throw new AgencyError(`the central rejected the bet: ${errorCodeName(reply.code)}: ${reply.reason}`);
      }
      expect(reply, MessageType.BatchAck, 'bet');
    }
    // Already stored in an earlier run: exactly once means not sending it again.
    this.logger.info('apuesta_enviada', 'success', { dni: bet.document, numero: bet.number });
  }

  /**
   * Sends the file's batches. Once `window` batches await their acks, it
   * sends what it has and reads acks until half the window is free: frames
   * leave in large writes and acks are read in bursts. Returns the agency's
   * stored total afterwards.
   */
  async #sendFile(connection: Connection, file: FileBatches, alreadyStored: number, progress: Progress): Promise<number> {
    const { window, strict } = this.config;
    const { counters } = this;
    const inFlight = new Map<number, number>(); // seq → bets
    let stored = alreadyStored;

    const settleOne = async () => {
      const reply = await connection.next();
      if (reply.type === MessageType.BatchAck) {
        const { bets, batches } = settleThrough(inFlight, reply.seq);
        progress.sent += bets;
        counters.stored = reply.stored;
        counters.rows += bets;
        counters.batches += batches;
        stored = reply.stored;
        this.logger.debug('batch_ack', 'success', { seq: reply.seq, batches, cantidad: bets, stored });
      } else if (reply.type === MessageType.BatchRejected) {
        const count = takeInFlight(inFlight, reply.seq);
        progress.rejected += count;
        counters.rejected += count;
        counters.rows += count;
        counters.batches++;
        this.logger.error('batch_rejected', 'fail', {
          seq: reply.seq,
          cantidad: count,
          code: errorCodeName(reply.code),
          reason: reply.reason,
        });
        if (strict) throw new AgencyError(`batch ${reply.seq} rejected: ${reply.reason}`);
      } else {
        expect(reply, MessageType.BatchAck, 'bet batch');
      }
    };
    /** Sends every closed batch in one write. */
    const ship = async () => {
      const taken = file.builder.take();
      if (!taken) return;
      for (let i = 0; i < taken.counts.length; i++) {
        inFlight.set(taken.firstSeq + i, taken.counts[i]);
        this.logger.debug('batch_sent', 'success', { seq: taken.firstSeq + i, cantidad: taken.counts[i] });
      }
      await connection.send(taken.bytes);
    };

    for (;;) {
      const full = file.encode(window - inFlight.size);
      await ship();
      if (full) {
        while (inFlight.size > window >> 1) await settleOne();
      } else if (!(await file.more())) {
        break;
      }
    }
    if (this.signal.aborted) throw new AgencyError('stopped');
    await ship(); // the last batch, closed at the end of the file
    while (inFlight.size > 0) await settleOne();
    return stored;
  }

  /** Waits `ms`, or less when the run is stopped; each wait takes its abort listener off again (a long retry loop adds one per attempt). */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const { signal } = this;
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** The central said to come back later (busy agency slot, shutdown, full). */
class RetryLater extends Error {
  override readonly name = 'RetryLater';
}

/** Takes batch `seq`'s answer off the in-flight batches (seq → bets), returning its bets. */
function takeInFlight(inFlight: Map<number, number>, seq: number): number {
  const count = inFlight.get(seq);
  if (count === undefined) throw notAwaiting(seq);
  inFlight.delete(seq);
  return count;
}

/**
 * A BatchAck answers batch `seq` and every earlier one still in flight (the
 * map keeps them in the order they were sent); `seq` itself must be one.
 */
function settleThrough(inFlight: Map<number, number>, seq: number): { bets: number; batches: number } {
  if (!inFlight.has(seq)) throw notAwaiting(seq);
  let bets = 0;
  let batches = 0;
  for (const [sent, count] of inFlight) {
    if (sent > seq) break;
    inFlight.delete(sent);
    bets += count;
    batches++;
  }
  return { bets, batches };
}

function notAwaiting(seq: number): ConnectionError {
  return new ConnectionError(`the central answered batch ${seq}, which is not awaiting an answer`);
}

/** Narrows a reply to the expected type; an Error frame or anything else ends the session. */
function expect<T extends ServerMessage['type']>(message: ServerMessage, type: T, after: string): Extract<ServerMessage, { type: T }> {
  if (message.type === type) return message as Extract<ServerMessage, { type: T }>;
  if (message.type === MessageType.Error) {
    const text = `${errorCodeName(message.code)}: ${message.message}`;
    if (RETRIABLE.has(message.code)) throw new RetryLater(`the central asked to retry later (${text})`);
    throw new AgencyError(`the central refused the ${after}: ${text}`);
  }
  throw new ConnectionError(`unexpected message 0x${message.type.toString(16)} after ${after}`);
}
