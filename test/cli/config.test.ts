/**
 * Configuration of both programs, from outside: a bad value anywhere exits 2
 * with one clear line naming the key; precedence default < file < env < flag
 * shows in the `action: config` line.
 *
 * Every run works in its own directory, so the repo's own config files never
 * interfere; files are written there at the default paths (server/config.ini,
 * client/config.yaml) or passed with --config.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { assertLogShape, CLIENT_MAIN, parseLogLine, SERVER_MAIN, spawnNode, workDir, type LogLine } from '../helpers/processes.js';

/** Files to create in the run's directory (relative path → content). */
type Files = Readonly<Record<string, string>>;

interface Case {
  readonly name: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly args?: readonly string[];
  readonly files?: Files;
  /** The text the one error line must contain to name the key. */
  readonly key: string;
}

function prepare(t: Test, files: Files = {}): string {
  const dir = workDir(t);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

async function expectConfigError(t: Test, script: string, c: Case): Promise<void> {
  const dir = prepare(t, c.files);
  const proc = spawnNode(t, c.name, script, c.args ?? [], { cwd: dir, env: c.env });
  const exit = await proc.waitExit(30_000);
  const lines = (proc.stdout + proc.stderr).split('\n').filter((l) => l.trim() !== '');
  t.equal(exit.code, 2, `${c.name}: exit code 2`, { stdout: proc.stdout, stderr: proc.stderr });
  t.equal(lines.length, 1, `${c.name}: one line of output`, { lines });
  t.ok(lines[0]?.includes(c.key), `${c.name}: the line names ${c.key}`, { line: lines[0] });
  assertLogShape(t, proc.lines(), c.name);
}

const CLIENT_OK_ENV = { CLI_ID: '1', CLI_DATA_FILE: 'bets.csv' };
const CLIENT_OK_FILES = { 'bets.csv': 'Ana,Gómez,30111222,1990-05-17,1\n' };

const SERVER_CASES: Case[] = [
  { name: 'server --port 70000', args: ['--port', '70000'], key: '--port' },
  { name: 'server SERVER_PORT=abc', env: { SERVER_PORT: 'abc' }, key: 'SERVER_PORT' },
  { name: 'server ini SERVER_PORT = 99999', files: { 'server/config.ini': '[DEFAULT]\nSERVER_PORT = 99999\n' }, key: 'SERVER_PORT' },
  { name: 'server LOGGING_LEVEL=LOUD', env: { LOGGING_LEVEL: 'LOUD' }, key: 'LOGGING_LEVEL' },
  {
    name: 'server ini LOGGING_LEVEL = verbose',
    files: { 'server/config.ini': '[DEFAULT]\nLOGGING_LEVEL = verbose\n' },
    key: 'LOGGING_LEVEL',
  },
  { name: 'server --log-level chatty', args: ['--log-level', 'chatty'], key: '--log-level' },
  { name: 'server SERVER_LISTEN_BACKLOG=0', env: { SERVER_LISTEN_BACKLOG: '0' }, key: 'SERVER_LISTEN_BACKLOG' },
  { name: 'server SERVER_IDLE_TIMEOUT=soon', env: { SERVER_IDLE_TIMEOUT: 'soon' }, key: 'SERVER_IDLE_TIMEOUT' },
  { name: 'server --idle-timeout 5', args: ['--idle-timeout', '5'], key: '--idle-timeout' },
  { name: 'server SERVER_AGENCIES=-1', env: { SERVER_AGENCIES: '-1' }, key: 'SERVER_AGENCIES' },
  { name: 'server SERVER_AGENCY_IDS=0', env: { SERVER_AGENCY_IDS: '0' }, key: 'SERVER_AGENCY_IDS' },
  { name: 'server SERVER_AGENCY_IDS=5-2', env: { SERVER_AGENCY_IDS: '5-2' }, key: 'SERVER_AGENCY_IDS' },
  { name: 'server --agency-ids one', args: ['--agency-ids', 'one'], key: '--agency-ids' },
  {
    name: 'server SERVER_AGENCIES=3 against SERVER_AGENCY_IDS=1,2',
    env: { SERVER_AGENCIES: '3', SERVER_AGENCY_IDS: '1,2' },
    key: 'SERVER_AGENCIES',
  },
  {
    name: 'server roster agency 2 without a secret',
    env: { SERVER_AGENCIES: '2', SERVER_SECRETS_FILE: 'secrets.txt' },
    files: { 'secrets.txt': '1 a-long-enough-secret\n' },
    key: 'SERVER_SECRETS_FILE',
  },
  { name: 'server LOTTERY_TEST_FAULT=sometimes', env: { LOTTERY_TEST_FAULT: 'sometimes' }, key: 'LOTTERY_TEST_FAULT' },
  { name: 'server SERVER_MAX_CONNECTIONS=many', env: { SERVER_MAX_CONNECTIONS: 'many' }, key: 'SERVER_MAX_CONNECTIONS' },
  { name: 'server SERVER_FSYNC=maybe', env: { SERVER_FSYNC: 'maybe' }, key: 'SERVER_FSYNC' },
  { name: 'server SERVER_STATUS_PORT=web', env: { SERVER_STATUS_PORT: 'web' }, key: 'SERVER_STATUS_PORT' },
  { name: 'server --status-port 70000', args: ['--status-port', '70000'], key: '--status-port' },
  {
    name: 'server ini SERVER_STATUS_PORT = -1',
    files: { 'server/config.ini': '[DEFAULT]\nSERVER_STATUS_PORT = -1\n' },
    key: 'SERVER_STATUS_PORT',
  },
  { name: 'server missing --config file', args: ['--config', 'nowhere.ini'], key: '--config' },
  {
    name: 'server SERVER_TLS_CERT without SERVER_TLS_KEY',
    env: { SERVER_TLS_CERT: 'c.pem' },
    files: { 'c.pem': 'x' },
    key: 'SERVER_TLS_CERT',
  },
  { name: 'server SERVER_TLS_CA alone', env: { SERVER_TLS_CA: 'ca.pem' }, files: { 'ca.pem': 'x' }, key: 'SERVER_TLS_CA' },
  { name: 'server --tls-cert missing file', args: ['--tls-cert', 'none.pem', '--tls-key', 'none.key'], key: '--tls-cert' },
  {
    name: 'server SERVER_TLS_CERT not PEM',
    env: { SERVER_TLS_CERT: 'c.pem', SERVER_TLS_KEY: 'k.pem' },
    files: { 'c.pem': 'not a certificate', 'k.pem': 'not a key' },
    key: 'SERVER_TLS_CERT',
  },
  {
    name: 'server ini SERVER_TLS_CERT missing file',
    files: { 'server/config.ini': '[DEFAULT]\nSERVER_TLS_CERT = nowhere.pem\nSERVER_TLS_KEY = k.pem\n', 'k.pem': 'x' },
    key: 'SERVER_TLS_CERT',
  },
];

const CLIENT_CASES: Case[] = [
  {
    name: 'client CLI_PROGRESS=sometimes',
    env: { ...CLIENT_OK_ENV, CLI_PROGRESS: 'sometimes' },
    files: CLIENT_OK_FILES,
    key: 'CLI_PROGRESS',
  },
  { name: 'client --progress loud', env: CLIENT_OK_ENV, args: ['--progress', 'loud'], files: CLIENT_OK_FILES, key: '--progress' },
  {
    name: 'client CLI_PROGRESS_INTERVAL=10ms',
    env: { ...CLIENT_OK_ENV, CLI_PROGRESS_INTERVAL: '10ms' },
    files: CLIENT_OK_FILES,
    key: 'CLI_PROGRESS_INTERVAL',
  },
  {
    name: 'client yaml progress.interval: often',
    env: CLIENT_OK_ENV,
    files: { ...CLIENT_OK_FILES, 'client/config.yaml': 'progress:\n  interval: often\n' },
    key: 'progress.interval',
  },
  { name: 'client without CLI_ID', env: { CLI_DATA_FILE: 'bets.csv' }, files: CLIENT_OK_FILES, key: 'CLI_ID' },
  { name: 'client CLI_ID=abc', env: { ...CLIENT_OK_ENV, CLI_ID: 'abc' }, files: CLIENT_OK_FILES, key: 'CLI_ID' },
  { name: 'client CLI_ID=0', env: { ...CLIENT_OK_ENV, CLI_ID: '0' }, files: CLIENT_OK_FILES, key: 'CLI_ID' },
  { name: 'client missing data file', env: { CLI_ID: '1', CLI_DATA_FILE: 'missing.csv' }, key: 'CLI_DATA_FILE' },
  { name: 'client missing default data file', env: { CLI_ID: '3' }, key: 'CLI_DATA_FILE' },
  { name: 'client CLI_LOOP_PERIOD=5', env: { ...CLIENT_OK_ENV, CLI_LOOP_PERIOD: '5' }, files: CLIENT_OK_FILES, key: 'CLI_LOOP_PERIOD' },
  {
    name: 'client --loop-period 5 seconds',
    env: CLIENT_OK_ENV,
    args: ['--loop-period', '5 seconds'],
    files: CLIENT_OK_FILES,
    key: '--loop-period',
  },
  {
    name: 'client CLI_REPLY_TIMEOUT=0s',
    env: { ...CLIENT_OK_ENV, CLI_REPLY_TIMEOUT: '0s' },
    files: CLIENT_OK_FILES,
    key: 'CLI_REPLY_TIMEOUT',
  },
  {
    name: 'client yaml server.replyTimeout: never',
    env: CLIENT_OK_ENV,
    files: { ...CLIENT_OK_FILES, 'client/config.yaml': 'server:\n  replyTimeout: never\n' },
    key: 'server.replyTimeout',
  },
  { name: 'client CLI_LOG_LEVEL=loud', env: { ...CLIENT_OK_ENV, CLI_LOG_LEVEL: 'loud' }, files: CLIENT_OK_FILES, key: 'CLI_LOG_LEVEL' },
  {
    name: 'client CLI_SERVER_ADDRESS without port',
    env: { ...CLIENT_OK_ENV, CLI_SERVER_ADDRESS: 'server' },
    files: CLIENT_OK_FILES,
    key: 'CLI_SERVER_ADDRESS',
  },
  {
    name: 'client CLI_SERVER_ADDRESS port 99999',
    env: { ...CLIENT_OK_ENV, CLI_SERVER_ADDRESS: 'server:99999' },
    files: CLIENT_OK_FILES,
    key: 'CLI_SERVER_ADDRESS',
  },
  {
    name: 'client CLI_BATCH_MAXAMOUNT=0',
    env: { ...CLIENT_OK_ENV, CLI_BATCH_MAXAMOUNT: '0' },
    files: CLIENT_OK_FILES,
    key: 'CLI_BATCH_MAXAMOUNT',
  },
  { name: 'client CLI_LOOP_AMOUNT=x', env: { ...CLIENT_OK_ENV, CLI_LOOP_AMOUNT: 'x' }, files: CLIENT_OK_FILES, key: 'CLI_LOOP_AMOUNT' },
  { name: 'client missing --config file', env: CLIENT_OK_ENV, args: ['--config', 'nowhere.yaml'], files: CLIENT_OK_FILES, key: '--config' },
  {
    name: 'client bad yaml',
    env: CLIENT_OK_ENV,
    args: ['--config', 'bad.yaml'],
    files: { ...CLIENT_OK_FILES, 'bad.yaml': 'server:\n  address: [unclosed\nloop: {\n' },
    key: '--config',
  },
  {
    name: 'client bad yaml at the default path',
    env: CLIENT_OK_ENV,
    files: { ...CLIENT_OK_FILES, 'client/config.yaml': 'log:\n\tlevel: INFO\n  : :\n' },
    key: 'client/config.yaml',
  },
  {
    name: 'client yaml loop.period: soon',
    env: CLIENT_OK_ENV,
    files: { ...CLIENT_OK_FILES, 'client/config.yaml': 'loop:\n  amount: 5\n  period: "soon"\n' },
    key: 'loop.period',
  },
  {
    name: 'client yaml batch.maxAmount: lots',
    env: CLIENT_OK_ENV,
    files: { ...CLIENT_OK_FILES, 'client/config.yaml': 'batch:\n  maxAmount: lots\n' },
    key: 'batch.maxAmount',
  },
  {
    name: 'client CLI_TLS_CERT without CLI_TLS_CA',
    env: { ...CLIENT_OK_ENV, CLI_TLS_CERT: 'a.pem', CLI_TLS_KEY: 'a.key' },
    files: CLIENT_OK_FILES,
    key: 'CLI_TLS_CERT',
  },
  { name: 'client CLI_TLS_CA missing file', env: { ...CLIENT_OK_ENV, CLI_TLS_CA: 'none.pem' }, files: CLIENT_OK_FILES, key: 'CLI_TLS_CA' },
  {
    name: 'client --tls-ca not PEM',
    env: CLIENT_OK_ENV,
    args: ['--tls-ca', 'ca.pem'],
    files: { ...CLIENT_OK_FILES, 'ca.pem': 'hello' },
    key: '--tls-ca',
  },
  {
    name: 'client yaml tls.ca missing file',
    env: CLIENT_OK_ENV,
    files: { ...CLIENT_OK_FILES, 'client/config.yaml': 'tls:\n  ca: "nowhere.pem"\n' },
    key: 'tls.ca',
  },
  {
    name: 'client single bet with NUMERO=abc',
    env: { CLI_ID: '1', NOMBRE: 'Ana', APELLIDO: 'Gómez', DOCUMENTO: '30111222', NACIMIENTO: '1990-05-17', NUMERO: 'abc' },
    key: 'NUMERO',
  },
  {
    name: 'client single bet without NUMERO',
    env: { CLI_ID: '1', NOMBRE: 'Ana', APELLIDO: 'Gómez', DOCUMENTO: '30111222', NACIMIENTO: '1990-05-17' },
    key: 'NUMERO',
  },
];

t.test('invalid server config: exit 2, one line naming the key', async (t) => {
  for (const c of SERVER_CASES) await expectConfigError(t, SERVER_MAIN, c);
});

t.test('invalid client config: exit 2, one line naming the key', async (t) => {
  for (const c of CLIENT_CASES) await expectConfigError(t, CLIENT_MAIN, c);
});

/** Runs a program until its `action: config` line, then kills it; returns the line. */
async function configLine(
  t: Test,
  script: string,
  opts: { env?: Record<string, string>; args?: readonly string[]; files?: Files },
): Promise<LogLine> {
  const dir = prepare(t, opts.files);
  const proc = spawnNode(t, 'config', script, opts.args ?? [], { cwd: dir, env: opts.env });
  const line = await proc.waitForLine(/ action: config \| result: success/, 30_000);
  await proc.stop('SIGKILL');
  assertLogShape(t, proc.lines(), 'config run');
  return parseLogLine(line)!;
}

// 192.0.2.1 (TEST-NET-1) cannot be bound here: the server logs its config, then fails to listen.
const UNBINDABLE = ['--host', '192.0.2.1'];
const INI = (port: number, backlog: number, level: string) =>
  `[DEFAULT]\nSERVER_PORT = ${port}\nSERVER_IP = server\nSERVER_LISTEN_BACKLOG = ${backlog}\nLOGGING_LEVEL = ${level}\n`;

t.test('server precedence: default < config.ini < environment < flag', async (t) => {
  const pickFields = (l: LogLine) => ({
    port: l.fields['port'],
    listen_backlog: l.fields['listen_backlog'],
    logging_level: l.fields['logging_level'],
  });

  const defaults = await configLine(t, SERVER_MAIN, { args: UNBINDABLE });
  t.same(pickFields(defaults), { port: '12345', listen_backlog: '5', logging_level: 'INFO' }, 'defaults');
  t.match(
    defaults.raw,
    / INFO +action: config \| result: success \| port: \d+ \| listen_backlog: \d+ \| logging_level: [A-Z]+( \||$)/,
    'the config line starts as the contract writes it',
  );

  const file = { 'server/config.ini': INI(23456, 11, 'DEBUG') };
  t.same(
    pickFields(await configLine(t, SERVER_MAIN, { args: UNBINDABLE, files: file })),
    { port: '23456', listen_backlog: '11', logging_level: 'DEBUG' },
    'server/config.ini over defaults',
  );

  const env = { SERVER_PORT: '34567', SERVER_LISTEN_BACKLOG: '22' };
  t.same(
    pickFields(await configLine(t, SERVER_MAIN, { args: UNBINDABLE, files: file, env })),
    { port: '34567', listen_backlog: '22', logging_level: 'DEBUG' },
    'environment over the file (the file still gives the rest)',
  );

  t.same(
    pickFields(await configLine(t, SERVER_MAIN, { args: [...UNBINDABLE, '--port', '45678', '--listen-backlog', '33'], files: file, env })),
    { port: '45678', listen_backlog: '33', logging_level: 'DEBUG' },
    'flags over the environment',
  );

  t.same(
    pickFields(
      await configLine(t, SERVER_MAIN, {
        args: [...UNBINDABLE, '--config', 'other.ini'],
        files: { ...file, 'other.ini': INI(24680, 9, 'INFO') },
      }),
    ),
    { port: '24680', listen_backlog: '9', logging_level: 'INFO' },
    '--config replaces the default file',
  );

  t.same(
    pickFields(await configLine(t, SERVER_MAIN, { args: UNBINDABLE, files: file, env: { LOGGING_LEVEL: 'INFO' } })),
    { port: '23456', listen_backlog: '11', logging_level: 'INFO' },
    'LOGGING_LEVEL from the environment over the file',
  );
});

t.test('status port: off by default; config.ini < environment < flag', async (t) => {
  const status = async (opts: { env?: Record<string, string>; args?: readonly string[]; files?: Files }) =>
    (await configLine(t, SERVER_MAIN, { ...opts, args: [...UNBINDABLE, ...(opts.args ?? [])] })).fields['status'];
  t.equal(await status({}), 'off', 'off unless set');
  const files = { 'server/config.ini': '[DEFAULT]\nSERVER_STATUS_PORT = 9100\n' };
  t.equal(await status({ files }), '127.0.0.1:9100', 'config.ini sets it; the host defaults to 127.0.0.1');
  t.equal(
    await status({ files, env: { SERVER_STATUS_PORT: '9200', SERVER_STATUS_HOST: '0.0.0.0' } }),
    '0.0.0.0:9200',
    'environment over the file',
  );
  t.equal(
    await status({ files, env: { SERVER_STATUS_PORT: '9200' }, args: ['--status-port', '9300', '--status-host', '::1'] }),
    '::1:9300',
    'flags over the environment',
  );
});

t.test('client precedence: default < config.yaml < environment < flag', async (t) => {
  const data = { '.data/agency-3.csv': 'Ana,Gómez,30111222,1990-05-17,1\n', '.data/agency-4.csv': 'Ana,Gómez,30111222,1990-05-17,1\n' };
  const pickFields = (l: LogLine) => ({
    client_id: l.fields['client_id'],
    server_address: l.fields['server_address'],
    loop_amount: l.fields['loop_amount'],
    loop_period: l.fields['loop_period'],
    log_level: l.fields['log_level'],
  });

  const defaults = await configLine(t, CLIENT_MAIN, { env: { CLI_ID: '3' }, files: data });
  t.same(
    pickFields(defaults),
    { client_id: '3', server_address: 'server:12345', loop_amount: '5', loop_period: '5s', log_level: 'INFO' },
    'defaults',
  );
  t.equal(defaults.fields['batch_max_amount'], '10', 'default batch.maxAmount 10');
  t.match(
    defaults.raw,
    / INFO +action: config \| result: success \| client_id: \d+ \| server_address: \S+ \| loop_amount: \d+ \| loop_period: \S+ \| log_level: [A-Z]+( \||$)/,
    'the config line starts as the contract writes it',
  );

  const yaml =
    'server:\n  address: "127.0.0.1:1111"\nloop:\n  amount: 7\n  period: "150ms"\nlog:\n  level: "DEBUG"\nbatch:\n  maxAmount: 20\n';
  const files = { ...data, 'client/config.yaml': yaml };
  const fromFile = await configLine(t, CLIENT_MAIN, { env: { CLI_ID: '3' }, files });
  t.same(
    pickFields(fromFile),
    { client_id: '3', server_address: '127.0.0.1:1111', loop_amount: '7', loop_period: '150ms', log_level: 'DEBUG' },
    'client/config.yaml over defaults (period printed as given)',
  );
  t.equal(fromFile.fields['batch_max_amount'], '20', 'batch.maxAmount from the file');

  const env = {
    CLI_ID: '3',
    CLI_SERVER_ADDRESS: '127.0.0.1:2222',
    CLI_LOOP_AMOUNT: '8',
    CLI_LOOP_PERIOD: '1m30s',
    CLI_BATCH_MAXAMOUNT: '30',
  };
  const fromEnv = await configLine(t, CLIENT_MAIN, { env, files });
  t.same(
    pickFields(fromEnv),
    { client_id: '3', server_address: '127.0.0.1:2222', loop_amount: '8', loop_period: '1m30s', log_level: 'DEBUG' },
    'environment over the file',
  );
  t.equal(fromEnv.fields['batch_max_amount'], '30', 'CLI_BATCH_MAXAMOUNT over the file');

  const args = ['--id', '4', '--server-address', '127.0.0.1:3333', '--loop-amount', '9', '--loop-period', '2s', '--batch-max-amount', '40'];
  const fromFlags = await configLine(t, CLIENT_MAIN, { env, files, args });
  t.same(
    pickFields(fromFlags),
    { client_id: '4', server_address: '127.0.0.1:3333', loop_amount: '9', loop_period: '2s', log_level: 'DEBUG' },
    'flags over the environment',
  );
  t.equal(fromFlags.fields['batch_max_amount'], '40', '--batch-max-amount over the environment');

  const other = await configLine(t, CLIENT_MAIN, {
    env: { CLI_ID: '3' },
    files: { ...files, 'other.yaml': 'loop:\n  amount: 2\n' },
    args: ['--config', 'other.yaml'],
  });
  t.same(
    pickFields(other),
    { client_id: '3', server_address: 'server:12345', loop_amount: '2', loop_period: '5s', log_level: 'INFO' },
    '--config replaces the default file',
  );
});
