/**
 * Figure 3: the central's capacity, 10 agencies × 200,000 pre-encoded bets
 * from one load-generator process, durable. Figure 2: durable against
 * --no-fsync, pairs of the same run in alternating order.
 */
import { loadgenIngest, type LoadgenRun } from '../lib/loadgen.js';
import { figure, fmt, medianRound, roundsNote, row, say, verdict } from '../lib/report.js';
import { LOADGEN_WINDOW, sizes, TARGET } from '../lib/settings.js';
import { capLabel, type Context } from './context.js';

export async function capacity(ctx: Context): Promise<void> {
  await figure(`3. server capacity, ${capLabel(ctx)}, durable`, async () => {
    const run = await loadgenIngest('capacity-durable', ctx.cap, true);
    ctx.capDurable = run;
    const r = run.result;
    say(
      `  ${fmt.n(r.betsPerSecond ?? NaN)} bets/s: ${fmt.n(r.bets ?? NaN)} bets in ${fmt.s(r.ingestMs ?? NaN)} (encoding beforehand: ${fmt.s(r.encodeMs ?? NaN)}); ` +
        `central used ${run.serverCores.toFixed(2)} cores, load generator ${run.loadgenCores.toFixed(2)}; central peak RSS ${fmt.mb(run.serverPeakRss)}`,
    );
    row(
      `3. server capacity, ${capLabel(ctx)} (1 load-generator process, ${ctx.cap.length} connections, window ${LOADGEN_WINDOW}), durable`,
      `${fmt.n(r.betsPerSecond ?? NaN)} bets/s (central ${run.serverCores.toFixed(2)} cores, load generator ${run.loadgenCores.toFixed(2)} cores)`,
      `≥ ${fmt.n(TARGET.capacity)} bets/s`,
      verdict((r.betsPerSecond ?? 0) >= TARGET.capacity),
    );
  });
}

export async function durableVsNot(ctx: Context): Promise<void> {
  await figure(`2. durable vs non-durable ingest, ${capLabel(ctx)}`, async () => {
    const first = ctx.capDurable;
    if (!first) throw new Error('the durable capacity run did not complete');
    // Pairs of runs side by side (figure 3's run is the first durable one), their order
    // alternating so that a drift in the machine's speed or the disk's latency favours neither mode.
    const rounds: { d: number; n: number }[] = [];
    for (let i = 1; i <= sizes.durableRounds; i++) {
      let durable: LoadgenRun;
      let fast: LoadgenRun;
      if (i % 2 === 1) {
        durable = i === 1 ? first : await loadgenIngest(`capacity-durable-${i}`, ctx.cap, true);
        fast = await loadgenIngest(`capacity-no-fsync-${i}`, ctx.cap, false);
      } else {
        fast = await loadgenIngest(`capacity-no-fsync-${i}`, ctx.cap, false);
        durable = await loadgenIngest(`capacity-durable-${i}`, ctx.cap, true);
      }
      const d = durable.result.betsPerSecond ?? NaN;
      const n = fast.result.betsPerSecond ?? NaN;
      rounds.push({ d, n });
      say(
        `  round ${i}: durable ${fmt.n(d)} bets/s, --no-fsync ${fmt.n(n)} bets/s (central ${fast.serverCores.toFixed(2)} cores) = ${fmt.x(d / n)}`,
      );
    }
    const { d, n } = medianRound(rounds, (r) => r.d / r.n);
    const each = roundsNote(rounds.map((r) => r.d / r.n));
    row(
      `2. durable vs --no-fsync ingest, ${capLabel(ctx)}`,
      `${fmt.n(d)} vs ${fmt.n(n)} bets/s = ${fmt.x(d / n)}${each}`,
      `≥ ${TARGET.durableRatio}×`,
      verdict(d / n >= TARGET.durableRatio),
    );
  });
}
