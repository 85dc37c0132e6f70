/**
 * `<bets>.winners`: the draw's result, `agency,document` per winning bet,
 * written once (temporary file, sync, rename, directory sync): its presence
 * means the draw happened, and its content is the answer.
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

/** The stored result for one agency, or null when no draw has happened. */
export function readWinners(path: string, agency: number): string[] | null {
  if (!existsSync(path)) return null;
  const prefix = `${agency},`;
  return readFileSync(path, 'latin1')
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .map((line) => line.slice(prefix.length));
}

export function winnersExist(path: string): boolean {
  return existsSync(path);
}
