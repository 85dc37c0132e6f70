/**
 * What the benchmark prints: progress lines, correctness errors (any one makes
 * the run exit 1), number formats, medians, and the final table of figures.
 */
import os from 'node:os';
import { MB, REFERENCE_DIR } from './settings.js';

export function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

export const problems: string[] = [];
export function correctnessError(message: string): void {
  problems.push(message);
  say(`CORRECTNESS ERROR: ${message}`);
}

export const fmt = {
  s: (ms: number) => `${(ms / 1000).toFixed(2)} s`,
  ms: (ms: number) => `${ms.toFixed(0)} ms`,
  mb: (bytes: number) => `${(bytes / MB).toFixed(1)} MB`,
  n: (n: number) => Math.round(n).toLocaleString('en-US'),
  x: (r: number) => `${r.toFixed(2)}×`,
};

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The round whose `key` is the median (the lower middle one of an even count): reported whole, so its figures agree. */
export function medianRound<T>(rounds: readonly T[], key: (round: T) => number): T {
  return [...rounds].sort((a, b) => key(a) - key(b))[(rounds.length - 1) >> 1];
}

/** How each round came out, when there was more than one. */
export function roundsNote(ratios: readonly number[]): string {
  return ratios.length > 1 ? ` (rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')}; median round shown)` : '';
}

export function loadavg(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

export type Verdict = 'PASS' | 'MISS' | 'MISS (out of reach: the lower bound is above the target)' | 'INFO' | 'SKIP' | 'ERROR';
export interface Row {
  readonly figure: string;
  readonly measured: string;
  readonly target: string;
  readonly verdict: Verdict;
}
export const rows: Row[] = [];
export function row(figure: string, measured: string, target: string, verdict: Verdict): void {
  rows.push({ figure, measured, target, verdict });
}
export const verdict = (ok: boolean): Verdict => (ok ? 'PASS' : 'MISS');

/** The row of a figure that needs the reference dataset, on a machine without it. */
export function skippedWithoutReference(figure: string, target: string): void {
  row(figure, `skipped: ${REFERENCE_DIR} not found`, target, 'SKIP');
}

export function printTable(): void {
  const cell = (s: string) => s.replaceAll('|', '\\|');
  // Figures run in dependency order (3 before 2); the table lists them by number.
  const key = (r: Row) => {
    const m = /^(\d+)([a-z]?)/.exec(r.figure);
    return m ? Number(m[1]) * 100 + (m[2] ? m[2].charCodeAt(0) - 96 : 0) : 10_000;
  };
  const sorted = [...rows].sort((a, b) => key(a) - key(b));
  say('| figure | measured | target | result |');
  say('| --- | --- | --- | --- |');
  for (const r of sorted) say(`| ${cell(r.figure)} | ${cell(r.measured)} | ${cell(r.target)} | ${r.verdict} |`);
}

/** Runs one figure; a failure to complete is reported, and the next figure still runs. */
export async function figure(name: string, body: () => void | Promise<void>): Promise<void> {
  say(`\n## ${name}   (load avg ${loadavg()})`);
  const t0 = performance.now();
  try {
    await body();
  } catch (error) {
    correctnessError(`${name}: did not complete: ${(error as Error).message}`);
    row(name, 'did not complete', '—', 'ERROR');
  }
  say(`  (${fmt.s(performance.now() - t0)})`);
}
