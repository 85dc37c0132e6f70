/**
 * What the stores' record writers share: one growing buffer that a
 * session's batches are written into, one after another, and the step that
 * scans a batch into it (protocol's scanBetBatch, with the subclass as the
 * sink) and keeps the batch only when every bet of it passed. A subclass
 * says how large a batch's records may get and writes one bet's record at
 * `at` in `out` (BetSink.bet), advancing `at`.
 */
import { scanBetBatch, type Bet, type BetSink } from '../../protocol/index.js';
import type { RecordWriter } from './store.js';

export abstract class RecordBuffer implements RecordWriter, BetSink {
  protected out: Buffer;
  /** Where the record being written goes: the end of what was appended, or past it while a batch is scanned. */
  protected at = 0;
  #length = 0;

  constructor(initialBytes: number) {
    this.out = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.#length;
  }

  get records(): Buffer {
    return this.out.subarray(0, this.#length);
  }

  reset(): void {
    this.#length = 0;
  }

  append(body: Buffer, today: number): number {
    this.begin(this.maxBytes(body));
    const count = scanBetBatch(body, today, this);
    if (count >= 0) this.end();
    return count;
  }

  /** The most bytes the records of a BetBatch `body` can take. */
  protected abstract maxBytes(body: Buffer): number;

  abstract appendBets(bets: readonly Bet[]): void;

  abstract bet(...bet: Parameters<BetSink['bet']>): void;

  /** Makes room for `extra` bytes and starts writing at the end of what was appended. */
  protected begin(extra: number): void {
    if (this.out.length - this.#length < extra) {
      const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.#length + extra));
      this.out.copy(bigger, 0, 0, this.#length);
      this.out = bigger;
    }
    this.at = this.#length;
  }

  /** Keeps what was written since `begin`. */
  protected end(): void {
    this.#length = this.at;
  }
}
