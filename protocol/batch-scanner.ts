/**
 * The central's hot path in: a BetBatch body (layout in messages/bet-batch.ts)
 * walked on its bytes, its structure and every bet rule (bet-rules.ts)
 * checked without decoding it into objects, each valid bet handed to a sink
 * as byte ranges of the body.
 *
 * It only ever says "all well formed and valid" (the bet count) or "not
 * sure" (-1): anything unusual — an invalid bet, a structural error — is left
 * to the generic codec (decodeBetBatch + validateBet), which names the exact
 * problem. A differential test holds it to never accepting more than that
 * path, and to handing over the very bytes it would decode.
 */
import { birthdateProblem, documentProblem, nameProblem, numberProblem, Problem } from './bet-rules.js';
import { BIRTHDATE_BYTES } from './constants.js';
import { BATCH_BETS_OFFSET, BATCH_COUNT_OFFSET } from './messages/bet-batch.js';

/** Receives the bets of a batch being scanned, in order, as ranges of its body. */
export interface BetSink {
  /**
   * One valid bet: names at [first, firstEnd) and [last, lastEnd), the
   * document at [document, documentEnd), the 10-byte birthdate at `birthdate`.
   */
  bet(
    body: Buffer,
    first: number,
    firstEnd: number,
    last: number,
    lastEnd: number,
    document: number,
    documentEnd: number,
    birthdate: number,
    number: number,
  ): void;
}

/**
 * Scans `body`; the bet count when it is well formed and every bet valid
 * (`today` is the date as yyyymmdd), -1 otherwise. On -1 the sink may have
 * seen some bets already: it must drop what it made of this batch.
 */
export function scanBetBatch(body: Buffer, today: number, sink: BetSink): number {
  const size = body.length;
  if (size < BATCH_BETS_OFFSET) return -1;
  const count = body.readUInt16BE(BATCH_COUNT_OFFSET);
  if (count === 0) return -1;
  let at = BATCH_BETS_OFFSET;
  for (let i = 0; i < count; i++) {
    // first and last name: u8 length + UTF-8
    if (at >= size) return -1;
    const first = at + 1;
    const firstEnd = first + body[at];
    if (firstEnd >= size || nameProblem(body, first, firstEnd) !== Problem.None) return -1;
    const last = firstEnd + 1;
    const lastEnd = last + body[firstEnd];
    if (lastEnd >= size || nameProblem(body, last, lastEnd) !== Problem.None) return -1;
    // document: u8 length + digits
    const document = lastEnd + 1;
    const documentEnd = document + body[lastEnd];
    if (documentEnd > size || documentProblem(body, document, documentEnd) !== Problem.None) return -1;
    // birthdate: 10 bytes YYYY-MM-DD, then the u16 number
    const birthdate = documentEnd;
    if (birthdate + BIRTHDATE_BYTES + 2 > size || birthdateProblem(body, birthdate, today) !== Problem.None) return -1;
    const number = (body[birthdate + BIRTHDATE_BYTES] << 8) | body[birthdate + BIRTHDATE_BYTES + 1];
    if (numberProblem(number) !== Problem.None) return -1;
    sink.bet(body, first, firstEnd, last, lastEnd, document, documentEnd, birthdate, number);
    at = birthdate + BIRTHDATE_BYTES + 2;
  }
  return at === size ? count : -1;
}
