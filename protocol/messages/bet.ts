/**
 * One bet inside a BetBatch body:
 *
 *   str8  firstName    u8 length + UTF-8, 1..100 bytes
 *   str8  lastName     u8 length + UTF-8, 1..100 bytes
 *   str8  document     u8 length + ASCII digits, 1..10
 *   10    birthdate    ASCII "YYYY-MM-DD", no length prefix
 *   u16   number       0..9999
 *
 * The codec checks structure only (lengths, UTF-8); `validateBet` holds the
 * rules of a valid bet, shared by the agency (before sending) and the central
 * (before storing), so both reject exactly the same bets.
 */
import { BIRTHDATE_BYTES, MAX_BET_NUMBER, MAX_DOCUMENT_DIGITS, MAX_NAME_BYTES, OLDEST_BIRTH_YEAR } from '../constants.js';
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

export function betSize(bet: Bet): number {
  return (
    3 + Buffer.byteLength(bet.firstName) + Buffer.byteLength(bet.lastName) + bet.document.length + BIRTHDATE_BYTES + 2
  );
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

// C0 controls and DEL: they would break CSV lines and logs.
const CONTROL = /[\u0000-\u001f\u007f]/;
const NOT_SPACE = /[^ ]/;
const DIGITS = /^[0-9]+$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Why a bet is invalid, or null when it is valid. `today` is "YYYY-MM-DD" (UTC). */
export function validateBet(bet: Bet, today = todayUtc()): string | null {
  const name = checkName(bet.firstName, 'first name') ?? checkName(bet.lastName, 'last name');
  if (name) return name;
  if (bet.document.length > MAX_DOCUMENT_DIGITS || !DIGITS.test(bet.document)) {
    return `document must be 1 to ${MAX_DOCUMENT_DIGITS} digits, got ${JSON.stringify(bet.document)}`;
  }
  const date = birthdateProblem(bet.birthdate, today);
  if (date) return date;
  if (!Number.isInteger(bet.number) || bet.number < 0 || bet.number > MAX_BET_NUMBER) {
    return `number must be an integer from 0 to ${MAX_BET_NUMBER}, got ${bet.number}`;
  }
  return null;
}

function checkName(value: string, what: string): string | null {
  if (!NOT_SPACE.test(value)) return `${what} is empty`;
  // A UTF-16 unit is at most 3 UTF-8 bytes: short strings need no byte count.
  if (value.length * 3 > MAX_NAME_BYTES && Buffer.byteLength(value) > MAX_NAME_BYTES) return `${what} is longer than ${MAX_NAME_BYTES} bytes`;
  if (CONTROL.test(value)) return `${what} contains a control character`;
  return null;
}

/** Why `value` is not a birthdate from 1900-01-01 to `today`, or null when it is one. */
function birthdateProblem(value: string, today: string): string | null {
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 5, 7);
  const day = digitsAt(value, 8, 10);
  const shaped = value.length === BIRTHDATE_BYTES && value[4] === '-' && value[7] === '-' && year >= 0 && month >= 1 && month <= 12;
  if (shaped && day >= 1 && day <= daysInMonth(year, month)) {
    if (year >= OLDEST_BIRTH_YEAR && value <= today) return null;
    return `birthdate ${value} is outside ${OLDEST_BIRTH_YEAR}-01-01..${today}`;
  }
  return `birthdate must be a real date YYYY-MM-DD, got ${JSON.stringify(value)}`;
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

/** "YYYY-MM-DD" → the number yyyymmdd, the form the fast paths compare birthdates in. */
export function dateNumber(date: string): number {
  return Number(date.slice(0, 4)) * 10000 + Number(date.slice(5, 7)) * 100 + Number(date.slice(8, 10));
}

/** The decimal number in value[from, to), or -1 if any of it is not a digit. */
function digitsAt(value: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = value.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Days in `month` (1..12) of `year`, leap years included. */
export function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
}

/** A bet wins the draw when its number is this one. */
export const WINNING_NUMBER = 7574;
