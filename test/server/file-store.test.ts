/**
 * The file store's concurrency, tested directly with worker threads (the
 * built modules from dist/, as the central runs them): several workers
 * append and wait for durability at once through one shared journal state;
 * a worker that dies holding the lock or the sync election makes the store
 * fail-stop instead of stalling the others; one that dies holding nothing
 * changes nothing. Faults: concurrent writers, thread death at the two
 * ownership words.
 */
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import t, { type Test } from 'tap';
import type { FileStoreHost as Host, FileStoreOptions } from '../../server/storage/file/file-host.js';
import type { FatalStorageError } from '../../server/storage/store.js';
import { REPO_ROOT } from '../helpers/processes.js';

const DIST = join(REPO_ROOT, 'dist', 'server');
const HOST_URL = pathToFileURL(join(DIST, 'storage', 'file', 'file-host.js')).href;
const STATE_URL = pathToFileURL(join(DIST, 'storage', 'file', 'journal-state.js')).href;
const LOGGER_URL = pathToFileURL(join(DIST, '..', 'common', 'logger.js')).href;

const { FileStoreHost } = (await import(HOST_URL)) as { FileStoreHost: typeof Host };
const { Logger } = (await import(LOGGER_URL)) as typeof import('../../common/logger.js');
const quiet = new Logger('CRITICAL', openSync('/dev/null', 'w'));

function open(t: Test, fatal: FatalStorageError[] = []): { host: Host; betsFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'file-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const betsFile = join(dir, 'bets.csv');
  const options: FileStoreOptions = { betsFile, durable: true, roster: [], logger: quiet, fault: null, onFatal: (f) => fatal.push(f) };
  return { host: FileStoreHost.open(options), betsFile };
}

/** A worker that appends `writes` writes of `lines` lines for `agency`, pipelined, then waits for the last one to be durable. */
const APPENDER = `
const { parentPort, workerData, threadId } = require('node:worker_threads');
(async () => {
  const { workerFileStore } = await import(workerData.hostUrl);
  const { Logger } = await import(workerData.loggerUrl);
  const { openSync } = require('node:fs');
  const store = workerFileStore(workerData.init, threadId, new Logger('CRITICAL', openSync('/dev/null', 'w')), (f) => parentPort.postMessage({ fatal: f }));
  const { agency, writes, lines } = workerData;
  let position = 0;
  let stored = 0;
  const tickets = [];
  for (let w = 0; w < writes; w++) {
    let text = '';
    for (let l = 0; l < lines; l++) text += agency + ',W' + w + ',L' + l + ',' + (w * lines + l) + ',2000-01-01,' + ((w * lines + l) % 10000) + '\\n';
    position += lines;
    tickets.push(store.append(agency, Buffer.from(text), lines, position));
    stored += lines;
    // Every tenth write waits, so that syncs interleave with other workers' writes.
    if (w % 10 === 9) await store.durable(tickets[tickets.length - 1]);
  }
  for (const ticket of tickets) await store.durable(ticket);
  const ledger = await store.ledger(agency);
  await store.quiesce();
  parentPort.postMessage({ done: true, stored, ledger });
})().catch((error) => parentPort.postMessage({ error: String(error && error.stack || error) }));
`;

/** A worker that takes the lock or the sync election, says so, and then never lets go. */
const HOLDER = `
const { parentPort, workerData, threadId } = require('node:worker_threads');
(async () => {
  const { JournalState, ownerIdOf } = await import(workerData.stateUrl);
  const state = new JournalState(workerData.init.state);
  if (workerData.hold === 'lock') state.lockBlocking(ownerIdOf(threadId));
  else if (!state.claimSyncer(ownerIdOf(threadId))) throw new Error('syncer busy');
  parentPort.postMessage({ holding: workerData.hold });
  setInterval(() => undefined, 1000);
})().catch((error) => parentPort.postMessage({ error: String(error) }));
`;

function run(
  code: string,
  workerData: Record<string, unknown>,
): { worker: Worker; message: (pred: (m: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>> } {
  const worker = new Worker(code, {
    eval: true,
    workerData: { hostUrl: HOST_URL, stateUrl: STATE_URL, loggerUrl: LOGGER_URL, ...workerData },
  });
  const seen: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  worker.on('message', (m: Record<string, unknown>) => {
    seen.push(m);
    for (const w of waiters.splice(0)) w();
  });
  const message = (pred: (m: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const found = seen.find((m) => pred(m) || 'error' in m);
        if (!found) return void waiters.push(check);
        if ('error' in found && !pred(found)) reject(new Error(String(found['error'])));
        else resolve(found);
      };
      check();
    });
  return { worker, message };
}

t.test('four workers append and sync at once: every write whole, in order, durable, and the journal replays it', async (t) => {
  const { host, betsFile } = open(t);
  const WRITES = 150;
  const LINES = 7;
  const workers = [1, 2, 3, 4].map((agency) => run(APPENDER, { init: host.fileInit(), agency, writes: WRITES, lines: LINES }));
  const results = await Promise.all(workers.map((w) => w.message((m) => m['done'] === true)));
  await Promise.all(workers.map((w) => w.worker.terminate()));
  for (const [i, result] of results.entries()) {
    t.equal(result['stored'], WRITES * LINES, `worker ${i + 1} appended every line`);
    t.same(result['ledger'], { stored: WRITES * LINES, settled: WRITES * LINES, finished: false }, `worker ${i + 1}: its durable ledger`);
  }
  t.ok(await host.close(), 'the store syncs and closes');

  const lines = readFileSync(betsFile, 'utf8').split('\n');
  t.equal(lines.pop(), '', 'the file ends with a newline');
  t.equal(lines.length, 4 * WRITES * LINES, 'every line is there once');
  // Each write is one block of consecutive lines, and an agency's writes are in order.
  const next = new Map<number, number>();
  let broken = 0;
  for (let i = 0; i < lines.length; i += LINES) {
    const [agency, w] = lines[i].split(',');
    const expected = next.get(Number(agency)) ?? 0;
    if (`W${expected}` !== w) broken++;
    for (let l = 0; l < LINES; l++) if (!lines[i + l].startsWith(`${agency},${w},L${l},`)) broken++;
    next.set(Number(agency), expected + 1);
  }
  t.equal(broken, 0, "writes of different workers never interleave, and each agency's come in order");

  const again = FileStoreHost.open({ betsFile, durable: true, roster: [], logger: quiet, fault: null, onFatal: () => undefined });
  t.match(
    again.report,
    { kind: 'recovered', bets: 4 * WRITES * LINES, agencies: 4, discardedBytes: 0 },
    'a new store replays the journal over the whole file',
  );
  await again.close();
});

for (const hold of ['lock', 'syncer'] as const) {
  t.test(
    `a worker that dies holding the ${hold === 'lock' ? 'lock' : 'sync election'} fail-stops the store instead of stalling it`,
    async (t) => {
      const fatal: FatalStorageError[] = [];
      const { host } = open(t, fatal);
      const holder = run(HOLDER, { init: host.fileInit(), hold });
      await holder.message((m) => m['holding'] === hold);
      const threadId = holder.worker.threadId;
      // A writer that comes now waits for the lock (or for the sync that never ends)...
      const writer = run(APPENDER, { init: host.fileInit(), agency: 9, writes: 3, lines: 2 });
      await new Promise((r) => setTimeout(r, 200));
      // ...until the holder dies and the accepting thread answers for it.
      await holder.worker.terminate();
      t.equal(await host.threadExited(threadId, 0), true, 'the accepting thread sees what the dead worker held and fail-stops');
      t.equal(fatal.length, 1, 'one fatal report');
      t.match(
        fatal[0],
        { operation: 'worker', error: new RegExp(`worker thread ${threadId} exited`) },
        'naming the thread and what it held',
      );
      const outcome = await Promise.race([
        writer.message((m) => m['done'] === true || 'error' in m).catch((error: Error) => ({ error: error.message })),
        new Promise((r) => setTimeout(() => r({ stalled: true }), 1500)),
      ]);
      t.notMatch(outcome, { done: true }, 'the waiting writer is never acknowledged after the fail-stop');
      await writer.worker.terminate();
    },
  );
}

t.test('a worker that exits holding nothing changes nothing', async (t) => {
  const fatal: FatalStorageError[] = [];
  const { host } = open(t, fatal);
  const worker = run(APPENDER, { init: host.fileInit(), agency: 3, writes: 20, lines: 3 });
  await worker.message((m) => m['done'] === true);
  const threadId = worker.worker.threadId;
  await worker.worker.terminate();
  t.equal(await host.threadExited(threadId, 0), false, 'nothing to answer for');
  t.same(fatal, [], 'no fail-stop');
  const next = run(APPENDER, { init: host.fileInit(), agency: 4, writes: 20, lines: 3 });
  t.match(await next.message((m) => m['done'] === true), { stored: 60 }, 'the next worker writes and syncs as usual');
  await next.worker.terminate();
  t.ok(await host.close(), 'and the store closes cleanly');
});
