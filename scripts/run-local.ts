/**
 * `npm start`: the whole system on this machine, no Docker. Starts the central
 * on a free port with a throwaway bets.csv, waits for its `listening` line,
 * runs the five sample agencies (.data/agency-N.csv) in parallel, streams
 * every line prefixed with its process name, prints each agency's winners,
 * then stops the central with SIGTERM.
 *
 * Exit 0 only when every agency exited 0 and reported as many winners as its
 * file holds, and the central exited 0 after SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { shebangFlags } from './proc.js';

const AGENCIES = 5;
const WINNING_NUMBER = 7574;
const LISTEN_TIMEOUT_MS = 15_000;
/** Generous for ~2,000 bets; a hung run must still end on its own. */
const RUN_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 10_000;

// dist/scripts/run-local.js → the repo root, wherever npm was started from.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const LISTENING = /action: listening \| result: success \|.*\bport: (\d+)/;
const WINNERS = /action: consulta_ganadores \| result: success \| cant_ganadores: (\d+)/;

interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves once the process has exited and its output is fully read. */
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Proc>();
/** Set by Ctrl-C (or a SIGTERM to us): every child has been told to stop. */
let interrupted: NodeJS.Signals | false = false;

function say(text: string): void {
  process.stdout.write(`local   | ${text}\n`);
}

/** Starts a node program (with its shebang's Node flags) and relays its output line by line, prefixed with `name`. */
function start(name: string, args: string[], env: NodeJS.ProcessEnv, onLine: (line: string) => void = () => {}): Proc {
  const child = spawn(process.execPath, [...shebangFlags(join(ROOT, args[0])), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = `${name.padEnd(7)} | `;
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
    process.stdout.write(prefix + line + '\n');
    onLine(line);
  });
  createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => process.stderr.write(prefix + line + '\n'));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveDone) => {
    child.on('error', (error) => {
      process.stderr.write(`${prefix}cannot start: ${error.message}\n`);
      resolveDone({ code: null, signal: null });
    });
    // 'close' rather than 'exit': it comes after the last line of output.
    child.on('close', (code, signal) => resolveDone({ code, signal }));
  });
  const proc: Proc = { name, child, done };
  running.add(proc);
  void done.then(() => running.delete(proc));
  return proc;
}

function stop(proc: Proc): void {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
}

function describe(end: { code: number | null; signal: NodeJS.Signals | null }): string {
  return end.signal ? `killed by ${end.signal}` : end.code === null ? 'did not start' : `exit ${end.code}`;
}

function timeout(ms: number): { promise: Promise<'timeout'>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<'timeout'>((resolveTimer) => (timer = setTimeout(() => resolveTimer('timeout'), ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Waits for the port the central announces, or fails if it exits or stays silent. */
async function waitListening(server: Proc, port: Promise<number>): Promise<number> {
  const limit = timeout(LISTEN_TIMEOUT_MS);
  try {
    const first = await Promise.race([port, server.done, limit.promise]);
    if (typeof first === 'number') return first;
    if (first === 'timeout')
      throw new Error(`the central did not log "action: listening | result: success" within ${LISTEN_TIMEOUT_MS / 1000}s`);
    throw new Error(`the central ended before listening (${describe(first)})`);
  } finally {
    limit.cancel();
  }
}

function countWinners(file: string): number {
  return readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .filter((line) => line.endsWith(`,${WINNING_NUMBER}`)).length;
}

function countLines(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '').length;
}

async function run(betsFile: string): Promise<boolean> {
  for (const program of ['server', 'client']) {
    if (!existsSync(join(ROOT, 'dist', program, 'main.js')))
      throw new Error(`dist/${program}/main.js is missing: run "npm run build" first`);
  }
  const files = Array.from({ length: AGENCIES }, (_, i) => `.data/agency-${i + 1}.csv`);
  for (const file of files) if (!existsSync(join(ROOT, file))) throw new Error(`${file} is missing (see .data/README.md to regenerate it)`);

  let announce: (port: number) => void = () => {};
  const port = new Promise<number>((resolvePort) => (announce = resolvePort));
  say(`starting the central (bets stored in ${betsFile})`);
  const server = start(
    'server',
    ['dist/server/main.js', '--host', '127.0.0.1', '--port', '0', '--agencies', String(AGENCIES), '--bets-file', betsFile],
    process.env,
    (line) => {
      const match = LISTENING.exec(line);
      if (match) announce(Number(match[1]));
    },
  );
  let ok = true;
  try {
    const address = `127.0.0.1:${await waitListening(server, port)}`;
    if (interrupted) throw new Error(`interrupted by ${interrupted}`);
    say(`central listening on ${address}; starting ${AGENCIES} agencies`);

    const reported = new Map<number, number>();
    const agencies = files.map((file, i) => {
      const id = i + 1;
      const env = { ...process.env, CLI_ID: String(id), CLI_SERVER_ADDRESS: address, CLI_DATA_FILE: file, CLI_LOOP_PERIOD: '200ms' };
      const proc = start(`agency${id}`, ['dist/client/main.js'], env, (line) => {
        const match = WINNERS.exec(line);
        if (match) reported.set(id, Number(match[1]));
      });
      return { id, file, proc, end: proc.done };
    });

    // The draw waits for every agency, so once one fails the others would wait forever: stop them.
    let stopping = false;
    for (const a of agencies) {
      void a.end.then((end) => {
        const others = agencies.filter((o) => o.proc.child.exitCode === null && o.proc.child.signalCode === null);
        if (end.code !== 0 && !interrupted && !stopping && others.length > 0) {
          stopping = true;
          say(`agency${a.id} failed (${describe(end)}): the draw cannot happen, stopping the others`);
          for (const other of others) stop(other.proc);
        }
      });
    }
    const limit = timeout(RUN_TIMEOUT_MS);
    const all = Promise.all(agencies.map((a) => a.end));
    if ((await Promise.race([all, limit.promise])) === 'timeout') {
      say(`the agencies did not finish within ${RUN_TIMEOUT_MS / 1000}s: stopping them`);
      for (const a of agencies) stop(a.proc);
    }
    limit.cancel();
    const ends = await all;

    process.stdout.write(`\n${'agency'.padEnd(8)}${'exit'.padEnd(19)}${'winners'.padEnd(9)}expected\n`);
    for (const [i, a] of agencies.entries()) {
      const end = ends[i];
      const expected = countWinners(join(ROOT, a.file));
      const got = reported.get(a.id);
      const good = end.code === 0 && got === expected;
      if (!good) ok = false;
      process.stdout.write(
        `${String(a.id).padEnd(8)}${describe(end).padEnd(19)}${String(got ?? '-').padEnd(9)}${expected}${good ? '' : '  <- FAILED'}\n`,
      );
    }
    process.stdout.write('\n');
  } finally {
    if (!interrupted && server.child.exitCode === null && server.child.signalCode === null) say('stopping the central (SIGTERM)');
    stop(server);
    const limit = timeout(STOP_TIMEOUT_MS);
    const end = await Promise.race([server.done, limit.promise]);
    limit.cancel();
    if (end === 'timeout') {
      say(`the central did not exit within ${STOP_TIMEOUT_MS / 1000}s of SIGTERM: killing it`);
      server.child.kill('SIGKILL');
      await server.done;
      ok = false;
    } else if (end.code !== 0) {
      say(`the central ended (${describe(end)}), expected exit 0`);
      ok = false;
    }
  }
  const stored = countLines(betsFile);
  if (stored !== undefined) say(`the central stored ${stored} bets in ${betsFile}`);
  return ok;
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'lottery-run-local-'));
  const cleanUp = () => rmSync(dir, { recursive: true, force: true });
  const interrupt = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = signal;
    say(`${signal}: stopping every process`);
    for (const proc of running) stop(proc);
    // The normal path then winds down (processes end, temp dir removed); this is the backstop.
    setTimeout(() => {
      for (const proc of running) proc.child.kill('SIGKILL');
      cleanUp();
      process.exit(130);
    }, STOP_TIMEOUT_MS).unref();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  let ok = false;
  try {
    ok = await run(join(dir, 'bets.csv'));
  } catch (error) {
    say(`error: ${(error as Error).message}`);
    for (const proc of running) stop(proc);
    await Promise.all([...running].map((p) => p.done));
  } finally {
    cleanUp();
  }
  say(`removed ${dir}`);
  if (interrupted) return interrupted === 'SIGINT' ? 130 : 143;
  say(ok ? 'all agencies finished: success' : 'FAILED');
  return ok ? 0 : 1;
}

process.exitCode = await main();
