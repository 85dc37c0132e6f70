/**
 * Figure 8: figure 3's capacity run over mutual TLS (certificates from
 * scripts/make-certs.ts, the load generator's --tls-dir) against plain TCP,
 * in pairs of alternating order (1 pair with --quick, else 3; the median ratio).
 */
import { join } from 'node:path';
import { makeCerts } from '../../scripts/make-certs.js';
import { loadgenIngest } from '../lib/loadgen.js';
import { figure, fmt, medianRound, roundsNote, row, say, verdict } from '../lib/report.js';
import { args, TARGET } from '../lib/settings.js';
import { TMP } from '../lib/workspace.js';
import { capLabel, type Context } from './context.js';

export async function tlsCapacity(ctx: Context): Promise<void> {
  await figure(`8. server capacity over mutual TLS vs plain TCP, ${capLabel(ctx)}, durable`, async () => {
    const certs = join(TMP, 'certs');
    makeCerts({ out: certs, agencies: ctx.cap.length, hosts: [], days: 2, expired: false });
    // Pairs in alternating order (plain first, then TLS first...), so a drift in the machine's speed favours neither.
    const rounds: { tls: number; plain: number }[] = [];
    for (let i = 1; i <= (args.quick ? 1 : 3); i++) {
      const plainRun = async () => (await loadgenIngest(`capacity-plain-${i}`, ctx.cap, true)).result.betsPerSecond ?? NaN;
      const tlsRun = async () => (await loadgenIngest(`capacity-tls-${i}`, ctx.cap, true, {}, certs)).result.betsPerSecond ?? NaN;
      let plain: number;
      let tls: number;
      if (i % 2 === 1) {
        plain = await plainRun();
        tls = await tlsRun();
      } else {
        tls = await tlsRun();
        plain = await plainRun();
      }
      rounds.push({ tls, plain });
      say(`  round ${i}: mutual TLS ${fmt.n(tls)} bets/s, plain TCP ${fmt.n(plain)} bets/s = ${fmt.x(tls / plain)}`);
    }
    const { tls, plain } = medianRound(rounds, (r) => r.tls / r.plain);
    row(
      `8. server capacity over mutual TLS vs plain TCP, ${capLabel(ctx)}, durable (figure 3's run)`,
      `${fmt.n(tls)} vs ${fmt.n(plain)} bets/s = ${fmt.x(tls / plain)}${roundsNote(rounds.map((r) => r.tls / r.plain))}`,
      `≥ ${TARGET.tlsRatio}×`,
      verdict(tls / plain >= TARGET.tlsRatio),
    );
  });
}
