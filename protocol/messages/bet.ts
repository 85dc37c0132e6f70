/**
 * One bet inside a BetBatch body:
 *
 *   str8  firstName    u8 length + UTF-8, 1..100 bytes
 *   str8  lastName     u8 length + UTF-8, 1..100 bytes
 *   str8  document     u8 length + ASCII digits, 1..10
 *   10    birthdate    ASCII "YYYY-MM-DD", no length prefix
 *   u16   number       0..9999
 *
 * The codec checks structure only (lengths, UTF-8); `validateBet` applies the
 * rules of a valid bet (bet-rules.ts), shared by the agency (before sending)
 * and the central (before storing), so both reject exactly the same bets.
 */
import { birthdateProblem, dateNumber, describeProblem, documentProblem, nameProblem, numberProblem, Problem } from '../bet-rules.js';
import { BIRTHDATE_BYTES } from '../constants.js';
import type { BodyReader } from '../reader.js';
import type { FrameWriter } from '../writer.js';

export interface Bet {
  readonly firstName: string;
  readonly lastName: string;
  readonly document: string;
  /** "YYYY-MM-DD" */
  readonly birthdate: string;
  readonly number: number;
}

/** The smallest a bet can be: one-byte names and document, the date, the number. */
export const MIN_BET_BYTES = 3 + 3 + BIRTHDATE_BYTES + 2;

export function betSize(bet: Bet): number {
  return 3 + Buffer.byteLength(bet.firstName) + Buffer.byteLength(bet.lastName) + bet.document.length + BIRTHDATE_BYTES + 2;
}

/** Call only on a bet that passed validateBet (lengths are then known to fit). */
export function writeBet(w: FrameWriter, bet: Bet): void {
  w.str8(bet.firstName).str8(bet.lastName).str8(bet.document).utf8(bet.birthdate).u16(bet.number);
}

export function readBet(r: BodyReader): Bet {
  const firstName = r.str8('first name');
  const lastName = r.str8('last name');
  const document = r.str8('document');
  const birthdate = r.utf8(BIRTHDATE_BYTES, 'birthdate');
  const number = r.u16('number');
  return { firstName, lastName, document, birthdate, number };
}

/**
 * Why a bet is invalid, or null when it is valid. `today` is "YYYY-MM-DD"
 * (UTC). The rules are bet-rules.ts's, applied to the bytes each field
 * would travel as: the same check the agency's encoder and the central's
 * scanner make.
 */
export function validateBet(bet: Bet, today = todayUtc()): string | null {
  for (const [field, value] of [
    ['first name', bet.firstName],
    ['last name', bet.lastName],
  ] as const) {
    const bytes = Buffer.from(value, 'utf8');
    const problem = nameProblem(bytes, 0, bytes.length);
    if (problem !== Problem.None) return describeProblem(field, problem, value, today);
  }
  const document = Buffer.from(bet.document, 'utf8');
  const documentAt = documentProblem(document, 0, document.length);
  if (documentAt !== Problem.None) return describeProblem('document', documentAt, bet.document, today);
  const birthdate = Buffer.from(bet.birthdate, 'utf8');
  const dateAt = birthdate.length === BIRTHDATE_BYTES ? birthdateProblem(birthdate, 0, dateNumber(today)) : Problem.NotADate;
  if (dateAt !== Problem.None) return describeProblem('birthdate', dateAt, bet.birthdate, today);
  const numberAt = numberProblem(bet.number);
  if (numberAt !== Problem.None) return describeProblem('number', numberAt, String(bet.number), today);
  return null;
}

let cachedDay = '';
let cachedDayNumber = 0;
let cachedUntil = 0;

/** Today as "YYYY-MM-DD" (UTC), recomputed at most once a second: validation runs per bet. */
export function todayUtc(): string {
  const now = Date.now();
  if (now >= cachedUntil) {
    cachedDay = new Date(now).toISOString().slice(0, 10);
    cachedDayNumber = dateNumber(cachedDay);
    cachedUntil = now + 1000;
  }
  return cachedDay;
}

/** Today as the number yyyymmdd (UTC), from the same once-a-second cache: the central asks per batch. */
export function todayNumberUtc(): number {
  todayUtc();
  return cachedDayNumber;
}

/** A bet wins the draw when its number is this one. */
export const WINNING_NUMBER = 7574;
