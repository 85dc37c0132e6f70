import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { formatLine, isLevel, LEVELS, Logger, type Level } from '../../common/logger.js';

// Local time, as the logger prints it.
const AT = new Date(2026, 10, 23, 10, 0, 0);
const STAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} /;

/** A Logger writing into a file under t.testdir(); read() returns what it wrote. */
function capture(t: Test, level?: Level): { logger: Logger; read: () => string } {
  const path = join(t.testdir(), 'log.txt');
  const fd = openSync(path, 'w');
  t.teardown(() => closeSync(fd));
  return { logger: new Logger(level, fd), read: () => readFileSync(path, 'utf8') };
}

t.test('formatLine: the contract line, byte for byte', async (t) => {
  t.equal(
    formatLine(AT, 'INFO', 'apuesta_recibida', 'success', { cantidad: 64 }),
    '2026-11-23 10:00:00 INFO     action: apuesta_recibida | result: success | cantidad: 64\n',
  );
  t.equal(formatLine(AT, 'INFO', 'sorteo', 'success', {}), '2026-11-23 10:00:00 INFO     action: sorteo | result: success\n');
  t.equal(
    formatLine(AT, 'ERROR', 'connect', 'in_progress', { attempt: 2, ok: false, big: 10n, addr: 'server:12345' }),
    '2026-11-23 10:00:00 ERROR    action: connect | result: in_progress | attempt: 2 | ok: false | big: 10 | addr: server:12345\n',
  );
  t.equal(
    formatLine(new Date(2026, 0, 2, 3, 4, 5), 'DEBUG', 'a', 'fail', {}),
    '2026-01-02 03:04:05 DEBUG    action: a | result: fail\n',
    'zero-padded',
  );
});

t.test('level names are padded to 8 columns', async (t) => {
  const expected: Record<Level, string> = {
    DEBUG: 'DEBUG    action:',
    INFO: 'INFO     action:',
    WARNING: 'WARNING  action:',
    ERROR: 'ERROR    action:',
    CRITICAL: 'CRITICAL action:',
  };
  for (const level of LEVELS) t.equal(formatLine(AT, level, 'x', 'success', {}).slice(20, 36), expected[level], level);
});

t.test('"|" and line breaks in values are cleaned so one event stays one line', async (t) => {
  const line = formatLine(AT, 'INFO', 'receive_message', 'success', { msg: 'a|b\nc\r\nd||e', ip: '10.0.0.1' });
  t.equal(line, '2026-11-23 10:00:00 INFO     action: receive_message | result: success | msg: a b c d e | ip: 10.0.0.1\n');
  t.equal(line.split('\n').length, 2, 'exactly one newline, at the end');
});

t.test('Logger writes whole lines to its fd', async (t) => {
  const { logger, read } = capture(t);
  logger.info('config', 'success', { port: 12345, listen_backlog: 5, logging_level: 'INFO' });
  logger.warning('connect', 'in_progress', { attempt: 1 });
  const lines = read().split('\n');
  t.equal(lines.length, 3);
  t.equal(lines[2], '', 'ends with a newline');
  t.match(lines[0], STAMP);
  t.equal(lines[0].slice(20), 'INFO     action: config | result: success | port: 12345 | listen_backlog: 5 | logging_level: INFO');
  t.equal(lines[1].slice(20), 'WARNING  action: connect | result: in_progress | attempt: 1');
});

t.test('the default level is INFO', async (t) => {
  const { logger, read } = capture(t);
  t.equal(logger.level, 'INFO');
  logger.debug('hidden', 'success');
  logger.info('shown', 'success');
  t.equal(read().slice(20), 'INFO     action: shown | result: success\n');
});

t.test('levels below the threshold are dropped', async (t) => {
  const { logger, read } = capture(t, 'WARNING');
  logger.debug('d', 'success');
  logger.info('i', 'success');
  logger.warning('w', 'success');
  logger.error('e', 'fail');
  logger.critical('c', 'fail');
  logger.log('INFO', 'i2', 'success');
  const actions = read()
    .trimEnd()
    .split('\n')
    .map((line) => /action: (\w+)/.exec(line)![1]);
  t.same(actions, ['w', 'e', 'c']);
  t.equal(logger.enabled('INFO'), false);
  t.equal(logger.enabled('WARNING'), true);
  t.equal(logger.enabled('CRITICAL'), true);
});

t.test('DEBUG lets everything through', async (t) => {
  const { logger, read } = capture(t, 'DEBUG');
  for (const level of LEVELS) logger.log(level, level.toLowerCase(), 'success');
  t.equal(read().trimEnd().split('\n').length, LEVELS.length);
});

t.test('a bad fd (closed stdout) does not throw', async (t) => {
  // Far above any descriptor this process has open, so nothing else gets the bytes.
  t.doesNotThrow(() => new Logger('INFO', 1 << 20).info('x', 'success'));
});

t.test('isLevel', async (t) => {
  for (const level of LEVELS) t.ok(isLevel(level), level);
  for (const bad of ['info', 'WARN', 'FATAL', '']) t.notOk(isLevel(bad), bad);
});
