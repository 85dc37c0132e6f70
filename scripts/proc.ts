/**
 * A Node program run as a child process, for the tests and the benchmark:
 * spawn it, collect its output line by line, wait for a line or for its exit
 * with a timeout, stop it with a signal; and the kernel's accounting of a
 * live process from /proc. No test framework in here: bench/ uses it too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** How long a wait for a line or an exit may take by default (CI runs on two cores, next to everything else). */
export const DEFAULT_WAIT_MS = 60_000;

/** The last lines of both streams kept for tail(), and of stdout when not every line is kept. */
const RECENT_LINES = 40;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** A command that execs node with the rest of the arguments, e.g. ['/usr/bin/env', '-u', 'NODE_OPTIONS']. */
  readonly launcher?: readonly string[];
  /** Called for every stdout line, with performance.now() at its arrival. */
  readonly onLine?: (line: string, at: number) => void;
  /** false: keep only the last stdout lines (a long run's log need not stay in memory). Default true. */
  readonly keepLines?: boolean;
}

const SHEBANG = /^#!\/usr\/bin\/env -S node((?: +-\S+)+) *$/;
const shebangs = new Map<string, string[]>();

/**
 * The Node flags in a program's shebang line (`#!/usr/bin/env -S node
 * FLAGS`), which it runs with when executed (`npx lottery-client`, the
 * images' entry points); [] when its first line is not one of those.
 * NodeProcess starts a program with them, so that the tests and the
 * benchmark run it as it ships.
 */
export function shebangFlags(script: string): string[] {
  let flags = shebangs.get(script);
  if (!flags) {
    let firstLine = '';
    try {
      firstLine = readFileSync(script, 'utf8').slice(0, 256).split('\n')[0];
    } catch {
      // not a file: node reports that itself
    }
    flags = SHEBANG.exec(firstLine)?.[1].trim().split(/ +/) ?? [];
    shebangs.set(script, flags);
  }
  return flags;
}

/** Every process started here that has not exited yet. */
const live = new Set<NodeProcess>();

/** Every process started here and not yet exited (to kill them on an interrupt). */
export function liveProcesses(): readonly NodeProcess[] {
  return [...live];
}

/** Cuts a stream's text into lines, holding a partial last line until the rest (or the end) arrives. */
class LineSplitter {
  partial = '';

  push(text: string): string[] {
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop()!;
    return parts;
  }

  end(): string[] {
    const rest = this.partial;
    this.partial = '';
    return rest === '' ? [] : [rest];
  }
}

/** One running node program with its output collected line by line. */
export class NodeProcess {
  readonly child: ChildProcess;
  /** performance.now() just before the spawn. */
  readonly startedAt: number;
  /** Resolves once the process exited and all its output was read ('close', not 'exit'). */
  readonly exited: Promise<Exit>;
  readonly #onLine: ((line: string, at: number) => void) | undefined;
  readonly #keepLines: boolean;
  readonly #stdoutLines: string[] = [];
  readonly #stdout = new LineSplitter();
  readonly #stderrLines = new LineSplitter();
  /** Both streams interleaved, stderr lines marked: what tail() shows. */
  readonly #recent: string[] = [];
  readonly #watchers = new Set<() => void>();
  #stderr = '';
  #exit: Exit | null = null;
  #exitedAt = NaN;

  constructor(
    readonly name: string,
    args: readonly string[],
    options: SpawnOptions,
  ) {
    this.#onLine = options.onLine;
    this.#keepLines = options.keepLines ?? true;
    const [command, ...prefix] = [...(options.launcher ?? []), process.execPath];
    // Node's own flags come first (as --flag=value), then the program: it runs with its shebang's flags too.
    const program = args.find((arg) => !arg.startsWith('-'));
    const flags = program === undefined ? [] : shebangFlags(program);
    this.startedAt = performance.now();
    this.child = spawn(command, [...prefix, ...flags, ...args], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => this.#stdoutLinesIn(this.#stdout.push(text)));
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => this.#stderrIn(text));
    this.child.once('exit', () => (this.#exitedAt = performance.now()));
    this.exited = new Promise((resolveExit) => {
      this.child.once('error', (error) => {
        this.#stderrIn(`spawn error: ${error.message}\n`);
        this.#ended({ code: null, signal: null });
        resolveExit(this.#exit!);
      });
      this.child.once('close', (code, signal) => {
        this.#stdoutLinesIn(this.#stdout.end());
        for (const line of this.#stderrLines.end()) this.#remember(`[stderr] ${line}`);
        this.#ended({ code, signal });
        resolveExit(this.#exit!);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** How it ended; null while its output is still coming. */
  get exit(): Exit | null {
    return this.#exit;
  }

  /** performance.now() when it exited (before its last output was read); NaN until then. */
  get exitedAt(): number {
    return this.#exitedAt;
  }

  get alive(): boolean {
    return this.#exit === null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Complete stdout lines so far (only the last ones with keepLines: false). */
  lines(): string[] {
    return [...this.#stdoutLines];
  }

  get stdout(): string {
    return this.#stdoutLines.map((l) => `${l}\n`).join('') + this.#stdout.partial;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** The last lines of output (stdout and stderr), indented and named, for error reports. */
  tail(lines = 15): string {
    return this.#recent
      .slice(-lines)
      .map((line) => `    ${this.name}| ${line}`)
      .join('\n');
  }

  /** Resolves with the first stdout line (already seen or to come) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs = DEFAULT_WAIT_MS): Promise<string> {
    return this.waitFor(() => this.#stdoutLines.find((line) => pattern.test(line)), `a line matching ${pattern}`, timeoutMs);
  }

  /** Polls `probe` on every new line until it returns something; fails on timeout or exit. */
  waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<T> {
    return new Promise((resolveWait, rejectWait) => {
      const check = () => {
        const found = probe();
        if (found !== undefined) {
          finish();
          resolveWait(found);
        } else if (this.#exit) {
          finish();
          rejectWait(new Error(`${this.name} exited (${JSON.stringify(this.#exit)}) before ${what}\n${this.diagnostics()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        rejectWait(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.diagnostics()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.#watchers.delete(check);
      };
      this.#watchers.add(check);
      check();
    });
  }

  /** Sends `signal` if it is still running. */
  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  /** Sends `signal` (unless it has exited already) and resolves with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = DEFAULT_WAIT_MS): Promise<number | null> {
    if (!this.#exit) this.child.kill(signal);
    return (await this.waitExit(timeoutMs)).code;
  }

  /** Waits for the exit; SIGKILLs and throws if it takes longer than `timeoutMs`. */
  async waitExit(timeoutMs = DEFAULT_WAIT_MS): Promise<Exit> {
    const { exit, killed } = await this.exitWithin(timeoutMs);
    if (killed) throw new Error(`${this.name} did not exit within ${timeoutMs} ms; killed\n${this.diagnostics()}`);
    return exit;
  }

  /** Waits for the exit; after `timeoutMs`, SIGKILLs and waits for that instead. */
  async exitWithin(timeoutMs: number): Promise<{ exit: Exit; killed: boolean }> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolveLate) => (timer = setTimeout(() => resolveLate(null), timeoutMs)));
    const exit = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (exit) return { exit, killed: false };
    this.child.kill('SIGKILL');
    return { exit: await this.exited, killed: true };
  }

  /** Last resort, for teardown. */
  async kill(): Promise<void> {
    if (this.#exit) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** One stdout line, as it arrives; a subclass may look at it too (and call this). */
  protected received(line: string, at: number): void {
    this.#onLine?.(line, at);
  }

  /** The last stdout lines and stderr, for the errors the waits throw. */
  protected diagnostics(): string {
    const tail = this.#stdoutLines.slice(-25).join('\n');
    return `--- ${this.name} stdout (last lines) ---\n${tail}\n--- stderr ---\n${this.#stderr.slice(-2000)}`;
  }

  #stdoutLinesIn(lines: readonly string[]): void {
    if (lines.length === 0) return;
    const at = performance.now();
    for (const line of lines) {
      this.#stdoutLines.push(line);
      if (!this.#keepLines && this.#stdoutLines.length > RECENT_LINES) this.#stdoutLines.shift();
      this.#remember(line);
      this.received(line, at);
    }
    this.#notify();
  }

  #stderrIn(text: string): void {
    this.#stderr += text;
    for (const line of this.#stderrLines.push(text)) this.#remember(`[stderr] ${line}`);
  }

  #remember(line: string): void {
    this.#recent.push(line);
    if (this.#recent.length > RECENT_LINES) this.#recent.shift();
  }

  #ended(exit: Exit): void {
    live.delete(this);
    if (Number.isNaN(this.#exitedAt)) this.#exitedAt = performance.now();
    this.#exit ??= exit;
    this.#notify();
  }

  #notify(): void {
    for (const watcher of [...this.#watchers]) watcher();
  }
}

export function describeExit(exit: Exit): string {
  return exit.signal ? `killed by ${exit.signal}` : exit.code === null ? 'did not start' : `exit ${exit.code}`;
}

// ---- environment ------------------------------------------------------------

/** What the programs read as their settings: a child must not inherit them from whoever runs us. */
const PROGRAM_SETTINGS = /^(SERVER_|CLI_|LOGGING_LEVEL$|NOMBRE$|APELLIDO$|DOCUMENTO$|NACIMIENTO$|NUMERO$)/;

/** Our environment without the programs' settings nor whatever `drop` matches, plus `extra` (undefined removes). */
export function programEnv(extra: Readonly<Record<string, string | undefined>> = {}, drop?: RegExp): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (PROGRAM_SETTINGS.test(key) || drop?.test(key)) continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

// ---- /proc accounting ---------------------------------------------------------

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
  /** The part of cpuMs spent in the kernel (stime), ms. */
  readonly kernelMs: number;
  /** Waited-for children's utime + stime, ms (cutime + cstime). */
  readonly childrenCpuMs: number;
  /** Peak resident set (VmHWM), bytes. */
  readonly peakRss: number;
  /** Current resident set (VmRSS), bytes. */
  readonly rss: number;
  readonly threads: number;
  /** The parent's pid. */
  readonly parent: number;
}

/** The kernel's accounting of a live process; null when it is gone (or never started). */
export function procStats(pid: number | 'self' | undefined): ProcStats | null {
  if (pid === undefined) return null;
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
    kernelMs: field(15) * tick,
    childrenCpuMs: (field(16) + field(17)) * tick,
    peakRss: kb('VmHWM'),
    rss: kb('VmRSS'),
    threads: threads ? Number(threads[1]) : 0,
    parent: field(4),
  };
}

// ---- waiting -------------------------------------------------------------------

export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/** `promise`, or a TimeoutError naming `what` after `ms`. */
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
