/**
 * The draw's result as `lottery-server report` shows it: per agency, the
 * bets the store holds and how many of them won. Read from the stored draw
 * (never recomputed), by readers that only read: the report may run while a
 * central is serving from the same store.
 */

export interface AgencyLine {
  readonly agency: number;
  readonly bets: number;
  readonly winners: number;
}

export interface DrawReport {
  readonly store: 'file' | 'postgres';
  /** The bets file, or the database URL without its password. */
  readonly where: string;
  /** When the draw was stored (ISO 8601). */
  readonly drawnAt: string;
  /** Ascending by agency. */
  readonly agencies: readonly AgencyLine[];
  readonly total: { readonly bets: number; readonly winners: number };
}

/** The store holds no draw (yet): exit code 3, so scripts can wait for one. */
export class NoDrawYet extends Error {
  override readonly name = 'NoDrawYet';
}

/** The store cannot be read, or does not hold what a central writes: exit code 1. */
export class ReportError extends Error {
  override readonly name = 'ReportError';
}

/** Builds the report from bets and winners per agency; an agency in either map gets a line. */
export function buildReport(
  store: DrawReport['store'],
  where: string,
  drawnAt: Date,
  bets: ReadonlyMap<number, number>,
  winners: ReadonlyMap<number, number>,
): DrawReport {
  const ids = [...new Set([...bets.keys(), ...winners.keys()])].sort((a, b) => a - b);
  const agencies = ids.map((agency) => ({ agency, bets: bets.get(agency) ?? 0, winners: winners.get(agency) ?? 0 }));
  const total = agencies.reduce((sum, line) => ({ bets: sum.bets + line.bets, winners: sum.winners + line.winners }), {
    bets: 0,
    winners: 0,
  });
  return { store, where, drawnAt: drawnAt.toISOString(), agencies, total };
}
