/**
 * Cuts bets into batches: at most `maxAmount` bets, and never more bytes
 * than a BetBatch frame can carry (8 kB with its header).
 */
import { betSize, MAX_BATCH_BETS_BYTES, type Bet } from '../protocol/index.js';

export class Batcher {
  #bets: Bet[] = [];
  #bytes = 0;

  constructor(private readonly maxAmount: number) {}

  /** Adds a bet; returns the batch it closed (the one before it), if any. */
  add(bet: Bet): Bet[] | null {
    const size = betSize(bet);
    const full = this.#bets.length === this.maxAmount || this.#bytes + size > MAX_BATCH_BETS_BYTES ? this.take() : null;
    this.#bets.push(bet);
    this.#bytes += size;
    return full;
  }

  /** The bets collected so far (possibly none), emptying the batcher. */
  take(): Bet[] {
    const bets = this.#bets;
    this.#bets = [];
    this.#bytes = 0;
    return bets;
  }

  get size(): number {
    return this.#bets.length;
  }
}
