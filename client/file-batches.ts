/**
 * An agency's bets file as encoded batches, with no network in sight: reads
 * records (RecordReader), skips the first `skip` records (the central has
 * settled them: stored, or refused), reports invalid rows with their line
 * numbers, and encodes the rest (protocol's BatchEncoder), each batch stamped with the
 * record number of its last bet. The agency decides when frames leave.
 */
import { BatchEncoder, todayUtc } from '../protocol/index.js';
import { isBlank, RecordReader, toRow, type Row } from './bet-source.js';

export type InvalidRow = Row & { readonly error: string };

export class FileBatches {
  readonly builder: BatchEncoder;
  readonly #reader: RecordReader;
  #line = 0;
  readonly #skip: number;
  #ended = false;

  constructor(
    path: string,
    maxBets: number,
    skip: number,
    signal: AbortSignal | undefined,
    /** Called for every row that is not a valid bet; may throw to stop (strict mode). */
    private readonly onInvalid: (row: InvalidRow) => void,
  ) {
    this.builder = new BatchEncoder(maxBets);
    this.#reader = new RecordReader(path, signal);
    this.#skip = skip;
  }

  /** Records read so far (one per line). */
  get records(): number {
    return this.#line;
  }

  /** True once every record of the file is encoded and the last batch closed. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Encodes the records the parser holds right now, stopping early once
   * `room` batches are closed. Returns true when it stopped for room, false
   * when it ran out of records (then `more` says whether others will come).
   */
  encode(room: number): boolean {
    const { builder } = this;
    const today = todayUtc();
    let record: string[] | null;
    while (builder.closedBatches < room && (record = this.#reader.read()) !== null) {
      this.#line++;
      // Settled records were handled in an earlier session, invalid rows included (they were reported then).
      if (this.#line <= this.#skip || isBlank(record)) continue;
      if (builder.addFields(record, today, this.#line)) continue;
      const row = toRow(record, this.#line, today);
      if ('error' in row) this.onInvalid(row);
      else builder.addBet(row.bet, this.#line); // not expected: the fast path accepts every valid bet
    }
    return builder.closedBatches >= room;
  }

  /** Waits for more records; at the end of the file closes the last batch and returns false. */
  async more(): Promise<boolean> {
    if (this.#ended) return false;
    if (await this.#reader.more()) return true;
    this.builder.finish();
    this.#ended = true;
    return false;
  }

  close(): void {
    this.#reader.close();
  }
}
