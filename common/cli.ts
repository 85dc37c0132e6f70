/**
 * The parts of both command-line shells that are the same: parsing flags and
 * turning configuration problems into the contract's exit codes.
 */
import type { Command, OptionValues } from 'commander';
import { ConfigError } from './config.js';
import { Logger } from './logger.js';

/** Exit code 2: bad usage or configuration (the contract's code). */
export const USAGE_ERROR = 2;

/**
 * The parsed options, or the exit code to stop with (0 after --help, 2 on
 * bad usage). Without arguments there is nothing to parse, and commander is
 * not even loaded: containers and most runs configure through files and the
 * environment, and each start-up saves the ~20 ms of compiling it.
 */
export async function parseFlags<T extends OptionValues>(
  describe: (command: typeof Command) => Command,
  argv: readonly string[],
): Promise<T | number> {
  if (argv.length <= 2) return {} as T;
  const { Command, CommanderError } = await import('commander');
  const program = describe(Command);
  try {
    program.exitOverride().parse(argv);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : USAGE_ERROR;
    throw error;
  }
  return program.opts<T>();
}

/** Runs `build`; a ConfigError becomes one `config | result: fail` line naming the key, and exit code 2. */
export function buildConfig<T>(build: () => T): T | number {
  try {
    return build();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    new Logger('INFO').critical('config', 'fail', { key: error.key, error: error.problem });
    return USAGE_ERROR;
  }
}

/**
 * Runs a program's `main` and exits with its code; an unexpected error is
 * logged as one CRITICAL line under `action` and exits 1. The only
 * process.exit of each program.
 */
export function runMain(action: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      new Logger('INFO').critical(action, 'fail', { error: String((error as Error)?.stack ?? error) });
      process.exit(1);
    },
  );
}
