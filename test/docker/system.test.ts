/**
 * The whole system on a real Docker engine, the way its users run it:
 * `generate-compose.sh`, `docker compose up`, the logs, `docker compose stop`,
 * `validate-echo-server.sh`.
 *
 * The images are built once per run (through compose.yaml's build sections,
 * which is what a fresh clone's `docker compose up --build` does) and reused by
 * every scenario. Each scenario works in a temporary checkout (the repo's
 * scripts, sources and config files, its own .data/) with its own Compose
 * project name, and removes its containers, network and volume when it ends,
 * passed or failed. The contract fixes the container names (`server`,
 * `client1`..), so scenarios run one after another, never in parallel.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { shebangFlags } from '../../scripts/proc.js';

type Tap = Test;

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The course's public dataset, beside the repo (../shared/data in CI and in a developer's tree). */
const referenceData = resolve(repo, '..', 'shared', 'data');
const SERVER_IMAGE = 'lottery-server:latest';
const CLIENT_IMAGE = 'lottery-client:latest';
/** Every Compose project of this suite starts with this; leftovers of a killed run are swept by it. */
const PROJECT_PREFIX = 'lotterytest';
const RUN_ID = `${PROJECT_PREFIX}${process.pid}`;
/** Label of the containers and networks the suite creates without Compose, for the sweep. */
const TEST_LABEL = 'lottery.container-test';
/** How far Docker's receive timestamps of two containers may disagree with the real order. */
const CROSS_CONTAINER_SLACK_MS = 250;
/** `docker compose stop` grace period (Compose's default): a container still running then gets SIGKILL. */
const STOP_GRACE_S = 10;

// ---------------------------------------------------------------------------
// processes

interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function exec(cmd: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<Exec> {
  const started = Date.now();
  return new Promise((done, fail) => {
    // No stdin: writing even an empty one to a command that has already exited fails with EPIPE.
    const child = spawn(cmd, args, { cwd: opts.cwd ?? repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

async function must(cmd: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

const docker = (...args: string[]) => must('docker', args);

async function containerState(name: string): Promise<{ running: boolean; exitCode: number; oomKilled: boolean }> {
  const out = await docker('container', 'inspect', '--format', '{{.State.Running}} {{.State.ExitCode}} {{.State.OOMKilled}}', name);
  const [running, code, oom] = out.trim().split(' ');
  return { running: running === 'true', exitCode: Number(code), oomKilled: oom === 'true' };
}

/** How long after `since` (ms since the epoch) each container stopped: who was slow to stop. */
async function stoppedAfterMs(names: readonly string[], since: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of names) {
    const finished = (await docker('container', 'inspect', '--format', '{{.State.FinishedAt}}', name)).trim();
    out[name] = Date.parse(finished) - since;
  }
  return out;
}

async function containerExists(name: string): Promise<boolean> {
  return (await exec('docker', ['container', 'inspect', name])).code === 0;
}

async function sweepProjects(prefix: string): Promise<void> {
  const labels = await exec('docker', ['ps', '-a', '--format', '{{.Label "com.docker.compose.project"}}']);
  const volumes = await exec('docker', ['volume', 'ls', '--format', '{{.Label "com.docker.compose.project"}}']);
  const networks = await exec('docker', ['network', 'ls', '--format', '{{.Label "com.docker.compose.project"}}']);
  const projects = new Set(
    `${labels.stdout}\n${volumes.stdout}\n${networks.stdout}`
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => s.startsWith(prefix)),
  );
  for (const project of projects) await exec('docker', ['compose', '-p', project, 'down', '-v', '--remove-orphans', '-t', '2']);
  // Containers and networks this suite makes outside Compose carry TEST_LABEL.
  const containers = (await exec('docker', ['ps', '-aq', '--filter', `label=${TEST_LABEL}`])).stdout.split('\n').filter(Boolean);
  if (containers.length > 0) await exec('docker', ['rm', '-f', ...containers]);
  const nets = (await exec('docker', ['network', 'ls', '-q', '--filter', `label=${TEST_LABEL}`])).stdout.split('\n').filter(Boolean);
  if (nets.length > 0) await exec('docker', ['network', 'rm', ...nets]);
}

// ---------------------------------------------------------------------------
// temporary checkouts

/** What a checkout needs to generate, build and run: scripts, build files, sources, config. */
const CHECKOUT_PATHS = [
  'generate-compose.sh',
  'validate-echo-server.sh',
  'Makefile',
  'docker',
  '.dockerignore',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'protocol',
  'common',
  'server',
  'client',
  'scripts',
];

class Checkout {
  readonly project: string;
  readonly file: string;
  constructor(
    readonly dir: string,
    readonly name: string,
    readonly agencies: number,
  ) {
    this.project = `${RUN_ID}${name}`;
    this.file = join(dir, 'compose.yaml');
  }

  compose(...args: string[]): Promise<Exec> {
    return exec('docker', ['compose', '-p', this.project, '-f', this.file, ...args], { cwd: this.dir, timeoutMs: 300_000 });
  }

  async mustCompose(...args: string[]): Promise<string> {
    const r = await this.compose(...args);
    if (r.code !== 0) throw new Error(`docker compose ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
    return r.stdout;
  }

  clients(): string[] {
    return Array.from({ length: this.agencies }, (_, i) => `client${i + 1}`);
  }

  write(path: string, text: string): void {
    writeFileSync(join(this.dir, path), text);
  }

  /** Every line of `docker compose logs --timestamps`, ESC[2K and colors stripped. */
  async logs(): Promise<LogLine[]> {
    const out = await this.mustCompose('logs', '--no-color', '--timestamps');
    return parseComposeLogs(out);
  }
}

/**
 * A temporary checkout with `agencies` agencies; `data(dir)` fills its .data/.
 * Its compose.yaml is written by its own generate-compose.sh. The teardown
 * takes the Compose project down (containers, network, volume) and deletes
 * the directory, whatever the test's outcome.
 */
function checkout(
  t: Tap,
  name: string,
  agencies: number,
  data: (dataDir: string) => void | Promise<void>,
  generatorArgs: readonly string[] = [],
): Promise<Checkout> {
  const dir = mkdtempSync(join(tmpdir(), `lottery-${name}-`));
  for (const path of CHECKOUT_PATHS) {
    const from = join(repo, path);
    if (existsSync(from))
      cpSync(from, join(dir, path), { recursive: true, filter: (src) => !/[/\\](node_modules|dist)([/\\]|$)/.test(src) });
  }
  mkdirSync(join(dir, '.data'), { recursive: true });
  const co = new Checkout(dir, name, agencies);
  t.teardown(async () => {
    await co.compose('down', '-v', '--remove-orphans', '-t', '2');
    rmSync(dir, { recursive: true, force: true });
  });
  return (async () => {
    await data(join(dir, '.data'));
    await must('bash', ['generate-compose.sh', 'compose.yaml', String(agencies), ...generatorArgs], { cwd: dir });
    return co;
  })();
}

async function generateData(dir: string, agencies: number, bets: number, winners: number[], seed: number): Promise<void> {
  await must(process.execPath, [
    join(repo, 'dist', 'scripts', 'generate-data.js'),
    '--out',
    dir,
    '--agencies',
    String(agencies),
    '--bets',
    String(bets),
    '--winners',
    winners.join(','),
    '--seed',
    String(seed),
  ]);
}

function copyReferenceData(dir: string): void {
  for (let i = 1; i <= 5; i++) cpSync(join(referenceData, `agency-${i}.csv`), join(dir, `agency-${i}.csv`));
}

function countLines(file: string): number {
  return readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '').length;
}

// ---------------------------------------------------------------------------
// logs

interface LogLine {
  service: string;
  /** Docker's receive time, nanoseconds since the epoch, for ordering across containers. */
  at: bigint;
  text: string;
}

/** The contract's line: date, time, level, `action: A | result: R`, then `| key: value`s. */
const CONTRACT_LINE =
  /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +action: ([^|\s]+) \| result: (success|fail|in_progress)((?: \| [^|:]+: [^|]*)*)$/;

function parseComposeLogs(out: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const raw of out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').split('\n')) {
    const m = /^(\S+)\s+\|\s(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z ?(.*)$/.exec(raw.replace(/\r$/, ''));
    if (!m) continue;
    const seconds = BigInt(Date.parse(`${m[2]}Z`) / 1000);
    const nanos = BigInt((m[3] ?? '').padEnd(9, '0').slice(0, 9) || '0');
    lines.push({ service: m[1], at: seconds * 1_000_000_000n + nanos, text: m[4] });
  }
  return lines;
}

interface Event {
  service: string;
  at: bigint;
  level: string;
  action: string;
  result: string;
  fields: Record<string, string>;
  text: string;
}

function events(lines: readonly LogLine[]): Event[] {
  const out: Event[] = [];
  for (const line of lines) {
    const m = CONTRACT_LINE.exec(line.text);
    if (!m) continue;
    const fields: Record<string, string> = {};
    for (const part of (m[4] ?? '').split(' | ').slice(1)) {
      const colon = part.indexOf(': ');
      fields[part.slice(0, colon)] = part.slice(colon + 2);
    }
    out.push({ service: line.service, at: line.at, level: m[1], action: m[2], result: m[3], fields, text: line.text });
  }
  return out;
}

function dump(lines: readonly LogLine[], max = 60): string {
  const shown =
    lines.length > max
      ? [...lines.slice(0, max / 2), { service: '...', at: 0n, text: `(${lines.length - max} lines)` }, ...lines.slice(-max / 2)]
      : lines;
  return shown.map((l) => `${l.service} | ${l.text}`).join('\n');
}

// ---------------------------------------------------------------------------
// one full run: up, wait for every agency, stop, read everything

interface SystemRun {
  lines: LogLine[];
  events: Event[];
  clientExit: Record<string, number>;
  serverExit: number;
  stopMs: number;
}

async function runToCompletion(co: Checkout, timeoutMs = 600_000): Promise<SystemRun> {
  await co.mustCompose('up', '-d');
  const clients = co.clients();
  const clientExit: Record<string, number> = {};
  if (clients.length > 0) {
    const waited = await exec('docker', ['wait', ...clients], { timeoutMs });
    const codes = waited.stdout.trim().split('\n');
    clients.forEach((c, i) => (clientExit[c] = codes[i] === undefined || codes[i] === '' ? -1 : Number(codes[i])));
  }
  const stop = await co.compose('stop', '-t', String(STOP_GRACE_S));
  const lines = await co.logs();
  const server = await containerState('server');
  return { lines, events: events(lines), clientExit, serverExit: server.running ? -1 : server.exitCode, stopMs: stop.ms };
}

/** What every full run must show; `winners[i]` is agency i+1's expected count. */
function checkCompleteRun(t: Tap, co: Checkout, run: SystemRun, winners: readonly number[], totalBets: number): void {
  const { events: ev, lines } = run;
  const log = dump(lines);
  const server = ev.filter((e) => e.service === 'server');

  const notContract = lines.filter((l) => l.text.trim() !== '' && !CONTRACT_LINE.test(l.text));
  t.same(
    notContract.map((l) => `${l.service} | ${l.text}`),
    [],
    "every log line has the contract's shape",
  );
  t.same(
    ev.filter((e) => e.result === 'fail').map((e) => `${e.service} | ${e.text}`),
    [],
    'no line says result: fail',
  );
  t.notOk(
    ev.some((e) => e.action === 'exit'),
    'no action is named exit',
  );

  const config = server.find((e) => e.action === 'config');
  t.match(config?.fields, { port: '12345', listen_backlog: '5', logging_level: 'INFO' }, 'server logs its config', { log });

  const received = server.filter((e) => e.action === 'apuesta_recibida');
  const draws = server.filter((e) => e.action === 'sorteo');
  t.equal(draws.length, 1, 'one sorteo', { log });
  const drawIndex = server.findIndex((e) => e.action === 'sorteo');
  const lastReceived = server.map((e) => e.action).lastIndexOf('apuesta_recibida');
  t.ok(received.length > 0 && lastReceived < drawIndex, 'every apuesta_recibida comes before sorteo', { lastReceived, drawIndex });
  const stored = received.reduce((sum, e) => sum + Number(e.fields['cantidad']), 0);
  t.equal(stored, totalBets, 'the apuesta_recibida lines add up to every bet sent');
  const sizes = received.map((e) => Number(e.fields['cantidad']));
  t.ok(
    sizes.every((n) => n >= 1 && n <= 10),
    'batches of at most batch.maxAmount (10) bets',
  );
  t.ok(sizes.filter((n) => n !== 10).length <= co.agencies, "all batches full but each agency's last", {
    sizes: sizes.filter((n) => n !== 10),
  });

  const draw = draws[0];
  co.clients().forEach((client, i) => {
    const id = String(i + 1);
    const mine = ev.filter((e) => e.service === client);
    t.match(
      mine.find((e) => e.action === 'config')?.fields,
      { client_id: id, server_address: 'server:12345', loop_amount: '5', loop_period: '5s', log_level: 'INFO' },
      `${client}: config line`,
    );
    const answers = mine.filter((e) => e.action === 'consulta_ganadores' && e.result === 'success');
    t.equal(answers.length, 1, `${client}: one consulta_ganadores`, { log });
    t.equal(answers[0]?.fields['cant_ganadores'], String(winners[i]), `${client}: cant_ganadores ${winners[i]}`);
    // Across containers only Docker's receive times order lines, and dockerd
    // copies each container's output on its own: under load a line can be
    // stamped a few ms after a later line of another container. Hence the slack.
    const gapMs = draw !== undefined && answers[0] !== undefined ? Number(answers[0].at - draw.at) / 1e6 : NaN;
    t.ok(gapMs > -CROSS_CONTAINER_SLACK_MS, `${client}: consulta_ganadores after sorteo`, { gapMs, slackMs: CROSS_CONTAINER_SLACK_MS });
    t.ok(
      mine.some((e) => e.action === 'loop_finished' && e.result === 'success' && e.fields['client_id'] === id),
      `${client}: loop_finished`,
    );
    t.equal(run.clientExit[client], 0, `${client}: exit code 0`);
  });
  t.equal(run.serverExit, 0, 'server: exit code 0 on docker compose stop');
  t.ok(run.stopMs < STOP_GRACE_S * 1000, `docker compose stop took ${run.stopMs} ms, inside the ${STOP_GRACE_S} s grace period`);
}

/** Data lines in the server's bets.csv, read from the (stopped) server container's volume. */
async function storedBets(): Promise<number> {
  const out = await must('docker', [
    'run',
    '--rm',
    '--volumes-from',
    'server:ro',
    '--label',
    TEST_LABEL,
    'busybox',
    'grep',
    '-c',
    '.',
    '/var/lib/lottery/bets.csv',
  ]);
  return Number(out.trim());
}

/** The name of the volume holding the server container's /var/lib/lottery. */
async function lotteryVolume(): Promise<string> {
  const out = await docker(
    'container',
    'inspect',
    '--format',
    '{{range .Mounts}}{{if eq .Destination "/var/lib/lottery"}}{{.Name}}{{end}}{{end}}',
    'server',
  );
  return out.trim();
}

/** The server's `recovery` lines, in order: one per start of the central. */
function recoveries(ev: readonly Event[]): Event[] {
  return ev.filter((e) => e.service === 'server' && e.action === 'recovery');
}

async function waitForBets(co: Checkout, atLeast: number): Promise<number> {
  let received = 0;
  for (let i = 0; i < 600 && received < atLeast; i++) {
    await new Promise((r) => setTimeout(r, 100));
    received = events(await co.logs())
      .filter((e) => e.action === 'apuesta_recibida')
      .reduce((sum, e) => sum + Number(e.fields['cantidad']), 0);
  }
  return received;
}

// ---------------------------------------------------------------------------
// the suite

const images: Record<string, string> = {};

t.before(async () => {
  await sweepProjects(PROJECT_PREFIX);
  const taken: string[] = [];
  for (const name of ['server', 'client1', 'client2', 'client3', 'client4', 'client5']) if (await containerExists(name)) taken.push(name);
  if (taken.length > 0)
    throw new Error(`containers named ${taken.join(', ')} exist already (make docker-compose-down?); the suite needs those names`);
  // Build both images once, through compose.yaml's build sections.
  await must('docker', ['compose', '-p', `${RUN_ID}build`, '-f', join(repo, 'compose.yaml'), 'build'], { timeoutMs: 900_000 });
  images['server'] = (await docker('image', 'inspect', '--format', '{{.Id}}', SERVER_IMAGE)).trim();
  images['client'] = (await docker('image', 'inspect', '--format', '{{.Id}}', CLIENT_IMAGE)).trim();
});
t.teardown(() => sweepProjects(RUN_ID));

t.test('images: multi-stage output only, user node, exec-form entry points, nothing mounted baked in', async (t) => {
  for (const [image, program, env] of [
    [SERVER_IMAGE, 'dist/server/main.js', ['SERVER_BETS_FILE=/var/lib/lottery/bets.csv', 'MALLOC_ARENA_MAX=2']],
    [CLIENT_IMAGE, 'dist/client/main.js', ['CLI_DATA_FILE=/data/agency.csv']],
  ] as const) {
    const info = (JSON.parse(await docker('image', 'inspect', image)) as unknown[])[0] as {
      Config: { User: string; Entrypoint: string[] | null; Env: string[]; WorkingDir: string };
    };
    t.equal(info.Config.User, 'node', `${image}: runs as node`);
    t.same(info.Config.Entrypoint, [program], `${image}: exec-form entry point, the program run through its shebang`);
    const shebang = await docker('run', '--rm', '--entrypoint', 'head', image, '-n', '1', program);
    t.equal(
      shebang.trim(),
      readFileSync(join(repo, program), 'utf8').split('\n')[0],
      `${image}: the build's shebang line, Node flags and all`,
    );
    for (const setting of env) t.ok(info.Config.Env.includes(setting), `${image}: ${setting}`);
    const listing = await docker(
      'run',
      '--rm',
      '--entrypoint',
      'sh',
      image,
      '-c',
      [
        'cd /app',
        'ls -A',
        'echo ---',
        'ls node_modules',
        'echo ---',
        'find . -path ./node_modules -prune -o -type f \\( -name "*.ts" -o -name "*.csv" -o -name "config.ini" -o -name "config.yaml" \\) -print',
      ].join('; '),
    );
    const [top, modules, stray] = listing.split('---\n');
    t.same(
      (top ?? '').trim().split('\n').sort(),
      ['client', 'dist', 'node_modules', 'package.json', 'server'],
      `${image}: /app holds dist, production node_modules, package.json`,
    );
    const mods = (modules ?? '').trim().split('\n');
    t.ok(mods.includes('commander') && mods.includes('yaml'), `${image}: production dependencies present`);
    t.notOk(mods.includes('typescript') || mods.includes('tap'), `${image}: no dev dependencies`);
    t.equal((stray ?? '').trim(), '', `${image}: no sources, data or config files baked in`);
    const help = await exec('docker', ['run', '--rm', image, '--help']);
    t.equal(help.code, 0, `${image}: --help exits 0`);
  }
  const owner = await docker('run', '--rm', '--entrypoint', 'stat', SERVER_IMAGE, '-c', '%U', '/var/lib/lottery');
  t.equal(owner.trim(), 'node', 'the bets directory belongs to node');
  const ignore = readFileSync(join(repo, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim());
  for (const entry of ['node_modules', 'dist', '.git', '.data'])
    t.ok(ignore.includes(entry), `.dockerignore keeps ${entry} out of the context`);
});

t.test('validate-echo-server.sh against stand-in servers (busybox nc)', async (t) => {
  const network = `${RUN_ID}echo`;
  await docker('network', 'create', '--label', TEST_LABEL, network);
  t.teardown(async () => {
    await exec('docker', ['rm', '-f', 'server']);
    await exec('docker', ['network', 'rm', network]);
  });
  const standIn = async (...cmd: string[]) => {
    await exec('docker', ['rm', '-f', 'server']);
    await docker('run', '-d', '--name', 'server', '--label', TEST_LABEL, '--network', network, 'busybox', ...cmd);
    await new Promise((r) => setTimeout(r, 500));
  };
  const check = async (shell: string) => exec(shell, [join(repo, 'validate-echo-server.sh')], { timeoutMs: 30_000 });

  await standIn('nc', '-ll', '-p', '12345', '-e', 'cat');
  for (const shell of ['sh', 'bash']) {
    const r = await check(shell);
    t.equal(r.stdout, 'action: test_echo_server | result: success\n', `${shell}: a plain TCP echo server passes`);
    t.equal(r.code, 0, `${shell}: exit 0`);
  }
  await standIn('nc', '-ll', '-p', '12345', '-e', 'tr', 'a-z', 'A-Z');
  for (const shell of ['sh', 'bash']) {
    const r = await check(shell);
    t.equal(r.stdout, 'action: test_echo_server | result: fail\n', `${shell}: a server that changes the bytes fails`);
    t.not(r.code, 0, `${shell}: non-zero exit`);
  }
  await standIn('sleep', '300');
  const refused = await check('sh');
  t.equal(refused.stdout, 'action: test_echo_server | result: fail\n', 'nobody listening: fail');
  await standIn('nc', '-ll', '-p', '12345', '-e', 'sleep', '60');
  const silent = await check('sh');
  t.equal(silent.stdout, 'action: test_echo_server | result: fail\n', 'a server that never answers: fail');
  t.ok(silent.ms < 15_000, `... within a few seconds (${silent.ms} ms)`);
  await exec('docker', ['rm', '-f', 'server']);
  const none = await check('bash');
  t.equal(none.stdout, 'action: test_echo_server | result: fail\n', 'no server container: fail');
});

t.test('0 agencies: the server alone starts, answers the echo check, stops with exit code 0', async (t) => {
  const co = await checkout(t, 'zero', 0, () => {});
  await co.mustCompose('up', '-d');
  t.same(
    Object.keys((JSON.parse(await co.mustCompose('config', '--format', 'json')) as { services: object }).services),
    ['server'],
    'only the server',
  );
  // Wait for the server to say it is configured (it listens right after).
  let ev: Event[] = [];
  for (let i = 0; i < 100 && !ev.some((e) => e.action === 'config'); i++) {
    await new Promise((r) => setTimeout(r, 200));
    ev = events(await co.logs());
  }
  t.match(
    ev.find((e) => e.action === 'config')?.fields,
    { port: '12345', listen_backlog: '5', logging_level: 'INFO' },
    'server config line',
  );
  await new Promise((r) => setTimeout(r, 500));
  // Through the entry point's shebang, env exec-ed node: PID 1 is node with the program's flags, and gets the SIGTERM.
  const pid1 = (await co.mustCompose('exec', '-T', 'server', 'cat', '/proc/1/cmdline')).split('\0').slice(0, -1);
  t.equal(pid1[0], 'node', 'PID 1 is node');
  t.same(pid1.slice(1, -1), shebangFlags(join(repo, 'dist/server/main.js')), "with the program's flags", { pid1 });
  t.match(pid1.at(-1), /(^|\/)dist\/server\/main\.js$/, 'running the central');
  for (const shell of ['sh', 'bash']) {
    const r = await exec(shell, [join(co.dir, 'validate-echo-server.sh')], { cwd: co.dir, timeoutMs: 30_000 });
    t.equal(r.stdout, 'action: test_echo_server | result: success\n', `${shell}: our server passes the echo check`);
  }
  const stop = await co.compose('stop', '-t', String(STOP_GRACE_S));
  const lines = await co.logs();
  const after = events(lines);
  t.ok(
    after.some((e) => e.action === 'receive_message' && e.result === 'success' && e.fields['msg'] === 'Hello server'),
    'server logs receive_message with the text',
    { log: dump(lines) },
  );
  t.same(
    after.filter((e) => e.result === 'fail').map((e) => e.text),
    [],
    'no line says result: fail',
  );
  const state = await containerState('server');
  t.equal(state.exitCode, 0, 'server exits 0 on docker compose stop');
  t.ok(stop.ms < STOP_GRACE_S * 1000, `stop took ${stop.ms} ms, inside the grace period`);
});

t.test('3 agencies, generated data with 2, 1 and 0 winners', async (t) => {
  const bets = 1234;
  const co = await checkout(t, 'three', 3, (dir) => generateData(dir, 3, bets, [2, 1, 0], 7));
  const total = [1, 2, 3].reduce((sum, i) => sum + countLines(join(co.dir, '.data', `agency-${i}.csv`)), 0);
  t.equal(total, 3 * bets, 'data generated');
  const run = await runToCompletion(co);
  checkCompleteRun(t, co, run, [2, 1, 0], total);
  t.equal(await storedBets(), total, 'bets.csv on the volume holds every bet');
});

t.test("the reference dataset (../shared/data) in a checkout's .data/: 2, 3, 3, 2, 0 winners", async (t) => {
  if (!existsSync(join(referenceData, 'agency-1.csv'))) {
    t.fail(`reference data not found in ${referenceData}`);
    return;
  }
  const co = await checkout(t, 'reference', 5, copyReferenceData);
  const total = [1, 2, 3, 4, 5].reduce((sum, i) => sum + countLines(join(co.dir, '.data', `agency-${i}.csv`)), 0);
  t.equal(total, 78_697, 'the whole dataset');
  const run = await runToCompletion(co);
  checkCompleteRun(t, co, run, [2, 3, 3, 2, 0], total);
  t.equal(await storedBets(), total, 'bets.csv on the volume holds every bet');
});

t.test('a lottery lives as long as its server container: `down` then `up` with new .data/ is a new lottery', async (t) => {
  const co = await checkout(t, 'lifecycle', 2, (dir) => generateData(dir, 2, 300, [1, 2], 21));
  const first = await runToCompletion(co);
  checkCompleteRun(t, co, first, [1, 2], 600);
  const lottery = recoveries(first.events)[0]?.fields['lottery'];
  t.match(recoveries(first.events)[0]?.fields, { state: 'new', bets: '0' }, 'the first `up` starts a new lottery');

  // As the assignment's Makefile does it: down without -v. Then new agency files.
  const volume = await lotteryVolume();
  t.teardown(() => exec('docker', ['volume', 'rm', '-f', volume])); // `down` leaves it behind, unused
  await co.mustCompose('down');
  await generateData(join(co.dir, '.data'), 2, 250, [0, 3], 22);
  const second = await runToCompletion(co);
  checkCompleteRun(t, co, second, [0, 3], 500);
  const again = recoveries(second.events)[0]?.fields;
  t.match(again, { state: 'new', bets: '0' }, 'after down and up, the central starts a new lottery from the new files');
  t.not(again?.['lottery'], lottery, 'with a new lottery id');
  t.equal(await storedBets(), 500, "bets.csv holds the new lottery's bets only");
  t.not(await lotteryVolume(), volume, 'on a volume of its own');
});

t.test(
  'a server container that crashes mid-run restarts and recovers; one killed after the draw recovers without drawing again',
  async (t) => {
    // Large enough that the run is still streaming when `docker compose logs` (slow on a busy machine) shows 5,000 bets in.
    const bets = 100_000;
    const co = await checkout(t, 'crash', 3, (dir) => generateData(dir, 3, bets, [1, 2, 1], 31));
    await co.mustCompose('up', '-d');
    const before = await waitForBets(co, 5_000);
    t.ok(before >= 5_000 && before < 3 * bets, `the agencies are streaming (${before} bets in)`);
    // A crash, not a stop: SIGKILL from outside, so the restart policy applies.
    const pid = (await docker('container', 'inspect', '--format', '{{.State.Pid}}', 'server')).trim();
    await must('kill', ['-9', pid]);
    const waited = await exec('docker', ['wait', ...co.clients()], { timeoutMs: 600_000 });
    t.same(waited.stdout.trim().split('\n'), ['0', '0', '0'], 'every agency finishes on its own, exit 0');
    let ev = events(await co.logs());
    const runs = recoveries(ev);
    t.equal(runs.length, 2, 'the server ran twice (restarted by its restart policy)', { runs: runs.map((e) => e.text) });
    t.equal(runs[1]?.fields['state'], 'recovered', 'the second run recovered the lottery');
    t.equal(runs[1]?.fields['lottery'], runs[0]?.fields['lottery'], '... the same one');
    t.equal(ev.filter((e) => e.action === 'sorteo').length, 1, 'one sorteo');
    const winners = co.clients().map((c) => ev.find((e) => e.service === c && e.action === 'consulta_ganadores')?.fields['cant_ganadores']);
    t.same(winners, ['1', '2', '1'], 'every agency got its winners');

    // Killed by hand after the draw, then started again: the same lottery, the same draw.
    await docker('kill', 'server');
    await docker('start', 'server');
    await co.mustCompose('up', '-d', '--no-recreate', 'client2');
    const rerun = await exec('docker', ['wait', 'client2'], { timeoutMs: 120_000 });
    t.equal(rerun.stdout.trim(), '0', 'agency 2, run again, exits 0');
    ev = events(await co.logs());
    const third = recoveries(ev)[2]?.fields;
    t.match(third, { state: 'recovered', lottery: runs[0]?.fields['lottery'] }, 'the killed server recovered the lottery');
    t.equal(ev.filter((e) => e.action === 'sorteo').length, 1, 'still one sorteo: the draw is reused, not run again');
    t.ok(
      ev.some((e) => e.service === 'server' && e.action === 'draw_reused'),
      'the server says it reused the draw',
    );
    t.same(
      ev.filter((e) => e.service === 'client2' && e.action === 'consulta_ganadores').map((e) => e.fields['cant_ganadores']),
      ['2', '2'],
      'agency 2 gets the same 2 winners again',
    );
    await co.compose('stop', '-t', String(STOP_GRACE_S));
    t.equal(await storedBets(), 3 * bets, 'bets.csv holds every bet once');
  },
);

t.test('three centrals on PostgreSQL (--centrals 3), one killed mid-run and not restarted: every bet once, one draw', async (t) => {
  // Large enough that the run is still streaming when `docker compose logs` (slow on a busy machine) shows 5,000 bets in.
  const bets = 40_000;
  const co = await checkout(t, 'pg', 5, (dir) => generateData(dir, 5, bets, [1, 2, 0, 1, 3], 41), ['--centrals', '3']);
  await co.mustCompose('build', 'postgres');
  await co.mustCompose('up', '-d');
  const before = await waitForBets(co, 5_000);
  t.ok(before >= 5_000 && before < 5 * bets, `the agencies are streaming (${before} bets in)`);
  await docker('kill', 'server2'); // by hand: the restart policy leaves it down
  const waited = await exec('docker', ['wait', ...co.clients()], { timeoutMs: 600_000 });
  const lines = await co.logs();
  t.same(
    waited.stdout.trim().split('\n'),
    ['0', '0', '0', '0', '0'],
    'every agency finishes, exit 0, moving to another central where needed',
    {
      log: dump(
        lines.filter((l) => !/action: (apuesta_recibida|progress|batch_)/.test(l.text)),
        120,
      ),
    },
  );
  const ev = events(lines);
  t.equal(ev.filter((e) => e.action === 'sorteo').length, 1, 'one sorteo across the three centrals');
  const winners = co.clients().map((c) => ev.find((e) => e.service === c && e.action === 'consulta_ganadores')?.fields['cant_ganadores']);
  t.same(winners, ['1', '2', '0', '1', '3'], 'every agency got its own winners');
  const counts = await must('docker', [
    'exec',
    'postgres',
    'psql',
    '-U',
    'lottery',
    'lottery',
    '-At',
    '-c',
    'SELECT count(*), count(DISTINCT (agency, document, number, first_name, last_name, birthdate)) FROM bets',
  ]);
  t.equal(counts.trim(), `${5 * bets}|${5 * bets}`, 'the bets table holds every bet, none twice');
  t.equal((await containerState('server2')).running, false, 'server2 stayed down');
  const stop = await co.compose('stop', '-t', String(STOP_GRACE_S));
  t.equal(stop.code, 0, 'docker compose stop');
  for (const name of ['postgres', 'server', 'server3']) t.equal((await containerState(name)).exitCode, 0, `${name}: exit code 0`);
});

t.test('config changes take effect without rebuilding the images', async (t) => {
  const bets = 95;
  const co = await checkout(t, 'config', 1, (dir) => generateData(dir, 1, bets, [1], 11));
  co.write('server/config.ini', '[DEFAULT]\nSERVER_PORT = 12345\nSERVER_IP = server\nSERVER_LISTEN_BACKLOG = 7\nLOGGING_LEVEL = DEBUG\n');
  co.write(
    'client/config.yaml',
    [
      'server:',
      '  address: "server:12345"',
      'loop:',
      '  amount: 9',
      '  period: "150ms"',
      'log:',
      '  level: "DEBUG"',
      'batch:',
      '  maxAmount: 7',
      '',
    ].join('\n'),
  );
  const run = await runToCompletion(co);
  const log = dump(run.lines);
  const server = run.events.filter((e) => e.service === 'server');
  t.match(
    server.find((e) => e.action === 'config')?.fields,
    { listen_backlog: '7', logging_level: 'DEBUG' },
    'server config line shows the edited config.ini',
    { log },
  );
  t.match(
    run.events.find((e) => e.service === 'client1' && e.action === 'config')?.fields,
    { client_id: '1', loop_amount: '9', loop_period: '150ms', log_level: 'DEBUG' },
    'client config line shows the edited config.yaml',
  );
  const sizes = server.filter((e) => e.action === 'apuesta_recibida').map((e) => Number(e.fields['cantidad']));
  t.same(sizes, [...Array<number>(13).fill(7), 4], 'batches of batch.maxAmount = 7 (95 = 13 x 7 + 4)');
  t.equal(run.events.find((e) => e.action === 'consulta_ganadores')?.fields['cant_ganadores'], '1', 'the winner is found');
  t.equal(run.clientExit['client1'], 0, 'client exit 0');
  t.equal(run.serverExit, 0, 'server exit 0');
  t.same(
    run.events.filter((e) => e.result === 'fail').map((e) => e.text),
    [],
    'no line says result: fail',
  );
  t.equal((await docker('image', 'inspect', '--format', '{{.Id}}', SERVER_IMAGE)).trim(), images['server'], 'server image not rebuilt');
  t.equal((await docker('image', 'inspect', '--format', '{{.Id}}', CLIENT_IMAGE)).trim(), images['client'], 'client image not rebuilt');
});

/**
 * Stops a run in which agency 3 never starts, so the draw cannot happen:
 * `sending` stops while the agencies are still streaming their bets,
 * `waiting` once every bet of theirs is in and they wait for the draw.
 */
async function stopMidRun(t: Tap, phase: 'sending' | 'waiting'): Promise<void> {
  const bets = phase === 'sending' ? 100_000 : 500;
  const co = await checkout(t, `stop${phase}`, 3, (dir) => generateData(dir, 3, bets, [1, 1, 1], 5));
  await co.mustCompose('up', '-d', 'server', 'client1', 'client2');
  const wanted = phase === 'sending' ? 1 : 2 * bets;
  let received = 0;
  for (let i = 0; i < 600 && received < wanted; i++) {
    await new Promise((r) => setTimeout(r, 100));
    received = events(await co.logs())
      .filter((e) => e.action === 'apuesta_recibida')
      .reduce((sum, e) => sum + Number(e.fields['cantidad']), 0);
  }
  if (phase === 'sending') {
    t.ok(received > 0 && received < 2 * bets, `stopped mid-stream (${received} of ${2 * bets} bets in)`);
  } else {
    t.equal(received, 2 * bets, 'every bet of agencies 1 and 2 is in');
    await new Promise((r) => setTimeout(r, 1000)); // time to say Done and ask for the winners
  }
  const names = ['server', 'client1', 'client2'];
  const running: Record<string, boolean> = {};
  for (const name of names) running[name] = (await containerState(name)).running;
  t.same(running, { server: true, client1: true, client2: true }, 'everybody still running when stopped');

  const stopAt = Date.now();
  const stop = await co.compose('stop', '-t', String(STOP_GRACE_S));
  t.equal(stop.code, 0, 'docker compose stop succeeds');
  const took = await stoppedAfterMs(names, stopAt);
  t.comment(`stopped after (ms): ${JSON.stringify(took)}`);
  t.ok(stop.ms < STOP_GRACE_S * 1000, `stop took ${stop.ms} ms, inside the ${STOP_GRACE_S} s grace period (no SIGKILL)`, {
    stoppedAfterMs: took,
  });
  const lines = await co.logs();
  for (const name of names) {
    const state = await containerState(name);
    t.equal(state.exitCode, 0, `${name}: exit code 0`, {
      log: dump(
        lines.filter((l) => l.service === name),
        20,
      ),
    });
  }
  const ev = events(lines);
  t.notOk(
    ev.some((e) => e.action === 'sorteo'),
    'no draw happened (agency 3 never came)',
  );
  const fails = ev.filter((e) => e.result === 'fail').map((e) => `${e.service} | ${e.text}`);
  t.same(fails, [], 'a requested stop is not a failure: no result: fail');
  if (fails.length > 0) t.comment(`log after the stop:\n${dump(lines.filter((l) => !l.text.includes('apuesta_recibida')).slice(-40))}`);
}

t.test('docker compose stop while agencies send: every container exits 0 inside the grace period', (t) => stopMidRun(t, 'sending'));
t.test('docker compose stop while agencies wait for the draw: every container exits 0 inside the grace period', (t) =>
  stopMidRun(t, 'waiting'),
);

// Last, because `up --build` re-tags the images from the committed tree.
t.test('a fresh clone: `docker compose up --build` with compose.yaml and the .data/ samples', async (t) => {
  const head = await exec('git', ['-C', repo, 'rev-parse', '--verify', 'HEAD']);
  if (head.code !== 0) {
    t.pass('not a git checkout: nothing to clone');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'lottery-clone-'));
  const co = new Checkout(dir, 'clone', 5);
  t.teardown(async () => {
    await co.compose('down', '-v', '--remove-orphans', '-t', '2');
    rmSync(dir, { recursive: true, force: true });
  });
  // Exactly the committed tree, as a clone has it (works on shallow clones too).
  await must('bash', ['-c', 'git -C "$1" archive --format=tar HEAD | tar -x -C "$2"', 'extract', repo, dir]);
  const expected: number[] = [];
  for (let i = 1; i <= 5; i++) {
    const file = join(dir, '.data', `agency-${i}.csv`);
    t.ok(existsSync(file), `.data/agency-${i}.csv is tracked in git`);
    if (!existsSync(file)) return;
    expected.push(
      readFileSync(file, 'utf8')
        .split(/\r?\n/)
        .filter((l) => l.trim().split(',').at(-1) === '7574').length,
    );
  }
  const total = [1, 2, 3, 4, 5].reduce((sum, i) => sum + countLines(join(dir, '.data', `agency-${i}.csv`)), 0);
  const up = await co.compose('up', '--build', '-d');
  t.equal(up.code, 0, 'docker compose up --build -d', { stderr: up.stderr.slice(-2000) });
  if (up.code !== 0) return;
  const clients = co.clients();
  const waited = await exec('docker', ['wait', ...clients], { timeoutMs: 600_000 });
  const codes = waited.stdout.trim().split('\n');
  const stop = await co.compose('stop', '-t', String(STOP_GRACE_S));
  const lines = await co.logs();
  const run: SystemRun = {
    lines,
    events: events(lines),
    clientExit: Object.fromEntries(clients.map((c, i) => [c, codes[i] ? Number(codes[i]) : -1])),
    serverExit: (await containerState('server')).exitCode,
    stopMs: stop.ms,
  };
  checkCompleteRun(t, co, run, expected, total);
});
