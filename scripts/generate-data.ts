/**
 * Deterministic synthetic bet files: `DIR/agency-1.csv` … `agency-N.csv`, one
 * bet per line `first,last,document,birthdate,number`, no header, UTF-8.
 *
 *   node dist/scripts/generate-data.js --out DIR --agencies N --bets B \
 *     [--winners W1,W2,…] [--seed S] [--crlf]
 *
 * The committed samples in .data/ were made with exactly:
 *
 *   node dist/scripts/generate-data.js --out .data --agencies 5 \
 *     --bets 420,380,460,340,400 --winners 2,3,1,2,0 --seed 20261123
 *
 * Each agency's file depends only on (seed, agency, bets, winners): agency 3
 * is the same file whether 3 or 10 agencies are generated. The PRNG is our
 * own (mulberry32) so the bytes never change with the Node version.
 */
import { closeSync, mkdirSync, openSync, realpathSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Bet } from '../protocol/index.js';

/** A bet wins the draw when its number is this one (protocol's WINNING_NUMBER). */
export const WINNING_NUMBER = 7574;
/** Flush the pending text to the file once it reaches this many characters. */
export const CHUNK_CHARS = 64 * 1024;
export const MAX_SEED = 0xffff_ffff;

export interface AgencyOptions {
  /** 1-based agency id; it only seeds the PRNG. */
  readonly agency: number;
  readonly bets: number;
  /** Exact number of winning bets; omitted → each bet wins with probability 1/10,000. */
  readonly winners?: number | undefined;
  readonly seed: number;
}

export interface FileOptions extends AgencyOptions {
  readonly crlf?: boolean | undefined;
}

export interface FileSummary {
  readonly path: string;
  readonly bets: number;
  readonly winners: number;
}

const FIRST_NAMES = [
  'José',
  'María',
  'Lucía',
  'Martín',
  'Sofía',
  'Agustín',
  'Joaquín',
  'Nicolás',
  'Julián',
  'Matías',
  'Tomás',
  'Benjamín',
  'Sebastián',
  'Ramón',
  'Inés',
  'Ángel',
  'Álvaro',
  'Óscar',
  'Raúl',
  'Rocío',
  'Belén',
  'Germán',
  'Mónica',
  'Verónica',
  'Noemí',
  'Iván',
  'Simón',
  'Andrés',
  'Jesús',
  'Ximena',
  'Santiago',
  'Valentina',
  'Camila',
  'Florencia',
  'Catalina',
  'Emilia',
  'Milagros',
  'Facundo',
  'Diego',
  'Juan',
  'Pedro',
  'Ana',
  'Luis',
  'Carlos',
  'Lionel',
  'Tiago',
  'Zoe',
  'Dalma',
  'Gonzalo',
  'Paula',
];
// Compound first names as people actually carry them; other two-word names are drawn at random.
const COMPOUND_FIRST_NAMES = [
  'María José',
  'Juan Pablo',
  'José Luis',
  'Ana María',
  'María Belén',
  'Juan Martín',
  'María de los Ángeles',
  'José María',
  'María Inés',
  'Juan Cruz',
];
const LAST_NAMES = [
  'Núñez',
  'Muñoz',
  'Peña',
  'González',
  'Rodríguez',
  'Fernández',
  'López',
  'Martínez',
  'Pérez',
  'Gómez',
  'Sánchez',
  'Díaz',
  'Álvarez',
  'Romero',
  'Sosa',
  'Ruiz',
  'Benítez',
  'Acosta',
  'Medina',
  'Herrera',
  'Suárez',
  'Aguirre',
  'Giménez',
  'Gutiérrez',
  'Ibáñez',
  'Ortiz',
  'Castaño',
  'Báez',
  'Cáceres',
  'Domínguez',
  'Ojeda',
  'Ríos',
  'Vázquez',
  'Ramírez',
  'Méndez',
  'Godoy',
  'Ledesma',
  'Quiroga',
  'Avendaño',
  'Montaña',
  'Agüero',
  'Argüello',
  'Zambrano',
  'Mamani',
  'Lorca',
  'Varela',
  'Del Valle',
  'De la Cruz',
  'Peñaloza',
  'Yáñez',
];

// Every real date from 1940-01-01 to 2005-12-31, built once: picking an index is
// cheaper than a Date per bet and can never produce an impossible date.
const BIRTHDATES: readonly string[] = (() => {
  const dates: string[] = [];
  const last = Date.UTC(2005, 11, 31);
  for (let t = Date.UTC(1940, 0, 1); t <= last; t += 86_400_000) dates.push(new Date(t).toISOString().slice(0, 10));
  return dates;
})();

/** mulberry32: tiny, fast, good enough for test data; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** murmur3's 32-bit finaliser: nearby (seed, agency) pairs get unrelated PRNG streams. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function checkOptions(o: AgencyOptions): void {
  const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (!isCount(o.agency)) throw new RangeError(`agency must be a non-negative integer, got ${o.agency}`);
  if (!isCount(o.bets)) throw new RangeError(`bets must be a non-negative integer, got ${o.bets}`);
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > MAX_SEED)
    throw new RangeError(`seed must be an integer from 0 to ${MAX_SEED}, got ${o.seed}`);
  if (o.winners !== undefined) {
    if (!isCount(o.winners)) throw new RangeError(`winners must be a non-negative integer, got ${o.winners}`);
    if (o.winners > o.bets) throw new RangeError(`agency ${o.agency}: ${o.winners} winners do not fit in ${o.bets} bets`);
  }
}

/** The bets of one agency, in file order. Same options → same bets. */
export function* generateBets(options: AgencyOptions): Generator<Bet, void, undefined> {
  checkOptions(options);
  const { bets, winners } = options;
  const random = mulberry32(mix32((options.seed ^ mix32(options.agency + 0x9e3779b9)) >>> 0));
  const below = (n: number) => Math.floor(random() * n);
  let chosen = 0;
  for (let i = 0; i < bets; i++) {
    let firstName: string;
    const kind = random();
    if (kind < 0.1) firstName = COMPOUND_FIRST_NAMES[below(COMPOUND_FIRST_NAMES.length)]!;
    else if (kind < 0.4) firstName = `${FIRST_NAMES[below(FIRST_NAMES.length)]} ${FIRST_NAMES[below(FIRST_NAMES.length)]}`;
    else firstName = FIRST_NAMES[below(FIRST_NAMES.length)]!;
    const lastName = LAST_NAMES[below(LAST_NAMES.length)];
    const document = String(10_000_000 + below(90_000_000));
    const birthdate = BIRTHDATES[below(BIRTHDATES.length)];
    let number: number;
    if (winners === undefined) {
      number = below(10_000);
    } else if (random() * (bets - i) < winners - chosen) {
      // Selection sampling (Knuth's Algorithm S): exactly `winners` of the
      // `bets` positions, uniformly spread, with no memory of past picks.
      number = WINNING_NUMBER;
      chosen++;
    } else {
      number = below(9_999); // 0..9998 mapped onto 0..9999 without 7574
      if (number >= WINNING_NUMBER) number++;
    }
    yield { firstName, lastName, document, birthdate, number };
  }
}

/** Writes one agency's file, streaming it in ~64 KiB chunks. Returns what was written. */
export function generateAgencyFile(path: string, options: FileOptions): FileSummary {
  checkOptions(options);
  const eol = options.crlf ? '\r\n' : '\n';
  const fd = openSync(path, 'w');
  let winners = 0;
  let count = 0;
  try {
    let chunk = '';
    for (const bet of generateBets(options)) {
      chunk += `${bet.firstName},${bet.lastName},${bet.document},${bet.birthdate},${bet.number}${eol}`;
      count++;
      if (bet.number === WINNING_NUMBER) winners++;
      if (chunk.length >= CHUNK_CHARS) {
        writeAll(fd, chunk);
        chunk = '';
      }
    }
    writeAll(fd, chunk);
  } finally {
    closeSync(fd);
  }
  return { path, bets: count, winners };
}

function writeAll(fd: number, text: string): void {
  let bytes = Buffer.from(text, 'utf8');
  while (bytes.length > 0) bytes = bytes.subarray(writeSync(fd, bytes));
}

// ---- command line -------------------------------------------------------

/** A bad combination of otherwise valid options. */
class UsageError extends Error {}

function parseCount(text: string, what: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`${what} must be a non-negative integer, got ${JSON.stringify(text)}.`);
  const value = Number(text.trim());
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError(`${what} is too large: ${text}.`);
  return value;
}

function parseCountList(text: string): number[] {
  return text.split(',').map((part) => parseCount(part, 'each item'));
}

/** A one-item list applies to every agency; otherwise it needs one item per agency. */
function perAgency(list: number[] | undefined, agencies: number, option: string): Array<number | undefined> {
  if (list === undefined) return new Array<undefined>(agencies).fill(undefined);
  if (list.length === 1) return new Array<number>(agencies).fill(list[0]);
  if (list.length !== agencies)
    throw new UsageError(`${option} lists ${list.length} values for ${agencies} agencies (give one value, or one per agency).`);
  return list;
}

interface CliOptions {
  out: string;
  agencies?: number;
  bets: number[];
  winners?: number[];
  seed: number;
  crlf: boolean;
}

export function buildProgram(): Command {
  return new Command('generate-data')
    .description('Write deterministic synthetic bet files DIR/agency-1.csv … agency-N.csv.')
    .requiredOption('--out <dir>', 'directory to write into (created if missing)')
    .addOption(
      new Option('--agencies <n>', 'number of agencies (default: the length of --bets/--winners lists, else 5)').argParser((v) => {
        const n = parseCount(v, 'agencies');
        if (n < 1) throw new InvalidArgumentError('agencies must be at least 1.');
        return n;
      }),
    )
    .option('--bets <list>', 'bets per agency: one number, or a comma list with one per agency', parseCountList, [400])
    .option(
      '--winners <list>',
      'EXACT winning bets (number 7574) per agency, e.g. 2,1,0; without it, about 1 in 10,000 bets wins at random',
      parseCountList,
    )
    .option(
      '--seed <n>',
      `PRNG seed, 0..${MAX_SEED}`,
      (v) => {
        const n = parseCount(v, 'seed');
        if (n > MAX_SEED) throw new InvalidArgumentError(`seed must be at most ${MAX_SEED}.`);
        return n;
      },
      1,
    )
    .option('--crlf', 'end lines with CRLF instead of LF', false);
}

/** Runs the CLI; returns the exit code (0 ok, 1 I/O failure, 2 usage error). */
export function main(argv: readonly string[]): number {
  const program = buildProgram().exitOverride();
  let plan: Array<{ path: string; options: FileOptions }>;
  let outDir = '';
  try {
    program.parse(argv, { from: 'node' });
    const o = program.opts<CliOptions>();
    const multi = [o.bets, o.winners ?? []].find((list) => list.length > 1);
    const agencies = o.agencies ?? multi?.length ?? 5;
    const bets = perAgency(o.bets, agencies, '--bets');
    const winners = perAgency(o.winners, agencies, '--winners');
    plan = bets.map((b, i) => ({
      path: join(o.out, `agency-${i + 1}.csv`),
      options: { agency: i + 1, bets: b!, winners: winners[i], seed: o.seed, crlf: o.crlf },
    }));
    for (const { options } of plan) {
      if (options.winners !== undefined && options.winners > options.bets) {
        throw new UsageError(`agency ${options.agency}: ${options.winners} winners do not fit in ${options.bets} bets.`);
      }
    }
    outDir = o.out;
    mkdirSync(o.out, { recursive: true });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2; // commander already printed it
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n(see --help)\n`);
      return 2;
    }
    process.stderr.write(`error: cannot create ${outDir}: ${(error as Error).message}\n`);
    return 1;
  }
  for (const { path, options } of plan) {
    try {
      const summary = generateAgencyFile(path, options);
      process.stdout.write(`wrote ${summary.path} | bets: ${summary.bets} | winners: ${summary.winners}\n`);
    } catch (error) {
      process.stderr.write(`error: cannot write ${path}: ${(error as Error).message}\n`);
      return 1;
    }
  }
  return 0;
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) process.exitCode = main(process.argv);
