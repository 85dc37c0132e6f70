/**
 * The betting phase: BetBatch frames checked, staged, written, acknowledged.
 *
 * Batches received together (one socket read) are checked and turned into
 * the store's records on their bytes (its RecordWriter), staged, then written as
 * one store write, made durable by the store's group commit, and logged and
 * answered together, in arrival order. A batch with an invalid bet is refused
 * whole, and its file position is settled durably too, so that the agency's
 * resume point stays exact. A write the store cannot make ends the session
 * with ERR_STORAGE_UNAVAILABLE: the agency comes back and resumes from its
 * durable ledger.
 */
import {
  BATCH_COUNT_OFFSET,
  BATCH_POSITION_OFFSET,
  BATCH_SEQ_OFFSET,
  BodyReader,
  decodeBetBatch,
  encodeBatchAck,
  encodeBatchRejected,
  ErrorCode,
  errorCodeName,
  MessageType,
  NO_BET_INDEX,
  todayNumberUtc,
  validateBet,
  type Bet,
} from '../../protocol/index.js';
import { StoreClosed, type AgencyLedger, type RecordWriter, type Ticket } from '../storage/store.js';
import type { SessionCore } from './core.js';

/** A batch checked and turned into records, not yet written. */
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

/** Staged records are written once they reach this size, even mid-read. */
const STAGE_LIMIT_BYTES = 32 * 1024;

export class Ingest {
  #singleBet = false;
  #nextSeq = 0;
  /** The agency's file position after the last batch received. */
  #position = 0;
  /** The agency's stored bets, counting every batch written. */
  #stored = 0;
  #staged: Staged[] = [];
  #pending: Pending[] = [];
  #acking: Promise<void> | null = null;
  #records: RecordWriter | null = null;

  constructor(private readonly core: SessionCore) {}

  /** True while batches are written but not yet acknowledged: the peer is waiting on us. */
  get owesAcks(): boolean {
    return this.#staged.length > 0 || this.#pending.length > 0 || this.#acking !== null;
  }

  /** The agency was welcomed: batches continue from its durable ledger. */
  start(agency: number, singleBet: boolean, ledger: AgencyLedger): void {
    this.#records = this.core.deps.store.recordWriter(agency);
    this.#singleBet = singleBet;
    this.#position = ledger.settled;
    this.#stored = ledger.stored;
  }

  /**
   * A BetBatch frame body. Checked and turned into records on the bytes;
   * only a batch the fast path is unsure of is decoded into objects, to find
   * the exact problem.
   */
  batch(body: Buffer): void {
    const { core } = this;
    if (core.closed) return;
    if (core.unwelcomed) return core.fail(ErrorCode.UnexpectedMessage, 'bet batch before a completed hello');
    if (core.phase !== 'betting') return core.fail(ErrorCode.UnexpectedMessage, 'bet batch after done');
    // FrameDecoder guarantees the fixed part.
    const seq = body.readUInt32BE(BATCH_SEQ_OFFSET);
    const position = body.readUInt32BE(BATCH_POSITION_OFFSET);
    const declared = body.readUInt16BE(BATCH_COUNT_OFFSET);
    if (seq !== this.#nextSeq) return core.fail(ErrorCode.BadSequence, `batch sequence ${seq} where ${this.#nextSeq} was expected`);
    if (position < this.#position + Math.max(declared, 1)) {
      return core.fail(
        ErrorCode.BadPosition,
        `batch ${seq} ends at record ${position}, which cannot hold ${declared} bets after record ${this.#position}`,
      );
    }
    this.#nextSeq++;
    this.#position = position;
    const records = this.#records!;
    let count = this.#singleBet ? -1 : records.append(body, todayNumberUtc());
    let bets: readonly Bet[] | null = null;
    if (count < 0) {
      // The slow path: decode, to name the exact problem (and for single-bet sessions, whose bets are logged one by one).
      const batch = decodeBetBatch(new BodyReader(body)); // throws ProtocolError on bad structure
      for (let i = 0; i < batch.bets.length; i++) {
        const problem = validateBet(batch.bets[i]);
        if (problem)
          return this.#refuse(seq, batch.bets.length, position, {
            code: ErrorCode.InvalidBet,
            betIndex: i,
            reason: `bet ${i + 1}: ${problem}`,
          });
      }
      records.appendBets(batch.bets);
      count = batch.bets.length;
      if (this.#singleBet) bets = batch.bets;
    }
    this.#staged.push({ seq, count, position, bets });
    if (records.length >= STAGE_LIMIT_BYTES) this.writeStaged();
  }

  /** Writes the staged batches and starts answering them as they become durable; does not wait. */
  settle(): void {
    this.writeStaged();
    if (this.#pending.length > 0 && this.#acking === null) this.#acking = this.#answerLoop();
  }

  /** Resolves once every batch received so far is answered. */
  async settled(): Promise<void> {
    this.settle();
    while (this.#acking) await this.#acking;
  }

  /** Writes every staged batch as one store write. */
  writeStaged(): void {
    const staged = this.#staged;
    if (staged.length === 0) return;
    this.#staged = [];
    const records = this.#records!;
    let count = 0;
    for (const s of staged) count += s.count;
    try {
      const ticket = this.core.deps.store.append(this.core.agency, records.records, count, staged[staged.length - 1].position);
      for (const s of staged) {
        this.#stored += s.count;
        this.#pending.push({ seq: s.seq, ticket, stored: this.#stored, count: s.count, bets: s.bets });
      }
    } catch (error) {
      this.#storeRefused(error, staged);
    } finally {
      records.reset();
    }
  }

  /** The store fail-stopped: nothing more is answered. */
  drop(): void {
    this.#staged = [];
    this.#pending = [];
  }

  /**
   * Answers in arrival order: waits for the newest pending write to be
   * durable, then logs every answer up to it in one write and sends them in
   * one. A BatchAck answers its batch and every earlier one still unanswered
   * (protocol version 3), so each run of stored batches between refusals
   * gets one ack, for its newest batch.
   */
  async #answerLoop(): Promise<void> {
    const { core } = this;
    const { logger, store } = core.deps;
    try {
      while (this.#pending.length > 0 && !core.closed) {
        const pending = this.#pending;
        this.#pending = [];
        let newest: Ticket | null = null;
        for (const p of pending) if (p.ticket !== null) newest = p.ticket;
        if (newest !== null) {
          try {
            await store.durable(newest);
          } catch (error) {
            // Never acknowledged: the agency resumes from the store's ledger (or the central is stopping).
            return core.storeError(error, () => this.drop());
          }
        }
        const answers: Buffer[] = [];
        const lines: string[] = [];
        const log = (line: string | null) => line !== null && lines.push(line);
        let storedBets = 0;
        let storedBatches = 0;
        for (let i = 0; i < pending.length; i++) {
          const p = pending[i];
          if ('refused' in p) {
            const { code, betIndex, reason } = p.refused;
            core.deps.counters.refused(code, 1);
            log(
              logger.format('WARNING', 'apuesta_recibida', 'fail', {
                cantidad: p.count,
                agency: core.agency,
                code: errorCodeName(code),
                reason,
              }),
            );
            answers.push(encodeBatchRejected({ type: MessageType.BatchRejected, seq: p.seq, code, betIndex, reason }));
            continue;
          }
          storedBets += p.count;
          storedBatches++;
          log(logger.format('INFO', 'apuesta_recibida', 'success', { cantidad: p.count, agency: core.agency }));
          for (const bet of p.bets ?? [])
            log(logger.format('INFO', 'apuesta_almacenada', 'success', { dni: bet.document, numero: bet.number }));
          const next = pending[i + 1];
          if (next === undefined || 'refused' in next)
            answers.push(encodeBatchAck({ type: MessageType.BatchAck, seq: p.seq, stored: p.stored }));
        }
        // Counted once durable (one add for the whole group), before the acks leave.
        if (storedBatches > 0) core.deps.counters.stored(core.agency, storedBets, storedBatches);
        // Logged before the answers leave: an observer never sees an ack first.
        logger.write(lines);
        if (!core.closed) core.deps.send(answers.length === 1 ? answers[0] : Buffer.concat(answers));
      }
    } finally {
      this.#acking = null;
    }
  }

  /** Refuses a batch whole, settling its position durably; its answer follows those of the batches before it. */
  #refuse(seq: number, count: number, position: number, refusal: Refusal): void {
    this.writeStaged();
    if (this.core.closed) return;
    try {
      this.#pending.push({ seq, count, ticket: this.core.deps.store.settle(this.core.agency, position), refused: refusal });
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
        this.#pending.push({
          seq: s.seq,
          count: s.count,
          ticket: null,
          refused: { code: ErrorCode.DrawClosed, betIndex: refusal?.betIndex ?? NO_BET_INDEX, reason },
        });
      }
      return;
    }
    this.core.storeError(error, () => this.drop());
  }
}
