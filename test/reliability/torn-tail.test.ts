/**
 * Torn-tail recovery. A bets file is built by a real central from a known
 * sequence of batches (two agencies, names with multi-byte characters, commas
 * and quotes, so cuts land inside UTF-8 sequences and quoted fields). The
 * central is then killed. For every byte offset of the last batch — from its
 * first byte to its end — a copy of the file cut there (with the central's
 * other files, e.g. the journal `<bets>.journal`, untouched) is given to a
 * new central, which must:
 *
 *   - leave a file that is a prefix of whole batches: exactly the batches
 *     before the torn one (or all of them when the cut is at the very end);
 *   - say so in its log (`torn_…` line with the bytes discarded, and the
 *     `recovery` line's discarded_bytes), and say nothing when nothing was cut;
 *   - tell each agency, in its Welcome, how many of its bets it holds, so
 *     that agencies resuming afterwards complete the file exactly.
 *
 * Resumption is checked at every offset with an in-test agency speaking the
 * protocol, and at a few offsets (all of them with LOTTERY_SOAK=1) with the
 * real client program, which skips the rows the central already holds.
 *
 * The journal's own last entry is torn too (each byte of it, and the entry
 * missing altogether): the file must still end up as whole batches and
 * resume exactly.
 */
import { copyFileSync, existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { MessageType, type Bet } from '../../protocol/index.js';
import { findLogs, finishClient, startClient, startServer, winnersOf, workDir, type ServerHandle } from '../helpers/processes.js';
import { batchFrame, doneAndWinners, inputLine, SOAK, storedLine, streamBets, welcomeWithRetry } from '../helpers/reliability.js';

t.setTimeout(SOAK ? 1_800_000 : 280_000);

const LAST_BATCH = SOAK ? 5 : 2;
const POOL = 3;
const WIN = 7574;

const NAMES: readonly (readonly [string, string])[] = [
  ['José María', 'Muñoz'],
  ['Juan, Jr', 'O"Neil'],
  ['Zoë', 'Łukasiewicz'],
  ['Ana', 'Pérez'],
  ['Ñandú "El Rápido"', 'Smith, Sr'],
];

function makeBet(n: number, wins: boolean): Bet {
  const [firstName, lastName] = NAMES[n % NAMES.length];
  const number = wins ? WIN : (n * 37 + 11) % 10000 === WIN ? 1 : (n * 37 + 11) % 10000;
  return { firstName, lastName, document: String(30_000_000 + n), birthdate: `19${50 + (n % 50)}-0${1 + (n % 9)}-1${n % 10}`, number };
}

// Agency 1: 3 + 3 + LAST_BATCH bets stored before the crash (the last batch last in the file, holding a
// winner and quoted, multi-byte names), 4 more afterwards. Agency 2: 2 + 1 stored, 3 more afterwards.
const A1: Bet[] = Array.from({ length: 6 + LAST_BATCH + 4 }, (_, i) => makeBet(100 + i, i === 6 || i === 6 + LAST_BATCH + 1));
const A2: Bet[] = Array.from({ length: 6 }, (_, i) => makeBet(200 + i, i === 1));
const INPUT: Record<number, Bet[]> = { 1: A1, 2: A2 };
const WINNERS: Record<number, number> = { 1: 2, 2: 1 };
const SCHEDULE: { agency: number; bets: Bet[] }[] = [
  { agency: 1, bets: A1.slice(0, 3) },
  { agency: 2, bets: A2.slice(0, 2) },
  { agency: 1, bets: A1.slice(3, 6) },
  { agency: 2, bets: A2.slice(2, 3) },
  { agency: 1, bets: A1.slice(6, 6 + LAST_BATCH) },
];

interface Built {
  readonly dir: string;
  readonly bytes: Buffer;
  /** File offsets where batches end, starting with 0. */
  readonly boundaries: number[];
  /** The central's other files next to bets.csv (the batch index, if it keeps one). */
  readonly sidecars: string[];
  readonly inputFiles: Record<number, string>;
}

async function build(t: Test): Promise<Built> {
  const dir = workDir(t, 'built');
  const server = await startServer(t, { agencies: 2, dir, name: 'builder' });
  const sessions = new Map<number, { peer: Awaited<ReturnType<typeof welcomeWithRetry>>['peer']; seq: number; position: number }>();
  for (const agency of [1, 2]) {
    const { peer, welcome } = await welcomeWithRetry(server.port, agency);
    t.equal(welcome.stored, 0, `builder: agency ${agency} starts empty`);
    sessions.set(agency, { peer, seq: 0, position: 0 });
  }
  for (const step of SCHEDULE) {
    const session = sessions.get(step.agency)!;
    session.position += step.bets.length;
    await session.peer.write(batchFrame(session.seq++, step.bets, session.position));
    const reply = await session.peer.next();
    if (reply.type !== MessageType.BatchAck) throw new Error(`builder: batch not acknowledged: ${JSON.stringify(reply)}`);
  }
  t.equal(await server.stop('SIGKILL'), null, 'builder central killed after its last ack');
  for (const { peer } of sessions.values()) peer.destroy();

  const bytes = readFileSync(server.betsFile);
  const boundaries = [0];
  let expected = '';
  for (const step of SCHEDULE) {
    for (const bet of step.bets) expected += storedLine(step.agency, bet);
    boundaries.push(Buffer.byteLength(expected));
  }
  t.equal(bytes.toString('utf8'), expected, 'the built bets.csv is exactly the batches in order, written as the contract says');
  const sidecars = ['journal', 'winners'].map((suffix) => `${server.betsFile}.${suffix}`).filter((p) => existsSync(p));
  t.comment(
    `built ${bytes.length} bytes in ${SCHEDULE.length} batches; last batch ${boundaries.at(-2)}..${boundaries.at(-1)}; sidecars: ${sidecars.map((p) => p.split('/').pop()).join(', ') || 'none'}`,
  );
  const inputFiles: Record<number, string> = {};
  for (const agency of [1, 2]) {
    inputFiles[agency] = join(dir, `agency-${agency}.csv`);
    writeFileSync(inputFiles[agency], INPUT[agency].map((b) => `${inputLine(b)}\r\n`).join(''));
  }
  return { dir, bytes, boundaries, sidecars, inputFiles };
}

/** A new directory holding bets.csv cut at `cut` and the sidecars as they were (or as `edit` leaves them). */
function prepare(t: Test, built: Built, name: string, cut: number, edit?: (dir: string) => void): string {
  const dir = workDir(t, name);
  writeFileSync(join(dir, 'bets.csv'), built.bytes.subarray(0, cut));
  for (const sidecar of built.sidecars) copyFileSync(sidecar, join(dir, sidecar.split('/').pop()!));
  edit?.(dir);
  return dir;
}

function countsIn(bytes: Buffer): Record<number, number> {
  const counts: Record<number, number> = { 1: 0, 2: 0 };
  for (const line of bytes.toString('utf8').split('\n')) if (line !== '') counts[Number(line.split(',')[0])]++;
  return counts;
}

/** Resumes both agencies in-test; returns their Welcome counts. */
async function resumeInTest(server: ServerHandle): Promise<{ stored: Record<number, number>; winners: Record<number, number> }> {
  const stored: Record<number, number> = {};
  const winners: Record<number, number> = {};
  await Promise.all(
    [1, 2].map(async (agency) => {
      const { peer, welcome } = await welcomeWithRetry(server.port, agency);
      try {
        stored[agency] = welcome.stored;
        const total = await streamBets(peer, INPUT[agency].slice(welcome.settled), 2, welcome);
        winners[agency] = (await doneAndWinners(peer, total)).length;
      } finally {
        peer.destroy();
      }
    }),
  );
  return { stored, winners };
}

/** Resumes both agencies with the real client program. */
async function resumeWithClients(t: Test, server: ServerHandle, built: Built): Promise<{ winners: Record<number, number> }> {
  const winners: Record<number, number> = {};
  const runs = await Promise.all(
    [1, 2].map((agency) =>
      finishClient(
        startClient(t, { id: agency, port: server.port, dataFile: built.inputFiles[agency], batch: 3, loopAmount: 50, loopPeriod: '50ms' }),
        60_000,
      ),
    ),
  );
  runs.forEach((run, i) => {
    t.equal(run.code, 0, `client ${i + 1} exits 0`, { stdout: run.stdout.slice(-2000) });
    winners[i + 1] = winnersOf(run) ?? -1;
  });
  return { winners };
}

/** The file after everyone finished: each agency's input in order, the recovered prefix untouched. */
function checkCompleted(t: Test, betsFile: string, keptPrefix: Buffer): void {
  const final = readFileSync(betsFile);
  t.ok(final.subarray(0, keptPrefix.length).equals(keptPrefix), 'the recovered prefix is left as it was');
  const byAgency: Record<number, string[]> = { 1: [], 2: [] };
  const lines = final.toString('utf8').split('\n');
  t.equal(lines.pop(), '', 'the completed file ends with a newline');
  for (const line of lines) byAgency[Number(line.split(',')[0])]?.push(`${line}\n`);
  for (const agency of [1, 2]) {
    t.same(
      byAgency[agency],
      INPUT[agency].map((b) => storedLine(agency, b)),
      `agency ${agency}: every bet exactly once, in order`,
    );
  }
  t.equal(lines.length, A1.length + A2.length, 'nothing else is stored');
}

async function checkOffset(t: Test, built: Built, cut: number, useClients: boolean): Promise<void> {
  const end = built.boundaries.at(-1)!;
  const lastStart = built.boundaries.at(-2)!;
  const expectedKeep = cut === end ? end : lastStart;
  const dir = prepare(t, built, `cut-${cut}`, cut);
  const server = await startServer(t, { agencies: 2, dir, name: `central-cut-${cut}` });
  const recovered = readFileSync(server.betsFile);
  t.ok(
    built.boundaries.includes(recovered.length),
    `cut at ${cut}: the recovered file is a prefix of whole batches (${recovered.length} bytes)`,
  );
  t.equal(recovered.length, expectedKeep, `cut at ${cut}: cut back to the end of the last whole batch (${expectedKeep})`);
  t.ok(recovered.equals(built.bytes.subarray(0, recovered.length)), `cut at ${cut}: the kept bytes are the original ones`);
  const discarded = cut - expectedKeep;
  const recovery = findLogs(server.logs(), 'recovery', 'success')[0];
  t.equal(Number(recovery?.fields['discarded_bytes']), discarded, `cut at ${cut}: recovery logs discarded_bytes ${discarded}`);
  const torn = server.logs().filter((l) => /torn/.test(l.action));
  if (discarded > 0) {
    t.ok(
      torn.some((l) => Number(l.fields['bytes']) === discarded),
      `cut at ${cut}: a torn_… line reports the ${discarded} bytes cut`,
      { lines: torn.map((l) => l.raw) },
    );
  } else {
    t.same(
      torn.map((l) => l.raw),
      [],
      `cut at ${cut}: nothing was cut, no torn line`,
    );
  }

  const held = countsIn(recovered);
  if (useClients) {
    const { winners } = await resumeWithClients(t, server, built);
    t.same(winners, WINNERS, `cut at ${cut}: the real clients resume and get their winners`);
  } else {
    const { stored, winners } = await resumeInTest(server);
    t.same(stored, held, `cut at ${cut}: each Welcome says how many of the agency's bets the file holds`);
    t.same(winners, WINNERS, `cut at ${cut}: winners after resuming`);
  }
  checkCompleted(t, server.betsFile, recovered);
  t.equal(await server.stop('SIGTERM'), 0, `cut at ${cut}: central stops cleanly`);
}

t.test('bets.csv cut at every byte offset of its last batch', async (t) => {
  const built = await build(t);
  const lastStart = built.boundaries.at(-2)!;
  const end = built.boundaries.at(-1)!;
  const offsets = Array.from({ length: end - lastStart + 1 }, (_, i) => lastStart + i);
  const withClients = new Set(SOAK ? offsets : [lastStart + 1, Math.floor((lastStart + end) / 2), end - 1]);
  t.comment(`${offsets.length} offsets (${lastStart}..${end}); real clients at ${SOAK ? 'all of them' : [...withClients].join(', ')}`);
  const began = Date.now();
  t.jobs = POOL;
  await Promise.all(offsets.map((cut) => t.test(`cut at ${cut}`, (t) => checkOffset(t, built, cut, withClients.has(cut)))));
  t.comment(`${offsets.length} recoveries in ${Date.now() - began} ms`);
});

t.test('the journal itself torn inside its last entry', async (t) => {
  const built = await build(t);
  const index = built.sidecars.find((p) => p.endsWith('.journal'));
  t.ok(index, 'the central keeps a journal next to bets.csv');
  if (!index) return;
  const size = statSync(index).size;
  t.comment(`journal: ${size} bytes`);
  const entry = 32;
  t.equal(size, 64 + entry * SCHEDULE.length, 'a 64-byte header, then one 32-byte entry per write');
  const end = built.boundaries.at(-1)!;
  const sizes = Array.from({ length: entry + 1 }, (_, i) => size - entry + i - 1).filter((s) => s >= 0 && s < size);
  t.jobs = POOL;
  await Promise.all(
    sizes.map((indexSize) =>
      t.test(`journal cut to ${indexSize} bytes, data whole`, async (t) => {
        const dir = prepare(t, built, `index-${indexSize}`, end, (d) => truncateSync(join(d, 'bets.csv.journal'), indexSize));
        const server = await startServer(t, { agencies: 2, dir, name: `central-index-${indexSize}` });
        const recovered = readFileSync(server.betsFile);
        t.ok(built.boundaries.includes(recovered.length), `the recovered file is a prefix of whole batches (${recovered.length} bytes)`);
        t.ok(recovered.equals(built.bytes.subarray(0, recovered.length)), 'the kept bytes are the original ones');
        const { stored, winners } = await resumeInTest(server);
        t.same(stored, countsIn(recovered), 'each Welcome says how many of the agency’s bets the file holds');
        t.same(winners, WINNERS, 'winners after resuming');
        checkCompleted(t, server.betsFile, recovered);
        t.equal(await server.stop('SIGTERM'), 0, 'central stops cleanly');
      }),
    ),
  );
});
