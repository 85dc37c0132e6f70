/**
 * End to end on a disk that fails the way real ones do: the central keeps
 * bets.csv on faultfs (test/helpers/faultfs), a FUSE filesystem that forgets
 * every write not yet synced when the power is cut, fails syncs the way Linux
 * does (EIO, and the dirty data is dropped: a later sync "succeeds" without
 * it), fills up (a short write, then ENOSPC) and tears writes (half the bytes,
 * then EIO). Five agencies (the real client, the contract's batches of 10)
 * stream the reference dataset while faults hit; a central that fail-stops
 * is restarted, as Compose's `restart: on-failure` does. Every scenario ends
 * with a final power cut, after which bets.csv must hold every input bet
 * exactly once, in each agency's file order, with one draw logged in all.
 *
 * Faults injected, one scenario each:
 *   - power cuts: the central's machine loses power three times mid-run
 *     (the central is killed, unsynced writes vanish, it comes back);
 *   - failed syncs: fdatasync of bets.csv fails once, later of the journal;
 *   - a full disk for two seconds, then a torn write, then the power cut.
 */
import { readFileSync, statSync } from 'node:fs';
import t, { type Test } from 'tap';
import { FaultFs, faultFsUnavailable } from '../helpers/faultfs.js';
import { delay, findLogs, startServer, workDir } from '../helpers/processes.js';
import { assertExactEnd, loadDataset, type Dataset } from '../helpers/reliability.js';
import { superviseLottery, type RunControl } from '../helpers/supervised.js';

t.setTimeout(900_000);

const unavailable = faultFsUnavailable();
if (unavailable !== null && process.env['LOTTERY_REQUIRE_ALL'] !== '1') {
  t.plan(0, `faultfs is not available here: ${unavailable}`);
} else {
  t.test('the machine can run faultfs', async (t) => {
    t.equal(unavailable, null, 'faultfs is available (LOTTERY_REQUIRE_ALL=1 requires it)');
  });
  if (unavailable === null) {
    t.test('power cuts mid-run', (t) =>
      scenario(t, async (run, fs, data) => {
        for (const fraction of [0.2, 0.45, 0.7]) {
          await untilStored(run, data, fraction);
          await run.kill(() => fs.powerCut());
        }
      }),
    );
    t.test('fdatasync fails with EIO (and drops the dirty data), on bets.csv and on its journal', (t) =>
      scenario(
        t,
        async (run, fs, data) => {
          await untilStored(run, data, 0.25);
          await fs.failSyncs(1, '/bets.csv');
          await untilStored(run, data, 0.6);
          await fs.failSyncs(1, '/bets.csv.journal');
        },
        (t, runs) => {
          t.ok(
            runs.endings.filter((e) => e.code === 1).length >= 2,
            `the central fail-stopped (exit 1) at each failed sync (${runs.endings.length} endings)`,
          );
        },
      ),
    );
    t.test('a full disk for two seconds, then a torn write', (t) =>
      scenario(
        t,
        async (run, fs, data) => {
          await untilStored(run, data, 0.3);
          const used = (await fs.status()).used;
          await fs.capacity(used + 16 * 1024);
          await delay(2000);
          const status = await fs.status();
          await fs.capacity(null);
          t.ok(status.enospc > 0, `writes hit ENOSPC while the disk was full (${status.enospc})`);
          await untilStored(run, data, 0.6);
          await fs.failWrites(1, '/bets.csv');
        },
        (t, runs) => {
          t.equal(runs.endings.length, 0, 'a full disk and a torn write are survived without a restart');
        },
      ),
    );
  }
}

type During = (run: RunControl, fs: FaultFs, data: Dataset) => Promise<void>;
type Check = (t: Test, run: { endings: readonly { code: number | null }[] }) => void;

async function scenario(t: Test, during: During, check?: Check): Promise<void> {
  const data = await loadDataset(t, {
    preferReference: true,
    bets: [27_000, 25_000, 16_000, 9_000, 1_000],
    winners: [2, 3, 3, 2, 0],
    seed: 77,
  });
  const fs = await FaultFs.mount(t);
  const dir = workDir(t, 'central');
  const betsFile = `${fs.root}/bets.csv`;
  const run = await superviseLottery(t, { data, dir, betsFile, limitMs: 600_000, during: (run) => during(run, fs, data) });
  check?.(t, run);

  // The final power cut: stop the central, lose whatever was not synced, look at what is left.
  const last = run.centralRuns.at(-1)!;
  t.equal(await last.stop('SIGTERM'), 0, 'the last central stops cleanly');
  await fs.powerCut();
  const after = await startServer(t, { agencies: data.files.length, dir, betsFile, name: 'central-after-power-cut' });
  t.ok(findLogs(after.logs(), 'draw_reused', 'success').length === 1, 'after the power cut the draw is still done (no second draw)');
  t.equal(await after.stop('SIGTERM'), 0, 'and that central stops cleanly');
  await fs.powerCut();
  assertExactEnd(t, data, betsFile, run.finals, [...run.centralRuns, after.process]);
  const status = await fs.status();
  t.comment(
    `faultfs: ${status.writes} writes, ${status.syncs} syncs (${status.failedSyncs} failed), ${status.enospc} ENOSPC, ` +
      `${status.failedWrites} torn writes, ${status.powerCuts} power cuts; bets.csv ${readFileSync(betsFile).length} bytes; ` +
      `central ran ${run.centralRuns.length} times`,
  );
}

/** Waits until bets.csv holds about `fraction` of the dataset (or the run is over). */
async function untilStored(run: RunControl, data: Dataset, fraction: number): Promise<void> {
  const target = data.storedBytes * fraction;
  while (!run.over) {
    let size = 0;
    try {
      size = statSync(run.server.betsFile).size;
    } catch {
      // not there yet
    }
    if (size >= target) return;
    await delay(20);
  }
}
