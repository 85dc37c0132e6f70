/**
 * `<bets>.journal`, the file store's record of what bets.csv holds: a header
 * naming the lottery, then one fixed-size entry per write, appended right
 * after the write's lines and synced with them. Recovery trusts bets.csv only
 * as far as the journal describes it, entry by entry.
 *
 * Header, 64 bytes:
 *
 *    0   8  magic "LOTJRNL\0"
 *    8   2  u16 format version (1)
 *   10   2  reserved, 0
 *   12   4  u32 roster size (0: any agency, no draw)
 *   16   8  roster digest: the first 8 bytes of SHA-256 over the ids as u16be, ascending
 *   24  16  lottery id, random: a new lottery gets a new one
 *   40   8  u64 created, ms since the epoch
 *   48  12  reserved, 0
 *   60   4  u32 CRC-32 of bytes 0..59
 *
 * Entry, 32 bytes (integers big-endian):
 *
 *    0   1  kind: 1 stored (lines were written), 2 refused (a batch settled
 *           without lines), 3 finished (the agency said Done)
 *    1   1  reserved, 0
 *    2   2  u16 agency
 *    4   4  u32 bets: stored → lines in this entry; finished → the agency's total
 *    8   4  u32 position: the agency's file position settled after this entry
 *   12   4  reserved, 0
 *   16   8  u64 data end: the length of bets.csv after this entry's lines
 *   24   4  reserved, 0
 *   28   4  u32 CRC-32 of bytes 0..27: a torn or garbled entry is recognised
 */
import { crc32 } from 'node:zlib';

export const JOURNAL_MAGIC = Buffer.from('LOTJRNL\0', 'latin1');
export const JOURNAL_VERSION = 1;
export const HEADER_BYTES = 64;
export const ENTRY_BYTES = 32;

export const EntryKind = { Stored: 1, Refused: 2, Finished: 3 } as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export interface JournalHeader {
  readonly rosterSize: number;
  /** 16 hex digits. */
  readonly rosterDigest: string;
  /** 32 hex digits. */
  readonly lotteryId: string;
  readonly createdMs: number;
}

export interface JournalEntry {
  readonly kind: EntryKind;
  readonly agency: number;
  readonly bets: number;
  readonly position: number;
  readonly dataEnd: number;
}

const HEADER_CRC_AT = HEADER_BYTES - 4;
const ENTRY_CRC_AT = ENTRY_BYTES - 4;

export function encodeHeader(header: JournalHeader): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  JOURNAL_MAGIC.copy(out, 0);
  out.writeUInt16BE(JOURNAL_VERSION, 8);
  out.writeUInt32BE(header.rosterSize, 12);
  out.write(header.rosterDigest, 16, 8, 'hex');
  out.write(header.lotteryId, 24, 16, 'hex');
  writeU64(out, 40, header.createdMs);
  out.writeUInt32BE(crc32(out.subarray(0, HEADER_CRC_AT)), HEADER_CRC_AT);
  return out;
}

/** The header, or why these bytes are not one. */
export function decodeHeader(bytes: Buffer): JournalHeader | string {
  if (bytes.length < HEADER_BYTES) return `the header is ${bytes.length} bytes, not ${HEADER_BYTES}`;
  if (!bytes.subarray(0, 8).equals(JOURNAL_MAGIC)) return 'it does not start with the journal magic';
  if (bytes.readUInt32BE(HEADER_CRC_AT) !== crc32(bytes.subarray(0, HEADER_CRC_AT))) return 'its header checksum does not match';
  const version = bytes.readUInt16BE(8);
  if (version !== JOURNAL_VERSION) return `format version ${version} is not supported (this central writes ${JOURNAL_VERSION})`;
  return {
    rosterSize: bytes.readUInt32BE(12),
    rosterDigest: bytes.toString('hex', 16, 24),
    lotteryId: bytes.toString('hex', 24, 40),
    createdMs: readU64(bytes, 40),
  };
}

/** Writes one entry at `at` of `out` (which must have ENTRY_BYTES there). */
export function writeEntry(out: Buffer, at: number, entry: JournalEntry): void {
  out.fill(0, at, at + ENTRY_BYTES);
  out[at] = entry.kind;
  out.writeUInt16BE(entry.agency, at + 2);
  out.writeUInt32BE(entry.bets, at + 4);
  out.writeUInt32BE(entry.position, at + 8);
  writeU64(out, at + 16, entry.dataEnd);
  out.writeUInt32BE(crc32(out.subarray(at, at + ENTRY_CRC_AT)), at + ENTRY_CRC_AT);
}

/** The entry at `at`, or null when its checksum or kind is wrong (torn, garbled, not an entry). */
export function readEntry(bytes: Buffer, at: number): JournalEntry | null {
  if (bytes.readUInt32BE(at + ENTRY_CRC_AT) !== crc32(bytes.subarray(at, at + ENTRY_CRC_AT))) return null;
  const kind = bytes[at];
  if (kind !== EntryKind.Stored && kind !== EntryKind.Refused && kind !== EntryKind.Finished) return null;
  return {
    kind,
    agency: bytes.readUInt16BE(at + 2),
    bets: bytes.readUInt32BE(at + 4),
    position: bytes.readUInt32BE(at + 8),
    dataEnd: readU64(bytes, at + 16),
  };
}

/** u64 big-endian as two u32 halves: file offsets stay far below 2^53. */
function writeU64(out: Buffer, at: number, value: number): void {
  out.writeUInt32BE(Math.floor(value / 0x1_0000_0000), at);
  out.writeUInt32BE(value >>> 0, at + 4);
}

function readU64(bytes: Buffer, at: number): number {
  return bytes.readUInt32BE(at) * 0x1_0000_0000 + bytes.readUInt32BE(at + 4);
}
