#!/usr/bin/env -S node --no-concurrent-recompilation
/**
 * lottery-client: one agency. A thin shell: flags and config, the bet input
 * (file, or one bet from NOMBRE/APELLIDO/DOCUMENTO/NACIMIENTO/NUMERO), the
 * Agency run, signals, exit codes. With common/cli.ts, the only place that
 * calls process.exit.
 *
 * The shebang's V8 flag runs the optimising compiler on the thread that
 * asked for the code instead of a background one: on these two-core VMs
 * the hand-off cost more CPU than it saved (docs/performance.md, 2026-12-04,
 * evening). The images' entry points and the benchmark run the program
 * through this line too (scripts/proc.ts, shebangFlags).
 */
import { existsSync, statSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { Command } from 'commander';
import { buildConfig, parseFlags, runMain } from '../common/cli.js';
import { ConfigError } from '../common/config.js';
import { Logger } from '../common/logger.js';
import { Agency, type BetInput } from './agency.js';
import { toRow } from './bet-source.js';
import { DEFAULT_CONFIG_PATH, loadClientConfig, type ClientConfig, type ClientFlags } from './config.js';
import { ProgressReporter, resolveMode, type SendCounters } from './progress.js';

/** The command line, described when there is one to parse (see parseFlags). */
const describe = (Program: typeof Command): Command =>
  new Program()
    .name('lottery-client')
    .description('A lottery agency: sends its bets to the central in batches, then asks for its winners.')
    .option(
      '-c, --config <path>',
      `YAML config file (server.address, loop.amount, loop.period, log.level, batch.maxAmount; optional tls.ca, tls.cert, tls.key)`,
    )
    .option('--id <n>', 'agency id, 1..65535 (CLI_ID; required)')
    .option('--server-address <host:port>', 'the central (CLI_SERVER_ADDRESS, default server:12345)')
    .option('--loop-amount <n>', 'connection attempts before giving up (CLI_LOOP_AMOUNT, default 5)')
    .option('--loop-period <duration>', 'wait between attempts, e.g. 150ms, 5s (CLI_LOOP_PERIOD, default 5s)')
    .option(
      '--reply-timeout <duration>',
      'silence from a central that owes a reply before it is presumed gone (CLI_REPLY_TIMEOUT, default 30s)',
    )
    .option('--log-level <level>', 'DEBUG, INFO, WARNING, ERROR or CRITICAL (CLI_LOG_LEVEL, default INFO)')
    .option('--batch-max-amount <n>', 'bets per batch (CLI_BATCH_MAXAMOUNT, default 10)')
    .option('--window <n>', 'batches sent ahead of their acks (CLI_BATCH_WINDOW, default 256)')
    .option('--data-file <path>', 'the bets file (CLI_DATA_FILE, default .data/agency-<id>.csv)')
    .option('--secret-file <path>', "file whose first line is this agency's secret (CLI_SECRET_FILE; or CLI_SECRET holds it)")
    .option('--tls-ca <path>', "PEM CA that signed the central's certificate: connect over TLS and verify it (CLI_TLS_CA)")
    .option('--tls-cert <path>', "this agency's PEM certificate, for mutual TLS (CLI_TLS_CERT; needs --tls-key and --tls-ca)")
    .option('--tls-key <path>', "this agency's PEM private key (CLI_TLS_KEY)")
    .option('--strict', 'stop at the first invalid row or rejected batch, exit 1 (CLI_STRICT)')
    .option(
      '--progress <mode>',
      'auto (a bar on stderr when it is a terminal, else progress log lines), bar, lines or off (CLI_PROGRESS, progress.mode; default auto)',
    )
    .option('--progress-interval <duration>', 'between progress log lines (CLI_PROGRESS_INTERVAL, progress.interval; default 5s)')
    .addHelpText(
      'after',
      `\nPrecedence: defaults < ${DEFAULT_CONFIG_PATH} < environment < flags.
  Single-bet mode: with NOMBRE, APELLIDO, DOCUMENTO, NACIMIENTO and NUMERO all set, sends that one bet instead of the file.
  Exit codes: 0 ok, 1 runtime failure (central unreachable, rejected data), 2 bad usage or config.`,
    )
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

const SINGLE_BET_VARS = ['NOMBRE', 'APELLIDO', 'DOCUMENTO', 'NACIMIENTO', 'NUMERO'] as const;

/** The bet input, checked before any connection is made. */
function chooseInput(config: ClientConfig): BetInput {
  const set = SINGLE_BET_VARS.filter((name) => process.env[name] !== undefined && process.env[name] !== '');
  if (set.length === SINGLE_BET_VARS.length) {
    const row = toRow(
      SINGLE_BET_VARS.map((name) => process.env[name]!.trim()),
      0,
    );
    if ('error' in row) throw new ConfigError('NOMBRE/APELLIDO/DOCUMENTO/NACIMIENTO/NUMERO', `invalid bet: ${row.error}`);
    return { kind: 'single', bet: row.bet };
  }
  if (set.length > 0) {
    const missing = SINGLE_BET_VARS.filter((name) => !set.includes(name));
    throw new ConfigError(missing.join(', '), `single-bet mode needs all of ${SINGLE_BET_VARS.join(', ')}; missing`);
  }
  if (!existsSync(config.dataFile) || !statSync(config.dataFile).isFile()) {
    throw new ConfigError('CLI_DATA_FILE', `bets file ${config.dataFile} does not exist or is not a file`);
  }
  return { kind: 'file', path: config.dataFile };
}

async function main(): Promise<number> {
  const flags = await parseFlags<ClientFlags>(describe, process.argv);
  if (typeof flags === 'number') return flags;
  const setup = buildConfig(() => {
    const config = loadClientConfig(flags);
    return { config, input: chooseInput(config) };
  });
  if (typeof setup === 'number') return setup;
  const { config, input } = setup;
  const logger = new Logger(config.logLevel);
  logger.info('config', 'success', {
    client_id: config.id,
    server_address: config.serverAddress,
    loop_amount: config.loopAmount,
    loop_period: config.loopPeriod,
    log_level: config.logLevel,
    batch_max_amount: config.batchMaxAmount,
    data_file: input.kind === 'file' ? input.path : 'single bet (environment)',
    tls: !config.tls ? 'off' : config.tls.cert ? 'mutual' : 'server',
  });

  const stop = new AbortController();
  const agency = new Agency(config, input, logger, stop.signal);
  const startedMs = Date.now();
  // One bet needs no progress display.
  const reporter =
    input.kind === 'file'
      ? new ProgressReporter(agency.counters, logger, {
          mode: resolveMode(config.progress, isatty(2)),
          intervalMs: config.progressIntervalMs,
          clientId: config.id,
          dataFile: input.path,
        })
      : null;
  reporter?.start();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(0); // second signal: at once
    logger.info('shutdown', 'in_progress', { signal, client_id: config.id });
    stop.abort();
    agency.close();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    const result = await agency.run();
    reporter?.finish(true);
    if (input.kind === 'file') {
      logger.info('consulta_ganadores', 'success', { cant_ganadores: result.winners.length });
      logSummary(logger, config.id, agency.counters, Date.now() - startedMs, result.winners.length);
    }
    if (result.rejected > 0) {
      // The run went to the end, but the central refused some of the agency's data.
      logger.error('agency', 'fail', {
        client_id: config.id,
        error: `the central rejected ${result.rejected} bets`,
        rejected: result.rejected,
      });
      return 1;
    }
    logger.info('loop_finished', 'success', { client_id: config.id });
    return 0;
  } catch (error) {
    reporter?.finish(false);
    if (stop.signal.aborted) {
      // Both resources are released by now: the reader stops on the abort, the socket is destroyed.
      logger.info('data_file_closed', 'success', { client_id: config.id });
      logger.info('socket_closed', 'success', { client_id: config.id });
      logger.info('shutdown', 'success', { client_id: config.id });
      return 0;
    }
    logger.error('agency', 'fail', { client_id: config.id, error: (error as Error).message });
    return 1;
  }
}

/** The run in one line: what was sent, what was not, how fast, and the winners. */
function logSummary(logger: Logger, clientId: number, counters: SendCounters, elapsedMs: number, winners: number): void {
  const seconds = elapsedMs / 1000;
  const fields = {
    client_id: clientId,
    sent: counters.sent,
    invalid: counters.invalid,
    rejected: counters.rejected,
    batches: counters.batches,
    seconds: Number(seconds.toFixed(3)),
    bets_per_s: seconds > 0 ? Math.round(counters.sent / seconds) : 0,
    winners,
  };
  // Refused bets are a failed delivery, whatever the exit path says next.
  if (counters.rejected > 0) logger.warning('summary', 'fail', fields);
  else logger.info('summary', 'success', fields);
}

runMain('agency', main);
