/**
 * Small files kept next to bets.csv so that the draw survives restarts:
 *
 *   <bets>.finished   one agency id per line, appended (and synced) when the
 *                     agency says Done: who has finished is durable.
 *   <bets>.winners    `agency,document` per winning bet, written once by the
 *                     coordinator (temp file, sync, rename): its presence
 *                     means the draw happened, and its content is the result.
 */
import { closeSync, existsSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function finishedPath(betsFile: string): string {
  return `${betsFile}.finished`;
}

export function winnersPath(betsFile: string): string {
  return `${betsFile}.winners`;
}

/** Agencies recorded as finished (empty when the journal does not exist). */
export function readFinished(betsFile: string): Set<number> {
  const path = finishedPath(betsFile);
  if (!existsSync(path)) return new Set();
  const ids = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => /^\d+$/.test(line))
    .map(Number);
  return new Set(ids);
}

/** Durably records that `agency` said Done. */
export function recordFinished(betsFile: string, agency: number): void {
  const fd = openSync(finishedPath(betsFile), 'a');
  try {
    writeSync(fd, `${agency}\n`);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Atomically and durably writes the draw's result. */
export function writeWinners(betsFile: string, winners: ReadonlyMap<number, readonly string[]>): void {
  const path = winnersPath(betsFile);
  const temp = `${path}.tmp`;
  let text = '';
  for (const [agency, documents] of winners) for (const doc of documents) text += `${agency},${doc}\n`;
  const fd = openSync(temp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  syncDirectory(dirname(path));
}

/** The stored result for one agency, or null when no draw has happened. */
export function readWinners(betsFile: string, agency: number): string[] | null {
  const path = winnersPath(betsFile);
  if (!existsSync(path)) return null;
  const prefix = `${agency},`;
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .map((line) => line.slice(prefix.length));
}

export function drawHappened(betsFile: string): boolean {
  return existsSync(winnersPath(betsFile));
}

/** A rename is durable only once its directory entry is synced. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself still happened.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
