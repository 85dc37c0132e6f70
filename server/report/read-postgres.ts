/**
 * The draw report from the database store: one read-only transaction over
 * the tables the centrals keep (see storage/postgres/schema.ts): `lottery`
 * says whether and when the draw ran, `agencies` holds each agency's stored
 * count, `winners` the draw's result. Nothing is created or locked.
 */
import pg from 'pg';
import { redact } from '../storage/postgres/pg-host.js';
import { buildReport, NoDrawYet, ReportError, type DrawReport } from './draw-report.js';

export async function readPostgresReport(url: string, timeoutMs: number): Promise<DrawReport> {
  const where = redact(url);
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    application_name: 'lottery-report',
  });
  client.on('error', () => undefined); // a broken connection fails the query in progress, which is reported
  try {
    await client.connect();
  } catch (error) {
    throw new ReportError(`cannot reach the database ${where}: ${(error as Error).message}`);
  }
  try {
    await client.query('BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const tables = await client.query<{ ok: boolean }>(
      "SELECT to_regclass('lottery') IS NOT NULL AND to_regclass('agencies') IS NOT NULL AND to_regclass('winners') IS NOT NULL AS ok",
    );
    if (!tables.rows[0].ok) throw new NoDrawYet(`no lottery in the database ${where}: no central has started on it`);
    const lottery = await client.query<{ drawn_at: Date | null; roster: number[] }>('SELECT drawn_at, roster FROM lottery WHERE id = 1');
    const row = lottery.rows[0];
    if (!row) throw new NoDrawYet(`no lottery in the database ${where}: no central has started on it`);
    if (!row.drawn_at) throw new NoDrawYet(`no draw yet in the database ${where} (the draw runs once every expected agency is done)`);
    const agencies = await client.query<{ agency: number; stored: string }>('SELECT agency, stored FROM agencies');
    const winners = await client.query<{ agency: number; n: number }>('SELECT agency, count(*)::int AS n FROM winners GROUP BY agency');
    await client.query('COMMIT');
    const bets = new Map<number, number>(row.roster.map((agency) => [agency, 0]));
    for (const a of agencies.rows) bets.set(a.agency, Number(a.stored));
    return buildReport('postgres', where, row.drawn_at, bets, new Map(winners.rows.map((w) => [w.agency, w.n])));
  } catch (error) {
    if (error instanceof NoDrawYet) throw error;
    throw new ReportError(`cannot read the draw from the database ${where}: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
