import t from 'tap';
import { parseDuration } from '../../common/duration.js';

t.test('Go-style durations become milliseconds', async (t) => {
  const cases: Array<[string, number]> = [
    ['150ms', 150],
    ['5s', 5000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['2h45m', 9_900_000],
    ['.5s', 500],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['2000000ns', 2],
    ['0', 0],
    ['0s', 0],
    [' 5s ', 5000],
  ];
  for (const [text, ms] of cases) t.equal(parseDuration(text), ms, JSON.stringify(text));
});

t.test('anything else is an error that quotes the input', async (t) => {
  for (const text of ['5', '5x', '', '   ', '-1s', '+1s', 's', '1s5', '1 s', '5S', '1d', '00', 'ms']) {
    t.throws(() => parseDuration(text), Error, JSON.stringify(text));
  }
  t.throws(() => parseDuration(''), { message: /empty duration/ });
  t.throws(() => parseDuration('5x'), { message: /invalid duration "5x"/ });
  t.throws(() => parseDuration('1m30x'), { message: /at "30x"/ }, 'names the part it could not read');
});

t.test('no state leaks between calls (the regex is sticky)', async (t) => {
  t.throws(() => parseDuration('1s?'));
  t.equal(parseDuration('2s'), 2000);
  t.equal(parseDuration('3ms'), 3);
});
