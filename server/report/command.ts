/**
 * `lottery-server report`: the draw's winners per agency, from the store a
 * central uses (the same SERVER_BETS_FILE / SERVER_DATABASE_URL and flags),
 * as a table, CSV or JSON on stdout. It only reads, and may run beside a
 * running central. Exit codes: 0 printed, 1 the store cannot be read, 2 bad
 * usage, 3 no draw yet (nothing printed on stdout; the reason on stderr).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseFlags, USAGE_ERROR } from '../../common/cli.js';
import { ConfigError, env, pick, toDurationMs, toText, type Raw } from '../../common/config.js';
import { Logger } from '../../common/logger.js';
import { toDatabaseUrl } from '../config.js';
import { NoDrawYet, ReportError, type DrawReport } from './draw-report.js';
import { formatReport, REPORT_FORMATS, type ReportFormat } from './format.js';

export const NO_DRAW_YET = 3;

interface ReportFlags {
  readonly betsFile?: string;
  readonly databaseUrl?: string;
  readonly databaseTimeout?: string;
  readonly format?: string;
}

interface ReportConfig {
  readonly betsFile: string;
  readonly databaseUrl: string | null;
  readonly databaseTimeoutMs: number;
  readonly format: ReportFormat;
}

const describe = (Program: typeof Command): Command =>
  new Program()
    .name('lottery-server report')
    .description('Winners per agency after the draw, with the bets each has stored. Reads the store only; safe beside a running central.')
    .option('--format <format>', `${REPORT_FORMATS.join(', ')} (default table)`)
    .option('--bets-file <path>', 'the file store to read (SERVER_BETS_FILE, default ./bets.csv; unused with a database)')
    .option('--database-url <url>', 'read the PostgreSQL store instead: postgres://user:password@host:5432/db (SERVER_DATABASE_URL)')
    .option('--database-timeout <duration>', 'give up connecting or a query after this long (SERVER_DATABASE_TIMEOUT, default 15s)')
    .addHelpText('after', '\nExit codes: 0 report printed, 1 the store cannot be read, 2 bad usage, 3 no draw yet.')
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

const def = (key: string, value: string): Raw => ({ key, value });
const flag = (name: string, value: string | undefined): Raw | undefined => (value === undefined ? undefined : { key: `--${name}`, value });

function loadReportConfig(flags: ReportFlags): ReportConfig {
  const formatRaw = pick(def('--format', 'table'), flag('format', flags.format))!;
  const format = formatRaw.value.trim().toLowerCase();
  if (!(REPORT_FORMATS as readonly string[]).includes(format)) {
    throw new ConfigError(formatRaw.key, `must be one of ${REPORT_FORMATS.join(', ')}, got ${JSON.stringify(formatRaw.value)}`);
  }
  return {
    format: format as ReportFormat,
    betsFile: resolve(toText(pick(def('SERVER_BETS_FILE', './bets.csv'), env('SERVER_BETS_FILE'), flag('bets-file', flags.betsFile))!)),
    databaseUrl: toDatabaseUrl(pick(env('SERVER_DATABASE_URL'), flag('database-url', flags.databaseUrl))),
    databaseTimeoutMs: toDurationMs(
      pick(def('SERVER_DATABASE_TIMEOUT', '15s'), env('SERVER_DATABASE_TIMEOUT'), flag('database-timeout', flags.databaseTimeout))!,
    ),
  };
}

async function readReport(config: ReportConfig): Promise<DrawReport> {
  if (config.databaseUrl) {
    const { readPostgresReport } = await import('./read-postgres.js');
    return readPostgresReport(config.databaseUrl, config.databaseTimeoutMs);
  }
  const { readFileReport } = await import('./read-file-store.js');
  return readFileReport(config.betsFile);
}

/** Runs the subcommand; `argv` is process.argv with `report` in it (argv[2]). Returns the exit code. */
export async function reportMain(argv: readonly string[]): Promise<number> {
  // Problems go to stderr as log lines, so that stdout holds the report and nothing else.
  const problems = new Logger('INFO', 2);
  const flags = await parseFlags<ReportFlags>(describe, [argv[0], argv[1], ...argv.slice(3)]);
  if (typeof flags === 'number') return flags;
  let config: ReportConfig;
  try {
    config = loadReportConfig(flags);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.critical('config', 'fail', { key: error.key, error: error.problem });
    return USAGE_ERROR;
  }
  let report: DrawReport;
  try {
    report = await readReport(config);
  } catch (error) {
    if (error instanceof NoDrawYet) {
      problems.warning('report', 'fail', { reason: 'no_draw_yet', error: error.message });
      return NO_DRAW_YET;
    }
    if (error instanceof ReportError) {
      problems.error('report', 'fail', { error: error.message });
      return 1;
    }
    throw error;
  }
  const text = formatReport(report, config.format);
  await new Promise<void>((done) => process.stdout.write(text, () => done()));
  return 0;
}
