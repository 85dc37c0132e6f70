/**
 * bets.csv lines: `agency,first,last,document,birthdate,number\n`, with the
 * minimal quoting Python's csv module reads back (a field holding `,` or `"`
 * is quoted, inner quotes doubled). Validated bets never hold CR or LF.
 */
import type { Bet } from '../../protocol/index.js';

const NEEDS_QUOTES = /[",]/;

function field(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function formatBetLine(agency: number, bet: Bet): string {
  return `${agency},${field(bet.firstName)},${field(bet.lastName)},${bet.document},${bet.birthdate},${bet.number}\n`;
}

/** Every bet of a batch as one buffer, so it can be appended with a single write. */
export function formatBetLines(agency: number, bets: readonly Bet[]): Buffer {
  let text = '';
  for (const bet of bets) text += formatBetLine(agency, bet);
  return Buffer.from(text, 'utf8');
}
