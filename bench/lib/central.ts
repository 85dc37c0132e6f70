/**
 * The central as the benchmark runs it: a real `lottery-server` process on
 * port 0, its log read as it comes (port, recovery, sorteo, errors), its
 * CPU and peak RSS read from /proc just before SIGTERM.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { describeExit, NodeProcess, procStats, withTimeout, type Exit, type ProcStats } from '../../scripts/proc.js';
import { args, SERVER_MAIN } from './settings.js';
import { childEnv, profileArgs } from './workspace.js';

export interface CentralOptions {
  readonly label: string;
  readonly betsFile: string;
  readonly agencies: number;
  readonly durable: boolean;
  readonly maxConnections?: number;
  readonly backlog?: number;
  readonly listenTimeoutMs: number;
  /** Bets in this PostgreSQL database instead of betsFile (figure 9). */
  readonly databaseUrl?: string;
  /** Extra environment for the central (e.g. SERVER_TLS_*). */
  readonly env?: Readonly<Record<string, string>>;
}

export const LISTENING = /action: listening \| result: success \| host: (\S+) \| port: (\d+)/;
export const SORTEO = /action: sorteo \| result: success\b.*\| winners: (\d+)/;
export const RECOVERY = /action: recovery \| result: success \|.*\| bets: (\d+)/;

export class Central {
  port = 0;
  listeningAt = 0;
  sorteoWinners: number | null = null;
  recoveredBets: number | null = null;
  logLines = 0;
  connections = 0;
  maxConnections = 0;
  readonly errors: string[] = [];
  /** WARNING lines (other than the start-up auth notice) and workers that exited non-zero. */
  warnings = 0;
  workerFailures = 0;
  readonly notable: string[] = [];
  readonly proc: NodeProcess;
  readonly #listening: Promise<void>;
  /** With --keep-temp, the central's whole log, next to its bets.csv. */
  readonly #log: WriteStream | null;

  constructor(readonly options: CentralOptions) {
    this.#log = args.keepTemp ? createWriteStream(join(dirname(options.betsFile), 'central.log')) : null;

    const flags = ['--host', '127.0.0.1', '--port', '0', '--agencies', String(options.agencies), '--bets-file', options.betsFile];
    if (!options.durable) flags.push('--no-fsync');
    if (options.maxConnections !== undefined) flags.push('--max-connections', String(options.maxConnections));
    if (options.backlog !== undefined) flags.push('--listen-backlog', String(options.backlog));
    if (options.databaseUrl !== undefined) flags.push('--database-url', options.databaseUrl);
    let listened: () => void = () => undefined;
    this.#listening = new Promise((resolveListening) => (listened = resolveListening));
    this.proc = new NodeProcess(`central ${options.label}`, [...profileArgs('central'), SERVER_MAIN, ...flags], {
      cwd: dirname(options.betsFile),
      keepLines: false,
      env: childEnv({ ...options.env }),
      onLine: (line, at) => {
        this.logLines++;
        // Cheap tests first: there is one line per batch.
        if (line.includes('action: apuesta_recibida | result: success')) return;
        this.#log?.write(`${line}\n`);
        if (line.startsWith('ERROR', 20) || line.startsWith('CRITICAL', 20)) {
          if (this.errors.length < 5) this.errors.push(line);
        } else if (line.startsWith('WARNING', 20) && !line.includes('action: auth |')) {
          this.warnings++;
          if (this.notable.length < 5) this.notable.push(line);
        } else if (/action: worker_stopped \| result: success .*\| code: [1-9]/.test(line)) {
          this.workerFailures++;
          if (this.notable.length < 5) this.notable.push(line);
        }
        if (line.includes('action: connection_accepted')) {
          this.connections++;
          this.maxConnections = Math.max(this.maxConnections, this.connections);
        } else if (line.includes('action: connection_closed')) {
          this.connections--;
        } else if (this.port === 0) {
          const m = LISTENING.exec(line);
          if (m) {
            this.port = Number(m[2]);
            this.listeningAt = at;
            listened();
          } else {
            const r = RECOVERY.exec(line);
            if (r) this.recoveredBets = Number(r[1]);
          }
        } else {
          const m = SORTEO.exec(line);
          if (m) this.sorteoWinners = Number(m[1]);
        }
      },
    });
  }

  /** Starts the central and waits for its `listening` line. */
  static async start(options: CentralOptions): Promise<Central> {
    const central = new Central(options);
    void central.proc.exited.then(() => central.#log?.end());
    const exitedEarly = central.proc.exited.then((exit) => {
      throw new Error(`the central exited before listening (${describeExit(exit)})\n${central.proc.tail()}`);
    });
    exitedEarly.catch(() => undefined); // it rejects at every exit; only the race below cares
    try {
      await withTimeout(Promise.race([central.#listening, exitedEarly]), options.listenTimeoutMs, `central ${options.label} listening`);
    } catch (error) {
      central.proc.signal('SIGKILL');
      throw error;
    }
    return central;
  }

  get startedAt(): number {
    return this.proc.startedAt;
  }

  stats(): ProcStats | null {
    return procStats(this.proc.pid);
  }

  /** Reads its accounting, then SIGTERM; waits for the exit (SIGKILL after the timeout). */
  async stop(timeoutMs = 30_000): Promise<{ before: ProcStats | null; exit: Exit }> {
    const before = this.stats();
    this.proc.signal('SIGTERM');
    try {
      return { before, exit: await withTimeout(this.proc.exited, timeoutMs, `central ${this.options.label} stopping`) };
    } catch {
      this.proc.signal('SIGKILL');
      return { before, exit: await this.proc.exited };
    }
  }
}
