/**
 * Start-up check of bets.csv. Reads the file once in large chunks (never
 * whole), counts the stored bets of each agency so that agencies can resume
 * where their durable bets end, and cuts a torn last line — one a crash left
 * without its newline — so the file again holds whole lines only.
 */
import { closeSync, ftruncateSync, fstatSync, openSync, readSync, fsyncSync } from 'node:fs';

const CHUNK = 4 * 1024 * 1024;
const NEWLINE = 0x0a;
const COMMA = 0x2c;

export interface Recovery {
  /** Stored bets per agency id. */
  readonly counts: Map<number, number>;
  readonly lines: number;
  /** Bytes of a torn last line that were cut off (0 when the file was clean). */
  readonly truncatedBytes: number;
  /** Lines whose agency field is not a number (reported, left in place). */
  readonly malformedLines: number;
}

/** Scans `path` (which must exist) and repairs its tail. */
export function recoverBetsFile(path: string): Recovery {
  const fd = openSync(path, 'r+');
  try {
    const size = fstatSync(fd).size;
    const counts = new Map<number, number>();
    const buffer = Buffer.allocUnsafe(CHUNK);
    let lines = 0;
    let malformedLines = 0;
    let position = 0;
    /** File offset just past the last newline seen. */
    let wholeEnd = 0;
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
          wholeEnd = position + i + 1;
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
    const truncatedBytes = size - wholeEnd;
    if (truncatedBytes > 0) {
      ftruncateSync(fd, wholeEnd);
      fsyncSync(fd);
    }
    return { counts, lines, truncatedBytes, malformedLines };
  } finally {
    closeSync(fd);
  }
}
