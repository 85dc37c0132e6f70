/**
 * The rules of a valid bet, on the bytes a BetBatch carries. This is the one
 * validator behind every path that accepts bets: `validateBet` (the codec's,
 * on a decoded Bet), the agency's BatchEncoder (on the bytes it has just
 * written into a frame) and the central's scanBetBatch (on the bytes it
 * received). Each rule returns a Problem, NONE when the field is fine;
 * `describeProblem` says it in words.
 *
 *   name        1..100 bytes of UTF-8, not blank, no C0 control and no DEL
 *   document    1..10 ASCII digits
 *   birthdate   10 bytes "YYYY-MM-DD", a real date from 1900-01-01 to today
 *   number      an integer 0..9999
 */
import { DASH, DEL, NINE, SPACE, ZERO } from './ascii.js';
import { MAX_BET_NUMBER, MAX_DOCUMENT_DIGITS, MAX_NAME_BYTES, OLDEST_BIRTH_YEAR } from './constants.js';

export const Problem = {
  None: 0,
  Empty: 1,
  TooLong: 2,
  Control: 3,
  NotUtf8: 4,
  NotDigits: 5,
  NotADate: 6,
  DateOutOfRange: 7,
  NumberOutOfRange: 8,
} as const;
export type Problem = (typeof Problem)[keyof typeof Problem];

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A first or last name at bytes[from, to). */
export function nameProblem(bytes: Uint8Array, from: number, to: number): Problem {
  if (to - from > MAX_NAME_BYTES) return Problem.TooLong;
  let visible = false;
  for (let k = from; k < to;) {
    const byte = bytes[k];
    if (byte < 0x80) {
      if (byte < SPACE || byte === DEL) return Problem.Control;
      if (byte !== SPACE) visible = true;
      k++;
    } else {
      k = utf8SequenceEnd(bytes, k, to);
      if (k < 0) return Problem.NotUtf8;
      visible = true;
    }
  }
  return visible ? Problem.None : Problem.Empty;
}

/** A document at bytes[from, to). */
export function documentProblem(bytes: Uint8Array, from: number, to: number): Problem {
  if (to === from) return Problem.Empty;
  if (to - from > MAX_DOCUMENT_DIGITS) return Problem.TooLong;
  for (let k = from; k < to; k++) {
    const byte = bytes[k];
    if (byte < ZERO || byte > NINE) return Problem.NotDigits;
  }
  return Problem.None;
}

/** The 10-byte birthdate at bytes[at..]; `today` is the date as the number yyyymmdd. */
export function birthdateProblem(bytes: Uint8Array, at: number, today: number): Problem {
  if (bytes[at + 4] !== DASH || bytes[at + 7] !== DASH) return Problem.NotADate;
  const year = digits(bytes, at, at + 4);
  const month = digits(bytes, at + 5, at + 7);
  const day = digits(bytes, at + 8, at + 10);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return Problem.NotADate;
  if (year < OLDEST_BIRTH_YEAR || year * 10000 + month * 100 + day > today) return Problem.DateOutOfRange;
  return Problem.None;
}

export function numberProblem(number: number): Problem {
  return Number.isInteger(number) && number >= 0 && number <= MAX_BET_NUMBER ? Problem.None : Problem.NumberOutOfRange;
}

/**
 * The end of the well-formed UTF-8 sequence whose lead byte (≥ 0x80) is at
 * `k`, or -1: no overlong forms, no surrogates, nothing above U+10FFFF (the
 * rules of Buffer's isUtf8, checked here without a native call per name).
 */
export function utf8SequenceEnd(bytes: Uint8Array, k: number, end: number): number {
  const lead = bytes[k];
  if (lead >= 0xc2 && lead <= 0xdf) return k + 1 < end && (bytes[k + 1] & 0xc0) === 0x80 ? k + 2 : -1;
  if (lead >= 0xe0 && lead <= 0xef) {
    if (k + 2 >= end) return -1;
    const second = bytes[k + 1];
    const low = lead === 0xe0 ? 0xa0 : 0x80;
    const high = lead === 0xed ? 0x9f : 0xbf;
    return second >= low && second <= high && (bytes[k + 2] & 0xc0) === 0x80 ? k + 3 : -1;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    if (k + 3 >= end) return -1;
    const second = bytes[k + 1];
    const low = lead === 0xf0 ? 0x90 : 0x80;
    const high = lead === 0xf4 ? 0x8f : 0xbf;
    const tail = (bytes[k + 2] & 0xc0) === 0x80 && (bytes[k + 3] & 0xc0) === 0x80;
    return second >= low && second <= high && tail ? k + 4 : -1;
  }
  return -1;
}

/** Days in `month` (1..12) of `year`, leap years included. */
export function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
}

/** "YYYY-MM-DD" → the number yyyymmdd, the form birthdates are compared in. */
export function dateNumber(date: string): number {
  return Number(date.slice(0, 4)) * 10000 + Number(date.slice(5, 7)) * 100 + Number(date.slice(8, 10));
}

/** What a problem of `field` means, for a person; `value` as given (shown JSON-quoted). */
export function describeProblem(
  field: 'first name' | 'last name' | 'document' | 'birthdate' | 'number',
  problem: Problem,
  value: string,
  today: string,
): string {
  switch (field) {
    case 'first name':
    case 'last name':
      if (problem === Problem.Empty) return `${field} is empty`;
      if (problem === Problem.TooLong) return `${field} is longer than ${MAX_NAME_BYTES} bytes`;
      if (problem === Problem.Control) return `${field} contains a control character`;
      return `${field} is not valid UTF-8`;
    case 'document':
      return `document must be 1 to ${MAX_DOCUMENT_DIGITS} digits, got ${JSON.stringify(value)}`;
    case 'birthdate':
      if (problem === Problem.DateOutOfRange) return `birthdate ${value} is outside ${OLDEST_BIRTH_YEAR}-01-01..${today}`;
      return `birthdate must be a real date YYYY-MM-DD, got ${JSON.stringify(value)}`;
    case 'number':
      return `number must be an integer from 0 to ${MAX_BET_NUMBER}, got ${value}`;
  }
}

/** The decimal number in bytes[from, to), or -1 if any of it is not a digit. */
function digits(bytes: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = bytes[i] - ZERO;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
