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
import { BIRTHDATE_BYTES, MAX_BET_NUMBER, MAX_DOCUMENT_DIGITS, MAX_NAME_BYTES } from '../constants.js';
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
const DIGITS = /^[0-9]+$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const OLDEST_YEAR = 1900;

/** Why a bet is invalid, or null when it is valid. `today` is "YYYY-MM-DD" (UTC). */
export function validateBet(bet: Bet, today = new Date().toISOString().slice(0, 10)): string | null {
  const name = checkName(bet.firstName, 'first name') ?? checkName(bet.lastName, 'last name');
  if (name) return name;
  if (!DIGITS.test(bet.document) || bet.document.length > MAX_DOCUMENT_DIGITS) {
    return `document must be 1 to ${MAX_DOCUMENT_DIGITS} digits, got ${JSON.stringify(bet.document)}`;
  }
  const date = checkBirthdate(bet.birthdate, today);
  if (date) return date;
  if (!Number.isInteger(bet.number) || bet.number < 0 || bet.number > MAX_BET_NUMBER) {
    return `number must be an integer from 0 to ${MAX_BET_NUMBER}, got ${bet.number}`;
  }
  return null;
}

function checkName(value: string, what: string): string | null {
  if (value.trim() === '') return `${what} is empty`;
  if (Buffer.byteLength(value) > MAX_NAME_BYTES) return `${what} is longer than ${MAX_NAME_BYTES} bytes`;
  if (CONTROL.test(value)) return `${what} contains a control character`;
  return null;
}

function checkBirthdate(value: string, today: string): string | null {
  const match = DATE.exec(value);
  if (match) {
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const date = new Date(Date.UTC(year, month - 1, day));
    const real = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
    if (real && year >= OLDEST_YEAR && value <= today) return null;
    if (real) return `birthdate ${value} is outside ${OLDEST_YEAR}-01-01..${today}`;
  }
  return `birthdate must be a real date YYYY-MM-DD, got ${JSON.stringify(value)}`;
}

/** A bet wins the draw when its number is this one. */
export const WINNING_NUMBER = 7574;
