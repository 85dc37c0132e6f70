/**
 * ClientConfig from, lowest precedence first: defaults, client/config.yaml,
 * CLI_* environment variables, command-line flags.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ConfigError, env, from, pick, toBool, toDurationMs, toInt, toLevel, toText, type Raw } from '../common/config.js';
import type { Level } from '../common/logger.js';
import { loadTlsMaterial, type TlsMaterial } from '../common/tls-files.js';
import { MAX_AGENCY_ID } from '../protocol/index.js';
import { PROGRESS_MODES, type ProgressMode } from './progress.js';

export const DEFAULT_CONFIG_PATH = 'client/config.yaml';

export interface ClientConfig {
  readonly id: number;
  /** server.address as given: one central, or a comma-separated list of them. */
  readonly serverAddress: string;
  /** The centrals to try, in order. */
  readonly centrals: readonly Central[];
  readonly loopAmount: number;
  readonly loopPeriodMs: number;
  /** loop.period as written, e.g. "150ms" (logged as given). */
  readonly loopPeriod: string;
  /** How long the central may stay silent while it owes a reply (an ack, a Welcome) before it is presumed gone. */
  readonly replyTimeoutMs: number;
  readonly logLevel: Level;
  readonly batchMaxAmount: number;
  /** Batches sent before waiting for the first ack. */
  readonly window: number;
  readonly dataFile: string;
  readonly strict: boolean;
  /** The agency's secret, when the central requires one (CLI_SECRET). */
  readonly secret: string | null;
  /** How progress shows: a bar on a terminal, `progress` log lines, or not at all (auto picks by stderr). */
  readonly progress: ProgressMode;
  /** Between `progress` log lines. */
  readonly progressIntervalMs: number;
  /** CLI_TLS_CA (and CLI_TLS_CERT/KEY for mutual TLS): connect over TLS and verify the central; null: plain TCP. */
  readonly tls: TlsMaterial | null;
}

export interface Central {
  readonly host: string;
  readonly port: number;
  /** As written, for logs. */
  readonly address: string;
}

export interface ClientFlags {
  readonly config?: string;
  readonly id?: string;
  readonly serverAddress?: string;
  readonly loopAmount?: string;
  readonly loopPeriod?: string;
  readonly replyTimeout?: string;
  readonly logLevel?: string;
  readonly batchMaxAmount?: string;
  readonly window?: string;
  readonly dataFile?: string;
  readonly strict?: boolean;
  readonly secretFile?: string;
  readonly progress?: string;
  readonly progressInterval?: string;
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
}

const def = (key: string, value: string): Raw => ({ key, value });
const flag = (name: string, value: string | undefined): Raw | undefined => (value === undefined ? undefined : { key: `--${name}`, value });

export function loadClientConfig(flags: ClientFlags): ClientConfig {
  const file = readYamlFile(flags.config);
  const yaml = (path: string) => {
    const [section, key] = path.split('.') as [string, string];
    const group = file[section];
    if (group === undefined || group === null) return undefined;
    if (typeof group !== 'object' || Array.isArray(group)) throw new ConfigError(`${section} (config file)`, 'must be a section with keys');
    return from(`${path} (config file)`, (group as Record<string, unknown>)[key]);
  };

  const idRaw = pick(env('CLI_ID'), flag('id', flags.id));
  if (!idRaw) throw new ConfigError('CLI_ID', 'the agency id is required (set CLI_ID or --id)');
  const id = toInt(idRaw, 1, MAX_AGENCY_ID);

  const addressRaw = pick(
    def('server.address', 'server:12345'),
    yaml('server.address'),
    env('CLI_SERVER_ADDRESS'),
    flag('server-address', flags.serverAddress),
  )!;
  const serverAddress = toText(addressRaw);
  const centrals = serverAddress
    .split(',')
    .map((a) => a.trim())
    .map((address) => ({ ...parseAddress(addressRaw.key, address), address }));

  const periodRaw = pick(def('loop.period', '5s'), yaml('loop.period'), env('CLI_LOOP_PERIOD'), flag('loop-period', flags.loopPeriod))!;
  return {
    id,
    serverAddress,
    centrals,
    loopAmount: toInt(
      pick(def('loop.amount', '5'), yaml('loop.amount'), env('CLI_LOOP_AMOUNT'), flag('loop-amount', flags.loopAmount))!,
      1,
      1_000_000,
    ),
    loopPeriodMs: toDurationMs(periodRaw),
    loopPeriod: periodRaw.value.trim(),
    replyTimeoutMs: toReplyTimeout(
      pick(
        def('server.replyTimeout', '30s'),
        yaml('server.replyTimeout'),
        env('CLI_REPLY_TIMEOUT'),
        flag('reply-timeout', flags.replyTimeout),
      )!,
    ),
    logLevel: toLevel(pick(def('log.level', 'INFO'), yaml('log.level'), env('CLI_LOG_LEVEL'), flag('log-level', flags.logLevel))!),
    batchMaxAmount: toInt(
      pick(
        def('batch.maxAmount', '10'),
        yaml('batch.maxAmount'),
        env('CLI_BATCH_MAXAMOUNT'),
        flag('batch-max-amount', flags.batchMaxAmount),
      )!,
      1,
      65535,
    ),
    window: toInt(pick(def('CLI_BATCH_WINDOW', '256'), env('CLI_BATCH_WINDOW'), flag('window', flags.window))!, 1, 1024),
    dataFile: toText(pick(def('CLI_DATA_FILE', `.data/agency-${id}.csv`), env('CLI_DATA_FILE'), flag('data-file', flags.dataFile))!),
    secret: loadSecret(flags.secretFile),
    strict: flags.strict === true || toBool(pick(def('CLI_STRICT', 'false'), env('CLI_STRICT'))!),
    progress: toProgressMode(
      pick(def('progress.mode', 'auto'), yaml('progress.mode'), env('CLI_PROGRESS'), flag('progress', flags.progress))!,
    ),
    progressIntervalMs: toProgressInterval(
      pick(
        def('progress.interval', '5s'),
        yaml('progress.interval'),
        env('CLI_PROGRESS_INTERVAL'),
        flag('progress-interval', flags.progressInterval),
      )!,
    ),
    tls: toTls(
      pick(yaml('tls.ca'), env('CLI_TLS_CA'), flag('tls-ca', flags.tlsCa)),
      pick(yaml('tls.cert'), env('CLI_TLS_CERT'), flag('tls-cert', flags.tlsCert)),
      pick(yaml('tls.key'), env('CLI_TLS_KEY'), flag('tls-key', flags.tlsKey)),
    ),
  };
}

function toProgressMode(raw: Raw): ProgressMode {
  const value = raw.value.trim().toLowerCase();
  if (!(PROGRESS_MODES as readonly string[]).includes(value)) {
    throw new ConfigError(raw.key, `must be one of ${PROGRESS_MODES.join(', ')}, got ${JSON.stringify(raw.value)}`);
  }
  return value as ProgressMode;
}

/** At least 100ms: a progress line is for people, not a per-batch trace. */
function toReplyTimeout(raw: Raw): number {
  const ms = toDurationMs(raw);
  if (ms < 100) throw new ConfigError(raw.key, `must be at least 100ms, got ${JSON.stringify(raw.value)}`);
  return ms;
}

function toProgressInterval(raw: Raw): number {
  const ms = toDurationMs(raw);
  if (ms < 100) throw new ConfigError(raw.key, `must be at least 100ms, got ${JSON.stringify(raw.value)}`);
  return ms;
}

/** TLS is on when a CA to verify the central with is given; a client certificate without it would be sent in the clear. */
function toTls(ca: Raw | undefined, cert: Raw | undefined, key: Raw | undefined): TlsMaterial | null {
  if (!ca) {
    const stray = cert ?? key;
    if (stray) throw new ConfigError(stray.key, "is set but CLI_TLS_CA is not: TLS needs the CA that signed the central's certificate");
    return null;
  }
  return loadTlsMaterial(cert, key, ca);
}

/** CLI_SECRET, or the first line of the file given by --secret-file / CLI_SECRET_FILE. */
function loadSecret(flagFile: string | undefined): string | null {
  const fileRaw = pick(env('CLI_SECRET_FILE'), flag('secret-file', flagFile));
  if (fileRaw) {
    if (!existsSync(fileRaw.value)) throw new ConfigError(fileRaw.key, `secret file ${fileRaw.value} does not exist`);
    const secret = readFileSync(fileRaw.value, 'utf8').split(/\r?\n/)[0].trim();
    if (secret === '') throw new ConfigError(fileRaw.key, `secret file ${fileRaw.value} is empty`);
    return secret;
  }
  const direct = env('CLI_SECRET');
  return direct ? direct.value.trim() : null;
}

/** "host:port", "[v6]:port" (one central of the list). */
export function parseAddress(key: string, address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) throw new ConfigError(key, `must be host:port, got ${JSON.stringify(address)}`);
  let host = address.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = toInt({ key, value: address.slice(colon + 1) }, 1, 65535);
  return { host, port };
}

/**
 * The YAML parser is loaded only when there is a file to parse: it is the
 * largest module the agency imports, and every agency process pays its
 * start-up on a busy machine.
 */
function loadYaml(): typeof import('yaml') {
  return createRequire(import.meta.url)('yaml') as typeof import('yaml');
}

function readYamlFile(path: string | undefined): Record<string, unknown> {
  const chosen = path ?? DEFAULT_CONFIG_PATH;
  if (!existsSync(chosen)) {
    if (path === undefined) return {};
    throw new ConfigError('--config', `file ${chosen} does not exist`);
  }
  let parsed: unknown;
  try {
    parsed = loadYaml().parse(readFileSync(chosen, 'utf8'));
  } catch (error) {
    throw new ConfigError('--config', `cannot parse ${chosen}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError('--config', `${chosen} must be a YAML mapping`);
  return parsed as Record<string, unknown>;
}
