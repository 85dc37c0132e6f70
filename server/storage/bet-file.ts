/**
 * Appends batches to bets.csv from any worker, with group commit.
 *
 * The batches one session received together are one write(2) of whole lines
 * on an O_APPEND descriptor, made under the shared mutex, so lines of two
 * sessions never interleave. In
 * durable mode a batch counts as stored only once an fdatasync that started
 * after its write has finished. fdatasync covers the whole file whichever
 * thread wrote, so one worker syncs for everyone who wrote before it started:
 * while it syncs, others (and its own session) keep appending, and the next
 * sync covers them all.
 *
 * Each batch's end goes to the index `<bets>.batches` right after the data,
 * under the same lock hold, for crash recovery by whole batches.
 */
import { fdatasync as fdatasyncCallback, writeSync } from 'node:fs';
import { ErrorCode } from '../../protocol/index.js';
import { withLock } from '../mutex.js';
import { INDEX_ENTRY_BYTES } from './recovery.js';
import { threadId } from 'node:worker_threads';
import { DrawState, SharedState, SYNC_OWNER, SYNCED_SEQ, SYNCING, WRITE_SEQ } from '../shared-state.js';

/** A batch could not be stored; carries the code the agency is told. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class BetFile {
  readonly #slots: Int32Array;
  #entries = Buffer.allocUnsafe(64 * INDEX_ENTRY_BYTES);
  /** Set while this thread holds SYNCING for everyone. */
  #syncing: Promise<void> | null = null;

  constructor(
    private readonly fd: number,
    /** `<bets>.batches`: the end offset of every batch, for crash recovery. */
    private readonly indexFd: number,
    private readonly state: SharedState,
    private readonly isDurable: boolean,
  ) {
    this.#slots = state.slots;
  }

  /**
   * Appends the lines of consecutive batches of one agency in one write;
   * `ends` holds each batch's end within `lines`, and every one is indexed.
   * Returns the write's sequence number, to pass to `durable`, and the
   * agency's stored count before these bets.
   */
  append(agency: number, lines: Buffer, ends: readonly number[], count: number): { seq: number; storedBefore: number } {
    return withLock(this.#slots, () => {
      // Checked under the lock: the coordinator takes the lock after closing
      // the draw, so no batch can slip into the file while it is being read.
      if (this.state.drawState() !== DrawState.Open) {
        throw new StoreError(ErrorCode.DrawClosed, 'the draw has already run; no more bets are accepted');
      }
      const start = this.state.fileSize;
      writeAll(this.fd, lines);
      this.state.fileSize = start + lines.length;
      // Every batch end is indexed, after the data: recovery keeps whole batches, acknowledged or not.
      this.#indexEnds(start, ends);
      const stored = this.state.addStored(agency, count);
      const seq = Atomics.add(this.#slots, WRITE_SEQ, 1) + 1;
      return { seq, storedBefore: stored - count };
    });
  }

  /**
   * Resolves when this thread is not syncing on everyone's behalf. A worker
   * must wait for it before exiting: leaving mid-sync would leave SYNCING set
   * and every other worker waiting for a report that never comes.
   */
  async quiesce(): Promise<void> {
    while (this.#syncing) await this.#syncing;
  }

  /**
   * Appends `start + end` for each end to the index, in one write. Call under
   * the lock, after the data: recovery trusts indexed ends alone and cuts
   * anything past the last one.
   */
  #indexEnds(start: number, ends: readonly number[]): void {
    const bytes = ends.length * INDEX_ENTRY_BYTES;
    if (this.#entries.length < bytes) this.#entries = Buffer.allocUnsafe(Math.max(bytes, this.#entries.length * 2));
    for (let i = 0; i < ends.length; i++) {
      // u64 big-endian as two u32 halves: file offsets stay far below 2^53.
      const offset = start + ends[i]!;
      this.#entries.writeUInt32BE(Math.floor(offset / 0x1_0000_0000), i * INDEX_ENTRY_BYTES);
      this.#entries.writeUInt32BE(offset >>> 0, i * INDEX_ENTRY_BYTES + 4);
    }
    writeAll(this.indexFd, this.#entries.subarray(0, bytes));
  }

  /**
   * Resolves once the write numbered `seq` is on disk (at once when not
   * durable). Asynchronous, so the worker keeps reading and appending the
   * agency's next batches while a sync is in flight.
   */
  async durable(seq: number): Promise<void> {
    if (!this.isDurable) return;
    const slots = this.#slots;
    while (Atomics.load(slots, SYNCED_SEQ) < seq) {
      if (Atomics.compareExchange(slots, SYNCING, 0, 1) === 0) {
        Atomics.store(slots, SYNC_OWNER, threadId);
        let done!: () => void;
        this.#syncing = new Promise((resolve) => (done = resolve));
        try {
          // Everything written (and indexed) up to `target` is covered by the sync we start now.
          const target = Atomics.load(slots, WRITE_SEQ);
          await Promise.all([fdatasync(this.fd), fdatasync(this.indexFd)]);
          if (Atomics.load(slots, SYNCED_SEQ) < target) Atomics.store(slots, SYNCED_SEQ, target);
        } finally {
          Atomics.store(slots, SYNC_OWNER, 0);
          Atomics.store(slots, SYNCING, 0);
          this.#syncing = null;
          done();
        }
      } else {
        // Another worker is syncing: look again shortly. A plain timer rather
        // than Atomics.waitAsync: runs where workers exited while parked in
        // waitAsync stalled, and a 1 ms poll costs nothing next to an fdatasync.
        await sleep(1);
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasyncCallback(fd, (error) => (error ? reject(error) : resolve())));
}

export function writeAll(fd: number, bytes: Buffer): void {
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}
