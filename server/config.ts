/**
 * ServerConfig from, lowest precedence first: defaults, server/config.ini
 * ([DEFAULT] section), environment variables, command-line flags. The ini
 * file holds the contract's four keys only; everything else has a default or
 * comes from the environment or a flag.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseIni } from 'ini';
import { readSecretsFile } from '../common/auth.js';
import { ConfigError, env, from, pick, toBool, toDurationMs, toInt, toLevel, toText, type Raw } from '../common/config.js';
import type { Level } from '../common/logger.js';
import { loadTlsMaterial, type TlsMaterial } from '../common/tls-files.js';
import { MAX_AGENCY_ID, MAX_BATCH_FRAME } from '../protocol/index.js';
import { describeRoster, parseAgencyIds, rosterOfCount, type Roster } from './roster.js';
import { FAULT_VARIABLE, faultPlanFrom, type FaultPlan } from './storage/file/io.js';

export const DEFAULT_CONFIG_PATH = 'server/config.ini';

export interface ServerConfig {
  /** Address to listen on. */
  readonly host: string;
  readonly port: number;
  /** The name agencies use to reach the central (SERVER_IP); informational. */
  readonly advertisedName: string;
  readonly listenBacklog: number;
  readonly logLevel: Level;
  /** The agencies the draw waits for, sorted; empty: any agency is admitted and there is no draw. */
  readonly roster: Roster;
  readonly betsFile: string;
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly maxFrameBytes: number;
  /** Acknowledge a batch only once it is on disk (fdatasync). */
  readonly durable: boolean;
  /** Per-agency secrets; null runs unauthenticated. */
  readonly secrets: ReadonlyMap<number, string> | null;
  readonly secretsFile: string | null;
  /** SERVER_DATABASE_URL: bets live in this PostgreSQL database (null: in betsFile). */
  readonly databaseUrl: string | null;
  /** A database query or connection attempt that takes longer is given up. */
  readonly databaseTimeoutMs: number;
  /** SERVER_STATUS_PORT: the HTTP status port (/metrics, /healthz, /readyz, the live page); null: off. */
  readonly statusPort: number | null;
  /** SERVER_STATUS_HOST: the address the status port listens on. */
  readonly statusHost: string;
  /** Tests only (LOTTERY_TEST_FAULT): the storage operation to fail. */
  readonly fault: FaultPlan | null;
  /** SERVER_TLS_CERT/KEY (and SERVER_TLS_CA for mutual TLS): the agency port speaks TLS only; null: plain TCP. */
  readonly tls: TlsMaterial | null;
  /** A TLS peer that has not finished its handshake after this long is dropped. */
  readonly tlsHandshakeTimeoutMs: number;
}

/** Flags as commander hands them over (strings, unvalidated). */
export interface ServerFlags {
  readonly config?: string;
  readonly host?: string;
  readonly port?: string;
  readonly listenBacklog?: string;
  readonly logLevel?: string;
  readonly agencies?: string;
  readonly agencyIds?: string;
  readonly betsFile?: string;
  readonly databaseUrl?: string;
  readonly databaseTimeout?: string;
  readonly maxConnections?: string;
  readonly idleTimeout?: string;
  readonly maxFrameBytes?: string;
  readonly fsync?: boolean;
  readonly secretsFile?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsCa?: string;
  readonly tlsHandshakeTimeout?: string;
  readonly statusPort?: string;
  readonly statusHost?: string;
}

const def = (key: string, value: string): Raw => ({ key, value });

export function loadServerConfig(flags: ServerFlags): ServerConfig {
  const file = readIniFile(flags.config);
  const ini = (key: string) => from(`${key} (config file)`, file[key]);
  const flag = (name: string, value: string | undefined) => (value === undefined ? undefined : { key: `--${name}`, value });

  const setting = (key: string, fallback: string, flagName?: string, flagValue?: string, fromFile = false) =>
    pick(def(key, fallback), fromFile ? ini(key) : undefined, env(key), flagName ? flag(flagName, flagValue) : undefined)!;

  const fsyncFlag = flags.fsync === false ? { key: '--no-fsync', value: 'false' } : undefined;
  const secretsRaw = pick(env('SERVER_SECRETS_FILE'), flag('secrets-file', flags.secretsFile));
  const secrets = secretsRaw ? loadSecrets(secretsRaw) : null;
  const agenciesGiven = pick(env('SERVER_AGENCIES'), flag('agencies', flags.agencies));
  const idsRaw = pick(env('SERVER_AGENCY_IDS'), flag('agency-ids', flags.agencyIds));
  return {
    secretsFile: secretsRaw ? resolve(secretsRaw.value) : null,
    secrets,
    roster: chooseRoster(agenciesGiven, idsRaw, secretsRaw ? { raw: secretsRaw, ids: [...secrets!.keys()] } : null),
    fault: toFaultPlan(env(FAULT_VARIABLE)),
    databaseUrl: toDatabaseUrl(pick(env('SERVER_DATABASE_URL'), flag('database-url', flags.databaseUrl))),
    databaseTimeoutMs: toDurationMs(setting('SERVER_DATABASE_TIMEOUT', '15s', 'database-timeout', flags.databaseTimeout)),
    host: toText(setting('SERVER_HOST', '0.0.0.0', 'host', flags.host)),
    port: toInt(setting('SERVER_PORT', '12345', 'port', flags.port, true), 0, 65535),
    advertisedName: toText(setting('SERVER_IP', 'server', undefined, undefined, true)),
    listenBacklog: toInt(setting('SERVER_LISTEN_BACKLOG', '5', 'listen-backlog', flags.listenBacklog, true), 1, 65535),
    logLevel: toLevel(setting('LOGGING_LEVEL', 'INFO', 'log-level', flags.logLevel, true)),
    betsFile: resolve(toText(setting('SERVER_BETS_FILE', './bets.csv', 'bets-file', flags.betsFile))),
    maxConnections: toInt(setting('SERVER_MAX_CONNECTIONS', '128', 'max-connections', flags.maxConnections), 1, 10000),
    idleTimeoutMs: toDurationMs(setting('SERVER_IDLE_TIMEOUT', '30s', 'idle-timeout', flags.idleTimeout)),
    maxFrameBytes: toInt(
      setting('SERVER_MAX_FRAME_BYTES', String(MAX_BATCH_FRAME), 'max-frame-bytes', flags.maxFrameBytes),
      64,
      MAX_BATCH_FRAME,
    ),
    durable: toBool(pick(def('SERVER_FSYNC', 'true'), env('SERVER_FSYNC'), fsyncFlag)!),
    tls: toTls(
      pick(ini('SERVER_TLS_CERT'), env('SERVER_TLS_CERT'), flag('tls-cert', flags.tlsCert)),
      pick(ini('SERVER_TLS_KEY'), env('SERVER_TLS_KEY'), flag('tls-key', flags.tlsKey)),
      pick(ini('SERVER_TLS_CA'), env('SERVER_TLS_CA'), flag('tls-ca', flags.tlsCa)),
    ),
    tlsHandshakeTimeoutMs: Math.max(
      1,
      toDurationMs(setting('SERVER_TLS_HANDSHAKE_TIMEOUT', '10s', 'tls-handshake-timeout', flags.tlsHandshakeTimeout)),
    ),
    statusPort: toStatusPort(pick(ini('SERVER_STATUS_PORT'), env('SERVER_STATUS_PORT'), flag('status-port', flags.statusPort))),
    statusHost: toText(setting('SERVER_STATUS_HOST', '127.0.0.1', 'status-host', flags.statusHost, true)),
  };
}

/**
 * The roster: SERVER_AGENCY_IDS when given; else the secrets file's ids when
 * SERVER_AGENCIES is not set; else 1..SERVER_AGENCIES. SERVER_AGENCIES, when
 * set, must agree with a list; with secrets, every roster agency needs one.
 */
function chooseRoster(agenciesGiven: Raw | undefined, idsRaw: Raw | undefined, secrets: { raw: Raw; ids: number[] } | null): Roster {
  const agenciesRaw = agenciesGiven ?? def('SERVER_AGENCIES', '5');
  const count = toInt(agenciesRaw, 0, MAX_AGENCY_ID);
  const countGiven = agenciesGiven !== undefined;
  let roster: Roster;
  if (idsRaw) {
    try {
      roster = parseAgencyIds(idsRaw.value);
    } catch (error) {
      throw new ConfigError(idsRaw.key, (error as Error).message);
    }
    if (countGiven && count !== roster.length) {
      throw new ConfigError(agenciesRaw.key, `is ${count}, but ${idsRaw.key} lists ${roster.length} agencies (${describeRoster(roster)})`);
    }
  } else if (secrets && !countGiven) {
    roster = [...secrets.ids].sort((a, b) => a - b);
  } else {
    roster = rosterOfCount(count);
  }
  const unsecured = secrets ? roster.filter((id) => !secrets.ids.includes(id)) : [];
  if (unsecured.length > 0) {
    throw new ConfigError(secrets!.raw.key, `has no secret for expected agencies ${describeRoster(unsecured)}`);
  }
  return roster;
}

/** The central's certificate and key, and the CA agencies' certificates must chain to (mutual TLS). */
function toTls(cert: Raw | undefined, key: Raw | undefined, ca: Raw | undefined): TlsMaterial | null {
  if (!cert && !key) {
    if (ca) throw new ConfigError(ca.key, "mutual TLS needs the central's own certificate too (SERVER_TLS_CERT and SERVER_TLS_KEY)");
    return null;
  }
  return loadTlsMaterial(cert, key, ca);
}

/** Off when unset or empty; else a port (0: any free one). */
function toStatusPort(raw: Raw | undefined): number | null {
  if (!raw || raw.value.trim() === '') return null;
  return toInt(raw, 0, 65535);
}

export function toDatabaseUrl(raw: Raw | undefined): string | null {
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw.value.trim());
  } catch {
    throw new ConfigError(raw.key, 'must be a PostgreSQL URL like postgres://user:password@host:5432/lottery');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw new ConfigError(raw.key, `must be a postgres:// URL, got ${url.protocol}`);
  return url.toString();
}

function toFaultPlan(raw: Raw | undefined): FaultPlan | null {
  try {
    return faultPlanFrom(raw?.value);
  } catch (error) {
    throw new ConfigError(FAULT_VARIABLE, (error as Error).message);
  }
}

function loadSecrets(raw: Raw): Map<number, string> {
  if (!existsSync(raw.value)) throw new ConfigError(raw.key, `secrets file ${raw.value} does not exist`);
  try {
    const secrets = readSecretsFile(raw.value);
    if (secrets.size === 0) throw new Error(`${raw.value} holds no agency secret`);
    return secrets;
  } catch (error) {
    throw new ConfigError(raw.key, (error as Error).message);
  }
}

/** Keys of the ini file (section [DEFAULT], or top level). A missing default file is fine; a missing named one is not. */
function readIniFile(path: string | undefined): Record<string, unknown> {
  const chosen = path ?? DEFAULT_CONFIG_PATH;
  if (!existsSync(chosen)) {
    if (path === undefined) return {};
    throw new ConfigError('--config', `file ${chosen} does not exist`);
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = parseIni(readFileSync(chosen, 'utf8'));
  } catch (error) {
    throw new ConfigError('--config', `cannot read ${chosen}: ${(error as Error).message}`);
  }
  const section = parsed['DEFAULT'];
  const keys: Record<string, unknown> = { ...parsed };
  delete keys['DEFAULT'];
  if (section && typeof section === 'object') Object.assign(keys, section);
  return keys;
}
