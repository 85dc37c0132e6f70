import t from 'tap';
import { ConfigError, env, from, pick, toBool, toDurationMs, toInt, toLevel, toText, type Raw } from '../../common/config.js';

const raw = (value: string, key = 'SOME_KEY'): Raw => ({ key, value });

t.test('pick: later (higher-precedence) defined candidates win', async (t) => {
  const dflt = raw('1', 'default');
  const file = raw('2', 'file: SERVER_PORT');
  const environ = raw('3', 'env: SERVER_PORT');
  const flag = raw('4', '--port');
  t.same(pick(dflt, file, environ, flag), flag);
  t.same(pick(dflt, file, environ, undefined), environ);
  t.same(pick(dflt, file, undefined, undefined), file);
  t.same(pick(dflt, undefined, undefined, undefined), dflt);
  t.same(pick(undefined, file, undefined, flag), flag);
  t.equal(pick(undefined, undefined), undefined);
  t.equal(pick(), undefined);
});

t.test('from: one value from a parsed file, or undefined', async (t) => {
  t.same(from('batch.maxAmount', 10), { key: 'batch.maxAmount', value: '10' });
  t.same(from('loop.period', '5s'), { key: 'loop.period', value: '5s' });
  t.same(from('flag', true), { key: 'flag', value: 'true' });
  t.same(from('empty', ''), { key: 'empty', value: '' }, 'an empty value is set, so validation reports it');
  t.equal(from('missing', undefined), undefined);
  t.equal(from('missing', null), undefined);
  t.throws(() => from('server', { address: 'x' }), { name: 'ConfigError', key: 'server', exitCode: 2 });
  t.throws(() => from('list', [1, 2]), { name: 'ConfigError', key: 'list' });
});

t.test('env: non-empty variables only', async (t) => {
  const name = 'LOTTERY_CONFIG_TEST_VAR';
  t.teardown(() => delete process.env[name]);
  delete process.env[name];
  t.equal(env(name), undefined);
  process.env[name] = '';
  t.equal(env(name), undefined, 'empty counts as unset');
  process.env[name] = '42';
  t.same(env(name), { key: name, value: '42' });
  t.same(pick(raw('1', 'default'), from('file', 2), env(name)), { key: name, value: '42' }, 'env beats file');
});

t.test('toInt', async (t) => {
  t.equal(toInt(raw('12345'), 1, 65535), 12345);
  t.equal(toInt(raw(' 7 '), 0, 10), 7);
  t.equal(toInt(raw('+3'), 0, 10), 3);
  t.equal(toInt(raw('0'), 0, 10), 0);
  t.equal(toInt(raw('10'), 0, 10), 10);
  for (const bad of ['', 'abc', '1.5', '1e3', '12a', '0x10', ' ']) {
    t.throws(
      () => toInt(raw(bad, 'SERVER_PORT'), 0, 65535),
      { name: 'ConfigError', key: 'SERVER_PORT', message: /^SERVER_PORT: must be an integer/ },
      JSON.stringify(bad),
    );
  }
  t.throws(() => toInt(raw('70000', 'SERVER_PORT'), 1, 65535), {
    key: 'SERVER_PORT',
    message: 'SERVER_PORT: must be between 1 and 65535, got 70000',
  });
  t.throws(() => toInt(raw('-1', 'batch.maxAmount'), 1, 100), {
    name: 'ConfigError',
    key: 'batch.maxAmount',
    problem: 'must be between 1 and 100, got -1',
  });
});

t.test('toLevel', async (t) => {
  t.equal(toLevel(raw('INFO')), 'INFO');
  t.equal(toLevel(raw(' debug ')), 'DEBUG', 'case and spaces do not matter');
  t.equal(toLevel(raw('Warning')), 'WARNING');
  t.throws(() => toLevel(raw('verbose', 'LOGGING_LEVEL')), {
    name: 'ConfigError',
    key: 'LOGGING_LEVEL',
    message: /^LOGGING_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got "verbose"$/,
  });
  t.throws(() => toLevel(raw('WARN', 'CLI_LOG_LEVEL')), { name: 'ConfigError', key: 'CLI_LOG_LEVEL' });
});

t.test('toDurationMs', async (t) => {
  t.equal(toDurationMs(raw('150ms')), 150);
  t.equal(toDurationMs(raw('1m30s')), 90_000);
  t.equal(toDurationMs(raw('0')), 0);
  for (const bad of ['5', '5x', '', '-1s']) {
    t.throws(
      () => toDurationMs(raw(bad, 'loop.period')),
      { name: 'ConfigError', key: 'loop.period', message: /^loop\.period: / },
      JSON.stringify(bad),
    );
  }
});

t.test('toBool', async (t) => {
  for (const yes of ['1', 'true', 'TRUE', 'yes', 'On', ' true ']) t.equal(toBool(raw(yes)), true, yes);
  for (const no of ['0', 'false', 'No', 'off']) t.equal(toBool(raw(no)), false, no);
  for (const bad of ['', 'y', '2', 'enabled']) {
    t.throws(
      () => toBool(raw(bad, 'SOME_FLAG')),
      { name: 'ConfigError', key: 'SOME_FLAG', message: /^SOME_FLAG: must be true or false/ },
      JSON.stringify(bad),
    );
  }
});

t.test('toText', async (t) => {
  t.equal(toText(raw(' server:12345 ')), 'server:12345');
  t.throws(() => toText(raw('  ', 'server.address')), { key: 'server.address', message: 'server.address: must not be empty' });
});

t.test('ConfigError carries what main needs', async (t) => {
  const error = new ConfigError('SERVER_PORT', 'must be an integer');
  t.ok(error instanceof Error);
  t.equal(error.name, 'ConfigError');
  t.equal(error.key, 'SERVER_PORT');
  t.equal(error.problem, 'must be an integer');
  t.equal(error.exitCode, 2);
  t.equal(error.message, 'SERVER_PORT: must be an integer');
});
