/**
 * Every storage operation fails in turn, the way SQLite's I/O-error tests
 * run: a small lottery (three agencies, the real client, batches of 10) runs
 * against a central whose n-th storage operation fails, for n = 1, 2, … until
 * a run no longer reaches n. The operations are the store's opens, writes of
 * bets.csv and of its journal, fdatasyncs, ftruncates, the draw result's
 * rename and directory sync, counted across all threads
 * (LOTTERY_TEST_FAULT, server/storage/file/io.ts). Passes:
 *
 *   - EIO on any operation. A write gets half its bytes into the file first
 *     (a torn write); a failed sync drops the file's unsynced data, as Linux
 *     does, so an ack given for data that only a later "successful" sync
 *     covered would show up as a missing bet;
 *   - ENOSPC on writes: a short write, then ENOSPC;
 *   - a crash (SIGKILL) just before, and just after, each sync: the
 *     crash-point sweep.
 *
 * A central that fail-stops (exit 1 after one CRITICAL line naming the file
 * and the error) or crashes is restarted on the same files without the
 * fault, as Compose's `restart: on-failure` would. Every run must end exact:
 * bets.csv holds every input bet once, in each agency's file order, every
 * agency exits 0 with its winners, and `sorteo` is logged once over all runs.
 */
import t, { type Test } from 'tap';
import { findLogs, startServer, workDir } from '../helpers/processes.js';
import { assertExactEnd, loadDataset, SOAK, type Dataset } from '../helpers/reliability.js';
import { superviseLottery } from '../helpers/supervised.js';

t.setTimeout(SOAK ? 3_600_000 : 1_500_000);

/** No run has this many storage operations; reaching it means the sweep never ends. */
const MAX_N = 600;

async function oneRun(t: Test, data: Dataset, fault: string): Promise<{ reached: boolean; failStops: number }> {
  const dir = workDir(t, `run-${fault.replaceAll(':', '-')}`);
  const betsFile = `${dir}/bets.csv`;
  const run = await superviseLottery(t, { data, dir, betsFile, firstEnv: { LOTTERY_TEST_FAULT: fault }, limitMs: 120_000 });
  const centrals = [...run.centralRuns];
  const last = centrals.at(-1)!;
  const stopped = await last.stop('SIGTERM');
  if (stopped !== 0 && findLogs(last.logs(), 'fault_injected').length > 0) {
    // The fault came during the final shutdown (its last syncs): the files must recover all the same.
    const failStopped = last.exit?.code === 1 && last.logs().some((l) => l.level === 'CRITICAL' && l.action === 'storage');
    t.ok(failStopped || last.exit?.signal === 'SIGKILL', `${fault}: the fault at shutdown fail-stopped or crashed the central`, {
      exit: last.exit,
    });
    const again = await startServer(t, { agencies: data.files.length, dir, betsFile, name: 'central-after' });
    centrals.push(again.process);
    t.equal(await again.stop('SIGTERM'), 0, `${fault}: a central on the same files recovers and stops cleanly`);
  } else {
    t.equal(stopped, 0, `${fault}: the last central stops cleanly`);
  }
  assertExactEnd(t, data, betsFile, run.finals, centrals);
  const reached = findLogs(run.centralRuns[0].logs(), 'fault_injected').length > 0;
  // A fail-stop says why in exactly one CRITICAL line: the file and the error.
  run.centralRuns.forEach((central, i) => {
    const ending = run.endings[i];
    if (ending?.code !== 1) return;
    const critical = central.logs().filter((l) => l.level === 'CRITICAL');
    t.equal(critical.length, 1, `${fault}: central ${i + 1} fail-stopped with one CRITICAL line`, { lines: critical.map((l) => l.raw) });
    const fields = critical[0]?.fields ?? {};
    t.ok(
      (fields['file'] ?? fields['error'] ?? '').length > 0 && (fields['error'] ?? '').length > 0,
      `${fault}: it names the file and the error`,
      { line: critical[0]?.raw },
    );
  });
  return { reached, failStops: run.endings.filter((e) => e.code === 1).length };
}

async function sweep(t: Test, data: Dataset, plan: (n: number) => string): Promise<void> {
  let n = 1;
  let failStops = 0;
  for (; n <= MAX_N; n++) {
    const fault = plan(n);
    let reached = false;
    await t.test(`LOTTERY_TEST_FAULT=${fault}`, async (t) => {
      const outcome = await oneRun(t, data, fault);
      reached = outcome.reached;
      failStops += outcome.failStops;
    });
    if (!reached) break;
  }
  t.ok(n > 1 && n <= MAX_N, `the sweep ended: operation ${n} was never reached (${n - 1} runs with a fault, ${failStops} fail-stops)`);
}

t.test('every storage operation fails in turn', async (t) => {
  const data = await loadDataset(t, { preferReference: false, bets: [40, 30, 20], winners: [1, 1, 0], seed: 4242 });
  t.test('EIO on each operation', (t) => sweep(t, data, (n) => `${n}:EIO`));
  t.test('ENOSPC on each write (a short write, then ENOSPC)', (t) => sweep(t, data, (n) => `write:${n}:ENOSPC`));
  t.test('crash just before each sync', (t) => sweep(t, data, (n) => `sync:${n}:crash`));
  t.test('crash just after each sync', (t) => sweep(t, data, (n) => `sync:${n}:crash-after`));
});
