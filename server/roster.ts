/**
 * The roster: the agencies a lottery expects. Ids 1..SERVER_AGENCIES by
 * default, an explicit list (SERVER_AGENCY_IDS), or the ids of the secrets
 * file. Only roster agencies are admitted and counted for the draw; an empty
 * roster (SERVER_AGENCIES=0) admits any agency and never draws.
 */
import { createHash } from 'node:crypto';
import { MAX_AGENCY_ID } from '../protocol/index.js';

/** Sorted, distinct agency ids. */
export type Roster = readonly number[];

export function rosterOfCount(count: number): Roster {
  return Array.from({ length: count }, (_, i) => i + 1);
}

/** Parses `1-5,9,12-14`; throws with what is wrong. */
export function parseAgencyIds(text: string): Roster {
  const ids = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim())) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not an agency id or a range like 1-5`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from < 1 || to > MAX_AGENCY_ID || from > to) throw new Error(`"${part}" is not within 1..${MAX_AGENCY_ID}, low to high`);
    for (let id = from; id <= to; id++) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}

/** A short, stable fingerprint of the roster, kept with the bets so a restart with another roster is noticed. */
export function rosterDigest(roster: Roster): string {
  const bytes = Buffer.alloc(roster.length * 2);
  roster.forEach((id, i) => bytes.writeUInt16BE(id, i * 2));
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** The roster in its shortest form: `1-5,9`. */
export function describeRoster(roster: Roster): string {
  if (roster.length === 0) return 'any';
  const parts: string[] = [];
  for (let i = 0; i < roster.length;) {
    let j = i;
    while (j + 1 < roster.length && roster[j + 1] === roster[j] + 1) j++;
    parts.push(j === i ? `${roster[i]}` : `${roster[i]}-${roster[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
