/**
 * The agency's progress, from outside, against a real central:
 *
 *   - on a pseudo-terminal (util-linux `script` gives the agency one for
 *     stdout and stderr): a bar redrawn in place with carriage returns,
 *     climbing to 100.0% of the file's lines, and the log lines around it
 *     still whole lines in the contract's shape;
 *   - on a pipe: a `progress` log line every interval (`in_progress`, rows
 *     and sent never going back, the file's line count as total), then one
 *     `summary` line whose numbers are the file's: bets sent, invalid rows,
 *     batches, winners; and nothing of it with `--progress off`.
 *
 * A throttling proxy between agency and central slows the upload to a known
 * rate, so that every run lasts long enough for several redraws or lines on
 * any machine (no timing is asserted beyond "at least a few").
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { shebangFlags } from '../../scripts/proc.js';
import {
  assertLogShape,
  CLIENT_MAIN,
  cleanEnv,
  findLogs,
  finishClient,
  generateData,
  LOG_LINE_SHAPE,
  parseLogs,
  startClient,
  startServer,
  winnersOf,
  workDir,
  type LogLine,
} from '../helpers/processes.js';

/** Agency → central bytes per second through the proxy: a few seconds per run. */
const THROTTLE_BYTES_PER_S = 96 * 1024;

/**
 * A TCP proxy to `port` on 127.0.0.1 that forwards the agency's bytes at
 * `rate` bytes/s; with `cutFirstAfter`, it drops the first connection once it
 * has forwarded that many bytes. Closed at teardown.
 */
async function throttlingProxy(t: Test, port: number, rate: number, cutFirstAfter = Infinity): Promise<number> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((agency) => {
    const central = connect(port, '127.0.0.1');
    sockets.add(agency).add(central);
    const cutAfter = ++connections === 1 ? cutFirstAfter : Infinity;
    let forwarded = 0;
    agency.on('data', (chunk: Buffer) => {
      forwarded += chunk.length;
      if (forwarded > cutAfter) {
        agency.destroy();
        central.destroy();
        return;
      }
      central.write(chunk);
      agency.pause();
      setTimeout(() => agency.resume(), (chunk.length / rate) * 1000);
    });
    central.pipe(agency);
    const close = () => {
      agency.destroy();
      central.destroy();
    };
    agency.on('close', close).on('error', close);
    central.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

/** The rows a bad-rows test inserts, each invalid for its own reason. */
const BAD_ROWS = [
  'only,four,fields,here',
  'Ana,Gómez,30111222,1990-05-17,99999',
  'Ana,Gómez,not-digits,1990-05-17,12',
  'Ana,Gómez,30111222,2990-05-17,12',
];

/** Inserts BAD_ROWS spread through the file; returns its line count. */
function insertBadRows(path: string): number {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const step = Math.floor(lines.length / (BAD_ROWS.length + 1));
  BAD_ROWS.forEach((row, i) => lines.splice((i + 1) * step + i, 0, row));
  writeFileSync(path, lines.join('\n') + '\n');
  return lines.length;
}

const noScript = spawnSync('script', ['--version']).status === 0 ? null : 'no `script` here (util-linux; scripts/install-test-deps.sh)';
/** CI (LOTTERY_REQUIRE_ALL=1) runs it anyway, and it fails saying why. */
const skipPty = noScript !== null && process.env['LOTTERY_REQUIRE_ALL'] !== '1' ? noScript : false;

t.test('on a pseudo-terminal: a bar redrawn to 100%, log lines intact', { skip: skipPty }, async (t) => {
  if (noScript) return void t.fail(noScript);
  const dir = workDir(t);
  const [file] = await generateData(t, dir, { agencies: 1, bets: 8000, winners: [2], seed: 21 });
  const server = await startServer(t, { agencies: 1 });
  const proxy = await throttlingProxy(t, server.port, THROTTLE_BYTES_PER_S);

  // -q quiet, -f flush at once, -e the child's exit code, -c the command; the typescript goes nowhere.
  const env = cleanEnv({ CLI_ID: '1', CLI_SERVER_ADDRESS: `127.0.0.1:${proxy}`, CLI_DATA_FILE: file, CLI_LOOP_PERIOD: '100ms' });
  const node = [process.execPath, ...shebangFlags(CLIENT_MAIN), CLIENT_MAIN].map((word) => `'${word}'`).join(' ');
  const child = spawn('script', ['-qfec', node, '/dev/null'], {
    cwd: dir,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let screen = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (screen += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (screen += text));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  child.stdin.end();
  t.equal(code, 0, 'the agency exits 0', { screen });

  // What the terminal shows on each line: the text after the line's last carriage return.
  const rows = screen.split('\n').map((line) => line.replace(/\r$/, ''));
  const visible = rows.map((line) => line.slice(line.lastIndexOf('\r') + 1).replace(/^\x1b\[K/, ''));
  const logLines = visible.filter((line) => !line.startsWith('[') && line.trim() !== '');
  assertLogShape(t, logLines, 'the agency on a terminal');
  t.ok(logLines.length >= 5, `log lines are whole lines on the terminal (${logLines.length})`);
  t.same(
    logLines.filter((line) => line.includes('result: fail')),
    [],
    'a healthy run prints no result: fail',
  );
  const actions = parseLogs(logLines).map((l) => l.action);
  t.same(
    actions.slice(-3),
    ['consulta_ganadores', 'summary', 'loop_finished'],
    'winners, summary, loop_finished end the run, in that order',
  );
  t.notOk(actions.includes('progress'), 'no progress log lines when the bar is shown');

  const draws = [...screen.matchAll(/\r\[([#-]{24})\] +(\d+\.\d)% +(\d+)\/(\d+) rows +\d+ bets\/s +eta [\d:-]+\x1b\[K/g)];
  t.ok(draws.length >= 3, `the bar is redrawn in place with carriage returns (${draws.length} draws)`);
  const percents = draws.map((d) => Number(d[2]));
  t.same(
    percents.filter((p, i) => i > 0 && p < percents[i - 1]),
    [],
    'the percentage never goes back',
  );
  t.equal(percents[percents.length - 1], 100, 'the last draw shows 100.0%');
  t.ok(
    percents.some((p) => p > 0 && p < 100),
    'and draws in between show the run under way',
  );
  t.equal(draws[draws.length - 1][4], '8000', "the total is the file's line count");
  t.equal(draws[draws.length - 1][1], '#'.repeat(24), 'the last bar is full');
  // The finished bar is left on its own line: the next thing on the terminal starts a new one.
  t.match(screen, /100\.0%[^\n]*\x1b\[K\r\n\S/, 'the bar ends its line once done');
});

t.test('not on a terminal: progress lines every interval, a summary with the right numbers', async (t) => {
  const dir = workDir(t);
  const [file] = await generateData(t, dir, { agencies: 1, bets: 8000, winners: [3], seed: 22 });
  const lines = insertBadRows(file);
  const server = await startServer(t, { agencies: 1 });
  const proxy = await throttlingProxy(t, server.port, THROTTLE_BYTES_PER_S);
  const run = await finishClient(
    startClient(t, { id: 1, port: proxy, dataFile: file, batch: 10, env: { CLI_PROGRESS_INTERVAL: '300ms' } }),
  );
  t.equal(run.code, 0, 'the agency exits 0', { stdout: run.stdout, stderr: run.stderr });
  t.equal(run.stderr, '', 'nothing on stderr (no bar without a terminal)');
  assertLogShape(t, run.lines, 'the agency');

  const progress = findLogs(run.logs, 'progress');
  const summary = findLogs(run.logs, 'summary');
  t.equal(summary.length, 1, 'one summary line');
  const s = summary[0]?.fields ?? {};
  t.ok(progress.length >= 3, `progress lines come every interval (${progress.length} in ${s['seconds']} s)`);
  t.ok(progress.length <= Number(s['seconds']) / 0.3 + 1, 'and not more often than the interval');
  t.same(
    progress.filter((l) => l.result !== 'in_progress' || l.level !== 'INFO'),
    [],
    'each is INFO and in_progress',
  );
  const known = progress.filter((l) => l.fields['total'] !== 'unknown');
  t.equal(known.length, progress.length, 'the total is known on every line (the file is counted for the first)');
  t.same(
    known.filter((l) => l.fields['total'] !== String(lines)),
    [],
    `total is the file's ${lines} lines`,
  );
  const increasing = (key: string) => progress.every((l, i) => i === 0 || Number(l.fields[key]) >= Number(progress[i - 1].fields[key]));
  t.ok(increasing('rows') && increasing('sent'), 'rows and sent never go back');
  t.ok(
    progress.some((l) => Number(l.fields['sent']) > 0 && Number(l.fields['sent']) < 8000),
    'lines report the run under way',
  );
  for (const l of known) {
    const expected = ((Number(l.fields['rows']) / lines) * 100).toFixed(1);
    if (l.fields['percent'] !== expected) t.fail(`percent ${l.fields['percent']} is not rows/total (${expected})`, { line: l.raw });
  }

  t.equal(summary[0]?.result, 'success', 'summary | result: success');
  t.equal(s['sent'], '8000', 'summary: sent is every valid row');
  t.equal(s['invalid'], String(BAD_ROWS.length), 'summary: invalid is the bad rows');
  t.equal(s['rejected'], '0', 'summary: nothing rejected');
  t.equal(s['winners'], '3', 'summary: the winners');
  t.equal(winnersOf(run), 3, 'and consulta_ganadores agrees');
  const received = findLogs(server.logs(), 'apuesta_recibida', 'success');
  t.equal(s['batches'], String(received.length), "summary: batches is the central's apuesta_recibida count");
  t.equal(s['batches'], '800', 'summary: 8000 bets in batches of 10');
  const seconds = Number(s['seconds']);
  t.ok(seconds > 0, 'summary: seconds');
  t.ok(Math.abs(Number(s['bets_per_s']) - 8000 / seconds) <= 1, 'summary: bets_per_s is sent over seconds');
  t.equal(findLogs(run.logs, 'invalid_bet').length, BAD_ROWS.length, 'each bad row is still reported on its own');
  t.same(
    run.logs.filter((l) => l.result === 'fail' && l.action !== 'invalid_bet').map((l) => l.raw),
    [],
    'nothing else says fail',
  );
  const order = run.logs.map((l) => l.action);
  t.ok(
    order.indexOf('consulta_ganadores') < order.indexOf('summary') && order.indexOf('summary') < order.indexOf('loop_finished'),
    'consulta_ganadores, then summary, then loop_finished',
  );
  t.equal(order[order.length - 1], 'loop_finished', 'loop_finished is the last line');
  t.ok(
    progress.every((l) => order.indexOf('session') < run.logs.indexOf(l)),
    'progress lines start once the session is welcomed',
  );
});

t.test('a dropped connection: the summary counts every bet and every bad row once', async (t) => {
  const dir = workDir(t);
  const [file] = await generateData(t, dir, { agencies: 1, bets: 6000, winners: [2], seed: 24 });
  insertBadRows(file);
  const server = await startServer(t, { agencies: 1 });
  // Cut about halfway: batches in flight may be stored with their acks lost.
  const proxy = await throttlingProxy(t, server.port, THROTTLE_BYTES_PER_S, 120_000);
  const run = await finishClient(
    startClient(t, { id: 1, port: proxy, dataFile: file, loopAmount: 20, env: { CLI_PROGRESS_INTERVAL: '300ms' } }),
  );
  t.equal(run.code, 0, 'the agency exits 0', { stdout: run.stdout, stderr: run.stderr });
  assertLogShape(t, run.lines, 'the agency');
  t.ok(findLogs(run.logs, 'session', 'success').length >= 2, 'it reconnected and was welcomed again');
  const resumed = findLogs(run.logs, 'session', 'success').map((l) => Number(l.fields['settled']));
  t.ok(resumed[resumed.length - 1] > 0, `the last session resumed after settled records (${resumed.join(', ')})`);
  const summary = findLogs(run.logs, 'summary', 'success')[0]?.fields ?? {};
  t.equal(summary['sent'], '6000', 'summary: sent is every valid row, once');
  const reported = findLogs(run.logs, 'invalid_bet').length;
  t.ok(
    reported >= BAD_ROWS.length,
    `every bad row reported (${reported} invalid_bet lines: rows read again after the cut are reported again)`,
  );
  t.equal(summary['invalid'], String(BAD_ROWS.length), 'summary: each bad row counted once');
  t.equal(summary['winners'], '2', 'summary: winners');
  const stored = findLogs(server.logs(), 'apuesta_recibida', 'success').reduce((sum, l) => sum + Number(l.fields['cantidad']), 0);
  t.equal(stored, 6000, 'the central stored each bet once');
});

t.test('--progress off: no progress lines, the summary all the same', async (t) => {
  const dir = workDir(t);
  const [file] = await generateData(t, dir, { agencies: 1, bets: 3000, winners: [1], seed: 23 });
  const server = await startServer(t, { agencies: 1 });
  const proxy = await throttlingProxy(t, server.port, THROTTLE_BYTES_PER_S);
  const run = await finishClient(
    startClient(t, { id: 1, port: proxy, dataFile: file, args: ['--progress', 'off', '--progress-interval', '100ms'] }),
  );
  t.equal(run.code, 0, 'exits 0', { stdout: run.stdout });
  assertLogShape(t, run.lines, 'the agency');
  t.equal(findLogs(run.logs, 'progress').length, 0, 'no progress lines');
  const summary: LogLine | undefined = findLogs(run.logs, 'summary', 'success')[0];
  t.equal(summary?.fields['sent'], '3000', 'summary: sent');
  t.equal(summary?.fields['invalid'], '0', 'summary: no invalid rows');
  t.equal(summary?.fields['winners'], '1', 'summary: winners');
  t.ok(
    run.lines.every((line) => LOG_LINE_SHAPE.test(line)),
    'stdout holds log lines only',
  );
});

t.test('single-bet mode: no bar, no progress, no summary', async (t) => {
  const server = await startServer(t, { agencies: 0 });
  const run = await finishClient(
    startClient(t, {
      id: 4,
      port: server.port,
      env: { NOMBRE: 'Ana', APELLIDO: 'Gómez', DOCUMENTO: '30111222', NACIMIENTO: '1990-05-17', NUMERO: '7574', CLI_PROGRESS: 'lines' },
    }),
  );
  t.equal(run.code, 0, 'exits 0', { stdout: run.stdout });
  t.equal(findLogs(run.logs, 'apuesta_enviada', 'success').length, 1, 'the bet is sent');
  t.equal(findLogs(run.logs, 'progress').length + findLogs(run.logs, 'summary').length, 0, 'nothing of the file display');
  t.equal(run.stderr, '', 'nothing on stderr');
});
