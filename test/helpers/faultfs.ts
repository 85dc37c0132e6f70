/**
 * faultfs: a FUSE filesystem that behaves like a disk losing what was not
 * synced, so a test can cut the power under a real program and check that
 * whatever it acknowledged is still there. The daemon is
 * test/helpers/faultfs/faultfs.py (Python, pyfuse3); its README says what the
 * model keeps and what it simplifies.
 *
 * A test mounts one with `FaultFs.mount(t)`, runs programs on files under
 * `root`, kills them, calls `powerCut()`, and starts new ones. Faults (failing
 * syncs, torn writes, a full disk) are armed through the control socket.
 * Tests that need it skip, naming the reason, when `faultFsUnavailable()`
 * says the machine cannot run it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

export const FAULTFS_DAEMON = join(dirname(fileURLToPath(import.meta.url)), 'faultfs', 'faultfs.py');
/** Debian's interpreter: pyfuse3 comes from Debian's package, not from pip. */
export const FAULTFS_PYTHON = '/usr/bin/python3';
/** What a machine needs, for skip messages. */
export const FAULTFS_INSTALL = 'apt-get install -y fuse3 python3-pyfuse3';

/** Mounting takes well under a second; 20 s leaves room for a loaded CI box. */
const READY_TIMEOUT_MS = 20_000;
const COMMAND_TIMEOUT_MS = 10_000;
const EXIT_TIMEOUT_MS = 5_000;

export interface FaultFsFile {
  /** Bytes that reads return now. */
  readonly size: number;
  /** Bytes that would be there after a power cut. */
  readonly durable: number;
  /** Whether anything written since the last sync would be lost. */
  readonly dirty: boolean;
}

export interface FaultFsArmed {
  readonly remaining: number;
  readonly suffix: string | null;
}

export interface FaultFsStatus {
  /** FUSE write requests: the kernel splits a large write(2) into several. */
  readonly writes: number;
  readonly bytesWritten: number;
  /** fsync and fdatasync calls on files, failed ones included. */
  readonly syncs: number;
  readonly failedSyncs: number;
  readonly failedWrites: number;
  readonly shortWrites: number;
  readonly enospc: number;
  readonly dirSyncs: number;
  readonly powerCuts: number;
  /** Bytes of all files' current content, what capacity limits. */
  readonly used: number;
  readonly capacity: number | null;
  readonly failSyncs: FaultFsArmed;
  readonly failWrites: FaultFsArmed;
  /** By path from the mount's root, e.g. "/bets.csv". */
  readonly files: Readonly<Record<string, FaultFsFile>>;
}

let availability: string | null | undefined;

/** null when faultfs can run here; otherwise why not (checked once per process). */
export function faultFsUnavailable(): string | null {
  availability ??= probe();
  return availability;
}

function probe(): string | null {
  if (process.platform !== 'linux') return `faultfs needs Linux (this is ${process.platform})`;
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse on this machine (a container needs --device /dev/fuse)';
  const fusermount = spawnSync('fusermount3', ['-V'], { encoding: 'utf8' });
  if (fusermount.error) return `fusermount3 not found (${FAULTFS_INSTALL})`;
  const python = spawnSync(FAULTFS_PYTHON, ['-c', 'import pyfuse3, trio'], { encoding: 'utf8' });
  if (python.error) return `${FAULTFS_PYTHON} not found (${FAULTFS_INSTALL})`;
  if (python.status !== 0) {
    const why = python.stderr.trim().split('\n').pop() ?? `exit ${python.status}`;
    return `${FAULTFS_PYTHON} cannot import pyfuse3: ${why} (${FAULTFS_INSTALL})`;
  }
  return null;
}

/** Whether something is mounted at `path`, from the kernel's own table. */
function isMounted(path: string): boolean {
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  try {
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .some((line) => line.split(' ')[1] === escaped);
  } catch {
    return false;
  }
}

function lazyUnmount(path: string): void {
  spawnSync('fusermount3', ['-u', '-z', path], { stdio: 'ignore' });
}

/** A fault's scope goes on the command line as one word. */
function suffixArg(suffix: string | undefined): string {
  if (suffix === undefined) return '';
  if (suffix === '' || /\s/.test(suffix)) throw new Error(`faultfs: a suffix must be one non-empty word, got ${JSON.stringify(suffix)}`);
  return ` ${suffix}`;
}

function countArg(n: number, what: string): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`faultfs: ${what} must be a whole number >= 0, got ${n}`);
  return String(n);
}

/** One mounted faultfs and its daemon. */
export class FaultFs {
  /** The mount point: put the program's files under it. */
  readonly root: string;
  readonly socketPath: string;
  readonly #dir: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #exitedYet = false;
  #stdout = '';
  #stderr = '';
  #unmounting: Promise<void> | null = null;

  private constructor(dir: string) {
    this.#dir = dir;
    this.root = join(dir, 'mnt');
    this.socketPath = join(dir, 'control.sock');
    mkdirSync(this.root);
    // stdin stays open: the daemon unmounts by itself if this process dies.
    this.#child = spawn(FAULTFS_PYTHON, [FAULTFS_DAEMON, this.root, this.socketPath, '--exit-with-stdin'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child.stdout!.setEncoding('utf8').on('data', (text: string) => (this.#stdout += text));
    this.#child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.#stderr += text));
    this.#child.stdin!.on('error', () => {}); // EPIPE once the daemon is gone
    this.#exited = new Promise((resolveExit) => {
      this.#child.once('error', (error) => {
        this.#stderr += `spawn error: ${error.message}\n`;
        this.#exitedYet = true;
        resolveExit();
      });
      this.#child.once('close', () => {
        this.#exitedYet = true;
        resolveExit();
      });
    });
  }

  /** Mounts a fresh, empty faultfs; t's teardown unmounts it and removes its directories. */
  static async mount(t: Test): Promise<FaultFs> {
    const fs = new FaultFs(mkdtempSync(join(tmpdir(), 'faultfs-')));
    t.teardown(() => fs.unmount());
    await fs.#ready();
    return fs;
  }

  /** The daemon's stderr so far, for failure messages. */
  get stderr(): string {
    return this.#stderr;
  }

  /** A path under the mount point. */
  path(...segments: string[]): string {
    return join(this.root, ...segments);
  }

  /** Forgets every unsynced write, as if the machine lost power. Kill the programs using the mount first. */
  async powerCut(): Promise<void> {
    await this.#command('power-cut');
  }

  /** The next `n` fsync/fdatasync calls on files whose path ends with `suffix` fail with EIO and drop the dirty data. */
  async failSyncs(n: number, suffix?: string): Promise<void> {
    await this.#command(`fail-syncs ${countArg(n, 'n')}${suffixArg(suffix)}`);
  }

  /** The next `n` write requests on matching files write half their bytes, then fail with EIO. */
  async failWrites(n: number, suffix?: string): Promise<void> {
    await this.#command(`fail-writes ${countArg(n, 'n')}${suffixArg(suffix)}`);
  }

  /** Limits all files' content to `bytes` in total (ENOSPC and short writes past it); null lifts the limit. */
  async capacity(bytes: number | null): Promise<void> {
    await this.#command(`capacity ${bytes === null ? 'off' : countArg(bytes, 'capacity')}`);
  }

  async status(): Promise<FaultFsStatus> {
    const { ok: _ok, ...status } = await this.#command('status');
    return status as unknown as FaultFsStatus;
  }

  /** Unmounts and stops the daemon (idempotent): asks it to quit, then forces. */
  unmount(): Promise<void> {
    this.#unmounting ??= this.#stop();
    return this.#unmounting;
  }

  async #stop(): Promise<void> {
    if (!this.#exitedYet) {
      await this.#command('quit').catch(() => undefined);
      if (!(await this.#waitExit(EXIT_TIMEOUT_MS))) {
        lazyUnmount(this.root);
        this.#child.kill('SIGTERM');
        if (!(await this.#waitExit(EXIT_TIMEOUT_MS))) {
          this.#child.kill('SIGKILL');
          await this.#waitExit(EXIT_TIMEOUT_MS);
        }
      }
    }
    // A daemon that died leaves a dead mount ("Transport endpoint is not connected").
    if (isMounted(this.root)) lazyUnmount(this.root);
    if (!isMounted(this.root)) rmSync(this.#dir, { recursive: true, force: true });
  }

  async #waitExit(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolveTimeout) => (timer = setTimeout(() => resolveTimeout(false), ms)));
    const done = await Promise.race([this.#exited.then(() => true as const), timeout]);
    clearTimeout(timer);
    return done;
  }

  #ready(): Promise<void> {
    return new Promise((resolveReady, rejectReady) => {
      let settled = false;
      const finish = (error?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#child.stdout!.off('data', check);
        if (error) rejectReady(error);
        else resolveReady();
      };
      const check = (): void => {
        if (/^ready$/m.test(this.#stdout)) finish();
      };
      const timer = setTimeout(
        () => finish(new Error(`faultfs did not mount within ${READY_TIMEOUT_MS} ms; stderr:\n${this.#stderr}`)),
        READY_TIMEOUT_MS,
      );
      this.#child.stdout!.on('data', check);
      void this.#exited.then(() => finish(new Error(`faultfs exited before it was ready; stderr:\n${this.#stderr}`)));
      check();
    });
  }

  /** Sends one command on its own connection; resolves with the daemon's JSON answer, rejects on {"ok":false}. */
  #command(line: string): Promise<Record<string, unknown>> {
    return new Promise((resolveCommand, rejectCommand) => {
      const socket = connect(this.socketPath);
      let received = '';
      let settled = false;
      const settle = (error: Error | null, answer?: Record<string, unknown>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (error) rejectCommand(error);
        else resolveCommand(answer!);
      };
      const timer = setTimeout(
        () => settle(new Error(`faultfs: no answer to "${line}" within ${COMMAND_TIMEOUT_MS} ms`)),
        COMMAND_TIMEOUT_MS,
      );
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.write(`${line}\n`));
      socket.on('data', (text: string) => {
        received += text;
        const end = received.indexOf('\n');
        if (end === -1) return;
        let answer: Record<string, unknown>;
        try {
          answer = JSON.parse(received.slice(0, end)) as Record<string, unknown>;
        } catch {
          settle(new Error(`faultfs: unreadable answer to "${line}": ${received.slice(0, end)}`));
          return;
        }
        if (answer['ok'] === true) settle(null, answer);
        else settle(new Error(`faultfs: "${line}" failed: ${String(answer['error'])}`));
      });
      socket.on('error', (error) => settle(new Error(`faultfs: "${line}": ${error.message}; stderr:\n${this.#stderr}`)));
      socket.on('close', () => settle(new Error(`faultfs: connection closed without an answer to "${line}"`)));
    });
  }
}
