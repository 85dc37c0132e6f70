/**
 * generate-compose.sh: arguments, the shape of what it writes (as Compose
 * itself reads it back with `docker compose config`), and compose.yaml kept in
 * sync with it. Starts no container, so it runs beside the system tests.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Environment variables named like a key of the mounted config files. */
const SHADOWING = [
  'SERVER_PORT',
  'SERVER_IP',
  'SERVER_LISTEN_BACKLOG',
  'LOGGING_LEVEL',
  'CLI_SERVER_ADDRESS',
  'CLI_LOOP_AMOUNT',
  'CLI_LOOP_PERIOD',
  'CLI_LOG_LEVEL',
  'CLI_BATCH_MAXAMOUNT',
];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string): Run {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A throwaway checkout with what a user of the generator has: the script, config files, agency files. */
function checkout(agencies: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'lottery-gen-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(repo, 'generate-compose.sh'), join(dir, 'generate-compose.sh'));
  for (const sub of ['server', 'client', '.data']) mkdirSync(join(dir, sub));
  copyFileSync(join(repo, 'server', 'config.ini'), join(dir, 'server', 'config.ini'));
  copyFileSync(join(repo, 'client', 'config.yaml'), join(dir, 'client', 'config.yaml'));
  for (let i = 1; i <= agencies; i++) writeFileSync(join(dir, '.data', `agency-${i}.csv`), `A,B,${30000000 + i},1990-01-01,${i}\n`);
  return dir;
}

interface ComposeService {
  container_name?: string;
  image?: string;
  build?: { context: string; dockerfile: string; target?: string };
  environment?: Record<string, string | null>;
  volumes?: Array<{ type: string; source?: string; target: string; read_only?: boolean; bind?: { create_host_path?: boolean } }>;
  networks?: Record<string, unknown>;
  restart?: string;
  depends_on?: Record<string, unknown>;
}
interface ComposeModel {
  services: Record<string, ComposeService>;
  networks?: Record<string, unknown>;
  volumes?: Record<string, unknown>;
}

/** The file as Compose reads it: validates it and normalizes every short form. */
function composeConfig(file: string, cwd: string): ComposeModel {
  const r = run('docker', ['compose', '-f', file, 'config', '--format', 'json'], cwd);
  if (r.status !== 0) throw new Error(`docker compose config failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ComposeModel;
}

t.test('bad arguments: usage, non-zero exit, no file written', async (t) => {
  const dir = checkout(0);
  const cases: Array<[string, string[]]> = [
    ['no arguments', []],
    ['only OUT', ['out.yml']],
    ['three arguments', ['out.yml', '3', 'extra']],
    ['non-numeric N', ['out.yml', 'abc']],
    ['negative N', ['out.yml', '-1']],
    ['fractional N', ['out.yml', '1.5']],
    ['empty N', ['out.yml', '']],
    ['N with a suffix', ['out.yml', '3x']],
    ['empty OUT', ['', '3']],
    ['OUT in a missing directory', ['no/such/dir/out.yml', '3']],
    ['OUT under a regular file', ['server/config.ini/out.yml', '3']],
    ['OUT is a directory', ['.data', '3']],
    ['--centrals without a number', ['out.yml', '3', '--centrals']],
    ['--centrals 0', ['out.yml', '3', '--centrals', '0']],
    ['--centrals 17', ['out.yml', '3', '--centrals', '17']],
    ['--centrals two', ['out.yml', '3', '--centrals', 'two']],
    ['an unknown option', ['out.yml', '3', '--postgres']],
    ['--tls without a folder', ['out.yml', '3', '--tls']],
    ['--tls with a missing folder', ['out.yml', '3', '--tls', 'no-certs']],
  ];
  const before = readdirSync(dir).sort();
  for (const [name, args] of cases) {
    const r = run('bash', ['generate-compose.sh', ...args], dir);
    t.not(r.status, 0, `${name}: non-zero exit`);
    t.match(r.stderr, /usage: generate-compose\.sh OUT N/, `${name}: prints the usage`);
    t.same(readdirSync(dir).sort(), before, `${name}: no file written`);
  }
  t.notOk(existsSync(join(dir, 'no')), 'no directory created either');

  // An existing OUT is left alone when N is bad.
  writeFileSync(join(dir, 'keep.yml'), 'untouched\n');
  const r = run('bash', ['generate-compose.sh', 'keep.yml', '-2'], dir);
  t.not(r.status, 0, 'bad N with an existing OUT fails');
  t.equal(readFileSync(join(dir, 'keep.yml'), 'utf8'), 'untouched\n', 'the existing OUT is not overwritten');

  if (process.getuid?.() !== 0) {
    const ro = join(dir, 'ro');
    mkdirSync(ro, { mode: 0o555 });
    const r2 = run('bash', ['generate-compose.sh', 'ro/out.yml', '3'], dir);
    t.not(r2.status, 0, 'unwritable directory: non-zero exit');
    t.notOk(existsSync(join(ro, 'out.yml')), 'unwritable directory: no file');
  }

  const help = run('bash', ['generate-compose.sh', '--help'], dir);
  t.equal(help.status, 0, '--help exits 0');
  t.match(help.stdout, /usage: generate-compose\.sh OUT N/, '--help prints the usage');
});

for (const agencies of [0, 1, 3, 5]) {
  t.test(`generated file for ${agencies} agencies`, async (t) => {
    const dir = checkout(agencies);
    const r = run('bash', ['generate-compose.sh', 'out.yml', String(agencies)], dir);
    t.equal(r.status, 0, `exit 0 (${r.stderr.trim()})`);
    const text = readFileSync(join(dir, 'out.yml'), 'utf8');

    // Readable: comments first, plain block YAML, short lines, services in order.
    t.match(text, /^# /, 'starts with an explanatory comment');
    t.notMatch(text, /create_host_path: true/, 'never creates a missing host path');
    t.ok(
      text.split('\n').every((line) => line.length <= 100 && !line.includes('\t')),
      'short lines, no tabs',
    );
    const raw = parseYaml(text) as ComposeModel;
    const expected = ['server', ...Array.from({ length: agencies }, (_, i) => `client${i + 1}`)];
    t.same(Object.keys(raw.services), expected, 'services server, client1..clientN in order');

    const model = composeConfig('out.yml', dir);
    t.same(Object.keys(model.services).sort(), [...expected].sort(), 'docker compose config accepts it, same services');

    const server = model.services['server'];
    t.equal(server.container_name, 'server', 'server container is named server');
    t.equal(server.image, 'lottery-server:latest', 'server image named, so a prebuilt one is reused');
    t.same(
      server.build && { context: server.build.context, dockerfile: server.build.dockerfile, target: server.build.target },
      { context: dir, dockerfile: 'docker/Dockerfile', target: 'server' },
      'server build section',
    );
    t.equal(server.environment?.['SERVER_AGENCIES'], String(agencies), 'SERVER_AGENCIES=N');
    t.equal(server.environment?.['SERVER_STATUS_PORT'], '9100', 'the status port is on: SERVER_STATUS_PORT=9100');
    t.equal(server.environment?.['SERVER_STATUS_HOST'], '0.0.0.0', '... on every interface of the container');
    const ini = server.volumes?.find((v) => v.target === '/app/server/config.ini');
    t.ok(ini, 'server/config.ini is mounted');
    t.equal(ini?.type, 'bind', 'config.ini is a bind mount');
    t.equal(ini?.source, join(dir, 'server', 'config.ini'), "the checkout's server/config.ini");
    t.equal(ini?.read_only, true, 'read-only');
    t.notOk(ini?.bind?.create_host_path, 'a missing config file is an error, not a new directory');
    const bets = server.volumes?.find((v) => v.target === '/var/lib/lottery');
    t.equal(bets?.type, 'volume', 'bets live on a volume');
    t.notOk(bets?.source, '... an anonymous one: it lives with the server container, so `down` then `up` is a new lottery');
    t.same(model.volumes ?? {}, {}, 'no named volume outlives `docker compose down`');
    t.equal(server.environment?.['SERVER_BETS_FILE'], '/var/lib/lottery/bets.csv', 'bets.csv is on that volume');
    t.equal(server.restart, 'on-failure', 'the server restarts when it fails (a storage fail-stop recovers by itself)');

    const networks = new Set<string>();
    for (const name of Object.keys(server.networks ?? {})) networks.add(name);
    for (let i = 1; i <= agencies; i++) {
      const c = model.services[`client${i}`];
      t.equal(c.container_name, `client${i}`, `client${i}: container name`);
      t.equal(c.image, 'lottery-client:latest', `client${i}: image named`);
      t.equal(c.build?.target, 'client', `client${i}: build target client`);
      t.equal(c.build?.context, dir, `client${i}: build context is the checkout`);
      t.equal(c.environment?.['CLI_ID'], String(i), `client${i}: CLI_ID=${i}`);
      const yamlMount = c.volumes?.find((v) => v.target === '/app/client/config.yaml');
      t.equal(yamlMount?.source, join(dir, 'client', 'config.yaml'), `client${i}: client/config.yaml mounted`);
      t.equal(yamlMount?.read_only, true, `client${i}: config read-only`);
      const data = c.volumes?.find((v) => v.target === '/data/agency.csv');
      t.equal(data?.source, join(dir, '.data', `agency-${i}.csv`), `client${i}: .data/agency-${i}.csv mounted`);
      t.equal(data?.read_only, true, `client${i}: data read-only`);
      t.ok(c.depends_on && 'server' in c.depends_on, `client${i}: depends on server`);
      for (const name of Object.keys(c.networks ?? {})) networks.add(name);
    }
    t.equal(networks.size, 1, 'one network for everybody');

    for (const [name, service] of Object.entries(model.services)) {
      const shadowing = Object.keys(service.environment ?? {}).filter((key) => SHADOWING.includes(key));
      t.same(shadowing, [], `${name}: no variable shadows a config-file key`);
    }
  });
}

for (const centrals of [1, 3]) {
  t.test(`--centrals ${centrals}: a PostgreSQL service shared by ${centrals} central(s)`, async (t) => {
    const dir = checkout(4);
    const r = run('bash', ['generate-compose.sh', 'out.yml', '4', '--centrals', String(centrals)], dir);
    t.equal(r.status, 0, `exit 0 (${r.stderr.trim()})`);
    const model = composeConfig('out.yml', dir);
    const names = ['server', 'server2', 'server3'].slice(0, centrals);
    t.same(
      Object.keys(model.services).sort(),
      ['postgres', ...names, 'client1', 'client2', 'client3', 'client4'].sort(),
      'postgres, the centrals, the agencies',
    );
    t.equal(
      model.services['postgres']?.build?.target,
      'postgres',
      'the database image is built locally (docker/Dockerfile, target postgres)',
    );
    t.equal(model.services['postgres']?.restart, 'on-failure', 'the database restarts on failure');
    t.notOk(model.services['postgres']?.volumes?.[0]?.source, 'its data on an anonymous volume: `down` then `up` is a new lottery');
    for (const name of names) {
      const central = model.services[name];
      t.match(
        central.environment,
        {
          SERVER_AGENCIES: '4',
          SERVER_DATABASE_URL: 'postgres://lottery:lottery@postgres:5432/lottery',
          SERVER_STATUS_PORT: '9100',
          SERVER_STATUS_HOST: '0.0.0.0',
        },
        `${name}: on the database`,
      );
      t.notOk('SERVER_BETS_FILE' in (central.environment ?? {}), `${name}: no bets file`);
      t.equal(central.restart, 'on-failure', `${name}: restarts on failure`);
    }
    for (let i = 1; i <= 4; i++) {
      const env = model.services[`client${i}`].environment ?? {};
      if (centrals === 1) t.notOk('CLI_SERVER_ADDRESS' in env, `client${i}: one central, config.yaml's server.address`);
      else t.equal(env['CLI_SERVER_ADDRESS'], 'server:12345,server2:12345,server3:12345', `client${i}: every central`);
    }
  });
}

const CERTS_MAIN = join(repo, 'dist', 'scripts', 'make-certs.js');

for (const centrals of [0, 2]) {
  t.test(`--tls${centrals ? ` with --centrals ${centrals}` : ''}: each central its certificate, each agency its own`, async (t) => {
    const dir = checkout(3);
    const made = run('node', [CERTS_MAIN, '--out', join(dir, 'certs'), '--agencies', '2'], dir);
    t.equal(made.status, 0, `npm run certs made 2 agencies' certificates (${made.stderr.trim()})`);
    const extra = centrals ? ['--centrals', String(centrals)] : [];
    const short = run('bash', ['generate-compose.sh', 'out.yml', '3', ...extra, '--tls', 'certs'], dir);
    t.equal(short.status, 2, 'certificates for 2 agencies and 3 agencies asked: exit 2');
    t.match(
      short.stderr,
      /lacks agency-3\.crt agency-3\.key; make them with: npm run certs -- --out certs --agencies 3/,
      'names what is missing and how to make it',
    );
    t.notOk(existsSync(join(dir, 'out.yml')), 'no file written');

    const r = run('bash', ['generate-compose.sh', 'out.yml', '2', ...extra, '--tls', 'certs'], dir);
    t.equal(r.status, 0, `exit 0 (${r.stderr.trim()})`);
    t.match(readFileSync(join(dir, 'out.yml'), 'utf8'), /--tls certs/, 'the header names the command with --tls');
    const model = composeConfig('out.yml', dir);
    const certs = join(dir, 'certs');
    const mounts = (service: ComposeService) =>
      Object.fromEntries(
        (service.volumes ?? [])
          .filter((v) => v.target.startsWith('/certs/'))
          .map((v) => [v.target, { source: v.source, ro: v.read_only, type: v.type }]),
      );
    const names = centrals ? ['server', 'server2'] : ['server'];
    for (const name of names) {
      const central = model.services[name];
      t.match(
        central.environment,
        { SERVER_TLS_CERT: '/certs/server.crt', SERVER_TLS_KEY: '/certs/server.key', SERVER_TLS_CA: '/certs/ca.crt' },
        `${name}: mutual TLS variables`,
      );
      t.same(
        mounts(central),
        Object.fromEntries(
          ['ca.crt', 'server.crt', 'server.key'].map((f) => [`/certs/${f}`, { source: join(certs, f), ro: true, type: 'bind' }]),
        ),
        `${name}: the CA and its own certificate and key, read-only; no agency key`,
      );
    }
    for (const i of [1, 2]) {
      const client = model.services[`client${i}`];
      t.match(
        client.environment,
        { CLI_TLS_CA: '/certs/ca.crt', CLI_TLS_CERT: '/certs/agency.crt', CLI_TLS_KEY: '/certs/agency.key' },
        `client${i}: TLS variables`,
      );
      t.same(
        mounts(client),
        {
          '/certs/ca.crt': { source: join(certs, 'ca.crt'), ro: true, type: 'bind' },
          '/certs/agency.crt': { source: join(certs, `agency-${i}.crt`), ro: true, type: 'bind' },
          '/certs/agency.key': { source: join(certs, `agency-${i}.key`), ro: true, type: 'bind' },
        },
        `client${i}: the CA and its own certificate and key only`,
      );
    }
  });
}

t.test('OUT outside the checkout: absolute paths back to it', async (t) => {
  const dir = checkout(2);
  const elsewhere = mkdtempSync(join(tmpdir(), 'lottery-gen-out-'));
  t.teardown(() => rmSync(elsewhere, { recursive: true, force: true }));
  const r = run('bash', [join(dir, 'generate-compose.sh'), join(elsewhere, 'out.yml'), '2'], elsewhere);
  t.equal(r.status, 0, 'exit 0');
  const model = composeConfig(join(elsewhere, 'out.yml'), elsewhere);
  t.equal(model.services['server']?.build?.context, dir, 'build context is the checkout');
  t.equal(
    model.services['client2']?.volumes?.find((v) => v.target === '/data/agency.csv')?.source,
    join(dir, '.data', 'agency-2.csv'),
    'agency file of the checkout',
  );
});

t.test('run with sh by mistake, it hands over to bash', async (t) => {
  const dir = checkout(2);
  const r = run('sh', ['generate-compose.sh', 'out.yml', '2'], dir);
  t.equal(r.status, 0, 'exit 0');
  t.same(Object.keys(composeConfig('out.yml', dir).services).sort(), ['client1', 'client2', 'server'], 'same file');
});

t.test("compose.yaml is the generator's output for 5 agencies", async (t) => {
  const dir = checkout(5);
  const r = run('bash', ['generate-compose.sh', 'compose.yaml', '5'], dir);
  t.equal(r.status, 0, 'exit 0');
  t.equal(
    readFileSync(join(repo, 'compose.yaml'), 'utf8'),
    readFileSync(join(dir, 'compose.yaml'), 'utf8'),
    'compose.yaml in sync (regenerate with ./generate-compose.sh compose.yaml 5)',
  );
});
