/**
 * The BUILT generator (dist/scripts/generate-data.js) run as a real process:
 * `npm run build` comes first, as in `npm test`.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { validateBet } from '../../protocol/index.js';
import { generateAgencyFile, generateBets, WINNING_NUMBER } from '../../scripts/generate-data.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GENERATOR = join(ROOT, 'dist/scripts/generate-data.js');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function generate(...args: string[]): Run {
  const r = spawnSync(process.execPath, [GENERATOR, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Same as generate(), without blocking, so independent runs can overlap. */
function generateAsync(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [GENERATOR, ...args], { cwd: ROOT, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

function lines(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

const winnersIn = (file: string) => lines(file).filter((line) => line.endsWith(`,${WINNING_NUMBER}`)).length;

t.before(() => {
  if (!existsSync(GENERATOR)) throw new Error(`${GENERATOR} is missing: run "npm run build" first`);
});

t.test('exact winners per agency are honoured', async (t) => {
  const out = t.testdir();
  const r = generate('--out', out, '--agencies', '5', '--bets', '300,1,50,2000,7', '--winners', '2,1,0,5,7', '--seed', '7');
  t.equal(r.status, 0, r.stderr);
  t.same(readdirSync(out).sort(), ['agency-1.csv', 'agency-2.csv', 'agency-3.csv', 'agency-4.csv', 'agency-5.csv']);
  const bets = [300, 1, 50, 2000, 7];
  const winners = [2, 1, 0, 5, 7];
  for (let i = 0; i < 5; i++) {
    const file = join(out, `agency-${i + 1}.csv`);
    t.equal(lines(file).length, bets[i], `agency ${i + 1} bets`);
    t.equal(winnersIn(file), winners[i], `agency ${i + 1} winners`);
    t.match(r.stdout, `${file} | bets: ${bets[i]} | winners: ${winners[i]}\n`, 'one summary line per file');
  }
  t.equal(r.stdout.trimEnd().split('\n').length, 5);
});

t.test('--winners 0 never produces the winning number by accident', async (t) => {
  const out = t.testdir();
  t.equal(generate('--out', out, '--agencies', '1', '--bets', '100000', '--winners', '0', '--seed', '3').status, 0);
  t.equal(winnersIn(join(out, 'agency-1.csv')), 0);
});

t.test('one value applies to every agency', async (t) => {
  const out = t.testdir();
  const r = generate('--out', out, '--agencies', '3', '--bets', '20', '--winners', '1', '--seed', '5');
  t.equal(r.status, 0, r.stderr);
  for (let i = 1; i <= 3; i++) {
    t.equal(lines(join(out, `agency-${i}.csv`)).length, 20);
    t.equal(winnersIn(join(out, `agency-${i}.csv`)), 1);
  }
});

t.test('--agencies defaults to the length of the lists', async (t) => {
  const out = t.testdir();
  t.equal(generate('--out', out, '--bets', '3,4', '--seed', '1').status, 0);
  t.same(readdirSync(out).sort(), ['agency-1.csv', 'agency-2.csv']);
});

t.test('without --winners, about 1 bet in 10,000 wins, and the summary counts them', async (t) => {
  const out = t.testdir();
  const r = generate('--out', out, '--agencies', '2', '--bets', '200000', '--seed', '11');
  t.equal(r.status, 0, r.stderr);
  let total = 0;
  for (let i = 1; i <= 2; i++) {
    const file = join(out, `agency-${i}.csv`);
    const n = winnersIn(file);
    total += n;
    t.match(r.stdout, `${file} | bets: 200000 | winners: ${n}\n`);
  }
  t.ok(total >= 15 && total <= 70, `${total} winners in 400,000 bets (expected about 40)`);
});

t.test('same seed → identical bytes; different seed → different bytes', async (t) => {
  const args = ['--agencies', '3', '--bets', '500', '--winners', '2,0,1'];
  const dir = t.testdir();
  const [a, b, c] = [join(dir, 'a'), join(dir, 'b'), join(dir, 'c')];
  t.equal(generate('--out', a, ...args, '--seed', '42').status, 0);
  t.equal(generate('--out', b, ...args, '--seed', '42').status, 0);
  t.equal(generate('--out', c, ...args, '--seed', '43').status, 0);
  for (let i = 1; i <= 3; i++) {
    const name = `agency-${i}.csv`;
    t.ok(readFileSync(join(a, name)).equals(readFileSync(join(b, name))), `${name} identical with the same seed`);
    t.notOk(readFileSync(join(a, name)).equals(readFileSync(join(c, name))), `${name} differs with another seed`);
  }
  t.not(readFileSync(join(a, 'agency-1.csv'), 'utf8'), readFileSync(join(a, 'agency-2.csv'), 'utf8'), 'agencies differ from each other');
});

t.test("an agency's file does not depend on how many agencies are generated", async (t) => {
  const dir = t.testdir();
  const [few, many] = [join(dir, 'few'), join(dir, 'many')];
  t.equal(generate('--out', few, '--agencies', '2', '--bets', '50', '--seed', '9').status, 0);
  t.equal(generate('--out', many, '--agencies', '4', '--bets', '50', '--seed', '9').status, 0);
  t.ok(readFileSync(join(few, 'agency-2.csv')).equals(readFileSync(join(many, 'agency-2.csv'))));
});

t.test('the exported function writes what the CLI writes', async (t) => {
  const out = t.testdir();
  t.equal(generate('--out', out, '--agencies', '2', '--bets', '300', '--winners', '3', '--seed', '8').status, 0);
  const path = join(out, 'api.csv');
  t.same(generateAgencyFile(path, { agency: 2, bets: 300, winners: 3, seed: 8 }), { path, bets: 300, winners: 3 });
  t.ok(readFileSync(path).equals(readFileSync(join(out, 'agency-2.csv'))));
  const fromIterator = [...generateBets({ agency: 2, bets: 300, winners: 3, seed: 8 })]
    .map((b) => `${b.firstName},${b.lastName},${b.document},${b.birthdate},${b.number}\n`)
    .join('');
  t.equal(fromIterator, readFileSync(path, 'utf8'), 'generateBets yields the same bets in order');
  t.throws(() => generateAgencyFile(join(out, 'x.csv'), { agency: 1, bets: 2, winners: 3, seed: 1 }), RangeError);
});

t.test('every line is a valid bet in the documented format', async (t) => {
  const out = t.testdir();
  t.equal(generate('--out', out, '--agencies', '2', '--bets', '5000', '--seed', '2024').status, 0);
  const all = [...lines(join(out, 'agency-1.csv')), ...lines(join(out, 'agency-2.csv'))];
  t.equal(all.length, 10_000);
  let bad = 0;
  let twoWordFirst = 0;
  let accented = 0;
  const names = new Set<string>();
  for (const line of all) {
    const fields = line.split(',');
    const [firstName = '', lastName = '', document = '', birthdate = '', number = ''] = fields;
    const [y, m, d] = birthdate.split('-').map(Number);
    const date = new Date(Date.UTC(y, m - 1, d));
    const ok =
      fields.length === 5 &&
      !/["\r\u0000-\u001f\u007f]/.test(line) &&
      firstName === firstName.trim() &&
      lastName === lastName.trim() &&
      /^[1-9]\d{7}$/.test(document) &&
      /^\d{4}-\d{2}-\d{2}$/.test(birthdate) &&
      date.toISOString().slice(0, 10) === birthdate &&
      birthdate >= '1940-01-01' &&
      birthdate <= '2005-12-31' &&
      /^(0|[1-9]\d{0,3})$/.test(number) &&
      validateBet({ firstName, lastName, document, birthdate, number: Number(number) }) === null;
    if (!ok && bad++ < 5) t.fail(`bad line: ${JSON.stringify(line)}`);
    if (firstName.includes(' ')) twoWordFirst++;
    if (/[áéíóúñüÁÉÍÓÚÑÜ]/.test(line)) accented++;
    names.add(`${firstName} ${lastName}`);
  }
  t.equal(bad, 0, 'no bad lines');
  t.ok(twoWordFirst > 1000, `two-word first names: ${twoWordFirst}`);
  t.ok(accented > 3000, `lines with Spanish accents or ñ: ${accented}`);
  t.ok(names.size > 2000, `varied names: ${names.size}`);
  for (const name of ['José', 'María', 'Núñez', 'Muñoz', 'Peña'])
    t.ok(
      all.some((line) => line.includes(name)),
      `has ${name}`,
    );
  t.ok(Buffer.from(readFileSync(join(out, 'agency-1.csv'), 'utf8'), 'utf8').equals(readFileSync(join(out, 'agency-1.csv'))), 'valid UTF-8');
});

t.test('--crlf ends every line with CRLF and changes nothing else', async (t) => {
  const dir = t.testdir();
  const [lf, crlf] = [join(dir, 'lf'), join(dir, 'crlf')];
  t.equal(generate('--out', lf, '--agencies', '1', '--bets', '1000', '--winners', '1', '--seed', '4').status, 0);
  t.equal(generate('--out', crlf, '--agencies', '1', '--bets', '1000', '--winners', '1', '--seed', '4', '--crlf').status, 0);
  const a = readFileSync(join(lf, 'agency-1.csv'), 'utf8');
  const b = readFileSync(join(crlf, 'agency-1.csv'), 'utf8');
  t.notOk(a.includes('\r'), 'LF by default');
  t.equal(b.split('\r\n').length, 1001, '1000 CRLF line ends');
  t.notOk(/[^\r]\n/.test(b), 'no bare LF');
  t.ok(b.endsWith('\r\n'));
  t.equal(b.replaceAll('\r\n', '\n'), a);
});

t.test('zero bets make an empty file', async (t) => {
  const out = t.testdir();
  t.equal(generate('--out', out, '--agencies', '1', '--bets', '0').status, 0);
  t.equal(readFileSync(join(out, 'agency-1.csv'), 'utf8'), '');
});

t.test('bad arguments: a clear message, exit 2, no file written', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /required option '--out <dir>'/],
    [['--agencies', '0'], /agencies must be at least 1/],
    [['--agencies', 'five'], /agencies must be a non-negative integer, got "five"/],
    [['--bets', '10,x'], /each item must be a non-negative integer, got "x"/],
    [['--bets', '-5'], /--bets/],
    [['--winners', '1,,2', '--agencies', '3'], /each item must be a non-negative integer, got ""/],
    [['--agencies', '3', '--winners', '1,2'], /--winners lists 2 values for 3 agencies/],
    [['--agencies', '2', '--bets', '1,2,3'], /--bets lists 3 values for 2 agencies/],
    [['--agencies', '2', '--bets', '5', '--winners', '1,6'], /agency 2: 6 winners do not fit in 5 bets/],
    [['--seed', '4294967296'], /seed must be at most 4294967295/],
    [['--seed', '1.5'], /seed must be a non-negative integer/],
    [['--bogus'], /unknown option '--bogus'/],
  ];
  const dir = t.testdir();
  const outs = cases.map((_, i) => join(dir, `out-${i}`));
  const runs = await Promise.all(cases.map(([args], i) => generateAsync(...(args.length === 0 ? [] : ['--out', outs[i], ...args]))));
  for (const [i, [args, message]] of cases.entries()) {
    const [out, r] = [outs[i], runs[i]];
    t.equal(r.status, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, message, `${args.join(' ')}: message`);
    t.notOk(existsSync(out), `${args.join(' ')}: nothing written`);
  }
});

t.test('an output path that cannot be a directory: exit 1 with the reason', async (t) => {
  const dir = t.testdir({ file: 'not a directory' });
  const r = generate('--out', join(dir, 'file'), '--agencies', '1', '--bets', '1');
  t.equal(r.status, 1);
  t.match(r.stderr, /cannot create .*file: EEXIST/);
});

t.test('--help exits 0 and documents the options', async (t) => {
  const r = generate('--help');
  t.equal(r.status, 0);
  for (const option of ['--out', '--agencies', '--bets', '--winners', '--seed', '--crlf']) t.match(r.stdout, option);
});

t.test('the committed samples in .data/ are exactly what the documented command makes', async (t) => {
  const header = readFileSync(join(ROOT, 'scripts/generate-data.ts'), 'utf8');
  const readme = readFileSync(join(ROOT, '.data/README.md'), 'utf8');
  const command = /node dist\/scripts\/generate-data\.js (--out \.data [^`\n]+)`/.exec(readme);
  if (!command) throw new Error('.data/README.md does not show the generator command');
  const args = command[1].trim().split(/\s+/);
  t.match(header.replace(/\s*\\\n\s*\*\s*/g, ' '), args.join(' '), 'generate-data.ts documents the same command');
  const out = t.testdir();
  const r = generate(...args.map((arg) => (arg === '.data' ? out : arg)));
  t.equal(r.status, 0, r.stderr);
  const winners = [2, 3, 1, 2, 0];
  for (let i = 1; i <= 5; i++) {
    const name = `agency-${i}.csv`;
    t.ok(readFileSync(join(out, name)).equals(readFileSync(join(ROOT, '.data', name))), `.data/${name} is reproducible`);
    const n = lines(join(ROOT, '.data', name)).length;
    t.ok(n >= 300 && n <= 500, `.data/${name} has ${n} bets`);
    t.equal(winnersIn(join(ROOT, '.data', name)), winners[i - 1], `.data/${name} winners`);
  }
});
