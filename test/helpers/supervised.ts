/**
 * A lottery run under a supervisor, the way Compose runs the central with
 * `restart: on-failure`: agencies (the real client) stream a dataset while
 * the central may fail-stop, crash or be killed; whenever it ends before the
 * agencies do, it is started again on the same files and port. Faults come
 * from the central's environment (LOTTERY_TEST_FAULT, first run only) or from
 * a test's `during` callback, which may also kill the central and do
 * something before it comes back (a power cut, say).
 */
import type { Test } from 'tap';
import {
  delay,
  finishClient,
  ServerStartError,
  startClient,
  startServer,
  type ClientRun,
  type Exit,
  type Proc,
  type ServerHandle,
} from './processes.js';
import { dumpTails, type Dataset } from './reliability.js';

export interface SupervisedOptions {
  readonly data: Dataset;
  readonly dir: string;
  readonly betsFile: string;
  /** Environment of the first central only (e.g. LOTTERY_TEST_FAULT). */
  readonly firstEnv?: Readonly<Record<string, string>>;
  /** Environment of every central. */
  readonly env?: Readonly<Record<string, string>>;
  /** CLI_BATCH_MAXAMOUNT of the agencies (default 10, the contract's). */
  readonly batch?: number;
  readonly limitMs?: number;
  /** Runs beside the agencies; may inject faults or kill the central through `run`. */
  readonly during?: (run: RunControl) => Promise<void>;
  /** How many times the central may end before the agencies are done (default 20). */
  readonly maxRestarts?: number;
}

export interface RunControl {
  /** The central now running (changes at each restart). */
  readonly server: ServerHandle;
  /** True once every agency has exited. */
  readonly over: boolean;
  /** SIGKILLs the central; `meanwhile` runs after it is gone and before the restart. */
  kill(meanwhile?: () => Promise<void>): Promise<void>;
}

export interface SupervisedRun {
  /** Every central process, in order (the last one still running: the caller stops it). */
  readonly centralRuns: Proc[];
  /** How each central but the last one ended (a fail-stop exits 1; a kill has signal SIGKILL). */
  readonly endings: Exit[];
  readonly finals: ClientRun[];
}

export async function superviseLottery(t: Test, opts: SupervisedOptions): Promise<SupervisedRun> {
  const { data, dir, betsFile } = opts;
  const centralRuns: Proc[] = [];
  const endings: Exit[] = [];
  const maxRestarts = opts.maxRestarts ?? 20;
  let port = 0;
  let between: (() => Promise<void>) | null = null;

  const start = async (env: Readonly<Record<string, string>>): Promise<ServerHandle> => {
    for (;;) {
      try {
        const server = await startServer(t, {
          agencies: data.files.length,
          dir,
          betsFile,
          port,
          env: { ...opts.env, ...env },
          name: `central-${centralRuns.length + 1}`,
        });
        centralRuns.push(server.process);
        port = server.port;
        return server;
      } catch (error) {
        // It ended before listening (a fault at start-up): that is one ending, then a clean start.
        if (!(error instanceof ServerStartError) || !error.process.exit || endings.length >= maxRestarts) throw error;
        centralRuns.push(error.process);
        endings.push(error.process.exit);
        env = {};
      }
    }
  };

  let server = await start(opts.firstEnv ?? {});
  const agencies = data.files.map((dataFile, i) =>
    startClient(t, { id: i + 1, port, dataFile, batch: opts.batch ?? 10, loopAmount: 1000, loopPeriod: '50ms' }),
  );
  const over = () => agencies.every((a) => a.exit !== null);
  const control: RunControl = {
    get server() {
      return server;
    },
    get over() {
      return over();
    },
    async kill(meanwhile) {
      between = meanwhile ?? null;
      await server.stop('SIGKILL');
    },
  };
  const during = opts.during ? opts.during(control) : Promise.resolve();
  during.catch(() => undefined); // awaited (and so reported) below

  const deadline = Date.now() + (opts.limitMs ?? 240_000);
  try {
    while (!over()) {
      const failed = agencies.find((a) => a.exit && a.exit.code !== 0);
      if (failed) throw new Error(`${failed.name} exited ${JSON.stringify(failed.exit)}: ${failed.lines().slice(-1)[0] ?? ''}`);
      if (server.process.exit) {
        const exit = server.process.exit;
        if (endings.length >= maxRestarts) throw new Error(`the central ended ${endings.length} times; last ${JSON.stringify(exit)}`);
        endings.push(exit);
        const pending = between as (() => Promise<void>) | null;
        between = null;
        if (pending) await pending();
        server = await start({});
        continue;
      }
      if (Date.now() > deadline) throw new Error(`agencies still running after ${opts.limitMs ?? 240_000} ms`);
      await delay(25);
    }
    await during;
  } catch (error) {
    dumpTails(t, [...centralRuns, ...agencies]);
    for (const agency of agencies) await agency.kill();
    throw error;
  }
  const finals = await Promise.all(agencies.map((a) => finishClient(a, 10_000)));
  return { centralRuns, endings, finals };
}
