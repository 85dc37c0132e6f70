/**
 * The I/O seam under the file store: every operation the store makes on
 * bets.csv, its journal and the draw's result goes through this one narrow
 * table, as SQLite's engine goes through its VFS. `nodeIo` is node:fs.
 * `FaultyIo` wraps it for the fault tests: chosen by the environment variable
 * LOTTERY_TEST_FAULT=[write:|sync:]<n>[:EIO|ENOSPC|crash|crash-after], it
 * fails the n-th operation of the process (opens, writes, syncs, truncates,
 * renames, directory syncs; or only writes, or only syncs; counted across
 * every thread in the order they start), so that "every operation fails in
 * turn" is a loop in a test, not a project. `crash` kills the process with
 * SIGKILL just before the operation, `crash-after` just after it completed.
 * Reads and sizes are never failed.
 *
 * How the failures look is how Linux shows them:
 *   - a write gets half of its bytes into the file, then EIO; or, with
 *     ENOSPC, returns the short count and the next write fails with ENOSPC;
 *   - a failed sync drops the file's unsynced data: the file is cut back to
 *     its length when its last successful sync began (the kernel marks the
 *     dirty pages clean, so the data never reaches the disk), then EIO;
 *   - a truncate, rename or open fails with EIO and changes nothing.
 */
import { closeSync, fdatasync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, renameSync, writeSync } from 'node:fs';

export interface FileIo {
  open(path: string, flags: string): number;
  /** Writes from `bytes[offset..offset+length)`; may write fewer bytes than asked (a short write). */
  write(fd: number, bytes: Uint8Array, offset: number, length: number): number;
  read(fd: number, into: Uint8Array, offset: number, length: number, position: number): number;
  /** fdatasync off the calling thread (libuv's pool): the thread keeps serving while the disk works. */
  sync(fd: number): Promise<void>;
  /** fsync, blocking: start-up, shutdown and small files only. */
  syncNow(fd: number): void;
  truncate(fd: number, length: number): void;
  size(fd: number): number;
  close(fd: number): void;
  rename(from: string, to: string): void;
  /** Makes a rename in `dir` durable; a filesystem that does not sync directories is tolerated, an I/O error is thrown. */
  syncDirectory(dir: string): void;
}

export const nodeIo: FileIo = {
  open: (path, flags) => openSync(path, flags),
  write: (fd, bytes, offset, length) => writeSync(fd, bytes, offset, length),
  read: (fd, into, offset, length, position) => readSync(fd, into, offset, length, position),
  sync: (fd) => new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve()))),
  syncNow: (fd) => fsyncSync(fd),
  truncate: (fd, length) => ftruncateSync(fd, length),
  size: (fd) => fstatSync(fd).size,
  close: (fd) => closeSync(fd),
  rename: (from, to) => renameSync(from, to),
  syncDirectory(dir) {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } catch (error) {
      // Some filesystems do not sync directories (the rename itself happened); anything else is a failure.
      if (!['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR', 'EBADF'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    } finally {
      closeSync(fd);
    }
  },
};

/** Writes all of `bytes`, looping over short writes; an error is thrown with whatever was written left in the file. */
export function writeFully(io: FileIo, fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += io.write(fd, bytes, offset, bytes.length - offset);
}

export const FAULT_VARIABLE = 'LOTTERY_TEST_FAULT';

/** What LOTTERY_TEST_FAULT asks for. */
export interface FaultPlan {
  /** Which operations count. */
  readonly only: 'any' | 'write' | 'sync';
  /** The operation to fail, counting from 1. */
  readonly at: number;
  readonly effect: 'EIO' | 'ENOSPC' | 'crash' | 'crash-after';
}

/** Parses LOTTERY_TEST_FAULT; null when unset. Throws on a malformed value. */
export function faultPlanFrom(value: string | undefined): FaultPlan | null {
  if (value === undefined || value.trim() === '') return null;
  const m = /^\s*(?:(write|sync):)?(\d+)(?::(EIO|ENOSPC|crash|crash-after))?\s*$/.exec(value);
  if (!m || Number(m[2]) < 1) {
    throw new Error(`${FAULT_VARIABLE} must be [write:|sync:]<n>[:EIO|ENOSPC|crash|crash-after] with n ≥ 1, got ${JSON.stringify(value)}`);
  }
  return {
    only: (m[1] as 'write' | 'sync' | undefined) ?? 'any',
    at: Number(m[2]),
    effect: (m[3] as FaultPlan['effect'] | undefined) ?? 'EIO',
  };
}

/** Shared by every thread of one central: the operation counter and each descriptor's last synced length. */
export function createFaultState(): SharedArrayBuffer {
  return new SharedArrayBuffer(8 + MAX_FDS * 8);
}

const MAX_FDS = 4096;

export interface InjectedFault {
  readonly n: number;
  readonly operation: string;
  readonly file: string;
  readonly effect: string;
}

const SYNCS = new Set(['fdatasync', 'fsync']);

export class FaultyIo implements FileIo {
  readonly #counter: Int32Array;
  /** Per descriptor: the file's length when its last successful sync began. */
  readonly #syncedLength: Float64Array;
  readonly #names = new Map<number, string>();
  /** Descriptors whose next write fails with ENOSPC (after a short write). */
  readonly #full = new Set<number>();
  #crashAfter = false;

  constructor(
    private readonly inner: FileIo,
    private readonly plan: FaultPlan,
    state: SharedArrayBuffer,
    private readonly onInject: (fault: InjectedFault) => void,
  ) {
    this.#counter = new Int32Array(state, 0, 2);
    this.#syncedLength = new Float64Array(state, 8, MAX_FDS);
  }

  /** Names a descriptor (opened by another thread) for the fault log. */
  name(fd: number, path: string): void {
    this.#names.set(fd, path);
  }

  /**
   * Counts the operation; true when it is the one to fail. A crash plan kills
   * the process here (`crash`), or marks the operation to be followed by one
   * (`crash-after`, see #after).
   */
  #hit(operation: string, file: string): boolean {
    const { only, at, effect } = this.plan;
    if (only === 'write' && operation !== 'write') return false;
    if (only === 'sync' && !SYNCS.has(operation)) return false;
    const n = Atomics.add(this.#counter, 0, 1) + 1;
    if (n !== at) return false;
    this.onInject({ n, operation, file, effect });
    if (effect === 'crash') process.kill(process.pid, 'SIGKILL');
    if (effect === 'crash-after') {
      this.#crashAfter = true;
      return false;
    }
    return true;
  }

  /** Ends the process right after an operation `#hit` marked. */
  #after(): void {
    if (this.#crashAfter) process.kill(process.pid, 'SIGKILL');
  }

  #file(fd: number): string {
    return this.#names.get(fd) ?? `fd ${fd}`;
  }

  open(path: string, flags: string): number {
    if (this.#hit('open', path)) throw ioError('EIO', 'open', path);
    const fd = this.inner.open(path, flags);
    this.#names.set(fd, path);
    if (fd < MAX_FDS) this.#syncedLength[fd] = this.inner.size(fd);
    this.#after();
    return fd;
  }

  write(fd: number, bytes: Uint8Array, offset: number, length: number): number {
    if (this.#full.delete(fd)) throw ioError('ENOSPC', 'write', this.#file(fd));
    if (!this.#hit('write', this.#file(fd))) {
      const written = this.inner.write(fd, bytes, offset, length);
      this.#after();
      return written;
    }
    const half = length >> 1;
    const written = half > 0 ? this.inner.write(fd, bytes, offset, half) : 0;
    if (this.plan.effect !== 'ENOSPC' || written === 0)
      throw ioError(this.plan.effect === 'ENOSPC' ? 'ENOSPC' : 'EIO', 'write', this.#file(fd));
    this.#full.add(fd);
    return written;
  }

  read(fd: number, into: Uint8Array, offset: number, length: number, position: number): number {
    return this.inner.read(fd, into, offset, length, position);
  }

  async sync(fd: number): Promise<void> {
    if (this.#hit('fdatasync', this.#file(fd))) {
      this.#dropUnsynced(fd);
      throw ioError('EIO', 'fdatasync', this.#file(fd));
    }
    const length = this.inner.size(fd);
    await this.inner.sync(fd);
    if (fd < MAX_FDS) this.#syncedLength[fd] = length;
    this.#after();
  }

  syncNow(fd: number): void {
    if (this.#hit('fsync', this.#file(fd))) {
      this.#dropUnsynced(fd);
      throw ioError('EIO', 'fsync', this.#file(fd));
    }
    const length = this.inner.size(fd);
    this.inner.syncNow(fd);
    if (fd < MAX_FDS) this.#syncedLength[fd] = length;
    this.#after();
  }

  /** What the kernel does to a file whose writeback failed: its unsynced data is gone. */
  #dropUnsynced(fd: number): void {
    if (fd < MAX_FDS) this.inner.truncate(fd, Math.min(this.inner.size(fd), this.#syncedLength[fd]));
  }

  truncate(fd: number, length: number): void {
    if (this.#hit('ftruncate', this.#file(fd))) throw ioError('EIO', 'ftruncate', this.#file(fd));
    this.inner.truncate(fd, length);
    this.#after();
  }

  size(fd: number): number {
    return this.inner.size(fd);
  }

  close(fd: number): void {
    this.inner.close(fd);
  }

  rename(from: string, to: string): void {
    if (this.#hit('rename', to)) throw ioError('EIO', 'rename', to);
    this.inner.rename(from, to);
    this.#after();
  }

  syncDirectory(dir: string): void {
    if (this.#hit('fsync', dir)) throw ioError('EIO', 'fsync', dir);
    this.inner.syncDirectory(dir);
    this.#after();
  }
}

function ioError(code: 'EIO' | 'ENOSPC', syscall: string, path: string): NodeJS.ErrnoException {
  const text = code === 'EIO' ? 'i/o error' : 'no space left on device';
  const error: NodeJS.ErrnoException = new Error(`${code}: ${text} (injected), ${syscall} '${path}'`);
  error.code = code;
  error.syscall = syscall;
  error.path = path;
  return error;
}
