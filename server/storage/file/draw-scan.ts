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
import { WINNING_NUMBER } from '../../../protocol/index.js';
import type { FileIo } from './io.js';

const CHUNK = 1024 * 1024;
const PATTERN = Buffer.from(`,${WINNING_NUMBER}\n`);
const NEWLINE = 0x0a;
const COMMA = 0x2c;
/** `,YYYY-MM-DD` before the number. */
const DATE_FIELD = 11;

/** Winning documents per agency, in file order, over the first `size` bytes of the file. */
export async function findWinners(io: FileIo, fd: number, size: number): Promise<Map<number, string[]>> {
  const winners = new Map<number, string[]>();
  let buffer = Buffer.allocUnsafe(CHUNK);
  let carried = 0; // bytes of an unfinished line moved to the front of `buffer`
  let position = 0;
  for (;;) {
    const read = position < size ? io.read(fd, buffer, carried, Math.min(buffer.length - carried, size - position), position) : 0;
    position += read;
    const end = carried + read;
    // Only whole lines are scanned; the unfinished tail is carried over.
    const lastNewline = end === 0 ? -1 : buffer.lastIndexOf(NEWLINE, end - 1);
    const wholeEnd = lastNewline + 1;
    collect(buffer.subarray(0, wholeEnd), winners);
    if (read === 0) break;
    carried = end - wholeEnd;
    if (carried === buffer.length) {
      // A single line longer than the buffer: grow (never happens with valid bets).
      const bigger = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(bigger, 0, 0, carried);
      buffer = bigger;
    } else {
      buffer.copy(buffer, 0, wholeEnd, end);
    }
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
