/**
 * Start-up recovery of the file store: bets.csv is trusted exactly as far as
 * its journal describes it, entry by entry, and everything after the first
 * entry that does not hold is cut away (it was never acknowledged: an entry
 * is written after its lines and synced with them before any ack).
 *
 * An entry holds when its checksum is right, its data end does not go
 * backwards, the agency's position does not go backwards, and — for stored
 * bets — the bytes up to its data end are exactly its number of whole lines,
 * each starting with its agency's id. So a batch torn by a crash, a journal
 * entry torn inside its 32 bytes, lines that never reached the disk while
 * their entry did (zeros after a power cut), all end the trusted prefix.
 *
 * Both files are read front to back in large chunks: memory stays flat
 * whatever their size. The result fills the store's shared ledger.
 *
 * A bets.csv without a journal (from an older version, or from elsewhere) is
 * adopted: its whole lines are kept and journaled, a torn last line is cut,
 * and each agency resumes by count (position = bets stored).
 */
import { COMMA, MAX_AGENCY_ID, NEWLINE, ZERO } from '../../../protocol/index.js';
import { ENTRY_BYTES, EntryKind, HEADER_BYTES, readEntry, writeEntry, type JournalEntry } from './journal-format.js';
import { writeFully, type FileIo } from './io.js';
import { wholeLines, type LineChunk } from './whole-lines.js';
import type { JournalState } from './journal-state.js';

export interface Replayed {
  readonly entries: number;
  readonly bets: number;
  /** Agencies with stored bets. */
  readonly agencies: number;
  /** Agencies recorded as finished. */
  readonly finished: readonly number[];
  /** Bytes of bets.csv after the trusted prefix, cut. */
  readonly discardedBytes: number;
  /** Bytes of the journal after the last entry that held, cut. */
  readonly discardedJournalBytes: number;
  readonly dataSize: number;
  readonly journalSize: number;
}

/**
 * Replays the journal's entries over bets.csv into `state` and cuts both
 * files after the trusted prefix. The journal's header was checked already.
 */
export function replayJournal(io: FileIo, dataFd: number, journalFd: number, state: JournalState): Replayed {
  const dataLength = io.size(dataFd);
  const journalLength = io.size(journalFd);
  const entries = new EntryReader(io, journalFd, journalLength);
  const lines = new LineReader(io, dataFd, dataLength);
  let dataEnd = 0;
  let journalEnd = HEADER_BYTES;
  let count = 0;
  let bets = 0;
  const finished: number[] = [];
  for (let entry = entries.next(); entry !== null; entry = entries.next()) {
    if (!holds(entry, dataEnd, state, lines)) break;
    state.record(entry.agency, entry.kind === EntryKind.Stored ? entry.bets : 0, entry.position, entry.kind === EntryKind.Finished, 0);
    if (entry.kind === EntryKind.Stored) bets += entry.bets;
    if (entry.kind === EntryKind.Finished) finished.push(entry.agency);
    dataEnd = entry.dataEnd;
    journalEnd += ENTRY_BYTES;
    count++;
  }
  if (dataEnd < dataLength) io.truncate(dataFd, dataEnd);
  if (journalEnd < journalLength) io.truncate(journalFd, journalEnd);
  let agencies = 0;
  for (let agency = 1; agency <= MAX_AGENCY_ID; agency++) if (state.stored(agency) > 0) agencies++;
  return {
    entries: count,
    bets,
    agencies,
    finished,
    discardedBytes: dataLength - dataEnd,
    discardedJournalBytes: journalLength - journalEnd,
    dataSize: dataEnd,
    journalSize: journalEnd,
  };
}

function holds(entry: JournalEntry, dataEnd: number, state: JournalState, lines: LineReader): boolean {
  if (entry.agency === 0 || entry.position < state.settled(entry.agency)) return false;
  switch (entry.kind) {
    case EntryKind.Stored:
      return entry.bets > 0 && entry.dataEnd > dataEnd && lines.consume(entry.agency, entry.bets, entry.dataEnd);
    case EntryKind.Refused:
      return entry.dataEnd === dataEnd;
    case EntryKind.Finished:
      return entry.dataEnd === dataEnd && entry.bets === state.stored(entry.agency);
  }
}

export interface Adopted {
  readonly bets: number;
  readonly agencies: number;
  readonly discardedBytes: number;
  readonly dataSize: number;
  readonly journalSize: number;
}

/** What is wrong with a bets.csv the central was asked to adopt. */
export class NotABetsFile extends Error {
  override readonly name = 'NotABetsFile';
}

/**
 * Journals a bets.csv that has none (the journal holds only its header):
 * every whole line is kept, consecutive lines of one agency become one entry,
 * and a torn last line is cut. A line that is not `agency,...` is refused.
 */
export function adoptBetsFile(io: FileIo, dataFd: number, journalFd: number, state: JournalState): Adopted {
  const dataLength = io.size(dataFd);
  const lines = new LineReader(io, dataFd, dataLength);
  const out = Buffer.allocUnsafe(256 * ENTRY_BYTES);
  let pending = 0;
  let journalSize = HEADER_BYTES;
  let bets = 0;
  let run: { agency: number; bets: number } | null = null;
  const flushRun = (dataEnd: number) => {
    if (!run) return;
    const position = state.stored(run.agency) + run.bets;
    writeEntry(out, pending * ENTRY_BYTES, { kind: EntryKind.Stored, agency: run.agency, bets: run.bets, position, dataEnd });
    state.record(run.agency, run.bets, position, false, 0);
    pending++;
    if (pending === out.length / ENTRY_BYTES) flushEntries();
    run = null;
  };
  const flushEntries = () => {
    writeFully(io, journalFd, out.subarray(0, pending * ENTRY_BYTES));
    journalSize += pending * ENTRY_BYTES;
    pending = 0;
  };
  let lineNumber = 0;
  for (let line = lines.nextAgency(); line !== null; line = lines.nextAgency()) {
    lineNumber++;
    if (line.agency < 1 || line.agency > MAX_AGENCY_ID) {
      throw new NotABetsFile(`line ${lineNumber} (byte ${line.start}) does not start with an agency id 1..${MAX_AGENCY_ID} and a comma`);
    }
    if (run && run.agency !== line.agency) flushRun(line.start);
    run ??= { agency: line.agency, bets: 0 };
    run.bets++;
    bets++;
  }
  const dataEnd = lines.position;
  flushRun(dataEnd);
  flushEntries();
  if (dataEnd < dataLength) io.truncate(dataFd, dataEnd);
  let agencies = 0;
  for (let agency = 1; agency <= MAX_AGENCY_ID; agency++) if (state.stored(agency) > 0) agencies++;
  return { bets, agencies, discardedBytes: dataLength - dataEnd, dataSize: dataEnd, journalSize };
}

/** The journal's entries in order; stops (null) at the end, at a torn entry, or at one whose checksum fails. */
class EntryReader {
  readonly #buffer = Buffer.allocUnsafe(2048 * ENTRY_BYTES);
  #position = HEADER_BYTES;
  #at = 0;
  #length = 0;

  constructor(
    private readonly io: FileIo,
    private readonly fd: number,
    private readonly size: number,
  ) {}

  next(): JournalEntry | null {
    if (this.#at + ENTRY_BYTES > this.#length) {
      const wanted = Math.min(this.#buffer.length, Math.floor((this.size - this.#position) / ENTRY_BYTES) * ENTRY_BYTES);
      if (wanted <= 0) return null;
      this.#length = readFully(this.io, this.fd, this.#buffer, wanted, this.#position);
      this.#position += this.#length;
      this.#at = 0;
      if (this.#length < ENTRY_BYTES) return null;
    }
    const entry = readEntry(this.#buffer, this.#at);
    this.#at += ENTRY_BYTES;
    return entry;
  }
}

/** bets.csv's whole lines, one at a time, over wholeLines' chunks. */
class LineReader {
  readonly #chunks: Generator<LineChunk>;
  #chunk: LineChunk | null = null;
  /** Index in the chunk of the next line. */
  #at = 0;
  /** File offset just after the last line consumed. */
  #position = 0;
  readonly #prefix = Buffer.alloc(6);

  constructor(io: FileIo, fd: number, size: number) {
    this.#chunks = wholeLines(io, fd, size);
  }

  /** File offset just after the last whole line consumed. */
  get position(): number {
    return this.#position;
  }

  /**
   * Consumes `count` lines that each start with `agency,`, the last ending
   * exactly at file offset `end`. False when they are not there.
   */
  consume(agency: number, count: number, end: number): boolean {
    const prefixLength = this.#prefix.write(`${agency},`, 'latin1');
    for (let i = 0; i < count; i++) {
      const newline = this.#nextLine();
      if (newline < 0) return false;
      const bytes = this.#chunk!.bytes;
      const at = this.#at;
      if (newline - at < prefixLength || this.#chunk!.offset + newline >= end) return false;
      for (let k = 0; k < prefixLength; k++) if (bytes[at + k] !== this.#prefix[k]) return false;
      this.#take(newline);
    }
    return this.#position === end;
  }

  /** The next whole line's agency id (-1 when it does not start with one) and start; null after the last whole line. */
  nextAgency(): { agency: number; start: number } | null {
    const newline = this.#nextLine();
    if (newline < 0) return null;
    const start = this.#position;
    const bytes = this.#chunk!.bytes;
    let agency = 0;
    let k = this.#at;
    for (; k < newline && bytes[k] !== COMMA; k++) {
      const digit = bytes[k] - ZERO;
      // At most five digits, no leading zero: exactly how the central writes an id.
      if (digit < 0 || digit > 9 || k - this.#at >= 5 || (digit === 0 && k === this.#at)) {
        agency = -1;
        break;
      }
      agency = agency * 10 + digit;
    }
    if (k === this.#at || bytes[k] !== COMMA) agency = -1;
    this.#take(newline);
    return { agency, start };
  }

  /** Index in the current chunk of the newline ending the next line (moving to the next chunk as needed); -1 at the end. */
  #nextLine(): number {
    while (!this.#chunk || this.#at >= this.#chunk.bytes.length) {
      const next = this.#chunks.next();
      if (next.done) return -1;
      this.#chunk = next.value;
      this.#at = 0;
    }
    return this.#chunk.bytes.indexOf(NEWLINE, this.#at);
  }

  #take(newline: number): void {
    this.#at = newline + 1;
    this.#position = this.#chunk!.offset + this.#at;
  }
}

/** Reads `length` bytes at `position` into `buffer` at `offset`, stopping early only at the end of the file. */
function readFully(io: FileIo, fd: number, buffer: Buffer, length: number, position: number, offset = 0): number {
  let done = 0;
  while (done < length) {
    const read = io.read(fd, buffer, offset + done, length - done, position + done);
    if (read === 0) break;
    done += read;
  }
  return done;
}
