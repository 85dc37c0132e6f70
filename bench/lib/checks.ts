/**
 * The correctness checks every run ends with: what was stored against the
 * input, exit codes, and the central's log.
 */
import { describeExit, type Exit, type NodeProcess } from '../../scripts/proc.js';
import { digestStoredFile, digestText, sameDigest } from '../checksum.js';
import type { Central } from './central.js';
import type { AgencyInput } from './data.js';
import { correctnessError, say } from './report.js';

export function verifyStored(label: string, betsFile: string, inputs: readonly AgencyInput[]): void {
  const stored = digestStoredFile(betsFile);
  if (stored.malformed > 0) correctnessError(`${label}: ${stored.malformed} lines of bets.csv do not start with an agency number`);
  for (const input of inputs) {
    const got = stored.perAgency.get(input.agency);
    if (!got) {
      if (input.expected.digest.lines === 0) continue; // an empty file stores nothing
      correctnessError(`${label}: agency ${input.agency}: nothing stored, expected ${digestText(input.expected.digest)}`);
    } else if (!sameDigest(got, input.expected.digest)) {
      correctnessError(`${label}: agency ${input.agency}: stored ${digestText(got)}, input ${digestText(input.expected.digest)}`);
    }
  }
  for (const agency of stored.perAgency.keys()) {
    if (!inputs.some((i) => i.agency === agency)) correctnessError(`${label}: bets.csv holds bets of agency ${agency}, which sent none`);
  }
}

export function checkExit(label: string, who: NodeProcess, exit: Exit): void {
  if (exit.code !== 0) correctnessError(`${label}: ${who.name} ended with ${describeExit(exit)}\n${who.tail()}`);
}

export function checkCentral(label: string, central: Central, exit: Exit, expectedWinners: number | null): void {
  checkExit(label, central.proc, exit);
  if (central.warnings > 0 || central.workerFailures > 0) {
    say(`  note: the central logged ${central.warnings} warnings and ${central.workerFailures} workers exited non-zero, e.g.:`);
    for (const line of central.notable) say(`    ${line}`);
  }
  for (const line of central.errors) correctnessError(`${label}: the central logged: ${line}`);
  if (expectedWinners !== null && central.sorteoWinners !== expectedWinners) {
    correctnessError(`${label}: the central's sorteo line counts ${central.sorteoWinners ?? 'no'} winners, expected ${expectedWinners}`);
  }
}
