/**
 * Figure 6: the central's peak RSS (VmHWM) in figure 1's runs, alone and
 * against figure 4's: memory must not grow with the number of bets.
 */
import { totalBets } from '../lib/data.js';
import { figure, fmt, row, rows, say, verdict } from '../lib/report.js';
import { REFERENCE_BETS, sizes, TARGET } from '../lib/settings.js';
import type { Context } from './context.js';

export async function peakMemory(ctx: Context): Promise<void> {
  await figure('6. central peak RSS', () => {
    const peak = ctx.e2ePeakRss;
    if (peak === null) throw new Error('the end-to-end run (figure 1) did not complete');
    const of = sizes.e2eRounds > 1 ? `, median of ${sizes.e2eRounds} runs` : '';
    row(
      `6a. central peak RSS, ${fmt.n(totalBets(ctx.e2e))}-bet end-to-end run${of}`,
      fmt.mb(peak),
      `≤ ${fmt.mb(TARGET.rssBytes)}`,
      verdict(peak <= TARGET.rssBytes),
    );
    const ref = ctx.refPeakRss;
    if (ref === null) {
      row('6b. peak RSS growth vs the reference run', 'skipped: no reference run', `≤ ${TARGET.rssGrowth}×`, 'SKIP');
    } else {
      row(
        `6b. peak RSS, ${fmt.n(totalBets(ctx.e2e))}-bet run vs ${fmt.n(REFERENCE_BETS)}-bet run`,
        `${fmt.mb(peak)} vs ${fmt.mb(ref)} = ${fmt.x(peak / ref)}`,
        `≤ ${TARGET.rssGrowth}×`,
        verdict(peak / ref <= TARGET.rssGrowth),
      );
    }
    say(
      `  ${rows
        .slice(-2)
        .map((r) => `${r.figure}: ${r.measured}`)
        .join('; ')}`,
    );
  });
}
