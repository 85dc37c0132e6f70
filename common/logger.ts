/**
 * The one log format of both programs (see the contract):
 *
 *   2026-11-23 10:00:00 INFO     action: apuesta_recibida | result: success | cantidad: 64
 *
 * Lines are written with a synchronous write(2) on the descriptor, from any
 * thread. That is deliberate: worker threads' console output is relayed to the
 * main thread asynchronously, so a line could show up after the reply it
 * describes. A direct write is on stdout before the caller's next step, and a
 * line shorter than PIPE_BUF is never interleaved with another thread's.
 */
import { writeSync } from 'node:fs';

export const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type Level = (typeof LEVELS)[number];
export type Result = 'success' | 'fail' | 'in_progress';
export type Fields = Readonly<Record<string, string | number | boolean | bigint>>;

/** Writes up to this size reach a pipe whole (POSIX: at least 512; 4096 on Linux). */
const PIPE_BUF = 4096;

const RANK: Record<Level, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };

export function isLevel(value: string): value is Level {
  return (LEVELS as readonly string[]).includes(value);
}

export class Logger {
  readonly #threshold: number;
  /** Called before every write: the agency's progress bar wipes itself off the terminal's line (client/progress.ts). */
  beforeWrite: (() => void) | null = null;

  constructor(
    readonly level: Level = 'INFO',
    private readonly fd = 1,
  ) {
    this.#threshold = RANK[level];
  }

  enabled(level: Level): boolean {
    return RANK[level] >= this.#threshold;
  }

  log(level: Level, action: string, result: Result, fields: Fields = {}): void {
    if (!this.enabled(level)) return;
    this.beforeWrite?.();
    writeFully(this.fd, formatLine(new Date(), level, action, result, fields));
  }

  /** The line `log` would write now, or null when its level is off: for writing many lines at once. */
  format(level: Level, action: string, result: Result, fields: Fields = {}): string | null {
    return this.enabled(level) ? formatLine(new Date(), level, action, result, fields) : null;
  }

  /**
   * Writes lines made by `format`, as few write(2)s as keep each within
   * PIPE_BUF, so no other thread's line can land inside one.
   */
  write(lines: readonly string[]): void {
    if (lines.length > 0) this.beforeWrite?.();
    let text = '';
    let bytes = 0;
    for (const line of lines) {
      const size = Buffer.byteLength(line);
      if (bytes + size > PIPE_BUF && bytes > 0) {
        writeFully(this.fd, text);
        text = '';
        bytes = 0;
      }
      text += line;
      bytes += size;
    }
    if (bytes > 0) writeFully(this.fd, text);
  }

  debug(action: string, result: Result, fields?: Fields): void {
    this.log('DEBUG', action, result, fields);
  }
  info(action: string, result: Result, fields?: Fields): void {
    this.log('INFO', action, result, fields);
  }
  warning(action: string, result: Result, fields?: Fields): void {
    this.log('WARNING', action, result, fields);
  }
  error(action: string, result: Result, fields?: Fields): void {
    this.log('ERROR', action, result, fields);
  }
  critical(action: string, result: Result, fields?: Fields): void {
    this.log('CRITICAL', action, result, fields);
  }
}

export function formatLine(at: Date, level: Level, action: string, result: Result, fields: Fields): string {
  let line = `${timestamp(at)} ${level.padEnd(8)} action: ${action} | result: ${result}`;
  for (const key in fields) {
    const value = fields[key];
    line += ` | ${key}: ${typeof value === 'number' ? value : clean(String(value))}`;
  }
  return line + '\n';
}

// "|" separates fields and a newline ends the record: neither may appear in a value.
function clean(value: string): string {
  return value.replace(/[|\r\n]+/g, ' ');
}

// The central logs a line per batch: the timestamp is formatted once per second.
let stampSecond = -1;
let stamp = '';

function timestamp(d: Date): string {
  const second = Math.floor(d.getTime() / 1000);
  if (second !== stampSecond) {
    const p = (n: number) => String(n).padStart(2, '0');
    stamp = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    stampSecond = second;
  }
  return stamp;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** write(2) until every byte is out; a non-blocking stdout may answer EAGAIN when its pipe is full. */
function writeFully(fd: number, line: string): void {
  let bytes = Buffer.from(line);
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(writeSync(fd, bytes));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return; // a closed stdout must not crash the program
      try {
        Atomics.wait(pause, 0, 0, 1);
      } catch {
        // Atomics.wait is not allowed on the main thread: just try again.
      }
    }
  }
}
