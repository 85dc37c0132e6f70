/**
 * `--help` of both programs: exit 0, and every option, environment variable
 * and config key a user can set is documented.
 */
import t, { type Test } from 'tap';
import { CLIENT_MAIN, SERVER_MAIN, spawnNode, workDir } from '../helpers/processes.js';

async function help(t: Test, script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnNode(t, 'help', script, ['--help'], { cwd: workDir(t) });
  const exit = await proc.waitExit(30_000);
  return { code: exit.code, stdout: proc.stdout, stderr: proc.stderr };
}

/** Option lines of commander's help: each flag must have a description. */
function flagLines(text: string): { flags: string[]; undocumented: string[] } {
  const flags: string[] = [];
  const undocumented: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^ {2}(-[-\w, <>[\].:|]+?)(?: {2,}(.*))?$/.exec(line);
    if (!m) continue;
    flags.push(m[1].trim());
    if (!(m[2] ?? '').trim()) undocumented.push(m[1].trim());
  }
  return { flags, undocumented };
}

const SERVER_DOCUMENTS = [
  '--config',
  '--host',
  '--port',
  '--listen-backlog',
  '--log-level',
  '--agencies',
  '--bets-file',
  '--max-connections',
  '--idle-timeout',
  '--max-frame-bytes',
  '--no-fsync',
  '--tls-cert',
  '--tls-key',
  '--tls-ca',
  '--tls-handshake-timeout',
  '--help',
  'SERVER_PORT',
  'SERVER_IP',
  'SERVER_LISTEN_BACKLOG',
  'LOGGING_LEVEL',
  'SERVER_AGENCIES',
  'SERVER_BETS_FILE',
  'SERVER_MAX_CONNECTIONS',
  'SERVER_IDLE_TIMEOUT',
  'SERVER_MAX_FRAME_BYTES',
  'SERVER_FSYNC',
  'SERVER_TLS_CERT',
  'SERVER_TLS_KEY',
  'SERVER_TLS_CA',
  'SERVER_TLS_HANDSHAKE_TIMEOUT',
  'server/config.ini',
  'report',
];

const CLIENT_DOCUMENTS = [
  '--config',
  '--id',
  '--server-address',
  '--loop-amount',
  '--loop-period',
  '--log-level',
  '--batch-max-amount',
  '--data-file',
  '--strict',
  '--progress',
  '--progress-interval',
  '--tls-ca',
  '--tls-cert',
  '--tls-key',
  '--help',
  'CLI_ID',
  'CLI_PROGRESS',
  'CLI_PROGRESS_INTERVAL',
  'CLI_SERVER_ADDRESS',
  'CLI_LOOP_AMOUNT',
  'CLI_LOOP_PERIOD',
  'CLI_LOG_LEVEL',
  'CLI_BATCH_MAXAMOUNT',
  'CLI_DATA_FILE',
  'CLI_TLS_CA',
  'CLI_TLS_CERT',
  'CLI_TLS_KEY',
  'tls.ca',
  'tls.cert',
  'tls.key',
  'server.address',
  'loop.amount',
  'loop.period',
  'log.level',
  'batch.maxAmount',
  'client/config.yaml',
  'NOMBRE',
  'APELLIDO',
  'DOCUMENTO',
  'NACIMIENTO',
  'NUMERO',
];

for (const [name, script, documents] of [
  ['lottery-server', SERVER_MAIN, SERVER_DOCUMENTS],
  ['lottery-client', CLIENT_MAIN, CLIENT_DOCUMENTS],
] as const) {
  t.test(`${name} --help`, async (t) => {
    const { code, stdout, stderr } = await help(t, script);
    t.equal(code, 0, 'exits 0');
    t.equal(stderr, '', 'nothing on stderr');
    t.match(stdout, new RegExp(`^Usage: ${name}`), 'starts with the usage line');
    const missing = documents.filter((word) => !stdout.includes(word));
    t.same(missing, [], 'documents every option, variable and config key', { stdout });
    const { flags, undocumented } = flagLines(stdout);
    t.ok(flags.length >= 10, `lists its flags (${flags.length})`);
    t.same(undocumented, [], 'every flag has a description');
    t.match(stdout, /exit codes?:[^\n]*0[^\n]*1[^\n]*2/i, 'documents the exit codes');
  });
}

t.test('lottery-server report --help', async (t) => {
  const proc = spawnNode(t, 'report-help', SERVER_MAIN, ['report', '--help'], { cwd: workDir(t) });
  const exit = await proc.waitExit(30_000);
  t.equal(exit.code, 0, 'exits 0');
  t.equal(proc.stderr, '', 'nothing on stderr');
  t.match(proc.stdout, /^Usage: lottery-server report/, 'starts with the usage line');
  const missing = [
    '--format',
    'table',
    'csv',
    'json',
    '--bets-file',
    '--database-url',
    '--database-timeout',
    'SERVER_BETS_FILE',
    'SERVER_DATABASE_URL',
  ].filter((word) => !proc.stdout.includes(word));
  t.same(missing, [], 'documents every option and variable');
  t.same(flagLines(proc.stdout).undocumented, [], 'every flag has a description');
  t.match(proc.stdout, /exit codes?:[^\n]*0[^\n]*1[^\n]*2[^\n]*3/i, 'documents the exit codes, 3 for no draw yet');
});

t.test('an unknown flag is a usage error', async (t) => {
  for (const script of [SERVER_MAIN, CLIENT_MAIN]) {
    const proc = spawnNode(t, 'bad-flag', script, ['--no-such-flag'], { cwd: workDir(t), env: { CLI_ID: '1' } });
    const exit = await proc.waitExit(30_000);
    t.equal(exit.code, 2, `${script.includes('server') ? 'server' : 'client'}: exit code 2`);
    t.match(proc.stdout + proc.stderr, /--no-such-flag/, 'names the flag');
  }
});
