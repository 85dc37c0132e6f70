/**
 * A throw-away PostgreSQL cluster for the tests and the benchmark: Debian's
 * server binaries, initdb into a temporary folder, run as the postgres user
 * when we are root (the server refuses to run as root), TCP on 127.0.0.1
 * only, durable settings as in production.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { procStats } from './proc.js';

/** Debian's server binaries (the newest version installed), or LOTTERY_PG_BIN. */
export const PG_BIN = process.env['LOTTERY_PG_BIN'] ?? debianPgBin();

function debianPgBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  return join(root, versions[0] ?? '15', 'bin');
}
export const PG_INSTALL = 'apt-get install -y postgresql';

let availability: string | null | undefined;

/** null when a PostgreSQL server can be started here; otherwise why not. */
export function postgresUnavailable(): string | null {
  availability ??= probe();
  return availability;
}

function probe(): string | null {
  if (!existsSync(join(PG_BIN, 'initdb')) || !existsSync(join(PG_BIN, 'pg_ctl')))
    return `no PostgreSQL server binaries in ${PG_BIN} (${PG_INSTALL})`;
  if (userInfo().uid === 0 && spawnSync('id', ['postgres']).status !== 0)
    return 'running as root, and there is no postgres user to run the server as (useradd -m postgres)';
  return null;
}

export class PostgresCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** A fresh cluster with an empty database `lottery`, started; dispose() stops and removes it. */
  static async start(): Promise<PostgresCluster> {
    const why = postgresUnavailable();
    if (why) throw new Error(why);
    const dir = mkdtempSync(join(tmpdir(), 'lottery-pg-'));
    chmodSync(dir, 0o777); // the postgres user writes here
    const data = join(dir, 'data');
    const pg = new PostgresCluster(dir, await freePort());
    try {
      pg.#run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
      pg.startServer();
    } catch (error) {
      pg.dispose();
      throw error;
    }
    pg.#run('createdb', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', 'lottery']);
    return pg;
  }

  /** Stops the server at once and removes its folder. */
  dispose(): void {
    this.stop('immediate');
    rmSync(this.dir, { recursive: true, force: true });
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/lottery`;
  }

  /** Starts the server (again), waiting until it accepts connections. */
  startServer(): void {
    // Durable as in production (fsync, synchronous_commit on); sockets in the folder, TCP on 127.0.0.1 only.
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on -c synchronous_commit=on`;
    this.#run('pg_ctl', ['-D', join(this.dir, 'data'), '-l', join(this.dir, 'server.log'), '-o', options, '-w', '-t', '60', 'start']);
  }

  /** Stops the server: `fast` (clean) or `immediate` (like a crash: recovery runs at the next start). */
  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    if (!existsSync(join(this.dir, 'data', 'postmaster.pid'))) return;
    this.#run('pg_ctl', ['-D', join(this.dir, 'data'), '-m', mode, '-w', '-t', '60', 'stop'], true);
  }

  /**
   * CPU used so far by the whole server, ms: the postmaster and its live
   * processes (backends, WAL writer, checkpointer...), and the ones that
   * have exited (the postmaster's reaped children). NaN when it is not running.
   */
  cpuMs(): number {
    let postmaster: number;
    try {
      postmaster = Number(readFileSync(join(this.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return NaN;
    }
    const own = procStats(postmaster);
    if (!own) return NaN;
    let total = own.cpuMs + own.childrenCpuMs;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const child = procStats(Number(entry));
      if (child?.parent === postmaster) total += child.cpuMs;
    }
    return total;
  }

  /** Runs SQL with psql; returns its unaligned, tuples-only output. */
  psql(sql: string): string {
    return this.#run('psql', [
      '-h',
      '127.0.0.1',
      '-p',
      String(this.port),
      '-U',
      'postgres',
      '-d',
      'lottery',
      '-v',
      'ON_ERROR_STOP=1',
      '-At',
      '-c',
      sql,
    ]);
  }

  #run(program: string, args: readonly string[], tolerate = false): string {
    const path = join(PG_BIN, program);
    const command = userInfo().uid === 0 ? (['runuser', ['-u', 'postgres', '--', path, ...args]] as const) : ([path, args] as const);
    try {
      return execFileSync(command[0], [...command[1]], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: this.dir,
        maxBuffer: 1 << 30,
      });
    } catch (error) {
      if (tolerate) return '';
      const e = error as { stderr?: string; stdout?: string };
      throw new Error(`${program} ${args.join(' ')} failed: ${e.stderr ?? ''}${e.stdout ?? ''}`);
    }
  }
}

/** A TCP port that nothing listens on (bound once, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
