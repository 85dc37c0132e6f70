/**
 * `npm run bench` — the figures of issue 5, measured side by side in one run,
 * with a correctness check in every run. `npm run bench -- --quick` does the
 * same at small sizes (under a minute; for CI).
 *
 *   node dist/bench/bench.js [--quick] [--only 1,3,5] [--keep-temp] [--profile DIR]
 *
 * Everything runs as real processes over loopback (127.0.0.1, port 0) from a
 * temporary directory that is removed at the end: the central
 * (dist/server/main.js), the agencies (dist/client/main.js), the parse-only
 * baseline (bench/parse-only.ts) and the load generator
 * (bench/load-generator.ts, one process, one connection per agency). Data
 * comes from the project's generator (scripts/generate-data.ts). Time is the
 * wall clock (performance.now); CPU and peak RSS of the central come from
 * /proc/<pid>/stat (utime+stime) and /proc/<pid>/status (VmHWM), read just
 * before it is stopped with SIGTERM; the agencies' CPU is the growth of this
 * process's cutime+cstime while they ran.
 *
 * The figures (issue 5's table):
 *   1. 5 agencies × 400,000 bets, durable: wall time from the central's spawn
 *      to the last agency's exit, against 5 parse-only processes (csv-parse
 *      with the agency's options, counting rows) on the same files, spawn of
 *      the first to exit of the last. Run just before, same page cache. Also
 *      shown: 5 `parse-only --encode` processes (the agency's own parsing,
 *      validation and encoding, without network or central): the agency's floor;
 *      the same sending their frames over TCP to bench/sink.ts, which only
 *      appends them to a file; the central's fixed cost (5 agencies with empty
 *      files); and from those, a lower bound on any run's wall time: (agencies
 *      sending + sink beyond its start-up + fixed CPU) / cores.
 *      Three rounds of all of it (one with --quick); the median round is reported.
 *   2. Durable vs --no-fsync ingest: the load generator (figure 3's method)
 *      on the same files, three pairs of runs (one with --quick) in
 *      alternating order; the median pair is reported. 2b (info): figure 1 again with
 *      --no-fsync, i.e. at the agencies' own pace (full run only).
 *   3. Capacity: 10 agencies × 200,000 bets, pre-encoded, one load-generator
 *      process with 10 connections, window 128 batches; bets/s from the first
 *      batch written to the last ack. CPU of the central and of the load
 *      generator over that window, in cores.
 *   4. The reference dataset (../shared/data/agency-1..5.csv), 5 agencies,
 *      central spawn to last agency exit, median of 5 runs; and as its floor,
 *      csv-parse alone on the same five files, 5 processes, median of 5.
 *   5. bets.csv of 10,000,000 lines written directly in the stored format;
 *      the central starts on it (recovery, not timed); the load generator's
 *      draw mode times the last agency's Done+WinnersRequest to the last
 *      Winners page.
 *   6. The central's VmHWM in figure 1's runs, alone and against figure 4's
 *      (median of each figure's runs).
 *   7. 100 agency processes at once (DEBUG logs, --max-connections 110):
 *      every one correct; the central's peak RSS; time to first ack = arrival
 *      of an agency's first `batch_ack` line minus its `connect` line. 7b
 *      (info): the same files from one load-generator process (Hello→Welcome
 *      and first batch→first ack, without 100 Node start-ups competing).
 * 10–13 (issue 15, the contract's default configuration: 10 bets a batch):
 *  10. one agency's CPU on the reference agency-1.csv against csv-parse alone
 *      (and its floor, parse-only --encode), five rounds side by side;
 *  11. the reference dataset, 5 agencies, from the central's `listening` to
 *      the last agency's exit, against csv-parse alone in 5 processes;
 *  12. connect → Welcome with the central idle, one Hello at a time, and one
 *      worker's start-up CPU (idle centrals with 10 and 2 pre-started workers);
 *  13. the central's CPU per stored bet on figure 3's durable load.
 * --quick uses 5 × 40,000, 10 × 20,000, the reference once, 1,000,000 lines
 * and 20 agencies (figures 10 and 11 once, 4 Hellos for 12).
 *
 * Correctness, in every run: bets.csv holds exactly the input (per agency:
 * line count and an order-independent 64-bit checksum of the stored lines,
 * see checksum.ts), every agency got as many winners as its file has 7574s,
 * the draw's `sorteo` line counts them all, and every process exited 0. Any
 * mismatch prints `CORRECTNESS ERROR: ...` and the exit code is 1. Timings
 * never fail the run: a missed target is reported as MISS, exit 0.
 */
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  statfsSync,
  writeFileSync,
  writeSync,
  type WriteStream,
} from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  decodeMessage,
  encodeHello,
  FrameDecoder,
  MessageType,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  SERVER_FRAME_LIMITS,
  type ServerMessage,
} from '../protocol/index.js';
import { generateAgencyFile, generateBets } from '../scripts/generate-data.js';
import { digestAgencyFile, digestStoredFile, digestText, sameDigest, WINNING_NUMBER, type InputDigest } from './checksum.js';
import { describeExit, liveProcesses, Proc, procStats, sleep, withTimeout, type Exit, type ProcStats } from './proc.js';

// ---- settings ------------------------------------------------------------------

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SERVER_MAIN = join(ROOT, 'dist', 'server', 'main.js');
const CLIENT_MAIN = join(ROOT, 'dist', 'client', 'main.js');
const PARSE_ONLY = join(ROOT, 'dist', 'bench', 'parse-only.js');
const LOAD_GENERATOR = join(ROOT, 'dist', 'bench', 'load-generator.js');
const SINK = join(ROOT, 'dist', 'bench', 'sink.js');
const REFERENCE_DIR = resolve(ROOT, '..', 'shared', 'data');
const REFERENCE_BETS = 78_697;

/** The largest batch that fits 8 kB frames for typical bets; the agency's BatchEncoder also cuts at 8 kB. */
const BATCH = 200;
const LOADGEN_WINDOW = 128;
const SEED = 20_261_123;
const MB = 1024 * 1024;
const CORES = os.availableParallelism();

interface Sizes {
  readonly e2eAgencies: number;
  readonly e2eBets: number;
  /** Figure 1 is measured this many times; the median round is reported. */
  readonly e2eRounds: number;
  readonly capAgencies: number;
  readonly capBets: number;
  /** Figure 2 is measured this many times (pairs of runs); the median pair is reported. */
  readonly durableRounds: number;
  readonly refRuns: number;
  readonly drawAgencies: number;
  readonly drawLines: number;
  readonly manyAgencies: number;
  readonly manyBets: number;
}

const FULL: Sizes = {
  e2eAgencies: 5,
  e2eBets: 400_000,
  e2eRounds: 3,
  capAgencies: 10,
  capBets: 200_000,
  durableRounds: 3,
  refRuns: 5,
  drawAgencies: 5,
  drawLines: 10_000_000,
  manyAgencies: 100,
  manyBets: 2_000,
};
const QUICK: Sizes = {
  e2eAgencies: 5,
  e2eBets: 40_000,
  e2eRounds: 1,
  capAgencies: 10,
  capBets: 20_000,
  durableRounds: 1,
  refRuns: 1,
  drawAgencies: 5,
  drawLines: 1_000_000,
  manyAgencies: 20,
  manyBets: 500,
};

const TARGET = {
  e2eRatio: 1.25,
  durableRatio: 0.9,
  capacity: 1_000_000,
  referenceSeconds: 0.6,
  drawSeconds: 2,
  rssBytes: 150 * MB,
  rssGrowth: 1.1,
};

/** Issue 15's targets: small runs as fast as large ones (figures 10–13). */
const TARGET15 = {
  agencyCpuRatio: 1.3,
  referenceRatio: 1.5,
  welcomeMs: 5,
  perBetUs: 0.5,
};

interface Args {
  quick: boolean;
  only: Set<number> | null;
  keepTemp: boolean;
  profileDir: string | null;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { quick: false, only: null, keepTemp: false, profileDir: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--keep-temp') args.keepTemp = true;
    else if (a === '--only') args.only = new Set((argv[++i] ?? '').split(',').map(Number));
    else if (a === '--profile') args.profileDir = resolve(argv[++i] ?? 'bench-profiles');
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node dist/bench/bench.js [--quick] [--only 1,2,...] [--keep-temp] [--profile DIR]\n');
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const sizes = args.quick ? QUICK : FULL;
/** Figures 10–13: rounds side by side (the median round is reported), and Hello probes for figure 12. */
const sizes15 = args.quick ? { rounds: 1, welcomeProbes: 4 } : { rounds: 5, welcomeProbes: 10 };
const wants = (figure: number) => args.only === null || args.only.has(figure);

// ---- output and correctness ------------------------------------------------------

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

const problems: string[] = [];
function correctnessError(message: string): void {
  problems.push(message);
  say(`CORRECTNESS ERROR: ${message}`);
}

const fmt = {
  s: (ms: number) => `${(ms / 1000).toFixed(2)} s`,
  ms: (ms: number) => `${ms.toFixed(0)} ms`,
  mb: (bytes: number) => `${(bytes / MB).toFixed(1)} MB`,
  n: (n: number) => Math.round(n).toLocaleString('en-US'),
  x: (r: number) => `${r.toFixed(2)}×`,
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The round whose `key` is the median (the lower middle one of an even count): reported whole, so its figures agree. */
function medianRound<T>(rounds: readonly T[], key: (round: T) => number): T {
  return [...rounds].sort((a, b) => key(a) - key(b))[(rounds.length - 1) >> 1];
}

/** How each round came out, when there was more than one. */
function roundsNote(ratios: readonly number[]): string {
  return ratios.length > 1 ? ` (rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')}; median round shown)` : '';
}

function loadavg(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

// ---- temp dir and cleanup ----------------------------------------------------------

const TMP = mkdtempSync(join(os.tmpdir(), 'lottery-bench-'));
let cleaned = false;
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  for (const proc of liveProcesses()) proc.kill('SIGKILL');
  if (args.keepTemp) say(`temp dir kept: ${TMP}`);
  else rmSync(TMP, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`\ninterrupted by ${signal}; stopping children and removing ${TMP}`);
    cleanup();
    process.exit(130);
  });
}
process.once('exit', cleanup);

/** A child's environment: ours minus every setting the programs read, plus `extra`. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(CLI_|SERVER_)/.test(key) || key === 'LOGGING_LEVEL') continue;
    if (['NOMBRE', 'APELLIDO', 'DOCUMENTO', 'NACIMIENTO', 'NUMERO'].includes(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** `--profile DIR`: V8 CPU profiles of every thread, in DIR/<program>/ (Node names each file by pid and thread). */
function profileArgs(name: string): string[] {
  if (!args.profileDir) return [];
  const dir = join(args.profileDir, name);
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

// ---- machine -----------------------------------------------------------------------

function machine(): string[] {
  let cpu = 'unknown CPU';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux
  }
  let fs = 'unknown filesystem';
  try {
    const real = realpathSync(TMP);
    let best = { mount: '', device: '', type: '' };
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, mount, type] = line.split(' ');
      if (!device || !mount || !type) continue;
      const m = mount.replace(/\\040/g, ' ');
      if ((real === m || real.startsWith(m.endsWith('/') ? m : `${m}/`)) && m.length >= best.mount.length)
        best = { mount: m, device, type };
    }
    const stat = statfsSync(TMP);
    fs = `${best.type} on ${best.device} (mounted at ${best.mount}), ${fmt.n((stat.bavail * stat.bsize) / 1024 ** 3)} GiB free`;
  } catch {
    // keep "unknown"
  }
  return [
    `machine:  ${cpu}, ${CORES} cores, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM`,
    `software: Node ${process.version}, ${os.type()} ${os.release()}`,
    `temp dir: ${TMP} — ${fs}`,
    `load avg: ${loadavg()} (1/5/15 min) at start`,
  ];
}

// ---- data --------------------------------------------------------------------------

interface AgencyInput {
  readonly agency: number;
  readonly path: string;
  readonly expected: InputDigest;
}

function generateSet(name: string, agencies: number, bets: number, winners?: (agency: number) => number): AgencyInput[] {
  const dir = join(TMP, 'data', name);
  mkdirSync(dir, { recursive: true });
  const inputs: AgencyInput[] = [];
  for (let agency = 1; agency <= agencies; agency++) {
    const path = join(dir, `agency-${agency}.csv`);
    generateAgencyFile(path, { agency, bets, seed: SEED, winners: winners?.(agency) });
    inputs.push({ agency, path, expected: digestAgencyFile(path, agency) });
  }
  return inputs;
}

/** One empty bets file per agency: a run that costs the central only its fixed work. */
function emptySet(name: string, agencies: number): AgencyInput[] {
  const dir = join(TMP, 'data', name);
  mkdirSync(dir, { recursive: true });
  const inputs: AgencyInput[] = [];
  for (let agency = 1; agency <= agencies; agency++) {
    const path = join(dir, `agency-${agency}.csv`);
    writeFileSync(path, '');
    inputs.push({ agency, path, expected: digestAgencyFile(path, agency) });
  }
  return inputs;
}

function referenceSet(): AgencyInput[] | null {
  const inputs: AgencyInput[] = [];
  for (let agency = 1; agency <= 5; agency++) {
    const path = join(REFERENCE_DIR, `agency-${agency}.csv`);
    if (!existsSync(path)) return null;
    inputs.push({ agency, path, expected: digestAgencyFile(path, agency) });
  }
  return inputs;
}

const totalBets = (inputs: readonly AgencyInput[]) => inputs.reduce((n, i) => n + i.expected.digest.lines, 0);
const totalWinners = (inputs: readonly AgencyInput[]) => inputs.reduce((n, i) => n + i.expected.winners, 0);

// ---- the central -------------------------------------------------------------------

interface CentralOptions {
  readonly label: string;
  readonly betsFile: string;
  readonly agencies: number;
  readonly durable: boolean;
  readonly maxConnections?: number;
  readonly backlog?: number;
  readonly listenTimeoutMs: number;
}

const LISTENING = /action: listening \| result: success \| host: (\S+) \| port: (\d+)/;
const SORTEO = /action: sorteo \| result: success\b.*\| winners: (\d+)/;
const RECOVERY = /action: recovery \| result: success \|.*? \| bets: (\d+)/;

class Central {
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
  readonly proc: Proc;
  readonly #listening: Promise<void>;
  /** With --keep-temp, the central's whole log, next to its bets.csv. */
  readonly #log: WriteStream | null;

  constructor(readonly options: CentralOptions) {
    this.#log = args.keepTemp ? createWriteStream(join(dirname(options.betsFile), 'central.log')) : null;

    const flags = ['--host', '127.0.0.1', '--port', '0', '--agencies', String(options.agencies), '--bets-file', options.betsFile];
    if (!options.durable) flags.push('--no-fsync');
    if (options.maxConnections !== undefined) flags.push('--max-connections', String(options.maxConnections));
    if (options.backlog !== undefined) flags.push('--listen-backlog', String(options.backlog));
    let listened: () => void = () => undefined;
    this.#listening = new Promise((resolveListening) => (listened = resolveListening));
    this.proc = new Proc(`central ${options.label}`, [...profileArgs('central'), SERVER_MAIN, ...flags], {
      cwd: dirname(options.betsFile),
      env: childEnv({}),
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
    void central.proc.done.then(() => central.#log?.end());
    const exitedEarly = central.proc.done.then((exit) => {
      throw new Error(`the central exited before listening (${describeExit(exit)})\n${central.proc.tail()}`);
    });
    exitedEarly.catch(() => undefined); // it rejects at every exit; only the race below cares
    try {
      await withTimeout(Promise.race([central.#listening, exitedEarly]), options.listenTimeoutMs, `central ${options.label} listening`);
    } catch (error) {
      central.proc.kill('SIGKILL');
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
    this.proc.kill('SIGTERM');
    try {
      return { before, exit: await withTimeout(this.proc.done, timeoutMs, `central ${this.options.label} stopping`) };
    } catch {
      this.proc.kill('SIGKILL');
      return { before, exit: await this.proc.done };
    }
  }
}

// ---- agencies ------------------------------------------------------------------------

const WINNERS_LINE = /action: consulta_ganadores \| result: success \| cant_ganadores: (\d+)/;

class Agent {
  winners: number | null = null;
  connectAt = -1;
  firstAckAt = -1;
  /** WARNING lines: retries, reconnections. */
  warnings = 0;
  lastWarning = '';
  readonly errors: string[] = [];
  readonly proc: Proc;

  constructor(
    readonly input: AgencyInput,
    port: number,
    cwd: string,
    debug: boolean,
  ) {
    const env = childEnv({
      CLI_ID: String(input.agency),
      CLI_SERVER_ADDRESS: `127.0.0.1:${port}`,
      CLI_DATA_FILE: input.path,
      CLI_BATCH_MAXAMOUNT: String(BATCH),
      CLI_LOOP_PERIOD: '100ms',
      CLI_LOOP_AMOUNT: '20',
      CLI_LOG_LEVEL: debug ? 'DEBUG' : 'INFO',
    });
    this.proc = new Proc(`agency ${input.agency}`, [...profileArgs('agency'), CLIENT_MAIN], {
      cwd,
      env,
      onLine: (line, at) => {
        if (debug && line.includes('action: batch_')) {
          if (this.firstAckAt < 0 && line.includes('action: batch_ack | result: success')) this.firstAckAt = at;
          return;
        }
        if (this.connectAt < 0 && line.includes('action: connect | result: success')) this.connectAt = at;
        const m = WINNERS_LINE.exec(line);
        if (m) this.winners = Number(m[1]);
        if ((line.startsWith('ERROR', 20) || line.startsWith('CRITICAL', 20)) && this.errors.length < 3) this.errors.push(line);
        else if (line.startsWith('WARNING', 20)) {
          this.warnings++;
          this.lastWarning = line;
        }
      },
    });
  }
}

// ---- checks ----------------------------------------------------------------------------

/** bets.csv against the inputs: per agency, count and checksum. */
function verifyStored(label: string, betsFile: string, inputs: readonly AgencyInput[]): void {
  const stored = digestStoredFile(betsFile);
  if (stored.malformed > 0) correctnessError(`${label}: ${stored.malformed} lines of bets.csv do not start with an agency number`);
  for (const input of inputs) {
    const got = stored.perAgency.get(input.agency);
    if (!got) {
      if (input.expected.digest.lines === 0) continue; // an empty file stores nothing
      correctnessError(`${label}: agency ${input.agency}: nothing stored, expected ${digestText(input.expected.digest)}`);
    } else if (!sameDigest(got, input.expected.digest)) {
      correctnessError(`${label}: agency ${input.agency}: stored ${digestText(got)}, input ${digestText(input.expected.digest)}`);
    }
  }
  for (const agency of stored.perAgency.keys()) {
    if (!inputs.some((i) => i.agency === agency)) correctnessError(`${label}: bets.csv holds bets of agency ${agency}, which sent none`);
  }
}

function checkExit(label: string, who: Proc, exit: Exit): void {
  if (exit.code !== 0) correctnessError(`${label}: ${who.name} ended with ${describeExit(exit)}\n${who.tail()}`);
}

function checkCentral(label: string, central: Central, exit: Exit, expectedWinners: number | null): void {
  checkExit(label, central.proc, exit);
  if (central.warnings > 0 || central.workerFailures > 0) {
    say(`  note: the central logged ${central.warnings} warnings and ${central.workerFailures} workers exited non-zero, e.g.:`);
    for (const line of central.notable) say(`    ${line}`);
  }
  for (const line of central.errors) correctnessError(`${label}: the central logged: ${line}`);
  if (expectedWinners !== null && central.sorteoWinners !== expectedWinners) {
    correctnessError(`${label}: the central's sorteo line counts ${central.sorteoWinners ?? 'no'} winners, expected ${expectedWinners}`);
  }
}

// ---- runs ----------------------------------------------------------------------------

let runNumber = 0;
function runDir(label: string): string {
  const dir = join(TMP, `run-${++runNumber}-${label.replace(/[^a-z0-9]+/gi, '-')}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function runTimeout(bets: number): number {
  return 120_000 + bets * 0.5;
}

interface ClientRun {
  readonly wallMs: number;
  readonly serverCpuMs: number;
  readonly serverPeakRss: number;
  readonly clientsCpuMs: number;
  readonly agents: readonly Agent[];
  readonly central: Central;
}

/** The central and one agency process per input, from the central's start to the last agency's exit. */
async function clientRun(
  label: string,
  inputs: readonly AgencyInput[],
  options: { durable: boolean; debug?: boolean; maxConnections?: number; backlog?: number },
): Promise<ClientRun> {
  const dir = runDir(label);
  const betsFile = join(dir, 'bets.csv');
  const selfBefore = procStats('self');
  const central = await Central.start({
    label,
    betsFile,
    agencies: inputs.length,
    durable: options.durable,
    maxConnections: options.maxConnections,
    backlog: options.backlog,
    listenTimeoutMs: 60_000,
  });
  const agents = inputs.map((input) => new Agent(input, central.port, dir, options.debug ?? false));
  // An agency that fails leaves the others waiting for a draw that never comes: stop at the first failure.
  const firstFailure = new Promise<never>((_, reject) => {
    for (const a of agents) {
      void a.proc.done.then((exit) => {
        if (exit.code !== 0) reject(new Error(`${label}: agency ${a.input.agency} ended with ${describeExit(exit)}`));
      });
    }
  });
  firstFailure.catch(() => undefined);
  let exits: Exit[];
  try {
    exits = await withTimeout(
      Promise.race([Promise.all(agents.map((a) => a.proc.done)), firstFailure]),
      runTimeout(totalBets(inputs)),
      `${label}: agencies`,
    );
  } catch (error) {
    const report = stuckReport(agents, central);
    for (const a of agents) a.proc.kill('SIGKILL');
    await central.stop();
    throw new Error(`${(error as Error).message}\n${report}`);
  }
  const lastExit = Math.max(...exits.map((e) => e.at));
  const selfAfter = procStats('self');
  const { before, exit } = await central.stop();

  // Correctness.
  agents.forEach((agent, i) => {
    checkExit(label, agent.proc, exits[i]);
    for (const line of agent.errors) correctnessError(`${label}: agency ${agent.input.agency} logged: ${line}`);
    if (agent.winners !== agent.input.expected.winners) {
      correctnessError(
        `${label}: agency ${agent.input.agency} reported ${agent.winners ?? 'no'} winners, its file has ${agent.input.expected.winners}`,
      );
    }
  });
  const retried = agents.filter((a) => a.warnings > 0);
  if (retried.length > 0) {
    say(`  note: ${retried.length} agencies logged warnings (retries), e.g. agency ${retried[0].input.agency}: ${retried[0].lastWarning}`);
  }
  checkCentral(label, central, exit, totalWinners(inputs));
  if (!before) say(`  warning: could not read /proc/${central.proc.pid}: no CPU or RSS figures for the central`);
  verifyStored(label, betsFile, inputs);
  if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });

  return {
    wallMs: lastExit - central.startedAt,
    serverCpuMs: before?.cpuMs ?? NaN,
    serverPeakRss: before?.peakRss ?? NaN,
    clientsCpuMs: selfBefore && selfAfter ? selfAfter.childrenCpuMs - selfBefore.childrenCpuMs : NaN,
    agents,
    central,
  };
}

/** Who is still running and who already failed, when a run does not finish. */
function stuckReport(agents: readonly Agent[], central: Central): string {
  const running = agents.filter((a) => a.proc.alive).map((a) => a.input.agency);
  const failed = agents.filter((a) => a.proc.exited && a.proc.exited.code !== 0);
  const lines = [`  still running: ${running.length} agencies (${running.slice(0, 20).join(', ')}${running.length > 20 ? ', …' : ''})`];
  for (const a of failed.slice(0, 3))
    lines.push(`  agency ${a.input.agency} ended with ${describeExit(a.proc.exited!)}:\n${a.proc.tail(8)}`);
  if (failed.length > 3) lines.push(`  … and ${failed.length - 3} more failed agencies`);
  if (running.length > 0)
    lines.push(`  agency ${running[0]} (still running) last said:\n${agents.find((a) => a.input.agency === running[0])!.proc.tail(8)}`);
  for (const line of central.errors) lines.push(`  the central logged: ${line}`);
  for (const line of central.notable) lines.push(`  the central logged: ${line}`);
  if (central.workerFailures > 0) lines.push(`  ${central.workerFailures} of the central's workers exited with a non-zero code`);
  lines.push(`  the central last said:\n${central.proc.tail(10)}`);
  return lines.join('\n');
}

/** What the parse-only processes do: parse, parse and encode, or also send the frames to a sink's port. */
type ParseMode = 'parse' | 'encode' | { readonly sendTo: number };

/**
 * Five (or N) parse-only processes at once, in `mode` (csv-parse alone by
 * default); wall time from the first spawn to the last exit.
 */
async function parseRun(inputs: readonly AgencyInput[], mode: ParseMode = 'parse'): Promise<{ wallMs: number; cpuMs: number }> {
  const selfBefore = procStats('self');
  const flags = mode === 'parse' ? [] : mode === 'encode' ? ['--encode'] : ['--send', String(mode.sendTo)];
  const procs = inputs.map((input) => {
    let rows = -1;
    const proc = new Proc(`parse-only ${input.agency}`, [PARSE_ONLY, ...flags, input.path], {
      cwd: TMP,
      env: childEnv({}),
      onLine: (line) => {
        const m = /^rows: (\d+)$/.exec(line);
        if (m) rows = Number(m[1]);
      },
    });
    return { input, proc, rows: () => rows };
  });
  const start = Math.min(...procs.map((p) => p.proc.startedAt));
  const exits = await withTimeout(Promise.all(procs.map((p) => p.proc.done)), runTimeout(totalBets(inputs)), 'parse-only');
  const selfAfter = procStats('self');
  procs.forEach((p, i) => {
    checkExit('parse-only', p.proc, exits[i]);
    const expected = p.input.expected.digest.lines + p.input.expected.invalid;
    if (p.rows() !== expected) correctnessError(`parse-only: ${p.input.path}: csv-parse counted ${p.rows()} rows, expected ${expected}`);
  });
  return {
    wallMs: Math.max(...exits.map((e) => e.at)) - start,
    cpuMs: selfBefore && selfAfter ? selfAfter.childrenCpuMs - selfBefore.childrenCpuMs : NaN,
  };
}

/** What bench/sink.ts prints at the end: bytes received, its CPU, and the part of it spent starting up. */
interface SinkReport {
  readonly bytes: number;
  readonly cpuMs: number;
  readonly bootCpuMs: number;
}

/**
 * The agencies' parsing and encoding with the frames sent over TCP to
 * bench/sink.ts, which only appends them to a file: the transport and storage
 * any central needs, with none of ours. `sinkWorkCpuMs` leaves out the sink's
 * start-up, which the central's fixed cost already counts once.
 */
async function transportRun(inputs: readonly AgencyInput[]): Promise<{ wallMs: number; agenciesCpuMs: number; sinkWorkCpuMs: number }> {
  const dir = runDir('transport');
  let report: SinkReport | null = null;
  let onPort!: (port: number) => void;
  const listening = new Promise<number>((resolve) => (onPort = resolve));
  const sink = new Proc('sink', [SINK, join(dir, 'frames.bin'), String(inputs.length)], {
    cwd: TMP,
    env: childEnv({}),
    onLine: (line) => {
      const port = /^port: (\d+)$/.exec(line);
      if (port) onPort(Number(port[1]));
      const end = /^bytes: (\d+) cpu-ms: (\d+) boot-cpu-ms: (\d+)$/.exec(line);
      if (end) report = { bytes: Number(end[1]), cpuMs: Number(end[2]), bootCpuMs: Number(end[3]) };
    },
  });
  const quit = sink.done.then((exit) =>
    Promise.reject(new Error(`the sink ended before listening: ${describeExit(exit)}\n${sink.tail()}`)),
  );
  quit.catch(() => undefined);
  const port = await withTimeout(Promise.race([listening, quit]), 30_000, 'sink');
  const selfBefore = procStats('self');
  const run = await parseRun(inputs, { sendTo: port });
  const sinkExit = await withTimeout(sink.done, 30_000, 'sink');
  const selfAfter = procStats('self');
  checkExit('sink', sink, sinkExit);
  const got = report as SinkReport | null; // assigned in a callback: TypeScript cannot see it
  if (!got || got.bytes === 0) correctnessError(`sink: no report of bytes received\n${sink.tail()}`);
  if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
  // Both the agencies and the sink were reaped in between: this is all their CPU.
  const totalCpuMs = selfBefore && selfAfter ? selfAfter.childrenCpuMs - selfBefore.childrenCpuMs : NaN;
  return {
    wallMs: run.wallMs,
    agenciesCpuMs: totalCpuMs - (got?.cpuMs ?? NaN),
    sinkWorkCpuMs: (got?.cpuMs ?? NaN) - (got?.bootCpuMs ?? NaN),
  };
}

interface LoadgenAgency {
  agency: number;
  stored: number;
  winners: string[];
  welcomeMs?: number;
  firstAckMs?: number;
}
interface LoadgenResult {
  mode: 'ingest' | 'draw';
  bets?: number;
  encodeMs?: number;
  connectMs?: number;
  ingestMs?: number;
  betsPerSecond?: number;
  drawMs?: number;
  agencies: LoadgenAgency[];
}

interface LoadgenRun {
  readonly result: LoadgenResult;
  /** Cores used by the central and by the load generator during the measured window. */
  readonly serverCores: number;
  readonly loadgenCores: number;
  readonly serverPeakRss: number;
  /** The central's whole CPU, start to stop (its start-up, every worker, the draw). */
  readonly serverCpuMs: number;
  readonly central: Central;
}

/** Runs the load generator against `central`; samples both processes' CPU at EVENT start/end. */
async function runLoadgen(
  label: string,
  central: Central,
  loadgenArgs: string[],
  timeoutMs: number,
): Promise<Omit<LoadgenRun, 'serverPeakRss' | 'serverCpuMs' | 'central'>> {
  let result: LoadgenResult | null = null;
  const samples: Array<{ server: ProcStats | null; loadgen: ProcStats | null; at: number }> = [];
  const loadgen: Proc = new Proc(
    `loadgen ${label}`,
    [...profileArgs('loadgen'), LOAD_GENERATOR, '--port', String(central.port), ...loadgenArgs],
    {
      cwd: TMP,
      env: childEnv({}),
      onLine: (line, at) => {
        if (line.startsWith('EVENT ')) samples.push({ server: central.stats(), loadgen: procStats(loadgen.pid), at });
        else if (line.startsWith('RESULT ')) result = JSON.parse(line.slice('RESULT '.length)) as LoadgenResult;
      },
    },
  );
  let exit: Exit;
  try {
    exit = await withTimeout(loadgen.done, timeoutMs, `${label}: load generator`);
  } catch (error) {
    loadgen.kill('SIGKILL');
    throw error;
  }
  checkExit(label, loadgen, exit);
  if (!result) throw new Error(`${label}: the load generator gave no result (${describeExit(exit)})\n${loadgen.tail()}`);
  let serverCores = NaN;
  let loadgenCores = NaN;
  const [a, b] = samples;
  if (a && b && b.at > a.at) {
    if (a.server && b.server) serverCores = (b.server.cpuMs - a.server.cpuMs) / (b.at - a.at);
    if (a.loadgen && b.loadgen) loadgenCores = (b.loadgen.cpuMs - a.loadgen.cpuMs) / (b.at - a.at);
  }
  return { result: result, serverCores, loadgenCores };
}

/** Pre-encoded batches from one connection per input; bets/s from the first batch to the last ack. */
async function loadgenIngest(
  label: string,
  inputs: readonly AgencyInput[],
  durable: boolean,
  limits: { maxConnections?: number; backlog?: number } = {},
): Promise<LoadgenRun> {
  const dir = runDir(label);
  const betsFile = join(dir, 'bets.csv');
  const central = await Central.start({ label, betsFile, agencies: inputs.length, durable, listenTimeoutMs: 60_000, ...limits });
  const files = inputs.flatMap((i) => ['--file', `${i.agency}=${i.path}`]);
  let run;
  try {
    run = await runLoadgen(
      label,
      central,
      ['--mode', 'ingest', '--batch', String(BATCH), '--window', String(LOADGEN_WINDOW), ...files],
      runTimeout(totalBets(inputs)),
    );
  } catch (error) {
    await central.stop();
    throw error;
  }
  const { before, exit } = await central.stop();
  checkCentral(label, central, exit, totalWinners(inputs));
  for (const input of inputs) {
    const got = run.result.agencies.find((a) => a.agency === input.agency);
    if (!got) correctnessError(`${label}: no result for agency ${input.agency}`);
    else {
      if (got.stored !== input.expected.digest.lines)
        correctnessError(`${label}: agency ${input.agency}: acked ${got.stored}, sent ${input.expected.digest.lines}`);
      if (got.winners.length !== input.expected.winners) {
        correctnessError(`${label}: agency ${input.agency}: ${got.winners.length} winners, its file has ${input.expected.winners}`);
      }
    }
  }
  verifyStored(label, betsFile, inputs);
  if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
  return { ...run, serverPeakRss: before?.peakRss ?? NaN, serverCpuMs: before?.cpuMs ?? NaN, central };
}

// ---- the draw figure -----------------------------------------------------------------------

interface DrawRun {
  readonly lines: number;
  readonly drawMs: number;
  readonly prepareMs: number;
  readonly startupMs: number;
  readonly serverPeakRss: number;
  readonly serverCores: number;
}

/** Writes bets.csv directly in the stored format; returns each agency's count and winning documents. */
function writeStoredFile(path: string, lines: number, agencies: number): Map<number, { count: number; winners: string[] }> {
  const expected = new Map<number, { count: number; winners: string[] }>();
  const fd = openSync(path, 'w');
  try {
    let chunk = '';
    for (let agency = 1; agency <= agencies; agency++) {
      const bets = Math.floor(lines / agencies) + (agency <= lines % agencies ? 1 : 0);
      const winners: string[] = [];
      for (const bet of generateBets({ agency, bets, seed: SEED ^ 0x5a5a })) {
        chunk += `${agency},${bet.firstName},${bet.lastName},${bet.document},${bet.birthdate},${bet.number}\n`;
        if (bet.number === WINNING_NUMBER) winners.push(bet.document);
        if (chunk.length >= 1 << 20) {
          writeSync(fd, chunk);
          chunk = '';
        }
      }
      expected.set(agency, { count: bets, winners });
    }
    writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  return expected;
}

async function drawRun(lines: number, agencies: number): Promise<DrawRun> {
  const label = 'draw';
  const dir = runDir(label);
  const betsFile = join(dir, 'bets.csv');
  const t0 = performance.now();
  const expected = writeStoredFile(betsFile, lines, agencies);
  const prepareMs = performance.now() - t0;
  say(`  wrote ${fmt.n(lines)} stored lines in ${fmt.s(prepareMs)}; starting the central on them`);
  const central = await Central.start({ label, betsFile, agencies, durable: true, listenTimeoutMs: 120_000 + lines / 10 });
  const startupMs = central.listeningAt - central.startedAt;
  let run;
  try {
    const list = [...expected.keys()].join(',');
    run = await runLoadgen(label, central, ['--mode', 'draw', '--agencies', list], 120_000 + lines / 10);
  } catch (error) {
    await central.stop();
    throw error;
  }
  const { before, exit } = await central.stop();
  let expectedWinners = 0;
  for (const e of expected.values()) expectedWinners += e.winners.length;
  checkCentral(label, central, exit, expectedWinners);
  if (central.recoveredBets !== lines)
    correctnessError(`${label}: the central recovered ${central.recoveredBets ?? 'no'} bets, the file has ${lines}`);
  for (const [agency, want] of expected) {
    const got = run.result.agencies.find((a) => a.agency === agency);
    if (!got) {
      correctnessError(`${label}: no answer for agency ${agency}`);
      continue;
    }
    if (got.stored !== want.count)
      correctnessError(`${label}: agency ${agency}: Welcome says ${got.stored} stored, the file has ${want.count}`);
    const a = [...got.winners].sort().join(',');
    const b = [...want.winners].sort().join(',');
    if (a !== b)
      correctnessError(`${label}: agency ${agency}: got ${got.winners.length} winners, expected ${want.winners.length} (documents differ)`);
  }
  if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
  return {
    lines,
    drawMs: run.result.drawMs ?? NaN,
    prepareMs,
    startupMs,
    serverPeakRss: before?.peakRss ?? NaN,
    serverCores: run.serverCores,
  };
}

// ---- the table ------------------------------------------------------------------------------

type Verdict = 'PASS' | 'MISS' | 'MISS (out of reach: the lower bound is above the target)' | 'INFO' | 'SKIP' | 'ERROR';
interface Row {
  readonly figure: string;
  readonly measured: string;
  readonly target: string;
  readonly verdict: Verdict;
}
const rows: Row[] = [];
function row(figure: string, measured: string, target: string, verdict: Verdict): void {
  rows.push({ figure, measured, target, verdict });
}
const verdict = (ok: boolean): Verdict => (ok ? 'PASS' : 'MISS');

function printTable(): void {
  const cell = (s: string) => s.replaceAll('|', '\\|');
  // Figures run in dependency order (3 before 2); the table lists them by number.
  const key = (r: Row) => {
    const m = /^(\d+)([a-z]?)/.exec(r.figure);
    return m ? Number(m[1]) * 100 + (m[2] ? m[2].charCodeAt(0) - 96 : 0) : 10_000;
  };
  const sorted = [...rows].sort((a, b) => key(a) - key(b));
  say('| figure | measured | target | result |');
  say('| --- | --- | --- | --- |');
  for (const r of sorted) say(`| ${cell(r.figure)} | ${cell(r.measured)} | ${cell(r.target)} | ${r.verdict} |`);
}

/** Runs one figure; a failure to complete is reported, and the next figure still runs. */
async function figure(name: string, body: () => void | Promise<void>): Promise<void> {
  say(`\n## ${name}   (load avg ${loadavg()})`);
  const t0 = performance.now();
  try {
    await body();
  } catch (error) {
    correctnessError(`${name}: did not complete: ${(error as Error).message}`);
    row(name, 'did not complete', '—', 'ERROR');
  }
  say(`  (${fmt.s(performance.now() - t0)})`);
}

interface E2eRound {
  readonly parse: { wallMs: number; cpuMs: number };
  readonly encode: { wallMs: number; cpuMs: number };
  readonly transport: { wallMs: number; agenciesCpuMs: number; sinkWorkCpuMs: number };
  readonly fixed: ClientRun;
  readonly run: ClientRun;
  /** End-to-end wall time over csv-parse alone's. */
  readonly ratio: number;
  /** The least `ratio` any design could reach here (see below). */
  readonly bound: number;
  /** Cores kept busy by the central and the agencies together. */
  readonly busy: number;
}

/** Figure 1's measurements, one after the other. */
async function e2eRound(e2e: readonly AgencyInput[], empty: readonly AgencyInput[], round: number): Promise<E2eRound> {
  const parse = await parseRun(e2e);
  say(`  csv-parse alone, ${e2e.length} processes: ${fmt.s(parse.wallMs)} wall, ${fmt.s(parse.cpuMs)} CPU`);
  const encode = await parseRun(e2e, 'encode');
  say(
    `  csv-parse + the agency's validation and encoding, no network, ${e2e.length} processes: ${fmt.s(encode.wallMs)} wall ` +
      `(${fmt.x(encode.wallMs / parse.wallMs)}), ${fmt.s(encode.cpuMs)} CPU`,
  );
  const transport = await transportRun(e2e);
  say(
    `  the same, with the frames sent over TCP to a sink that only appends them to a file: ${fmt.s(transport.wallMs)} wall, ` +
      `agencies ${fmt.s(transport.agenciesCpuMs)} CPU, sink ${fmt.s(transport.sinkWorkCpuMs)} CPU beyond its start-up`,
  );
  // The central's fixed work: start-up, a worker thread per agency, the sessions and an empty draw.
  const fixed = await clientRun(`e2e-empty-files-${round}`, empty, { durable: true });
  say(`  the central's fixed cost: ${e2e.length} agencies with empty files, central ${fmt.s(fixed.serverCpuMs)} CPU`);
  const run = await clientRun(`e2e-durable-${round}`, e2e, { durable: true });
  const busy = (run.serverCpuMs + run.clientsCpuMs) / run.wallMs;
  say(
    `  end-to-end: ${fmt.s(run.wallMs)} wall (${fmt.n(totalBets(e2e) / (run.wallMs / 1000))} bets/s); central ${fmt.s(run.serverCpuMs)} CPU, ` +
      `peak RSS ${fmt.mb(run.serverPeakRss)}, ${fmt.n(run.central.logLines)} log lines; agencies ${fmt.s(run.clientsCpuMs)} CPU; ` +
      `${busy.toFixed(2)} of ${CORES} cores busy`,
  );
  // No run can take less wall time than its CPU time spread over every core, and any
  // run does at least this: the agencies parse, encode and send; something receives
  // and stores the bytes; and the central does its fixed work.
  const floorCpuMs = transport.agenciesCpuMs + transport.sinkWorkCpuMs + fixed.serverCpuMs;
  const bound = floorCpuMs / CORES / parse.wallMs;
  const ratio = run.wallMs / parse.wallMs;
  say(
    `  ${fmt.x(ratio)} csv-parse alone; lower bound for any end-to-end run here: (agencies sending ${fmt.s(transport.agenciesCpuMs)} ` +
      `+ sink ${fmt.s(transport.sinkWorkCpuMs)} + the central's fixed ${fmt.s(fixed.serverCpuMs)} CPU) / ${CORES} cores = ${fmt.x(bound)}`,
  );
  return { parse, encode, transport, fixed, run, ratio, bound, busy };
}

// ---- figures 10–13: fast from the first bet (issue 15) --------------------------------------

interface DefaultConfigRun {
  /** The central's `listening` line to the last agency's exit. */
  readonly wallMs: number;
  /** The agencies' CPU (user + sys, whole processes). */
  readonly agenciesCpuMs: number;
  /** Each agency's `connect` line to its `session` line (its Welcome). */
  readonly welcomeMs: readonly number[];
}

/**
 * Agencies as a user runs them first: the contract's default configuration
 * (no CLI_BATCH_MAXAMOUNT: 10 bets a batch), against a central already
 * listening; stored bets, winners and exits checked like every run.
 */
async function defaultConfigRun(label: string, inputs: readonly AgencyInput[]): Promise<DefaultConfigRun> {
  const dir = runDir(label);
  const betsFile = join(dir, 'bets.csv');
  const central = await Central.start({ label, betsFile, agencies: inputs.length, durable: true, listenTimeoutMs: 60_000 });
  // The central idle, as when agencies come some time after it started: its boot work is done.
  await sleep(500);
  const selfBefore = procStats('self');
  const agents = inputs.map((input) => {
    const times = { connect: -1, session: -1, winners: null as number | null, errors: [] as string[] };
    const env = childEnv({
      CLI_ID: String(input.agency),
      CLI_SERVER_ADDRESS: `127.0.0.1:${central.port}`,
      CLI_DATA_FILE: input.path,
      CLI_LOOP_PERIOD: '100ms',
      CLI_LOOP_AMOUNT: '20',
    });
    const proc = new Proc(`agency ${input.agency} (default config)`, [...profileArgs('agency'), CLIENT_MAIN], {
      cwd: dir,
      env,
      onLine: (line, at) => {
        if (times.connect < 0 && line.includes('action: connect | result: success')) times.connect = at;
        else if (times.session < 0 && line.includes('action: session | result: success')) times.session = at;
        const m = WINNERS_LINE.exec(line);
        if (m) times.winners = Number(m[1]);
        if ((line.startsWith('ERROR', 20) || line.startsWith('CRITICAL', 20)) && times.errors.length < 3) times.errors.push(line);
      },
    });
    return { input, proc, times };
  });
  let exits: Exit[];
  try {
    exits = await withTimeout(Promise.all(agents.map((a) => a.proc.done)), runTimeout(totalBets(inputs)), `${label}: agencies`);
  } catch (error) {
    for (const a of agents) a.proc.kill('SIGKILL');
    await central.stop();
    throw error;
  }
  const selfAfter = procStats('self');
  const lastExit = Math.max(...exits.map((e) => e.at));
  const { exit } = await central.stop();
  agents.forEach((a, i) => {
    checkExit(label, a.proc, exits[i]);
    for (const line of a.times.errors) correctnessError(`${label}: agency ${a.input.agency} logged: ${line}`);
    if (a.times.winners !== a.input.expected.winners)
      correctnessError(
        `${label}: agency ${a.input.agency} reported ${a.times.winners ?? 'no'} winners, its file has ${a.input.expected.winners}`,
      );
  });
  checkCentral(label, central, exit, totalWinners(inputs));
  verifyStored(label, betsFile, inputs);
  if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
  return {
    wallMs: lastExit - central.listeningAt,
    agenciesCpuMs: selfBefore && selfAfter ? selfAfter.childrenCpuMs - selfBefore.childrenCpuMs : NaN,
    welcomeMs: agents.map((a) => a.times.session - a.times.connect),
  };
}

/** Connects to 127.0.0.1:port, says Hello as `agency`, and resolves with the time from connect() to the decoded Welcome. */
function helloToWelcome(port: number, agency: number, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const decoder = new FrameDecoder(SERVER_FRAME_LIMITS);
    const timer = setTimeout(() => socket.destroy(new Error(`no Welcome for agency ${agency} within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error: Error | null, ms = 0) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(ms);
    };
    socket.once('connect', () =>
      socket.write(
        encodeHello({ type: MessageType.Hello, version: PROTOCOL_VERSION, agency, singleBet: false, nonce: Buffer.alloc(NONCE_BYTES, 7) }),
      ),
    );
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of decoder.push(chunk)) {
          const message = decodeMessage(frame) as ServerMessage;
          if (message.type === MessageType.Welcome) return finish(null, performance.now() - t0);
          return finish(new Error(`agency ${agency}: expected Welcome, got message 0x${message.type.toString(16)}`));
        }
      } catch (error) {
        finish(error as Error);
      }
    });
    socket.once('error', (error) => finish(error));
    socket.once('close', () => finish(new Error(`agency ${agency}: the central closed before its Welcome`)));
  });
}

/** The central's CPU once its boot is over and it has sat idle for `idleMs` (start-up, recovery, the pre-started workers). */
async function idleCentralCpu(label: string, agencies: number, idleMs: number): Promise<number> {
  const dir = runDir(label);
  const central = await Central.start({ label, betsFile: join(dir, 'bets.csv'), agencies, durable: true, listenTimeoutMs: 60_000 });
  await sleep(idleMs);
  const { before, exit } = await central.stop();
  checkCentral(label, central, exit, null);
  if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
  return before?.cpuMs ?? NaN;
}

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<number> {
  for (const path of [SERVER_MAIN, CLIENT_MAIN, PARSE_ONLY, LOAD_GENERATOR, SINK]) {
    if (!existsSync(path)) {
      say(`bench: ${path} is missing; run \`npm run build\` first (npm run bench does)`);
      return 1;
    }
  }
  const started = performance.now();
  say(`# lottery benchmark${args.quick ? ' (--quick: small sizes; the targets are meant for the full run)' : ''}`);
  for (const line of machine()) say(line);

  // Data, generated once with the project's generator, digested for the checks.
  say('\n## data');
  const t0 = performance.now();
  const e2e = wants(1) || wants(2) || wants(6) ? generateSet('e2e', sizes.e2eAgencies, sizes.e2eBets) : [];
  const cap = wants(2) || wants(3) ? generateSet('capacity', sizes.capAgencies, sizes.capBets) : [];
  const many = wants(7) ? generateSet('many', sizes.manyAgencies, sizes.manyBets, (agency) => agency % 4) : [];
  const reference = wants(4) || wants(6) ? referenceSet() : null;
  say(
    `  generated ${fmt.n(totalBets(e2e) + totalBets(cap) + totalBets(many))} bets (${e2e.length}×${fmt.n(sizes.e2eBets)} end-to-end, ` +
      `${cap.length}×${fmt.n(sizes.capBets)} capacity, ${many.length}×${fmt.n(sizes.manyBets)} many-agencies) in ${fmt.s(performance.now() - t0)}; ` +
      `winners: ${totalWinners(e2e)}, ${totalWinners(cap)}, ${totalWinners(many)}`,
  );
  if (reference) say(`  reference dataset: ${fmt.n(totalBets(reference))} bets, ${totalWinners(reference)} winners (${REFERENCE_DIR})`);
  else if (wants(4)) say(`  reference dataset not found in ${REFERENCE_DIR}: figure 4 is skipped`);

  let e2ePeakRss: number | null = null;
  let refPeakRss: number | null = null;
  const e2eLabel = `${e2e.length} agencies × ${fmt.n(sizes.e2eBets)} bets`;

  if (wants(1) || wants(2) || wants(6)) {
    await figure(`1. end-to-end, ${e2eLabel}, durable`, async () => {
      // Rounds of every measurement side by side, so that a slow spell of the machine
      // skews one round, not the figure: the median round is reported.
      const rounds: E2eRound[] = [];
      const empty = emptySet('e2e-empty', e2e.length);
      for (let i = 1; i <= sizes.e2eRounds; i++) {
        if (sizes.e2eRounds > 1) say(`  round ${i} of ${sizes.e2eRounds}`);
        rounds.push(await e2eRound(e2e, empty, i));
      }
      const { parse, encode, transport, fixed, run, ratio, bound, busy } = medianRound(rounds, (r) => r.ratio);
      e2ePeakRss = median(rounds.map((r) => r.run.serverPeakRss));
      const each = roundsNote(rounds.map((r) => r.ratio));
      const outOfReach = ratio > TARGET.e2eRatio && bound > TARGET.e2eRatio;
      row(
        `1. end-to-end, ${e2eLabel}, durable`,
        `${fmt.s(run.wallMs)} vs csv-parse alone ${fmt.s(parse.wallMs)} = ${fmt.x(ratio)}${each}; lower bound on this machine ${fmt.x(bound)}; ` +
          `parse + encode without network ${fmt.x(encode.wallMs / parse.wallMs)} ` +
          `(CPU: central ${fmt.s(run.serverCpuMs)}, its fixed cost ${fmt.s(fixed.serverCpuMs)}, agencies ${fmt.s(run.clientsCpuMs)}, ` +
          `parse-only ${fmt.s(parse.cpuMs)}, parse + encode ${fmt.s(encode.cpuMs)}, parse + encode + send ${fmt.s(transport.agenciesCpuMs)}, ` +
          `sink ${fmt.s(transport.sinkWorkCpuMs)}; ${busy.toFixed(2)} of ${CORES} cores busy)`,
        `≤ ${TARGET.e2eRatio}× csv-parse alone`,
        outOfReach ? 'MISS (out of reach: the lower bound is above the target)' : verdict(ratio <= TARGET.e2eRatio),
      );
      if (wants(2) && !args.quick) {
        const fast = await clientRun('e2e-no-fsync', e2e, { durable: false });
        say(`  end-to-end with --no-fsync: ${fmt.s(fast.wallMs)} wall; central ${fmt.s(fast.serverCpuMs)} CPU`);
        row(
          `2b. (info) end-to-end durable vs --no-fsync, agencies' own pace`,
          `${fmt.s(run.wallMs)} vs ${fmt.s(fast.wallMs)}: durable throughput = ${fmt.x(fast.wallMs / run.wallMs)} non-durable`,
          '—',
          'INFO',
        );
      }
    });
  }

  let capDurable: LoadgenRun | null = null;
  const capLabel = `${cap.length} agencies × ${fmt.n(sizes.capBets)} pre-encoded bets`;
  if (wants(2) || wants(3)) {
    await figure(`3. server capacity, ${capLabel}, durable`, async () => {
      const run = await loadgenIngest('capacity-durable', cap, true);
      capDurable = run;
      const r = run.result;
      say(
        `  ${fmt.n(r.betsPerSecond ?? NaN)} bets/s: ${fmt.n(r.bets ?? NaN)} bets in ${fmt.s(r.ingestMs ?? NaN)} (encoding beforehand: ${fmt.s(r.encodeMs ?? NaN)}); ` +
          `central used ${run.serverCores.toFixed(2)} cores, load generator ${run.loadgenCores.toFixed(2)}; central peak RSS ${fmt.mb(run.serverPeakRss)}`,
      );
      row(
        `3. server capacity, ${capLabel} (1 load-generator process, ${cap.length} connections, window ${LOADGEN_WINDOW}), durable`,
        `${fmt.n(r.betsPerSecond ?? NaN)} bets/s (central ${run.serverCores.toFixed(2)} cores, load generator ${run.loadgenCores.toFixed(2)} cores)`,
        `≥ ${fmt.n(TARGET.capacity)} bets/s`,
        verdict((r.betsPerSecond ?? 0) >= TARGET.capacity),
      );
    });
  }
  if (wants(2)) {
    await figure(`2. durable vs non-durable ingest, ${capLabel}`, async () => {
      const first = capDurable;
      if (!first) throw new Error('the durable capacity run did not complete');
      // Pairs of runs side by side (figure 3's run is the first durable one), their order
      // alternating so that a drift in the machine's speed or the disk's latency favours neither mode.
      const rounds: { d: number; n: number }[] = [];
      for (let i = 1; i <= sizes.durableRounds; i++) {
        let durable: LoadgenRun;
        let fast: LoadgenRun;
        if (i % 2 === 1) {
          durable = i === 1 ? first : await loadgenIngest(`capacity-durable-${i}`, cap, true);
          fast = await loadgenIngest(`capacity-no-fsync-${i}`, cap, false);
        } else {
          fast = await loadgenIngest(`capacity-no-fsync-${i}`, cap, false);
          durable = await loadgenIngest(`capacity-durable-${i}`, cap, true);
        }
        const d = durable.result.betsPerSecond ?? NaN;
        const n = fast.result.betsPerSecond ?? NaN;
        rounds.push({ d, n });
        say(
          `  round ${i}: durable ${fmt.n(d)} bets/s, --no-fsync ${fmt.n(n)} bets/s (central ${fast.serverCores.toFixed(2)} cores) = ${fmt.x(d / n)}`,
        );
      }
      const { d, n } = medianRound(rounds, (r) => r.d / r.n);
      const each = roundsNote(rounds.map((r) => r.d / r.n));
      row(
        `2. durable vs --no-fsync ingest, ${capLabel}`,
        `${fmt.n(d)} vs ${fmt.n(n)} bets/s = ${fmt.x(d / n)}${each}`,
        `≥ ${TARGET.durableRatio}×`,
        verdict(d / n >= TARGET.durableRatio),
      );
    });
  }

  if (wants(4) || wants(6)) {
    await figure(`4. reference dataset, ${fmt.n(REFERENCE_BETS)} bets, 5 agencies`, async () => {
      if (!reference) {
        row('4. reference dataset', `skipped: ${REFERENCE_DIR} not found`, `≤ ${TARGET.referenceSeconds} s`, 'SKIP');
        return;
      }
      const walls: number[] = [];
      const peaks: number[] = [];
      for (let i = 0; i < sizes.refRuns; i++) {
        const run = await clientRun(`reference-${i + 1}`, reference, { durable: true });
        walls.push(run.wallMs);
        peaks.push(run.serverPeakRss);
        say(`  run ${i + 1}: ${fmt.s(run.wallMs)}, central ${fmt.s(run.serverCpuMs)} CPU, peak RSS ${fmt.mb(run.serverPeakRss)}`);
      }
      const wall = median(walls);
      refPeakRss = median(peaks);
      // The floor: the same five files through csv-parse alone, five processes at once, no central.
      const floors: number[] = [];
      for (let i = 0; i < sizes.refRuns; i++) floors.push((await parseRun(reference)).wallMs);
      const floor = median(floors);
      say(`  csv-parse alone on the same files, 5 processes: ${fmt.s(floor)} median of ${floors.length}`);
      row(
        `4. reference dataset (${fmt.n(totalBets(reference))} bets, 5 agencies), process start to last agency exit`,
        `${fmt.s(wall)} median of ${walls.length} (${walls.map((w) => (w / 1000).toFixed(2)).join(', ')}); ` +
          `csv-parse alone on the same files: ${fmt.s(floor)}${floor / 1000 > TARGET.referenceSeconds ? ', already above the target' : ''}`,
        `≤ ${TARGET.referenceSeconds} s`,
        verdict(wall / 1000 <= TARGET.referenceSeconds),
      );
    });
  }

  if (wants(5)) {
    await figure(`5. draw over ${fmt.n(sizes.drawLines)} stored bets`, async () => {
      const run = await drawRun(sizes.drawLines, sizes.drawAgencies);
      say(
        `  draw: ${fmt.s(run.drawMs)} from the last Done+WinnersRequest to the last answer; central start-up (recovery of the file) ` +
          `${fmt.s(run.startupMs)}; peak RSS ${fmt.mb(run.serverPeakRss)}`,
      );
      row(
        `5. draw over ${fmt.n(run.lines)} stored bets, ${sizes.drawAgencies} agencies (file in page cache)`,
        `${fmt.s(run.drawMs)} (central start-up with recovery, not counted: ${fmt.s(run.startupMs)}; peak RSS ${fmt.mb(run.serverPeakRss)})`,
        `≤ ${TARGET.drawSeconds} s`,
        verdict(run.drawMs / 1000 <= TARGET.drawSeconds),
      );
    });
  }

  if (wants(6)) {
    await figure('6. central peak RSS', () => {
      const peak = e2ePeakRss;
      if (peak === null) throw new Error('the end-to-end run (figure 1) did not complete');
      const of = sizes.e2eRounds > 1 ? `, median of ${sizes.e2eRounds} runs` : '';
      row(
        `6a. central peak RSS, ${fmt.n(totalBets(e2e))}-bet end-to-end run${of}`,
        fmt.mb(peak),
        `≤ ${fmt.mb(TARGET.rssBytes)}`,
        verdict(peak <= TARGET.rssBytes),
      );
      const ref = refPeakRss;
      if (ref === null) {
        row('6b. peak RSS growth vs the reference run', 'skipped: no reference run', `≤ ${TARGET.rssGrowth}×`, 'SKIP');
      } else {
        row(
          `6b. peak RSS, ${fmt.n(totalBets(e2e))}-bet run vs ${fmt.n(REFERENCE_BETS)}-bet run`,
          `${fmt.mb(peak)} vs ${fmt.mb(ref)} = ${fmt.x(peak / ref)}`,
          `≤ ${TARGET.rssGrowth}×`,
          verdict(peak / ref <= TARGET.rssGrowth),
        );
      }
      say(
        `  ${rows
          .slice(-2)
          .map((r) => `${r.figure}: ${r.measured}`)
          .join('; ')}`,
      );
    });
  }

  if (wants(7)) {
    await figure(`7. ${many.length} agencies at once`, async () => {
      const before = problems.length;
      const run = await clientRun(`many-${many.length}`, many, {
        durable: true,
        debug: true,
        maxConnections: many.length + 10,
        backlog: Math.max(128, many.length * 2),
      });
      const fromConnect = run.agents.filter((a) => a.firstAckAt >= 0 && a.connectAt >= 0).map((a) => a.firstAckAt - a.connectAt);
      const fromSpawn = run.agents.filter((a) => a.firstAckAt >= 0).map((a) => a.firstAckAt - a.proc.startedAt);
      if (fromConnect.length !== run.agents.length)
        correctnessError(`many agencies: ${run.agents.length - fromConnect.length} agencies logged no batch_ack`);
      const ok = problems.length === before;
      const ttfa = `first ack after connect: median ${fmt.ms(median(fromConnect))}, max ${fmt.ms(Math.max(...fromConnect))} (after process spawn: median ${fmt.ms(median(fromSpawn))}, max ${fmt.ms(Math.max(...fromSpawn))})`;
      say(
        `  ${fmt.s(run.wallMs)} wall; central peak RSS ${fmt.mb(run.serverPeakRss)}, ${fmt.s(run.serverCpuMs)} CPU; at most ${run.central.maxConnections} connections at once; ${ttfa}`,
      );
      row(
        `7. ${many.length} agencies at once, ${fmt.n(sizes.manyBets)} bets each`,
        `${ok ? 'all correct' : 'errors (see above)'}; central peak RSS ${fmt.mb(run.serverPeakRss)}; ${run.central.maxConnections} connections at once; ${ttfa}; ${fmt.s(run.wallMs)} wall`,
        'all finish correctly; RSS and time to first ack reported',
        ok ? 'PASS' : 'ERROR',
      );
      // The same files from one load-generator process: the central's own latency, without 100 Node start-ups competing.
      const lg = await loadgenIngest(`many-${many.length}-loadgen`, many, true, {
        maxConnections: many.length + 10,
        backlog: Math.max(128, many.length * 2),
      });
      const welcome = lg.result.agencies.map((a) => a.welcomeMs ?? NaN);
      const ack = lg.result.agencies.map((a) => a.firstAckMs ?? NaN);
      const text =
        `Hello→Welcome median ${fmt.ms(median(welcome))}, max ${fmt.ms(Math.max(...welcome))}; first batch→first ack median ${fmt.ms(median(ack))}, max ${fmt.ms(Math.max(...ack))}; ` +
        `all ${fmt.n(lg.result.bets ?? NaN)} bets in ${fmt.s(lg.result.ingestMs ?? NaN)}; central peak RSS ${fmt.mb(lg.serverPeakRss)}`;
      say(`  load generator, ${many.length} connections from one process: ${text}`);
      row(`7b. (info) ${many.length} connections from one load-generator process, same files`, text, '—', 'INFO');
    });
  }

  if (wants(10)) {
    await figure('10. agency CPU on the reference agency-1.csv, default config, vs csv-parse alone', async () => {
      const all = referenceSet();
      if (!all) {
        row('10. agency CPU, reference agency-1.csv', `skipped: ${REFERENCE_DIR} not found`, `≤ ${TARGET15.agencyCpuRatio}×`, 'SKIP');
        return;
      }
      const input = all.slice(0, 1);
      // Side by side, alternating: a slow spell of the shared machine skews one round, not the figure.
      const rounds: { agency: number; parse: number; encode: number }[] = [];
      for (let i = 1; i <= sizes15.rounds; i++) {
        const parse = (await parseRun(input)).cpuMs;
        // The agency's floor: its own reading, validation and encoding into frames, no network, no central.
        const encode = (await parseRun(input, 'encode')).cpuMs;
        const agency = (await defaultConfigRun(`agency-cpu-${i}`, input)).agenciesCpuMs;
        rounds.push({ agency, parse, encode });
        say(
          `  round ${i}: agency ${fmt.ms(agency)} CPU, csv-parse alone ${fmt.ms(parse)} = ${fmt.x(agency / parse)}; ` +
            `parse + validate + encode without network ${fmt.ms(encode)} = ${fmt.x(encode / parse)}`,
        );
      }
      const { agency, parse, encode } = medianRound(rounds, (r) => r.agency / r.parse);
      row(
        `10. agency CPU (user + sys, whole process), reference agency-1.csv (${fmt.n(totalBets(input))} bets), default config (10 a batch)`,
        `${fmt.ms(agency)} vs csv-parse alone ${fmt.ms(parse)} = ${fmt.x(agency / parse)}${roundsNote(rounds.map((r) => r.agency / r.parse))}; ` +
          `the agency's floor (parse + validate + encode, no network) ${fmt.x(encode / parse)}`,
        `≤ ${TARGET15.agencyCpuRatio}×`,
        verdict(agency / parse <= TARGET15.agencyCpuRatio),
      );
    });
  }

  if (wants(11)) {
    await figure('11. reference dataset, 5 agencies, default config, vs csv-parse alone', async () => {
      const inputs = referenceSet();
      if (!inputs) {
        row('11. reference dataset, default config', `skipped: ${REFERENCE_DIR} not found`, `≤ ${TARGET15.referenceRatio}×`, 'SKIP');
        return;
      }
      const rounds: { run: DefaultConfigRun; parse: number }[] = [];
      for (let i = 1; i <= sizes15.rounds; i++) {
        const parse = (await parseRun(inputs)).wallMs;
        const run = await defaultConfigRun(`reference-default-${i}`, inputs);
        rounds.push({ run, parse });
        say(
          `  round ${i}: listening → last agency exit ${fmt.s(run.wallMs)}, csv-parse alone in 5 processes ${fmt.s(parse)} = ${fmt.x(run.wallMs / parse)}; ` +
            `agencies ${fmt.s(run.agenciesCpuMs)} CPU; connect → Welcome median ${fmt.ms(median(run.welcomeMs))}`,
        );
      }
      const { run, parse } = medianRound(rounds, (r) => r.run.wallMs / r.parse);
      row(
        `11. reference dataset (${fmt.n(totalBets(inputs))} bets, 5 agencies), default config, central listening → last agency exit`,
        `${fmt.s(run.wallMs)} vs csv-parse alone in 5 processes ${fmt.s(parse)} = ${fmt.x(run.wallMs / parse)}${roundsNote(rounds.map((r) => r.run.wallMs / r.parse))}`,
        `≤ ${TARGET15.referenceRatio}×`,
        verdict(run.wallMs / parse <= TARGET15.referenceRatio),
      );
    });
  }

  if (wants(12)) {
    await figure('12. connect → Welcome, central idle', async () => {
      // No roster (any agency): the pool's default set at boot, then its replenished spare; one Hello at a time, the central idle between.
      const label = 'welcome-latency';
      const dir = runDir(label);
      const central = await Central.start({ label, betsFile: join(dir, 'bets.csv'), agencies: 0, durable: true, listenTimeoutMs: 60_000 });
      const times: number[] = [];
      try {
        // Idle means the pool's workers have started: a worker takes ~0.1 s on a quiet machine, far more on a busy one.
        await sleep(1500);
        for (let agency = 1; agency <= sizes15.welcomeProbes; agency++) {
          times.push(await helloToWelcome(central.port, agency));
          await sleep(1000);
        }
      } finally {
        const { exit } = await central.stop();
        checkCentral(label, central, exit, null);
        if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
      }
      // What one worker costs to start (a V8 isolate compiling the session and storage code): an idle
      // central with 10 pre-started workers against one with 2, side by side.
      const few = await idleCentralCpu('idle-2-workers', 0, 1500);
      const many = await idleCentralCpu('idle-10-workers', 10, 1500);
      const perWorker = (many - few) / 8;
      say(
        `  connect → Welcome: ${times.map((ms) => ms.toFixed(1)).join(', ')} ms; worker start-up ≈ ${fmt.ms(perWorker)} CPU each (off the agencies' path)`,
      );
      row(
        `12. connect → Welcome, central idle, ${times.length} connections one at a time`,
        `median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms (a worker's start-up, now done before its connection: ≈ ${fmt.ms(perWorker)} CPU)`,
        `≤ ${TARGET15.welcomeMs} ms`,
        verdict(median(times) <= TARGET15.welcomeMs),
      );
    });
  }

  if (wants(13)) {
    await figure('13. central CPU per stored bet, durable', async () => {
      // Figure 3's files when they were made for it, else the same sizes made here.
      const inputs = cap.length > 0 ? cap : generateSet('per-bet', sizes.capAgencies, sizes.capBets);
      const run = await loadgenIngest('per-bet-durable', inputs, true);
      const bets = totalBets(inputs);
      const ingestCpuMs = run.serverCores * (run.result.ingestMs ?? NaN);
      const windowUs = (ingestCpuMs * 1000) / bets;
      const wholeUs = (run.serverCpuMs * 1000) / bets;
      say(
        `  ${fmt.n(bets)} bets: central ${fmt.ms(ingestCpuMs)} CPU from the first batch to the last ack (${windowUs.toFixed(2)} µs a bet), ` +
          `${fmt.ms(run.serverCpuMs)} start to stop (${wholeUs.toFixed(2)} µs a bet)`,
      );
      row(
        `13. central CPU per stored bet, ${fmt.n(bets)}-bet durable run (figure 3's load, ${BATCH} a batch)`,
        `${windowUs.toFixed(2)} µs from the first batch to the last ack; ${wholeUs.toFixed(2)} µs counting start-up, workers and draw`,
        `≤ ${TARGET15.perBetUs} µs`,
        verdict(windowUs <= TARGET15.perBetUs),
      );
    });
  }

  say(`\n## results   (load avg ${loadavg()}; total ${fmt.s(performance.now() - started)})\n`);
  printTable();
  say('');
  if (problems.length > 0) {
    say(`${problems.length} CORRECTNESS ERROR(S) — the figures above come from a wrong run:`);
    for (const p of problems) say(`  - ${p.split('\n')[0]}`);
    return 1;
  }
  say('correctness: every run stored exactly its input (counts and checksums) and every agency got its winners.');
  return 0;
}

main().then(
  async (code) => {
    cleanup();
    await sleep(0);
    process.exit(code);
  },
  (error: unknown) => {
    say(`CORRECTNESS ERROR: the benchmark itself failed: ${String((error as Error)?.stack ?? error)}`);
    cleanup();
    process.exit(1);
  },
);
