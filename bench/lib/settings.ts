/**
 * The benchmark's settings: where the programs are, the data sizes of a full
 * and a --quick run, the targets, and the command line.
 */
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shebangFlags } from '../../scripts/proc.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SERVER_MAIN = join(ROOT, 'dist', 'server', 'main.js');
export const CLIENT_MAIN = join(ROOT, 'dist', 'client', 'main.js');
export const PARSE_ONLY = join(ROOT, 'dist', 'bench', 'parse-only.js');
export const LOAD_GENERATOR = join(ROOT, 'dist', 'bench', 'load-generator.js');
export const SINK = join(ROOT, 'dist', 'bench', 'sink.js');
export const WELCOME_FLOOR = join(ROOT, 'dist', 'bench', 'welcome-floor.js');
export const RELAY_FLOOR = join(ROOT, 'dist', 'bench', 'relay-floor.js');
/** The Node flags the agency and the central run with (their shebangs, which NodeProcess follows): their floors run with them too. */
export const agencyFlags = (): string[] => shebangFlags(CLIENT_MAIN);
export const centralFlags = (): string[] => shebangFlags(SERVER_MAIN);
export const REFERENCE_DIR = resolve(ROOT, '..', 'shared', 'data');
export const REFERENCE_BETS = 78_697;

/** The largest batch that fits 8 kB frames for typical bets; the agency's BatchEncoder also cuts at 8 kB. */
export const BATCH = 200;
export const LOADGEN_WINDOW = 128;
export const SEED = 20_261_123;
export const MB = 1024 * 1024;
export const CORES = os.availableParallelism();

export interface Sizes {
  readonly e2eAgencies: number;
  readonly e2eBets: number;
  /** Figure 1 is measured this many times; the median round is reported. */
  readonly e2eRounds: number;
  readonly capAgencies: number;
  readonly capBets: number;
  /** Figure 2 is measured this many times (pairs of runs); the median pair is reported. */
  readonly durableRounds: number;
  readonly refRuns: number;
  readonly drawAgencies: number;
  readonly drawLines: number;
  readonly manyAgencies: number;
  readonly manyBets: number;
  /** Figures 10 and 11: rounds side by side (the median round is reported). */
  readonly startRounds: number;
  /** Figure 12: Hellos, one at a time. */
  readonly welcomeProbes: number;
}

export const FULL: Sizes = {
  e2eAgencies: 5,
  e2eBets: 400_000,
  e2eRounds: 3,
  capAgencies: 10,
  capBets: 200_000,
  durableRounds: 3,
  refRuns: 5,
  drawAgencies: 5,
  drawLines: 10_000_000,
  manyAgencies: 100,
  manyBets: 2_000,
  startRounds: 5,
  welcomeProbes: 10,
};
export const QUICK: Sizes = {
  e2eAgencies: 5,
  e2eBets: 40_000,
  e2eRounds: 1,
  capAgencies: 10,
  capBets: 20_000,
  durableRounds: 1,
  refRuns: 1,
  drawAgencies: 5,
  drawLines: 1_000_000,
  manyAgencies: 20,
  manyBets: 500,
  startRounds: 1,
  welcomeProbes: 4,
};

export const TARGET = {
  e2eRatio: 1.25,
  durableRatio: 0.9,
  capacity: 1_000_000,
  referenceSeconds: 0.6,
  drawSeconds: 2,
  rssBytes: 150 * MB,
  rssGrowth: 1.1,
  /** Figure 8: TLS (mutual, TLS 1.3) may cost at most 15 % of plain TCP's capacity. */
  tlsRatio: 0.85,
  /** PostgreSQL ingest against the file store's, same files (issue 13). */
  postgresShare: 0.5,
  /** Figures 10–13 (issue 15): small runs as fast as large ones. */
  agencyCpuRatio: 1.3,
  referenceRatio: 1.5,
  welcomeMs: 5,
  perBetUs: 0.5,
};

export interface Args {
  quick: boolean;
  only: Set<number> | null;
  keepTemp: boolean;
  profileDir: string | null;
}

export function parseArgs(argv: readonly string[]): Args {
  const args: Args = { quick: false, only: null, keepTemp: false, profileDir: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--keep-temp') args.keepTemp = true;
    else if (a === '--only') args.only = new Set((argv[++i] ?? '').split(',').map(Number));
    else if (a === '--profile') args.profileDir = resolve(argv[++i] ?? 'bench-profiles');
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node dist/bench/bench.js [--quick] [--only 1,2,...] [--keep-temp] [--profile DIR]\n');
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  return args;
}

export const args = parseArgs(process.argv.slice(2));
export const sizes = args.quick ? QUICK : FULL;
export const wants = (figure: number) => args.only === null || args.only.has(figure);
