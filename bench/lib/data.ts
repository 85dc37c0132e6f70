/**
 * The benchmark's inputs: agency files made by the project's generator (or
 * the reference dataset), each digested once for the correctness checks.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateAgencyFile } from '../../scripts/generate-data.js';
import { digestAgencyFile, type InputDigest } from '../checksum.js';
import { REFERENCE_DIR, SEED } from './settings.js';
import { TMP } from './workspace.js';

export interface AgencyInput {
  readonly agency: number;
  readonly path: string;
  readonly expected: InputDigest;
}

export function generateSet(name: string, agencies: number, bets: number, winners?: (agency: number) => number): AgencyInput[] {
  const dir = join(TMP, 'data', name);
  mkdirSync(dir, { recursive: true });
  const inputs: AgencyInput[] = [];
  for (let agency = 1; agency <= agencies; agency++) {
    const path = join(dir, `agency-${agency}.csv`);
    generateAgencyFile(path, { agency, bets, seed: SEED, winners: winners?.(agency) });
    inputs.push({ agency, path, expected: digestAgencyFile(path, agency) });
  }
  return inputs;
}

/** One empty bets file per agency: a run that costs the central only its fixed work. */
export function emptySet(name: string, agencies: number): AgencyInput[] {
  const dir = join(TMP, 'data', name);
  mkdirSync(dir, { recursive: true });
  const inputs: AgencyInput[] = [];
  for (let agency = 1; agency <= agencies; agency++) {
    const path = join(dir, `agency-${agency}.csv`);
    writeFileSync(path, '');
    inputs.push({ agency, path, expected: digestAgencyFile(path, agency) });
  }
  return inputs;
}

export function referenceSet(): AgencyInput[] | null {
  const inputs: AgencyInput[] = [];
  for (let agency = 1; agency <= 5; agency++) {
    const path = join(REFERENCE_DIR, `agency-${agency}.csv`);
    if (!existsSync(path)) return null;
    inputs.push({ agency, path, expected: digestAgencyFile(path, agency) });
  }
  return inputs;
}

export const totalBets = (inputs: readonly AgencyInput[]) => inputs.reduce((n, i) => n + i.expected.digest.lines, 0);
export const totalWinners = (inputs: readonly AgencyInput[]) => inputs.reduce((n, i) => n + i.expected.winners, 0);
