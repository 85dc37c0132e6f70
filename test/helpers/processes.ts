/**
 * The built programs as real, separate processes: the server (central) and
 * the client (agency) from dist/, plus the data generator. Everything a test
 * starts is killed in its t.teardown, whatever happens.
 *
 * Output is collected line by line so a test can wait for a log line
 * (`waitForLine`) and check every line against the contract's shape
 * (`assertLogShape`). Timeouts are generous: CI runs these suites on two
 * cores, next to everything else.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parse as parseCsv } from 'csv-parse/sync';
import type { Test } from 'tap';
import { DEFAULT_WAIT_MS, NodeProcess, programEnv, type Exit } from '../../scripts/proc.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVER_MAIN = join(REPO_ROOT, 'dist', 'server', 'main.js');
export const CLIENT_MAIN = join(REPO_ROOT, 'dist', 'client', 'main.js');
export const GENERATOR_MAIN = join(REPO_ROOT, 'dist', 'scripts', 'generate-data.js');
/** The course's public dataset, beside the repo: ../shared/data. */
export const REFERENCE_DATA = resolve(REPO_ROOT, '..', 'shared', 'data');
/** The reference dataset's known facts: winners per agency, bets in all, and its five files. */
export const REFERENCE_WINNERS = [2, 3, 3, 2, 0];
export const REFERENCE_BETS = 78_697;
export const REFERENCE_FILES = REFERENCE_WINNERS.map((_, i) => join(REFERENCE_DATA, `agency-${i + 1}.csv`));

/** How long a wait for a log line or an exit may take before the test fails. */
export { DEFAULT_WAIT_MS };

// ---------------------------------------------------------------------------
// log lines

/** The contract's shape of one log line, exactly as tooling parses it. */
export const LOG_LINE_SHAPE =
  /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +action: [a-z_]+ \| result: (success|fail|in_progress)( \| [^|:]+: [^|]*)*$/;

export interface LogLine {
  readonly raw: string;
  readonly level: string;
  readonly action: string;
  readonly result: string;
  /** `key: value` details after the result, in order; values as printed. */
  readonly fields: Readonly<Record<string, string>>;
}

const HEAD = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (DEBUG|INFO|WARNING|ERROR|CRITICAL) +action: ([^|]*?) \| result: ([^|]*?)((?: \| .*)?)$/;

/** Parses one line; null when it is not a log line at all. */
export function parseLogLine(line: string): LogLine | null {
  const m = HEAD.exec(line);
  if (!m) return null;
  const fields: Record<string, string> = {};
  const rest = m[5];
  if (rest !== '') {
    for (const part of rest.slice(3).split(' | ')) {
      const colon = part.indexOf(': ');
      if (colon === -1) fields[part] = '';
      else fields[part.slice(0, colon)] = part.slice(colon + 2);
    }
  }
  return { raw: line, level: m[2], action: m[3], result: m[4], fields };
}

/** Parsed log lines; lines that do not parse are left out (assertLogShape reports them). */
export function parseLogs(lines: readonly string[]): LogLine[] {
  const out: LogLine[] = [];
  for (const line of lines) {
    const parsed = parseLogLine(line);
    if (parsed) out.push(parsed);
  }
  return out;
}

/** Asserts that every line matches the contract's shape and that no action is named `exit`. */
export function assertLogShape(t: Test, lines: readonly string[], who: string): void {
  const bad = lines.filter((line) => !LOG_LINE_SHAPE.test(line) || parseLogLine(line)?.action === 'exit');
  t.same(bad, [], `every stdout line of ${who} has the contract's log shape (${lines.length} lines)`);
}

/** Lines with this action (and result, if given). */
export function findLogs(logs: readonly LogLine[], action: string, result?: string): LogLine[] {
  return logs.filter((l) => l.action === action && (result === undefined || l.result === result));
}

// ---------------------------------------------------------------------------
// processes

/** What tap sets for itself: the programs must run as users run them. */
const TEST_RUNNER_VARIABLES = /^(TAP|_TAP|NODE_OPTIONS$|NODE_V8_COVERAGE$|LOTTERY_TEST_FAULT$)/;

/** The test's environment without anything that would change the programs' behaviour. */
export function cleanEnv(extra: Readonly<Record<string, string | undefined>> = {}): NodeJS.ProcessEnv {
  return programEnv({ ...childCoverage(), ...extra }, TEST_RUNNER_VARIABLES);
}

/**
 * When tap measures coverage, the programs write V8's raw coverage straight into
 * the folder tap reports from (with their source maps, so it maps to the .ts
 * sources): V8 does it at exit, no loader needed, so they still run as users run them.
 */
function childCoverage(): NodeJS.ProcessEnv {
  return process.env['_TAPJS_PROCESSINFO_COVERAGE_'] === '1' ? { NODE_V8_COVERAGE: join(REPO_ROOT, '.tap', 'coverage') } : {};
}

export type { Exit };

/** One running program with its output collected line by line, and parsed as log lines. */
export class Proc extends NodeProcess {
  /** Parsed log lines, kept in step with lines(). */
  readonly #logs: LogLine[] = [];

  constructor(name: string, args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }) {
    // tap's processinfo hooks every spawn to inject its loader through NODE_OPTIONS
    // (and signal-exit with it); `env -u` drops it, so the programs run exactly as
    // users run them. env execs node, so the pid and the signals are node's own.
    super(name, args, { ...opts, launcher: ['/usr/bin/env', '-u', 'NODE_OPTIONS'] });
  }

  logs(): LogLine[] {
    return [...this.#logs];
  }

  /** Resolves with the first parsed log line satisfying `match`. */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<LogLine> {
    return this.waitFor(() => this.#logs.find(match), what, timeoutMs);
  }

  /** Resolves once at least `count` log lines satisfy `match`. */
  waitForCount(match: (line: LogLine) => boolean, count: number, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<LogLine[]> {
    return this.waitFor(
      () => {
        const found = this.#logs.filter(match);
        return found.length >= count ? found : undefined;
      },
      `${count} × ${what}`,
      timeoutMs,
    );
  }

  protected override received(line: string, at: number): void {
    super.received(line, at);
    const parsed = parseLogLine(line);
    if (parsed) this.#logs.push(parsed);
  }
}

const workDirs = new WeakMap<Test, string>();
const procsOf = new WeakMap<Test, Proc[]>();
let serial = 0;

/**
 * A fresh directory for the test, removed at its teardown (kept when
 * KEEP_TEST_DIRS is set). Not t.testdir(): its path is derived from the test's
 * name, so two runs of the suite in one checkout (several sessions share this
 * tree) would wipe each other's bets files; and it is wiped again on every call.
 */
export function workDir(t: Test, name?: string): string {
  let root = workDirs.get(t);
  if (!root) {
    root = mkdtempSync(join(tmpdir(), 'lottery-test-'));
    workDirs.set(t, root);
    const created = root;
    t.teardown(async () => {
      // Teardowns run in the order they were added: stop this test's processes first.
      await Promise.all((procsOf.get(t) ?? []).map((p) => p.kill()));
      if (!process.env['KEEP_TEST_DIRS']) rmSync(created, { recursive: true, force: true });
    });
  }
  const dir = join(root, name ?? `dir-${++serial}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Spawns `node <script> ...args`, killed at teardown. */
export function spawnNode(
  t: Test,
  name: string,
  script: string,
  args: readonly string[],
  opts: { cwd?: string; env?: Readonly<Record<string, string | undefined>> } = {},
): Proc {
  const proc = new Proc(name, [script, ...args], { cwd: opts.cwd ?? REPO_ROOT, env: cleanEnv(opts.env) });
  let list = procsOf.get(t);
  if (!list) procsOf.set(t, (list = []));
  list.push(proc);
  t.teardown(() => proc.kill());
  return proc;
}

// ---------------------------------------------------------------------------
// server

export interface ServerOptions {
  /** SERVER_AGENCIES (via --agencies): the roster 1..n. Default 5; null passes none (the central's own default). */
  readonly agencies?: number | null;
  /** SERVER_AGENCY_IDS (via --agency-ids), e.g. '7' or '1-3,9': the roster, instead of `agencies`. */
  readonly agencyIds?: string;
  /** Where bets go; default `<dir>/bets.csv`. */
  readonly betsFile?: string;
  /** Working directory; default a fresh directory under the test's testdir. */
  readonly dir?: string;
  /** --port; default 0 (any free port). */
  readonly port?: number;
  /** --config path; default none (the cwd, a test dir, has no server/config.ini). */
  readonly config?: string;
  /** Extra environment, e.g. SERVER_IDLE_TIMEOUT, SERVER_MAX_CONNECTIONS, SERVER_FSYNC. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Extra flags. */
  readonly args?: readonly string[];
  /** How long to wait for the listening line. */
  readonly startTimeoutMs?: number;
  readonly name?: string;
}

export interface ServerHandle {
  readonly port: number;
  readonly betsFile: string;
  readonly dir: string;
  readonly process: Proc;
  lines(): string[];
  logs(): LogLine[];
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** Sends the signal and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The server ended (or hung) before it listened; `process` is the one that failed. */
export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
  constructor(
    message: string,
    readonly process: Proc,
  ) {
    super(message);
  }
}

const LISTENING = /action: listening \| result: success \| host: \S+ \| port: (\d+)/;

/** Starts the built server on 127.0.0.1 and waits for it to listen. */
export async function startServer(t: Test, opts: ServerOptions = {}): Promise<ServerHandle> {
  const dir = opts.dir ?? workDir(t, `server-${++serial}`);
  const betsFile = opts.betsFile ?? join(dir, 'bets.csv');
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(opts.port ?? 0),
    ...(opts.agencyIds !== undefined
      ? ['--agency-ids', opts.agencyIds]
      : opts.agencies === null
        ? []
        : ['--agencies', String(opts.agencies ?? 5)]),
    '--bets-file',
    betsFile,
    ...(opts.config ? ['--config', opts.config] : []),
    ...(opts.args ?? []),
  ];
  const proc = spawnNode(t, opts.name ?? 'server', SERVER_MAIN, args, { cwd: dir, env: opts.env });
  let line: string;
  try {
    line = await proc.waitForLine(LISTENING, opts.startTimeoutMs ?? DEFAULT_WAIT_MS);
  } catch (error) {
    throw new ServerStartError((error as Error).message, proc);
  }
  const port = Number(LISTENING.exec(line)![1]);
  return {
    port,
    betsFile,
    dir,
    process: proc,
    lines: () => proc.lines(),
    logs: () => proc.logs(),
    waitForLine: (pattern, timeoutMs) => proc.waitForLine(pattern, timeoutMs),
    waitForLog: (match, what, timeoutMs) => proc.waitForLog(match, what, timeoutMs),
    stop: (signal = 'SIGTERM') => proc.stop(signal),
  };
}

// ---------------------------------------------------------------------------
// client

export interface ClientOptions {
  /** CLI_ID; omitted only to test that it is required. */
  readonly id?: number;
  /** The server's port on 127.0.0.1 (CLI_SERVER_ADDRESS). */
  readonly port?: number;
  /** CLI_DATA_FILE. */
  readonly dataFile?: string;
  /** CLI_BATCH_MAXAMOUNT; default 10. */
  readonly batch?: number;
  /** CLI_LOOP_AMOUNT; default 5. */
  readonly loopAmount?: number;
  /** CLI_LOOP_PERIOD; default 100ms. */
  readonly loopPeriod?: string;
  /** Working directory; default a fresh directory (no client/config.yaml there). */
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly args?: readonly string[];
  readonly name?: string;
}

/** Starts the built client; resolve its outcome with `finishClient` or signal it. */
export function startClient(t: Test, opts: ClientOptions = {}): Proc {
  const env: Record<string, string | undefined> = {
    CLI_ID: opts.id === undefined ? undefined : String(opts.id),
    CLI_SERVER_ADDRESS: opts.port === undefined ? undefined : `127.0.0.1:${opts.port}`,
    CLI_DATA_FILE: opts.dataFile,
    CLI_BATCH_MAXAMOUNT: String(opts.batch ?? 10),
    CLI_LOOP_AMOUNT: String(opts.loopAmount ?? 5),
    CLI_LOOP_PERIOD: opts.loopPeriod ?? '100ms',
    ...opts.env,
  };
  const cwd = opts.cwd ?? workDir(t, `client-${opts.id ?? 'x'}-${++serial}`);
  return spawnNode(t, opts.name ?? `client${opts.id ?? ''}`, CLIENT_MAIN, opts.args ?? [], { cwd, env });
}

export interface ClientRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly lines: string[];
  readonly logs: LogLine[];
}

export async function finishClient(proc: Proc, timeoutMs = 180_000): Promise<ClientRun> {
  const exit = await proc.waitExit(timeoutMs);
  const lines = proc.lines();
  return { code: exit.code, signal: exit.signal, stdout: proc.stdout, stderr: proc.stderr, lines, logs: parseLogs(lines) };
}

/** Runs the client to its end. */
export async function runClient(t: Test, opts: ClientOptions = {}, timeoutMs?: number): Promise<ClientRun> {
  return finishClient(startClient(t, opts), timeoutMs);
}

/** The `cant_ganadores` a client logged, or undefined. */
export function winnersOf(run: { logs: readonly LogLine[] }): number | undefined {
  const line = findLogs(run.logs, 'consulta_ganadores', 'success')[0];
  return line ? Number(line.fields['cant_ganadores']) : undefined;
}

// ---------------------------------------------------------------------------
// data

export interface GenerateOptions {
  readonly agencies: number;
  /** One count for all agencies, or one per agency. */
  readonly bets: number | readonly number[];
  /** Exact winners per agency. */
  readonly winners?: readonly number[];
  readonly seed?: number;
  readonly crlf?: boolean;
}

/** Writes `dir/agency-1.csv` … with the project's generator; returns the paths. */
export async function generateData(t: Test, dir: string, opts: GenerateOptions): Promise<string[]> {
  if (!existsSync(GENERATOR_MAIN)) throw new Error(`${GENERATOR_MAIN} is missing: run npm run build`);
  const args = [
    '--out',
    dir,
    '--agencies',
    String(opts.agencies),
    '--bets',
    typeof opts.bets === 'number' ? String(opts.bets) : opts.bets.join(','),
    '--seed',
    String(opts.seed ?? 1),
    ...(opts.winners ? ['--winners', opts.winners.join(',')] : []),
    ...(opts.crlf ? ['--crlf'] : []),
  ];
  // Coverage is the programs' (server/, client/, protocol/, common/), not the test data generator's.
  const proc = spawnNode(t, 'generate-data', GENERATOR_MAIN, args, { env: { NODE_V8_COVERAGE: undefined } });
  const exit = await proc.waitExit(120_000);
  if (exit.code !== 0) throw new Error(`generate-data exited ${exit.code}: ${proc.stderr}`);
  return Array.from({ length: opts.agencies }, (_, i) => join(dir, `agency-${i + 1}.csv`));
}

/** A TCP port that nothing listens on (bound once, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Sleeps. */
export async function delay(ms: number): Promise<void> {
  await sleep(ms);
}

// ---------------------------------------------------------------------------
// bet files

/** One bet as a comparable key: agency and the five fields, joined by U+001F. */
export type BetKey = string;
const SEP = '\u001f';

/** An agency's input file (all rows valid) as bet keys, in file order. */
export function readInputBets(path: string, agency: number): BetKey[] {
  const records: string[][] = parseCsv(readFileSync(path), { skip_empty_lines: true, bom: true });
  return records.map((fields) => {
    if (fields.length !== 5) throw new Error(`${path}: input row with ${fields.length} fields: ${fields.join(',')}`);
    return [String(agency), ...fields].join(SEP);
  });
}

export interface StoredBets {
  /** Every record as a key, in file order. */
  readonly keys: BetKey[];
  /** Records that are not `agency,first,last,document,birthdate,number` with valid values. */
  readonly malformed: string[];
  /** Physical lines (newline count); equals keys.length when no field holds a newline. */
  readonly lineCount: number;
  /** The file is empty or ends with a newline (no torn last line). */
  readonly endsWithNewline: boolean;
  /** Keys per agency, in file order. */
  readonly byAgency: Map<number, BetKey[]>;
}

const WELL_FORMED: readonly RegExp[] = [/^[1-9]\d*$/, /\S/, /\S/, /^\d{1,10}$/, /^\d{4}-\d\d-\d\d$/, /^\d{1,4}$/];

/** Reads bets.csv (csv-parse, as a consumer would) and checks every record's shape. */
export function readStoredBets(path: string): StoredBets {
  const bytes = existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
  const records: string[][] = parseCsv(bytes, { relax_column_count: true });
  const keys: BetKey[] = [];
  const malformed: string[] = [];
  const byAgency = new Map<number, BetKey[]>();
  for (const fields of records) {
    const ok = fields.length === 6 && fields.every((f, i) => WELL_FORMED[i].test(f)) && Number(fields[5]) <= 9999;
    if (!ok) malformed.push(fields.join(','));
    const key = fields.join(SEP);
    keys.push(key);
    const agency = Number(fields[0]);
    let list = byAgency.get(agency);
    if (!list) byAgency.set(agency, (list = []));
    list.push(key);
  }
  let lineCount = 0;
  for (const byte of bytes) if (byte === 0x0a) lineCount++;
  return { keys, malformed, lineCount, endsWithNewline: bytes.length === 0 || bytes[bytes.length - 1] === 0x0a, byAgency };
}

/** A key shown as a CSV-ish line for messages. */
export function showKey(key: BetKey): string {
  return key.split(SEP).join(',');
}

/** What `actual` lacks and what it has too much of, compared with `expected` as multisets. */
export function multisetDiff(expected: readonly BetKey[], actual: readonly BetKey[]): { missing: string[]; extra: string[] } {
  const counts = new Map<BetKey, number>();
  for (const key of expected) counts.set(key, (counts.get(key) ?? 0) + 1);
  const extra: string[] = [];
  for (const key of actual) {
    const n = counts.get(key) ?? 0;
    if (n === 0) extra.push(showKey(key));
    else counts.set(key, n - 1);
  }
  const missing: string[] = [];
  for (const [key, n] of counts) for (let i = 0; i < n; i++) missing.push(showKey(key));
  return { missing, extra };
}

/** Asserts bets.csv is well formed: whole lines, six valid fields each. */
export function assertWellFormed(t: Test, stored: StoredBets, what = 'bets.csv'): void {
  t.ok(stored.endsWithNewline, `${what} ends with a newline (no torn line)`);
  t.equal(stored.lineCount, stored.keys.length, `${what}: one record per line`);
  t.same(
    stored.malformed.slice(0, 10),
    [],
    `${what}: every line is agency,first,last,document,birthdate,number (${stored.malformed.length} bad)`,
  );
}

/** Asserts `actual` holds exactly `expected` as multisets (no loss, no duplicate). */
export function assertSameBets(t: Test, actual: readonly BetKey[], expected: readonly BetKey[], what: string): void {
  const { missing, extra } = multisetDiff(expected, actual);
  t.equal(actual.length, expected.length, `${what}: ${expected.length} bets`);
  t.same(
    { missing: missing.slice(0, 10), extra: extra.slice(0, 10), missingCount: missing.length, extraCount: extra.length },
    { missing: [], extra: [], missingCount: 0, extraCount: 0 },
    `${what}: same multiset of bets`,
  );
}
