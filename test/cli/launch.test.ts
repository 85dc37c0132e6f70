/**
 * The programs as the package's bins and the images start them: executed
 * themselves, through their shebang line (`#!/usr/bin/env -S node FLAGS`).
 * Proves that `env` runs the line, that node is then the process itself (it
 * gets the signals: a graceful stop, exit 0) and carries the program's V8
 * flags, and that the tests and the benchmark, which start the programs with
 * this Node (scripts/proc.ts), pass the same flags.
 */
import { spawn } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { shebangFlags } from '../../scripts/proc.js';
import { cleanEnv, CLIENT_MAIN, closedPort, SERVER_MAIN, spawnNode, workDir } from '../helpers/processes.js';

/** What docs/performance.md measured the programs faster with (2026-12-04, evening). */
const EXPECTED_FLAGS = ['--no-concurrent-recompilation'];

/** A process's argument vector, as the kernel has it. */
function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
}

/** Runs `script` as an executable, with this test's node first on PATH; resolves at the first line matching `ready`. */
function execute(t: Test, script: string, args: string[], env: Record<string, string>, ready: RegExp) {
  const bin = workDir(t, 'bin');
  symlinkSync(process.execPath, join(bin, 'node'));
  const childEnv = cleanEnv({ ...env, PATH: `${bin}:${process.env['PATH'] ?? ''}` });
  delete childEnv['NODE_OPTIONS']; // tap's loader: the program runs as users run it
  const child = spawn(script, args, { cwd: workDir(t), env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const lines: string[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const readyLine = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (ready.test(line)) resolve(line);
    });
    void exited.then((code) => reject(new Error(`exited (${code}) before ${ready}: ${lines.join('\n')}\n${stderr}`)));
  });
  readyLine.catch(() => undefined);
  return { child, lines, exited, readyLine, stderr: () => stderr };
}

t.test('both programs name node and their flags in a shebang line env can run', async (t) => {
  for (const script of [SERVER_MAIN, CLIENT_MAIN]) {
    const first = readFileSync(script, 'utf8').split('\n')[0];
    t.equal(first, `#!/usr/bin/env -S node ${EXPECTED_FLAGS.join(' ')}`, `${script}: shebang`);
    t.same(shebangFlags(script), EXPECTED_FLAGS, `${script}: the flags the tests and the benchmark pass`);
  }
  t.same(shebangFlags(join(workDir(t), 'no-such-file.js')), [], 'no file: no flags (node reports the missing file itself)');
});

t.test('the central executed itself: node with its flags is the process, SIGTERM stops it with exit 0', async (t) => {
  const dir = workDir(t, 'central');
  const run = execute(
    t,
    SERVER_MAIN,
    ['--host', '127.0.0.1', '--port', '0', '--agencies', '0'],
    { SERVER_BETS_FILE: join(dir, 'bets.csv') },
    /action: listening \| result: success/,
  );
  await run.readyLine;
  const argv = commandLine(run.child.pid!);
  t.same(argv.slice(1, 3), [...EXPECTED_FLAGS, SERVER_MAIN], 'node, then the flags, then the program');
  t.match(argv[0], /(^|\/)node$/, 'env exec-ed node in its own place: the pid is node');
  run.child.kill('SIGTERM');
  t.equal(await run.exited, 0, 'exit 0', { stderr: run.stderr() });
  t.ok(
    run.lines.some((line) => /action: shutdown \| result: success/.test(line)),
    'the graceful shutdown ran',
    { log: run.lines },
  );
});

t.test('the agency executed itself: node with its flags, the usual exit code', async (t) => {
  const port = await closedPort();
  const data = join(workDir(t, 'agency'), 'bets.csv');
  writeFileSync(data, 'Ana,Gómez,30111222,1990-05-17,7574\n');
  const run = execute(
    t,
    CLIENT_MAIN,
    [],
    { CLI_ID: '1', CLI_SERVER_ADDRESS: `127.0.0.1:${port}`, CLI_DATA_FILE: data, CLI_LOOP_AMOUNT: '2', CLI_LOOP_PERIOD: '3s' },
    /action: connect \| result: in_progress/,
  );
  await run.readyLine;
  const argv = commandLine(run.child.pid!);
  t.same(argv.slice(1, 3), [...EXPECTED_FLAGS, CLIENT_MAIN], 'node, then the flags, then the program');
  t.equal(await run.exited, 1, 'exit 1 once the central stays unreachable', { stderr: run.stderr() });
});

t.test('started by the tests with this Node, a program gets its shebang flags too', async (t) => {
  const proc = spawnNode(t, 'central', SERVER_MAIN, ['--host', '127.0.0.1', '--port', '0', '--agencies', '0'], {
    cwd: workDir(t),
    env: { SERVER_BETS_FILE: join(workDir(t, 'spawned'), 'bets.csv') },
  });
  await proc.waitForLog((line) => line.action === 'listening', 'listening');
  t.same(commandLine(proc.pid!).slice(1, 3), [...EXPECTED_FLAGS, SERVER_MAIN], 'node, the flags, the program');
  proc.signal('SIGTERM');
  t.equal((await proc.waitExit(30_000)).code, 0, 'exit 0');
});
