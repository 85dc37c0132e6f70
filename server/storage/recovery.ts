/**
 * Start-up check of bets.csv, so that a crash at any instant leaves a file
 * made of whole batches only.
 *
 * Next to the data, `<bets>.batches` holds the end offset (u64 big-endian) of
 * every batch, appended right after the batch's data and synced with it
 * before the ack. On start-up the data is cut back to the last recorded end:
 * a batch whose write was torn by a crash (or not yet indexed) was never
 * acknowledged, and its agency sends it again after reconnecting. A torn
 * index entry is dropped too. Then one pass in large chunks (never the whole
 * file in memory) counts each agency's stored bets, which is where resuming
 * agencies continue.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';

const CHUNK = 1024 * 1024;
const NEWLINE = 0x0a;
const COMMA = 0x2c;
export const INDEX_ENTRY_BYTES = 8;

export function batchIndexPath(betsFile: string): string {
  return `${betsFile}.batches`;
}

export interface Recovery {
  /** Stored bets per agency id. */
  readonly counts: Map<number, number>;
  readonly lines: number;
  /** Bytes cut from the end of bets.csv (a torn or unindexed batch). */
  readonly truncatedBytes: number;
  /** Lines whose agency field is not a number (reported, left in place). */
  readonly malformedLines: number;
  /** True when no index existed and one was started from the whole lines found. */
  readonly indexRebuilt: boolean;
  /** Bytes of bets.csv after recovery. */
  readonly size: number;
}

/** Repairs the tail of `betsFile` and its index (creating both if missing), then counts. */
export function recoverBetsFile(betsFile: string): Recovery {
  const indexFile = batchIndexPath(betsFile);
  const hadIndex = existsSync(indexFile);
  const data = openSync(betsFile, existsSync(betsFile) ? 'r+' : 'w+');
  const index = openSync(indexFile, hadIndex ? 'r+' : 'w+');
  try {
    const size = fstatSync(data).size;
    let keep: number;
    if (hadIndex) {
      keep = lastBatchEnd(index, size);
    } else {
      // No index (a file from elsewhere, or the very first start): keep whole lines, call them one batch.
      keep = lastLineEnd(data, size);
      if (keep > 0) writeOffset(index, keep);
    }
    if (keep > 0 && byteAt(data, keep - 1) !== NEWLINE) {
      // A batch end inside a line means the index itself is damaged: fall back to whole lines.
      keep = lastLineEnd(data, keep);
      ftruncateSync(index, 0);
      if (keep > 0) writeOffset(index, keep);
    }
    if (keep < size) {
      ftruncateSync(data, keep);
      fsyncSync(data);
    }
    fsyncSync(index);
    return { ...countAgencies(data, keep), truncatedBytes: size - keep, indexRebuilt: !hadIndex, size: keep };
  } finally {
    closeSync(data);
    closeSync(index);
  }
}

/** The largest recorded batch end within `dataSize`; trims the index to it. */
function lastBatchEnd(index: number, dataSize: number): number {
  const entries = Math.floor(fstatSync(index).size / INDEX_ENTRY_BYTES);
  const entry = Buffer.alloc(INDEX_ENTRY_BYTES);
  // Entries only grow, so the search runs backwards over the few that may be beyond the data.
  let kept = entries;
  let end = 0;
  while (kept > 0) {
    readSync(index, entry, 0, INDEX_ENTRY_BYTES, (kept - 1) * INDEX_ENTRY_BYTES);
    const offset = Number(entry.readBigUInt64BE(0));
    if (offset <= dataSize) {
      end = offset;
      break;
    }
    kept--;
  }
  ftruncateSync(index, kept * INDEX_ENTRY_BYTES);
  return end;
}

function writeOffset(index: number, offset: number): void {
  const entry = Buffer.alloc(INDEX_ENTRY_BYTES);
  entry.writeBigUInt64BE(BigInt(offset));
  writeSync(index, entry, 0, INDEX_ENTRY_BYTES, 0);
}

function byteAt(fd: number, position: number): number {
  const one = Buffer.alloc(1);
  readSync(fd, one, 0, 1, position);
  return one[0]!;
}

/** Offset just past the last newline before `limit` (0 if none). */
function lastLineEnd(fd: number, limit: number): number {
  const buffer = Buffer.allocUnsafe(64 * 1024);
  let end = limit;
  while (end > 0) {
    const start = Math.max(0, end - buffer.length);
    const read = readSync(fd, buffer, 0, end - start, start);
    const at = buffer.subarray(0, read).lastIndexOf(NEWLINE);
    if (at !== -1) return start + at + 1;
    end = start;
  }
  return 0;
}

function countAgencies(fd: number, size: number): Omit<Recovery, 'truncatedBytes' | 'indexRebuilt' | 'size'> {
  const counts = new Map<number, number>();
  const buffer = Buffer.allocUnsafe(CHUNK);
  let lines = 0;
  let malformedLines = 0;
  let position = 0;
  // The agency field of the line being read, accumulated digit by digit.
  let agency = 0;
  let inAgency = true;
  let agencyValid = false;
  while (position < size) {
    const read = readSync(fd, buffer, 0, Math.min(CHUNK, size - position), position);
    if (read === 0) break;
    for (let i = 0; i < read; i++) {
      const byte = buffer[i]!;
      if (byte === NEWLINE) {
        lines++;
        if (agencyValid && !inAgency) counts.set(agency, (counts.get(agency) ?? 0) + 1);
        else malformedLines++;
        agency = 0;
        inAgency = true;
        agencyValid = false;
      } else if (inAgency) {
        if (byte === COMMA) inAgency = false;
        else if (byte >= 0x30 && byte <= 0x39) {
          agency = agency * 10 + (byte - 0x30);
          agencyValid = true;
        } else {
          agencyValid = false;
          inAgency = false;
        }
      }
    }
    position += read;
  }
  return { counts, lines, malformedLines };
}
