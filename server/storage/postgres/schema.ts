/**
 * The database store's tables, created by the first central to start on an
 * empty database (under an advisory lock, so that several centrals starting
 * at once do not race), and versioned in `lottery_schema`:
 *
 *   lottery    one row: the lottery's id, its roster, when it started, when
 *              the draw ran and when its `sorteo` was announced
 *   agencies   one row per agency that said Hello: bets stored, the file
 *              position settled, Done said, and the number of its current
 *              session (the fence that keeps an old session from writing)
 *   bets       agency, first_name, last_name, document, birthdate, number;
 *              in LANES partitions by agency (bets_0, bets_1), so that the
 *              committers of two lanes never wait on one another to extend
 *              one file (PostgreSQL 15 grows a table a page at a time under
 *              a lock); read it as one table
 *   winners    what the draw found (agency, document)
 *
 * Operators and auditors can read all of them with psql.
 */
import type { PoolClient } from 'pg';

export const SCHEMA_VERSION = 2;

/** Group-commit lanes of a central, one partition of `bets` each (laneOf). */
export const LANES = 2;

/** The lane, and so the partition, of an agency's bets. */
export const laneOf = (agency: number) => agency % LANES;

/** The partition that holds the bets of `lane`'s agencies. */
export const lanePartition = (lane: number) => `bets_${lane}`;

/** Advisory-lock keys (the two-int form): our namespace, then what is locked. */
export const LOCK_NAMESPACE = 0x4c4f54; // "LOT"
export const SCHEMA_LOCK = 0;
/** Agencies lock `agency` (1..65535); the draw locks this one. */
export const DRAW_LOCK = 0x10000;

const DDL = `
CREATE TABLE IF NOT EXISTS lottery (
  id int PRIMARY KEY CHECK (id = 1),
  lottery_id text NOT NULL,
  roster int[] NOT NULL,
  created timestamptz NOT NULL DEFAULT now(),
  drawn_at timestamptz,
  announced_at timestamptz
);
CREATE TABLE IF NOT EXISTS agencies (
  agency int PRIMARY KEY,
  stored bigint NOT NULL DEFAULT 0,
  settled bigint NOT NULL DEFAULT 0,
  finished boolean NOT NULL DEFAULT false,
  session bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS bets (
  agency int NOT NULL,
  first_name text NOT NULL,
  last_name text NOT NULL,
  document text NOT NULL,
  birthdate date NOT NULL,
  number int NOT NULL
) PARTITION BY LIST ((agency % ${LANES}));
${Array.from({ length: LANES }, (_, lane) => `CREATE TABLE IF NOT EXISTS ${lanePartition(lane)} PARTITION OF bets FOR VALUES IN (${lane});`).join('\n')}
CREATE TABLE IF NOT EXISTS winners (
  agency int NOT NULL,
  document text NOT NULL
);
`;

export interface LotteryRow {
  readonly lotteryId: string;
  readonly roster: number[];
  readonly createdMs: number;
  readonly drawn: boolean;
  readonly announced: boolean;
}

/** Creates what is missing; returns the lottery row (inserting it with `roster` on a new database). */
export async function prepareSchema(
  client: PoolClient,
  roster: readonly number[],
  newLotteryId: string,
): Promise<{ row: LotteryRow; created: boolean }> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, SCHEMA_LOCK]);
    // The version first: the tables of another version are left as they are.
    await client.query('CREATE TABLE IF NOT EXISTS lottery_schema (version int NOT NULL)');
    const version = await client.query<{ version: number }>('SELECT version FROM lottery_schema');
    if (version.rows.length > 0 && version.rows[0].version !== SCHEMA_VERSION) {
      throw new Error(
        `the database holds schema version ${version.rows[0].version}; this central uses ${SCHEMA_VERSION} (use an empty database for a new lottery)`,
      );
    }
    await client.query(DDL);
    if (version.rows.length === 0) await client.query('INSERT INTO lottery_schema (version) VALUES ($1)', [SCHEMA_VERSION]);
    const inserted = await client.query('INSERT INTO lottery (id, lottery_id, roster) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING', [
      newLotteryId,
      [...roster],
    ]);
    const row = await readLottery(client);
    await client.query('COMMIT');
    return { row: row!, created: inserted.rowCount === 1 };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

export async function readLottery(client: Pick<PoolClient, 'query'>): Promise<LotteryRow | null> {
  const result = await client.query<{
    lottery_id: string;
    roster: number[];
    created: Date;
    drawn_at: Date | null;
    announced_at: Date | null;
  }>('SELECT lottery_id, roster, created, drawn_at, announced_at FROM lottery WHERE id = 1');
  const row = result.rows[0];
  if (!row) return null;
  return {
    lotteryId: row.lottery_id,
    roster: row.roster,
    createdMs: row.created.getTime(),
    drawn: row.drawn_at !== null,
    announced: row.announced_at !== null,
  };
}
