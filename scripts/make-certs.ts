/**
 * Test certificates for TLS between agencies and centrals, made with the
 * `openssl` command (no npm dependency: every Debian machine has it).
 *
 *   npm run certs -- --out DIR --agencies N [--hosts a,b,c] [--days D] [--expired]
 *
 * Writes into DIR:
 *   ca.crt, ca.key               a test CA (CN "lottery test CA")
 *   server.crt, server.key       the central's certificate: CN "server", SAN DNS localhost,
 *                                server, server1..server9, every --hosts name, IP 127.0.0.1 and ::1
 *   agency-<i>.crt, .key         each agency's client certificate, CN "agency-<i>", i = 1..N
 *   agency-<i>-expired.crt       with --expired: the same key, a certificate that expired yesterday
 *
 * Keys are ECDSA P-256: small, and the handshake is cheap. An existing CA in
 * DIR is reused (more agencies can be added later); everything else is
 * written again. Not for production: the CA key sits next to what it signs,
 * and the server and agency keys are readable by everyone (mode 0644) so
 * that the images' user (node, uid 1000) can read them through Compose's
 * read-only bind mounts; the CA key stays 0600.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { Command, CommanderError, InvalidArgumentError } from 'commander';

export interface CertOptions {
  readonly out: string;
  readonly agencies: number;
  /** Extra names (or IP addresses) the central's certificate is valid for. */
  readonly hosts: readonly string[];
  readonly days: number;
  /** Also write agency-<i>-expired.crt for every agency. */
  readonly expired: boolean;
}

/** The names every central certificate carries: what tests and the generated Compose files connect to. */
export const DEFAULT_SERVER_NAMES: readonly string[] = [
  'localhost',
  'server',
  ...Array.from({ length: 9 }, (_, i) => `server${i + 1}`),
  '127.0.0.1',
  '::1',
];

/** The subject CN the central requires of agency `id` under mutual TLS. */
export const agencyCommonName = (id: number): string => `agency-${id}`;

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function openssl(args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the openssl command is not installed (Debian: apt-get install openssl)');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? e.message}`);
  }
}

const serial = () => `0x${randomBytes(12).toString('hex')}`;

/** A key and a certificate signed by the CA in `out`; `days` below 0 makes one that already expired. */
function signed(out: string, scratch: string, name: string, cn: string, extensions: string, days: number, key?: string): void {
  const keyFile = key ?? join(out, `${name}.key`);
  const csr = join(scratch, `${name}.csr`);
  const ext = join(scratch, `${name}.ext`);
  writeFileSync(ext, `[ext]\n${extensions}\n`);
  if (key) openssl(['req', '-new', '-key', keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
  else openssl(['req', '-new', ...KEY_ARGS, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    join(out, 'ca.crt'),
    '-CAkey',
    join(out, 'ca.key'),
    '-set_serial',
    serial(),
    '-days',
    String(days),
    '-extfile',
    ext,
    '-extensions',
    'ext',
    '-out',
    join(out, `${name}.crt`),
  ]);
  if (!key) chmodSync(keyFile, 0o644);
}

export function makeCerts(options: CertOptions): string[] {
  const { out, agencies, hosts, days, expired } = options;
  mkdirSync(out, { recursive: true });
  const scratch = mkdtempSync(join(tmpdir(), 'lottery-certs-'));
  const written: string[] = [];
  try {
    if (!existsSync(join(out, 'ca.crt')) || !existsSync(join(out, 'ca.key'))) {
      openssl([
        'req',
        '-x509',
        ...KEY_ARGS,
        '-keyout',
        join(out, 'ca.key'),
        '-out',
        join(out, 'ca.crt'),
        '-days',
        String(days),
        '-subj',
        '/CN=lottery test CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]);
      written.push('ca.crt', 'ca.key');
    }
    const names = [...new Set([...DEFAULT_SERVER_NAMES, ...hosts])];
    const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    signed(
      out,
      scratch,
      'server',
      'server',
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}`,
      days,
    );
    written.push('server.crt', 'server.key');
    const client = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth';
    for (let id = 1; id <= agencies; id++) {
      const name = agencyCommonName(id);
      signed(out, scratch, name, name, client, days);
      written.push(`${name}.crt`, `${name}.key`);
      if (expired) {
        signed(out, scratch, `${name}-expired`, name, client, -1, join(out, `${name}.key`));
        written.push(`${name}-expired.crt`);
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return written;
}

function positive(max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max)
      throw new InvalidArgumentError(`must be an integer from 1 to ${max}`);
    return Number(value);
  };
}

function hostList(value: string): string[] {
  const names = value
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  const bad = names.find((h) => !isIP(h) && !/^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(h));
  if (bad !== undefined) throw new InvalidArgumentError(`${JSON.stringify(bad)} is not a host name or IP address`);
  return names;
}

function main(argv: readonly string[]): number {
  const program = new Command()
    .name('make-certs')
    .description('Test CA, central and agency certificates for TLS (with the openssl command).')
    .requiredOption('--out <dir>', 'folder to write the certificates into')
    .requiredOption('--agencies <n>', 'agency certificates to make, agency-1..agency-n', positive(65535))
    .option('--hosts <list>', 'more names or IPs for the central certificate, comma-separated', hostList, [])
    .option('--days <n>', 'validity in days', positive(36500), 825)
    .option('--expired', 'also make agency-<i>-expired.crt (expired yesterday), for tests', false)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  try {
    program.parse(argv);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  const opts = program.opts<{ out: string; agencies: number; hosts: string[]; days: number; expired: boolean }>();
  const out = resolve(opts.out);
  try {
    const written = makeCerts({ ...opts, out });
    process.stdout.write(`make-certs: wrote ${written.length} files to ${out}: ${written.join(' ')}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`make-certs: ${(error as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv);
}
