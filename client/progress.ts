/**
 * What an operator sees while an agency sends its file. The agency only
 * bumps integer counters (SendCounters) as acks come in: no allocation, no
 * formatting per batch. A timer reads them and shows either
 *
 *   - a bar redrawn in place on stderr, when stderr is a terminal (stdout
 *     stays the contract's log stream; a log line first wipes the bar so the
 *     two never share a line), or
 *   - a `progress` log line every interval on stdout, when it is not.
 *
 * The file's total is its line count (one record per line), counted by a
 * pass over the file that runs beside the sending and costs one 1 MiB
 * buffer: at the start for the bar (which shows `?` until it is known), at
 * the first line for progress lines, so a run shorter than the interval
 * never reads its file twice.
 */
import { writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Logger } from '../common/logger.js';

/** Run-wide counts, over every session of the run. */
export class SendCounters {
  /** The agency's bets the central holds, as its last Welcome or ack said. */
  stored = 0;
  /** ... when this run's first session began. */
  storedAtStart = 0;
  /** Bets in batches the central refused. */
  rejected = 0;
  /** Rows of the file that are not valid bets. */
  invalid = 0;
  /** Batches answered (acknowledged or refused). */
  batches = 0;
  /** File records settled so far: where the bar stands. */
  rows = 0;
  /** Records settled when sending began (resumed after), ms time it began; 0: not yet. */
  rowsAtStart = 0;
  startedMs = 0;
  /** The last invalid line counted: a row read again after a reconnect is not counted twice. */
  #lastInvalidLine = 0;

  /**
   * Bets this run got stored: counted from the central's own totals, so a
   * batch stored whose ack a dropped connection lost still counts, once.
   */
  get sent(): number {
    return this.stored - this.storedAtStart;
  }

  /** A session was welcomed: the central holds `stored` bets and has settled the first `settled` records. */
  resume(stored: number, settled: number): void {
    this.rows = settled;
    this.stored = stored;
    if (this.startedMs === 0) {
      this.startedMs = Date.now();
      this.rowsAtStart = settled;
      this.storedAtStart = stored;
    }
  }

  invalidRow(line: number): void {
    this.rows++;
    if (line <= this.#lastInvalidLine) return;
    this.#lastInvalidLine = line;
    this.invalid++;
  }
}

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'off';
export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'bar', 'lines', 'off'];

/** Redraws of the bar per second are cheap; four look live. */
const BAR_REDRAW_MS = 250;
const BAR_WIDTH = 24;
const READ_BYTES = 1 << 20;
const NEWLINE = 0x0a;

/** Lines (records) of a file: newlines, plus a last line without one. */
export async function countLines(path: string): Promise<number> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    let lines = 0;
    let last = NEWLINE;
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, READ_BYTES, null);
      if (bytesRead === 0) break;
      for (let at = buffer.indexOf(NEWLINE, 0); at !== -1 && at < bytesRead; at = buffer.indexOf(NEWLINE, at + 1)) lines++;
      last = buffer[bytesRead - 1];
    }
    return last === NEWLINE ? lines : lines + 1;
  } finally {
    await file.close();
  }
}

export interface ProgressOptions {
  readonly mode: Exclude<ProgressMode, 'auto'>;
  /** Between `progress` lines. */
  readonly intervalMs: number;
  readonly clientId: number;
  readonly dataFile: string;
}

/** Shows the counters while the run lasts; `finish` draws the last state. */
export class ProgressReporter {
  #total: number | null = null;
  #counting: Promise<void> | null = null;
  #timer: NodeJS.Timeout | undefined;
  /** The bar is on the terminal's current line (a log line must wipe it first). */
  #barShown = false;

  constructor(
    private readonly counters: SendCounters,
    private readonly logger: Logger,
    private readonly options: ProgressOptions,
    private readonly stderrFd = 2,
  ) {}

  start(): void {
    if (this.options.mode === 'off') return;
    if (this.options.mode === 'bar') {
      void this.#countTotal();
      this.logger.beforeWrite = () => this.#wipeBar();
      this.#timer = setInterval(() => this.#drawBar(false), BAR_REDRAW_MS);
    } else {
      const timer = setInterval(() => {
        void this.#countTotal().then(() => {
          if (this.#timer === timer) this.#logLine(); // not once the run has finished meanwhile
        });
      }, this.options.intervalMs);
      this.#timer = timer;
    }
    this.#timer.unref();
  }

  /** The pass that counts the file's lines, started once. */
  #countTotal(): Promise<void> {
    this.#counting ??= countLines(this.options.dataFile).then(
      (total) => {
        this.#total = total;
      },
      () => undefined, // the agency itself reports an unreadable file
    );
    return this.#counting;
  }

  /** Stops the timer; a completed run's bar is drawn full, and left on its own line. */
  finish(completed: boolean): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.options.mode !== 'bar') return;
    this.logger.beforeWrite = null;
    if (this.counters.startedMs === 0) return; // never sent anything: no bar to leave
    this.#drawBar(completed);
    this.#write('\n');
    this.#barShown = false;
  }

  #drawBar(completed: boolean): void {
    const c = this.counters;
    if (c.startedMs === 0) return;
    const total = this.#total;
    const rows = completed && total !== null ? total : Math.min(c.rows, total ?? c.rows);
    const fraction = total ? rows / total : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const rate = this.#rate();
    const eta = this.#etaSeconds(rows, rate, completed);
    let text =
      `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${total ? (fraction * 100).toFixed(1).padStart(5) : '  ?  '}%` +
      `  ${rows}/${total ?? '?'} rows  ${Math.round(rate)} bets/s  ${eta === null ? 'eta --:--' : `eta ${clock(eta)}`}`;
    const columns = process.stderr.columns;
    if (columns && text.length >= columns) text = text.slice(0, columns - 1);
    this.#write(`\r${text}\x1b[K`);
    this.#barShown = true;
  }

  #wipeBar(): void {
    if (!this.#barShown) return;
    this.#write('\r\x1b[K');
    this.#barShown = false;
  }

  #logLine(): void {
    const c = this.counters;
    if (c.startedMs === 0) return;
    const total = this.#total;
    const rows = Math.min(c.rows, total ?? c.rows);
    const rate = this.#rate();
    const eta = this.#etaSeconds(rows, rate, false);
    this.logger.info('progress', 'in_progress', {
      client_id: this.options.clientId,
      sent: c.sent,
      rows,
      total: total ?? 'unknown',
      percent: total ? ((rows / total) * 100).toFixed(1) : 'unknown',
      bets_per_s: Math.round(rate),
      eta_s: eta ?? 'unknown',
    });
  }

  /** Records per second since sending began. */
  #rate(): number {
    const c = this.counters;
    const seconds = (Date.now() - c.startedMs) / 1000;
    return seconds > 0 ? (c.rows - c.rowsAtStart) / seconds : 0;
  }

  #etaSeconds(rows: number, rate: number, completed: boolean): number | null {
    if (completed) return 0;
    if (this.#total === null || rate <= 0) return null;
    return Math.max(0, Math.round((this.#total - rows) / rate));
  }

  #write(text: string): void {
    try {
      writeSync(this.stderrFd, text);
    } catch {
      // A closed or full terminal must not stop the run.
    }
  }
}

/** The mode to use: `auto` is the bar on a terminal, lines elsewhere. */
export function resolveMode(mode: ProgressMode, stderrIsTty: boolean): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  return stderrIsTty ? 'bar' : 'lines';
}

/** 75 → "1:15", 3725 → "1:02:05". */
function clock(seconds: number): string {
  const s = seconds % 60;
  const m = Math.floor(seconds / 60) % 60;
  const h = Math.floor(seconds / 3600);
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}
