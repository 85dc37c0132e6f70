/**
 * The draw over bets.csv: one pass in large chunks, keeping only winners.
 *
 * A stored line ends `,<document>,<YYYY-MM-DD>,<number>\n`, and numbers are
 * 0..9999, so a winning line is exactly one that ends with ",7574\n". The
 * scan looks for that byte pattern (a native search) instead of parsing every
 * line; only winning lines are split, from both ends, so quoted names with
 * commas in the middle never matter. It runs on the accepting thread, so it
 * yields to the event loop between chunks.
 */
import { COMMA, NEWLINE, WINNING_NUMBER } from '../../../protocol/index.js';
import type { FileIo } from './io.js';
import { wholeLines } from './whole-lines.js';

const PATTERN = Buffer.from(`,${WINNING_NUMBER}\n`);
/** `,YYYY-MM-DD` before the number. */
const DATE_FIELD = 11;

/** Winning documents per agency, in file order, over the first `size` bytes of the file. */
export async function findWinners(io: FileIo, fd: number, size: number): Promise<Map<number, string[]>> {
  const winners = new Map<number, string[]>();
  for (const chunk of wholeLines(io, fd, size)) {
    collect(chunk.bytes, winners);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return winners;
}

function collect(lines: Buffer, winners: Map<number, string[]>): void {
  let at = lines.indexOf(PATTERN);
  while (at !== -1) {
    const lineStart = lines.lastIndexOf(NEWLINE, at) + 1;
    const agencyEnd = lines.indexOf(COMMA, lineStart);
    const documentEnd = at - DATE_FIELD;
    const documentStart = lines.lastIndexOf(COMMA, documentEnd - 1) + 1;
    const agency = Number(lines.toString('latin1', lineStart, agencyEnd));
    const document = lines.toString('latin1', documentStart, documentEnd);
    let list = winners.get(agency);
    if (!list) winners.set(agency, (list = []));
    list.push(document);
    at = lines.indexOf(PATTERN, at + PATTERN.length);
  }
}
