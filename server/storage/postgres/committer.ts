/**
 * Group commit on the database: every session's batches, queued as they
 * come, go to the database in one transaction at a time — their rows in one
 * binary COPY into `bets`, each agency's ledger (bets stored, file position
 * settled) in one UPDATE, then COMMIT — so an acknowledgement means the bets
 * and the resume point are durable together, and a retry can never store a
 * bet twice. While one transaction commits, the next one fills up.
 *
 * A central runs one committer per lane (pg-host.ts): each commits its own
 * agencies into its own partition of `bets` on its own connection, so two
 * database backends parse COPYs at once without waiting on each other (one
 * backend's COPY is the slowest stage of the store; alone it leaves a core
 * idle). An agency is in one lane only, so its writes keep their order.
 *
 * The UPDATE is the fence: it applies only where the agency's row still has
 * this session's number and the position this session last committed. A
 * session taken over by another central (a newer Hello raised the number)
 * finds its row missing from what the UPDATE returned; its part of the transaction is rolled
 * back and it is told so; the others' part is committed without it.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { COPY_HEADER, COPY_TRAILER } from './copy-rows.js';
import type { StoreFailure } from './messages.js';

/** One session's claim on its agency, as the committer tracks it. */
export interface Claim {
  readonly agency: number;
  readonly session: number;
  /** The position its last committed write settled (from the Welcome on). */
  settled: number;
  /** Set once a write of it failed: nothing of it is committed any more. */
  broken: boolean;
  committed(through: number): void;
  lost(from: number, failure: StoreFailure, message: string): void;
}

export interface Write {
  readonly claim: Claim;
  readonly ticket: number;
  /** Binary COPY rows (copy-rows.ts), or null for a refused batch (position only). */
  readonly rows: Uint8Array | null;
  readonly bets: number;
  readonly position: number;
}

const LEDGER = `
UPDATE agencies AS a SET stored = a.stored + v.bets, settled = v.settled
  FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS v(agency, session, before, bets, settled)
  WHERE a.agency = v.agency AND a.session = v.session AND a.settled = v.before
  RETURNING a.agency`;

/**
 * The COPY's data goes in pieces of about this size. pg-copy-streams makes
 * each chunk a CopyData message of two socket writes; the sessions' writes
 * are a few kB each, and joined they cost the central about an eighth less
 * CPU per bet (docs/performance.md).
 */
const COPY_PIECE_BYTES = 1024 * 1024;

export class Committer {
  #queue: Write[] = [];
  #running: Promise<void> | null = null;
  readonly #copy: string;

  constructor(
    /** The table the rows are copied into: this lane's partition of `bets`. */
    table: string,
    private readonly pool: Pool,
    private readonly onError: (error: Error) => void,
    /** A transaction committed, taking this long from BEGIN to COMMIT's answer. */
    private readonly onCommitted: (seconds: number) => void = () => undefined,
  ) {
    this.#copy = `COPY ${table} (agency, first_name, last_name, document, birthdate, number) FROM STDIN WITH (FORMAT binary)`;
  }

  enqueue(write: Write): void {
    if (write.claim.broken) return write.claim.lost(write.ticket, 'unavailable', 'an earlier write of this session failed');
    this.#queue.push(write);
    this.#running ??= this.#run().finally(() => (this.#running = null));
  }

  /** Resolves once nothing is queued or committing. */
  async drain(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #run(): Promise<void> {
    while (this.#queue.length > 0) {
      let group: Write[] = [];
      for (const w of this.#queue) {
        if (w.claim.broken) w.claim.lost(w.ticket, 'unavailable', 'an earlier write of this session failed');
        else group.push(w);
      }
      this.#queue = [];
      while (group.length > 0) {
        const fenced = await this.#commit(group);
        if (fenced.size === 0) break;
        for (const claim of fenced) {
          claim.broken = true;
          const first = group.find((w) => w.claim === claim)!;
          claim.lost(first.ticket, 'busy', `agency ${claim.agency}'s session was taken over at another central`);
        }
        group = group.filter((w) => !fenced.has(w.claim));
      }
    }
  }

  /** One transaction for `group`; the claims whose fence failed (nothing committed then), or none on success. */
  async #commit(group: readonly Write[]): Promise<Set<Claim>> {
    const byClaim = new Map<Claim, { bets: number; settled: number; last: number }>();
    const rows: Uint8Array[] = [];
    for (const w of group) {
      const entry = byClaim.get(w.claim) ?? { bets: 0, settled: w.claim.settled, last: 0 };
      entry.bets += w.bets;
      entry.settled = w.position;
      entry.last = w.ticket;
      byClaim.set(w.claim, entry);
      if (w.rows && w.rows.length > 0) rows.push(w.rows);
    }
    const claims = [...byClaim.keys()];
    let client: PoolClient | null = null;
    let broken: Error | undefined;
    try {
      client = await this.pool.connect();
      const started = performance.now();
      await client.query('BEGIN');
      if (rows.length > 0) {
        const stream = coalesce([COPY_HEADER, ...rows, COPY_TRAILER], COPY_PIECE_BYTES);
        await pipeline(Readable.from(stream), client.query(copyFrom(this.#copy)));
      }
      const updated = await client.query<{ agency: number }>(LEDGER, [
        claims.map((c) => c.agency),
        claims.map((c) => c.session),
        claims.map((c) => c.settled),
        claims.map((c) => byClaim.get(c)!.bets),
        claims.map((c) => byClaim.get(c)!.settled),
      ]);
      const applied = new Set(updated.rows.map((r) => r.agency));
      const fenced = new Set(claims.filter((c) => !applied.has(c.agency)));
      if (fenced.size > 0) {
        await client.query('ROLLBACK');
        return fenced;
      }
      await client.query('COMMIT');
      this.onCommitted((performance.now() - started) / 1000);
    } catch (error) {
      // The outcome of a COMMIT that failed is unknown: acknowledge nothing, and let each agency resume from the database.
      // No ROLLBACK on this connection: after a timeout its query is still in flight, and a late answer
      // to a COPY crashes pg-copy-streams. Dropping the connection (release below) closes its socket at
      // once, and the database rolls back what the connection left open.
      broken = error as Error;
      const message = `the database did not confirm the write: ${(error as Error).message}`;
      for (const claim of claims) {
        claim.broken = true;
        claim.lost(group.find((w) => w.claim === claim)!.ticket, 'unavailable', message);
      }
      this.onError(error as Error);
      return new Set();
    } finally {
      client?.release(broken); // a connection that failed is dropped (its socket destroyed), not reused
    }
    for (const [claim, entry] of byClaim) {
      claim.settled = entry.settled;
      claim.committed(entry.last);
    }
    return new Set();
  }
}

/** `chunks` joined, in order, into buffers of at least `size` bytes each (the last one may be smaller; none is empty). */
export function* coalesce(chunks: readonly Uint8Array[], size: number): Generator<Buffer> {
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < chunks.length; i++) {
    bytes += chunks[i].length;
    if (bytes >= size || (i === chunks.length - 1 && bytes > 0)) {
      yield Buffer.concat(chunks.slice(from, i + 1), bytes);
      from = i + 1;
      bytes = 0;
    }
  }
}
