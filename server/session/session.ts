/**
 * One agency's conversation with the central, run inside that connection's
 * worker. A strict state machine, one module per phase:
 *
 *   greeting --Hello--> [authenticating --Proof-->] betting --Done--> finished
 *     handshake.ts                                  ingest.ts      barrier.ts
 *            --WinnersRequest--> waiting --draw--> answered
 *
 * Echo is answered in any state. Anything out of order, a skipped or repeated
 * batch sequence number, a file position that goes backwards, or a second
 * Hello is a protocol error: the session answers Error and the connection
 * closes. Batches are acknowledged only once durable, so every other message
 * first waits until earlier batches are answered: replies keep their order.
 */
import { isUtf8 } from 'node:buffer';
import { encodeEcho, ErrorCode, MessageType, type ClientMessage, type Echo } from '../../protocol/index.js';
import { Barrier } from './barrier.js';
import { SessionCore, type Phase, type SessionDeps } from './core.js';
import { Handshake } from './handshake.js';
import { Ingest } from './ingest.js';

export type { SessionDeps } from './core.js';

export class Session {
  readonly #core: SessionCore;
  readonly #ingest: Ingest;
  readonly #handshake: Handshake;
  readonly #barrier: Barrier;

  constructor(deps: SessionDeps) {
    const core = new SessionCore(deps);
    this.#core = core;
    this.#ingest = new Ingest(core);
    // Batches that arrived before a fault are written (an agency resumes past them).
    core.beforeEnd = () => this.#ingest.writeStaged();
    this.#handshake = new Handshake(core, (hello, ledger) => {
      this.#ingest.start(hello.agency, hello.singleBet, ledger);
      core.phase = ledger.finished ? 'finished' : 'betting';
    });
    this.#barrier = new Barrier(core);
  }

  get phase(): Phase {
    return this.#core.phase;
  }

  get closed(): boolean {
    return this.#core.closed;
  }

  /** True while batches are written but not yet acknowledged: the peer is waiting on us. */
  get owesAcks(): boolean {
    return this.#ingest.owesAcks;
  }

  /** The agency, once a Hello was accepted (0 before). */
  get agency(): number {
    return this.#core.agency;
  }

  /** Handles any message but a bet batch (see `handleBatch`), after earlier batches are answered. */
  async handle(message: ClientMessage): Promise<void> {
    if (this.closed) return;
    await this.settled();
    if (this.closed) return;
    switch (message.type) {
      case MessageType.Echo:
        return this.#echo(message);
      case MessageType.Hello:
        return this.#handshake.hello(message);
      case MessageType.Proof:
        return this.#handshake.proof(message);
      case MessageType.Done:
        return this.#barrier.done(message);
      case MessageType.WinnersRequest:
        return this.#barrier.winners();
      case MessageType.BetBatch:
        return this.fail(ErrorCode.UnexpectedMessage, 'bet batches are handled by handleBatch');
      default:
        return this.fail(ErrorCode.UnexpectedMessage, `message type ${(message as { type: number }).type} is not for the central`);
    }
  }

  /** A BetBatch frame body (the hot path: never decoded unless it must be). */
  handleBatch(body: Buffer): void {
    this.#ingest.batch(body);
  }

  /** Writes the staged batches and starts answering them as they become durable; does not wait. */
  settle(): void {
    this.#ingest.settle();
  }

  /** Resolves once every batch received so far is answered. */
  settled(): Promise<void> {
    return this.#ingest.settled();
  }

  /** Ends the session with an Error frame (connection-fatal) and a log line. */
  fail(code: ErrorCode, message: string): void {
    this.#core.fail(code, message);
  }

  /** Ends the session because the central is stopping. */
  goodbye(reason: string): void {
    this.#core.goodbye(reason);
  }

  /** The peer is gone or the central stops: leave any wait at once. */
  abort(): void {
    this.#barrier.abort();
  }

  /**
   * The peer stopped sending. Close without waiting for acks still owed: a
   * peer that hung up cannot read them, and an agency that is still alive
   * resumes from its durable ledger.
   */
  finish(): void {
    this.#core.close();
  }

  #echo(message: Echo): void {
    const payload = message.payload;
    // The logger keeps the line on one line; bytes that are not text are shown in hex.
    const text = isUtf8(payload) ? payload.toString('utf8').trim() : `0x${payload.toString('hex')}`;
    this.#core.deps.logger.info('receive_message', 'success', { ip: this.#core.deps.peer, msg: text });
    this.#core.deps.send(encodeEcho(message));
  }
}
