/**
 * Child processes for the benchmark: spawn, drain output line by line (never
 * buffering it whole), keep a short tail for diagnostics, and read the
 * kernel's accounting of a live process from /proc.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const TAIL_LINES = 40;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** performance.now() when the process exited. */
  readonly at: number;
}

export interface LaunchOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Called for every stdout line, with performance.now() at its arrival. */
  readonly onLine?: (line: string, at: number) => void;
}

const live = new Set<Proc>();

/** Every process started here and not yet exited (for cleanup on interrupt). */
export function liveProcesses(): readonly Proc[] {
  return [...live];
}

export class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly startedAt: number;
  /** Resolves once the process exited and its output was read to the end. */
  readonly done: Promise<Exit>;
  readonly #tail: string[] = [];
  #exit: Exit | null = null;

  constructor(
    readonly name: string,
    args: readonly string[],
    options: LaunchOptions,
  ) {
    this.startedAt = performance.now();
    this.child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = this.child.pid ?? -1;
    live.add(this);
    const onLine = options.onLine;
    createInterface({ input: this.child.stdout!, crlfDelay: Infinity }).on('line', (line) => {
      this.#remember(line);
      if (onLine) onLine(line, performance.now());
    });
    createInterface({ input: this.child.stderr!, crlfDelay: Infinity }).on('line', (line) => this.#remember(`[stderr] ${line}`));
    let exitedAt = 0;
    this.child.once('exit', () => (exitedAt = performance.now()));
    this.done = new Promise<Exit>((resolve) => {
      this.child.once('error', (error) => {
        this.#remember(`[spawn] ${error.message}`);
        live.delete(this);
        this.#exit = { code: null, signal: null, at: performance.now() };
        resolve(this.#exit);
      });
      this.child.once('close', (code, signal) => {
        live.delete(this);
        this.#exit = { code, signal, at: exitedAt || performance.now() };
        resolve(this.#exit);
      });
    });
  }

  get exited(): Exit | null {
    return this.#exit;
  }

  get alive(): boolean {
    return this.#exit === null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines of output (stdout and stderr), for error reports. */
  tail(lines = 15): string {
    return this.#tail
      .slice(-lines)
      .map((line) => `    ${this.name}| ${line}`)
      .join('\n');
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.alive && this.pid > 0) {
      try {
        process.kill(this.pid, signal);
      } catch {
        // already gone
      }
    }
  }

  #remember(line: string): void {
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
  }
}

export function describeExit(exit: Exit): string {
  return exit.signal ? `killed by ${exit.signal}` : exit.code === null ? 'did not start' : `exit ${exit.code}`;
}

// ---- /proc accounting ------------------------------------------------------

let clockTicks = 0;
/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat. */
export function ticksPerSecond(): number {
  if (clockTicks === 0) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const value = Number(out.stdout?.trim());
    clockTicks = Number.isInteger(value) && value > 0 ? value : 100;
  }
  return clockTicks;
}

export interface ProcStats {
  /** utime + stime of every thread, ms. */
  readonly cpuMs: number;
  /** Waited-for children's utime + stime, ms (cutime + cstime). */
  readonly childrenCpuMs: number;
  /** Peak resident set (VmHWM), bytes. */
  readonly peakRss: number;
  /** Current resident set (VmRSS), bytes. */
  readonly rss: number;
  readonly threads: number;
}

/** The kernel's accounting of a live process; null when it is gone. */
export function procStats(pid: number | 'self'): ProcStats | null {
  let stat: string;
  let status: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  // Fields after the command name, which is in parentheses and may hold anything.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tick = 1000 / ticksPerSecond();
  const field = (n: number) => Number(rest[n - 3]); // n: 1-based field number of proc(5)
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  };
  const threads = /^Threads:\s+(\d+)/m.exec(status);
  return {
    cpuMs: (field(14) + field(15)) * tick,
    childrenCpuMs: (field(16) + field(17)) * tick,
    peakRss: kb('VmHWM'),
    rss: kb('VmRSS'),
    threads: threads ? Number(threads[1]) : 0,
  };
}

// ---- waiting ---------------------------------------------------------------

export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`${what}: no result after ${(ms / 1000).toFixed(0)} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
