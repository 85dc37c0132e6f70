/**
 * Figure 7: 100 agency processes at once (DEBUG logs): every one correct, the
 * central's peak RSS, time to first ack after connect. 7b (info): the same
 * files from one load-generator process.
 */
import { clientRun } from '../lib/agencies.js';
import { loadgenIngest } from '../lib/loadgen.js';
import { correctnessError, figure, fmt, median, problems, row, say } from '../lib/report.js';
import { sizes } from '../lib/settings.js';
import type { Context } from './context.js';

export async function manyAgencies(ctx: Context): Promise<void> {
  await figure(`7. ${ctx.many.length} agencies at once`, async () => {
    const before = problems.length;
    const run = await clientRun(`many-${ctx.many.length}`, ctx.many, {
      durable: true,
      debug: true,
      maxConnections: ctx.many.length + 10,
      backlog: Math.max(128, ctx.many.length * 2),
    });
    const fromConnect = run.agents.filter((a) => a.firstAckAt >= 0 && a.connectAt >= 0).map((a) => a.firstAckAt - a.connectAt);
    const fromSpawn = run.agents.filter((a) => a.firstAckAt >= 0).map((a) => a.firstAckAt - a.proc.startedAt);
    if (fromConnect.length !== run.agents.length)
      correctnessError(`many agencies: ${run.agents.length - fromConnect.length} agencies logged no batch_ack`);
    const ok = problems.length === before;
    const ttfa = `first ack after connect: median ${fmt.ms(median(fromConnect))}, max ${fmt.ms(Math.max(...fromConnect))} (after process spawn: median ${fmt.ms(median(fromSpawn))}, max ${fmt.ms(Math.max(...fromSpawn))})`;
    say(
      `  ${fmt.s(run.wallMs)} wall; central peak RSS ${fmt.mb(run.serverPeakRss)}, ${fmt.s(run.serverCpuMs)} CPU; at most ${run.central.maxConnections} connections at once; ${ttfa}`,
    );
    row(
      `7. ${ctx.many.length} agencies at once, ${fmt.n(sizes.manyBets)} bets each`,
      `${ok ? 'all correct' : 'errors (see above)'}; central peak RSS ${fmt.mb(run.serverPeakRss)}; ${run.central.maxConnections} connections at once; ${ttfa}; ${fmt.s(run.wallMs)} wall`,
      'all finish correctly; RSS and time to first ack reported',
      ok ? 'PASS' : 'ERROR',
    );
    // The same files from one load-generator process: the central's own latency, without 100 Node start-ups competing.
    const lg = await loadgenIngest(`many-${ctx.many.length}-loadgen`, ctx.many, true, {
      maxConnections: ctx.many.length + 10,
      backlog: Math.max(128, ctx.many.length * 2),
    });
    const welcome = lg.result.agencies.map((a) => a.welcomeMs ?? NaN);
    const ack = lg.result.agencies.map((a) => a.firstAckMs ?? NaN);
    const text =
      `Hello→Welcome median ${fmt.ms(median(welcome))}, max ${fmt.ms(Math.max(...welcome))}; first batch→first ack median ${fmt.ms(median(ack))}, max ${fmt.ms(Math.max(...ack))}; ` +
      `all ${fmt.n(lg.result.bets ?? NaN)} bets in ${fmt.s(lg.result.ingestMs ?? NaN)}; central peak RSS ${fmt.mb(lg.serverPeakRss)}`;
    say(`  load generator, ${ctx.many.length} connections from one process: ${text}`);
    row(`7b. (info) ${ctx.many.length} connections from one load-generator process, same files`, text, '—', 'INFO');
  });
}
