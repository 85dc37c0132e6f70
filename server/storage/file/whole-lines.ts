/**
 * bets.csv read front to back in large chunks of whole lines: what the draw
 * and recovery scan. Memory stays at one chunk
 * whatever the file's size; the bytes after the last newline are not handed
 * out (a torn last line), nor is anything once a "line" outgrows a chunk
 * (garbage, never a stored bet).
 */
import { NEWLINE } from '../../../protocol/index.js';
import type { FileIo } from './io.js';

export interface LineChunk {
  /** Whole lines, each ending with a newline (a view, valid until the next chunk). */
  readonly bytes: Buffer;
  /** The file offset of bytes[0]. */
  readonly offset: number;
}

const CHUNK = 1024 * 1024;

/** Chunks of whole lines of the file's first `size` bytes. */
export function* wholeLines(io: Pick<FileIo, 'read'>, fd: number, size: number, chunkBytes = CHUNK): Generator<LineChunk> {
  const buffer = Buffer.allocUnsafe(chunkBytes);
  let carried = 0; // bytes of an unfinished line moved to the front of `buffer`
  let position = 0; // file offset of what comes after the carried bytes
  while (position < size) {
    const read = io.read(fd, buffer, carried, Math.min(buffer.length - carried, size - position), position);
    if (read === 0) return;
    const end = carried + read;
    const wholeEnd = buffer.lastIndexOf(NEWLINE, end - 1) + 1;
    if (wholeEnd === 0 && end === buffer.length) return; // a line longer than a chunk: not one of ours
    if (wholeEnd > 0) yield { bytes: buffer.subarray(0, wholeEnd), offset: position - carried };
    buffer.copy(buffer, 0, wholeEnd, end);
    position += read;
    carried = end - wholeEnd;
  }
}
