#!/usr/bin/env -S node --no-concurrent-recompilation
/**
 * lottery-server: the central. A thin shell: parse flags, build the config,
 * start the Central, turn signals into a graceful shutdown. The only place
 * (with common/cli.ts) that calls process.exit: the Central is handed a way
 * to end the process for its storage fail-stop.
 *
 * The shebang's V8 flag is the agency's (client/main.ts says why); a V8
 * flag is the process's, so the connection workers run with it too.
 */
import type { Command } from 'commander';
import { buildConfig, parseFlags, runMain } from '../common/cli.js';
import { Logger } from '../common/logger.js';
import { Central } from './central.js';
import { describeRoster } from './roster.js';
import { LotteryMismatch } from './storage/store.js';
import { DEFAULT_CONFIG_PATH, loadServerConfig, type ServerFlags } from './config.js';

/** The command line, described when there is one to parse (see parseFlags). */
const describe = (Program: typeof Command): Command =>
  new Program()
    .name('lottery-server')
    .description("The lottery central: stores every agency's bets and runs the draw once all expected agencies are done.")
    .option(
      '-c, --config <path>',
      `INI config file ([DEFAULT] SERVER_PORT, SERVER_IP, SERVER_LISTEN_BACKLOG, LOGGING_LEVEL; optional SERVER_TLS_CERT, SERVER_TLS_KEY, SERVER_TLS_CA)`,
      undefined,
    )
    .option('--host <address>', 'address to listen on (env SERVER_HOST, default 0.0.0.0)')
    .option('-p, --port <port>', 'TCP port, 0 for any free one (SERVER_PORT, default 12345)')
    .option('--listen-backlog <n>', 'pending-connection queue length (SERVER_LISTEN_BACKLOG, default 5)')
    .option('--log-level <level>', 'DEBUG, INFO, WARNING, ERROR or CRITICAL (LOGGING_LEVEL, default INFO)')
    .option(
      '--agencies <n>',
      'agencies the draw waits for, ids 1..n; 0 admits any agency and disables the draw (SERVER_AGENCIES, default 5)',
    )
    .option(
      '--agency-ids <list>',
      "the agencies the draw waits for, e.g. 1-5,9; others are refused (SERVER_AGENCY_IDS; default: the secrets file's ids, else 1..SERVER_AGENCIES)",
    )
    .option('--bets-file <path>', 'where bets are stored (SERVER_BETS_FILE, default ./bets.csv; unused with a database)')
    .option(
      '--database-url <url>',
      'store bets in this PostgreSQL database instead, shared by several centrals: postgres://user:password@host:5432/db (SERVER_DATABASE_URL)',
    )
    .option(
      '--database-timeout <duration>',
      'give up a database query or connection attempt after this long (SERVER_DATABASE_TIMEOUT, default 15s)',
    )
    .option('--max-connections <n>', 'connections served at once; more are refused (SERVER_MAX_CONNECTIONS, default 128)')
    .option('--idle-timeout <duration>', 'drop a connection silent this long, e.g. 30s; 0 disables (SERVER_IDLE_TIMEOUT, default 30s)')
    .option('--max-frame-bytes <n>', 'largest bet-batch frame accepted, 64..8192 (SERVER_MAX_FRAME_BYTES, default 8192)')
    .option(
      '--secrets-file <path>',
      'per-agency secrets, one "<agency> <secret>" per line; agencies must then prove theirs (SERVER_SECRETS_FILE)',
    )
    .option('--tls-cert <path>', 'PEM certificate: the agency port speaks TLS only (SERVER_TLS_CERT; needs --tls-key)')
    .option('--tls-key <path>', "PEM private key of the central's certificate (SERVER_TLS_KEY)")
    .option(
      '--tls-ca <path>',
      'PEM CA: agencies must present a certificate it signed, with subject CN agency-<id> (SERVER_TLS_CA; mutual TLS)',
    )
    .option(
      '--tls-handshake-timeout <duration>',
      'drop a peer that has not finished its TLS handshake after this long (SERVER_TLS_HANDSHAKE_TIMEOUT, default 10s)',
    )
    .option(
      '--status-port <port>',
      'HTTP status port: /metrics, /healthz, /readyz and a live page at /; 0 for any free one (SERVER_STATUS_PORT; default off)',
    )
    .option('--status-host <address>', 'address the status port listens on (SERVER_STATUS_HOST, default 127.0.0.1)')
    .option(
      '--no-fsync',
      'acknowledge batches before they reach the disk: faster, but a power loss can lose acknowledged bets (SERVER_FSYNC=false)',
    )
    .addHelpText(
      'after',
      `\nPrecedence: defaults < ${DEFAULT_CONFIG_PATH} < environment < flags. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.
Commands:
  report [--format table|csv|json]   the draw's winners per agency, read from the store (see lottery-server report --help)`,
    )
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

async function main(): Promise<number> {
  if (process.argv[2] === 'report') {
    // A separate command with its own flags, loaded only when asked for.
    const { reportMain } = await import('./report/command.js');
    return reportMain(process.argv);
  }
  const flags = await parseFlags<ServerFlags>(describe, process.argv);
  if (typeof flags === 'number') return flags;
  const config = buildConfig(() => loadServerConfig(flags));
  if (typeof config === 'number') return config;
  const logger = new Logger(config.logLevel);
  logger.info('config', 'success', {
    port: config.port,
    listen_backlog: config.listenBacklog,
    logging_level: config.logLevel,
    agencies: config.roster.length,
    roster: describeRoster(config.roster),
    store: config.databaseUrl ? 'postgres' : 'file',
    bets_file: config.databaseUrl ? 'unused' : config.betsFile,
    fsync: config.durable,
    max_connections: config.maxConnections,
    idle_timeout_ms: config.idleTimeoutMs,
    max_frame_bytes: config.maxFrameBytes,
    auth: config.secrets ? `${config.secrets.size} agency secrets` : 'off',
    tls: !config.tls ? 'off' : config.tls.ca ? 'mutual' : 'server',
    status: config.statusPort === null ? 'off' : `${config.statusHost}:${config.statusPort}`,
  });
  // Mutual TLS names the agency too: a client may then speak only for the agency its certificate names.
  if (!config.secrets && !config.tls?.ca) {
    logger.warning('auth', 'success', {
      mode: 'unauthenticated',
      detail: 'no agency secrets configured (SERVER_SECRETS_FILE); any client may speak for any agency',
    });
  }

  const central = new Central(config, logger, (code) => process.exit(code));
  // Listened for before the start: a SIGTERM that comes right after `listening` is a shutdown, not a kill.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  try {
    await central.start();
  } catch (error) {
    logger.critical('startup', 'fail', { error: (error as Error).message });
    // Another lottery's files under this configuration is a configuration problem.
    return error instanceof LotteryMismatch ? 2 : 1;
  }

  const signal = await stopSignal;
  logger.info('shutdown', 'in_progress', { signal });
  // A second signal means "now": no more waiting for workers.
  const force = (second: NodeJS.Signals) => {
    logger.warning('shutdown', 'fail', { signal: second, detail: 'second signal, exiting at once' });
    process.exit(0);
  };
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  await central.shutdown();
  logger.info('shutdown', 'success');
  return 0;
}

runMain('central', main);
