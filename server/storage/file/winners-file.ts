/**
 * `<bets>.winners`: the draw's result, `agency,document` per winning bet,
 * written once (temporary file, sync, rename, directory sync): its presence
 * means the draw happened, and its content is the answer. Once the `sorteo`
 * line is logged, a last line `announced` is appended and synced, so that a
 * central that crashed between the rename and the log line logs it after
 * its restart, and one that did not, does not log it twice.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFully, type FileIo } from './io.js';

/** Atomically and durably writes the draw's result. Throws (leaving no result) when it cannot. */
export function writeWinners(io: FileIo, path: string, winners: ReadonlyMap<number, readonly string[]>): void {
  const temp = `${path}.tmp`;
  let text = '';
  for (const [agency, documents] of winners) for (const doc of documents) text += `${agency},${doc}\n`;
  const fd = io.open(temp, 'w');
  try {
    writeFully(io, fd, Buffer.from(text, 'latin1'));
    io.syncNow(fd);
  } finally {
    io.close(fd);
  }
  io.rename(temp, path);
  io.syncDirectory(dirname(path));
}

const ANNOUNCED = 'announced\n';

/** Records, durably, that the draw's `sorteo` line was logged. */
export function markAnnounced(io: FileIo, path: string): void {
  const fd = io.open(path, 'a');
  try {
    writeFully(io, fd, Buffer.from(ANNOUNCED, 'latin1'));
    io.syncNow(fd);
  } finally {
    io.close(fd);
  }
}

/** Whether the result's `sorteo` line was logged (see markAnnounced). */
export function wasAnnounced(path: string): boolean {
  return existsSync(path) && readFileSync(path, 'latin1').endsWith(ANNOUNCED);
}

/** Winning documents per agency, in the file's order (null when no draw has happened). */
export function readAllWinners(path: string): Map<number, string[]> | null {
  if (!existsSync(path)) return null;
  const winners = new Map<number, string[]>();
  for (const line of readFileSync(path, 'latin1').split('\n')) {
    const comma = line.indexOf(',');
    if (comma <= 0) continue;
    const agency = Number(line.slice(0, comma));
    let list = winners.get(agency);
    if (!list) winners.set(agency, (list = []));
    list.push(line.slice(comma + 1));
  }
  return winners;
}

/** The stored result for one agency, or null when no draw has happened. */
export function readWinners(path: string, agency: number): string[] | null {
  if (!existsSync(path)) return null;
  const prefix = `${agency},`;
  return readFileSync(path, 'latin1')
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .map((line) => line.slice(prefix.length));
}
