/**
 * The central's counters, in shared memory: every thread adds to them with
 * Atomics, and the status endpoint (server/status/) reads them when it is
 * scraped. So a worker reports what it stored without a message per batch:
 * one Atomics.add per group of batches made durable, not one per bet.
 *
 * One BigUint64Array (Atomics works on integer arrays only): bets stored per
 * agency (indexed by agency id, up to MAX_AGENCY_ID), batches stored, batches
 * refused by error code, and the commit-latency histogram (fixed buckets,
 * its sum in nanoseconds).
 */
import { MAX_AGENCY_ID } from '../protocol/index.js';

/** Upper bounds, in seconds, of the commit-latency buckets; one more bucket takes the rest (+Inf). */
export const COMMIT_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** Error codes travel as one byte. */
const ERROR_CODES = 256;
const STORED_BETS = 0;
const BATCHES_STORED = STORED_BETS + MAX_AGENCY_ID + 1;
const BATCHES_REFUSED = BATCHES_STORED + 1;
const COMMIT_BUCKET = BATCHES_REFUSED + ERROR_CODES;
const COMMIT_SUM_NS = COMMIT_BUCKET + COMMIT_BUCKETS.length + 1;
const SLOTS = COMMIT_SUM_NS + 1;

export interface CommitHistogram {
  /** Commits at or under each bound of COMMIT_BUCKETS, then all of them (+Inf): cumulative, as Prometheus counts. */
  readonly cumulative: readonly number[];
  readonly sumSeconds: number;
  readonly count: number;
}

export class SharedCounters {
  readonly buffer: SharedArrayBuffer;
  readonly #slots: BigUint64Array;

  constructor(buffer = new SharedArrayBuffer(SLOTS * BigUint64Array.BYTES_PER_ELEMENT)) {
    this.buffer = buffer;
    this.#slots = new BigUint64Array(buffer);
  }

  /** `batches` batches of the agency, holding `bets` bets, are durable. */
  stored(agency: number, bets: number, batches: number): void {
    if (bets > 0) Atomics.add(this.#slots, STORED_BETS + agency, BigInt(bets));
    Atomics.add(this.#slots, BATCHES_STORED, BigInt(batches));
  }

  /** `batches` batches were refused with this error code. */
  refused(code: number, batches: number): void {
    Atomics.add(this.#slots, BATCHES_REFUSED + (code & 0xff), BigInt(batches));
  }

  /** One commit (a group fdatasync, a database transaction) took this long. */
  commit(seconds: number): void {
    let bucket = COMMIT_BUCKETS.findIndex((bound) => seconds <= bound);
    if (bucket < 0) bucket = COMMIT_BUCKETS.length;
    Atomics.add(this.#slots, COMMIT_BUCKET + bucket, 1n);
    Atomics.add(this.#slots, COMMIT_SUM_NS, BigInt(Math.round(seconds * 1e9)));
  }

  storedBets(agency: number): number {
    return Number(Atomics.load(this.#slots, STORED_BETS + agency));
  }

  /** Agencies with bets stored, ascending. */
  agenciesWithBets(): number[] {
    const found: number[] = [];
    for (let agency = 1; agency <= MAX_AGENCY_ID; agency++) if (Atomics.load(this.#slots, STORED_BETS + agency) > 0n) found.push(agency);
    return found;
  }

  batchesStored(): number {
    return Number(Atomics.load(this.#slots, BATCHES_STORED));
  }

  /** Error code → batches refused with it (codes never seen are left out). */
  batchesRefused(): Map<number, number> {
    const found = new Map<number, number>();
    for (let code = 0; code < ERROR_CODES; code++) {
      const n = Atomics.load(this.#slots, BATCHES_REFUSED + code);
      if (n > 0n) found.set(code, Number(n));
    }
    return found;
  }

  commitHistogram(): CommitHistogram {
    const cumulative: number[] = [];
    let running = 0;
    for (let i = 0; i <= COMMIT_BUCKETS.length; i++) {
      running += Number(Atomics.load(this.#slots, COMMIT_BUCKET + i));
      cumulative.push(running);
    }
    return {
      cumulative,
      sumSeconds: Number(Atomics.load(this.#slots, COMMIT_SUM_NS)) / 1e9,
      // The buckets' total, not a separate counter: the +Inf bucket and the count must agree in one scrape.
      count: running,
    };
  }
}
