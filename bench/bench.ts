/**
 * `npm run bench` — the figures, measured side by side in one run,
 * with a correctness check in every run. `npm run bench -- --quick` does the
 * same at small sizes (under a minute; for CI).
 *
 *   node dist/bench/bench.js [--quick] [--only 1,3,5] [--keep-temp] [--profile DIR]
 *
 * Everything runs as real processes over loopback (127.0.0.1, port 0) from a
 * temporary directory that is removed at the end: the central
 * (dist/server/main.js), the agencies (dist/client/main.js), the parse-only
 * baseline (bench/parse-only.ts) and the load generator
 * (bench/load-generator.ts, one process, one connection per agency). Data
 * comes from the project's generator (scripts/generate-data.ts). Time is the
 * wall clock (performance.now); CPU and peak RSS of the central come from
 * /proc/<pid>/stat (utime+stime) and /proc/<pid>/status (VmHWM), read just
 * before it is stopped with SIGTERM; the agencies' CPU is the growth of this
 * process's cutime+cstime while they ran.
 *
 * The figures (issue 5's table):
 *   1. 5 agencies × 400,000 bets, durable: wall time from the central's spawn
 *      to the last agency's exit, against 5 parse-only processes (csv-parse
 *      with the agency's options, counting rows) on the same files, spawn of
 *      the first to exit of the last. Run just before, same page cache. Also
 *      shown: 5 `parse-only --encode` processes (the agency's own parsing,
 *      validation and encoding, without network or central): the agency's floor;
 *      the same sending their frames over TCP to bench/sink.ts, which only
 *      appends them to a file; the central's fixed cost (5 agencies with empty
 *      files); and from those, a lower bound on any run's wall time: (agencies
 *      sending + sink beyond its start-up + fixed CPU) / cores.
 *      Three rounds of all of it (one with --quick); the median round is reported.
 *   2. Durable vs --no-fsync ingest: the load generator (figure 3's method)
 *      on the same files, three pairs of runs (one with --quick) in
 *      alternating order; the median pair is reported. 2b (info): figure 1 again with
 *      --no-fsync, i.e. at the agencies' own pace (full run only).
 *   3. Capacity: 10 agencies × 200,000 bets, pre-encoded, one load-generator
 *      process with 10 connections, window 128 batches; bets/s from the first
 *      batch written to the last ack. CPU of the central and of the load
 *      generator over that window, in cores.
 *   4. The reference dataset (../shared/data/agency-1..5.csv), 5 agencies,
 *      central spawn to last agency exit, median of 5 runs; and as its floor,
 *      csv-parse alone on the same five files, 5 processes, median of 5.
 *   5. bets.csv of 10,000,000 lines written directly in the stored format;
 *      the central starts on it (recovery, not timed); the load generator's
 *      draw mode times the last agency's Done+WinnersRequest to the last
 *      Winners page.
 *   6. The central's VmHWM in figure 1's runs, alone and against figure 4's
 *      (median of each figure's runs).
 *   7. 100 agency processes at once (DEBUG logs, --max-connections 110):
 *      every one correct; the central's peak RSS; time to first ack = arrival
 *      of an agency's first `batch_ack` line minus its `connect` line. 7b
 *      (info): the same files from one load-generator process (Hello→Welcome
 *      and first batch→first ack, without 100 Node start-ups competing).
 *   8. Figure 3's capacity run over mutual TLS (certificates from
 *      scripts/make-certs.ts, the load generator's --tls-dir) against plain
 *      TCP, in pairs of alternating order (1 pair with --quick, else 3; the
 *      median ratio): target TLS ≥ 0.85× plain.
 *   9. Figure 3's run with the bets in PostgreSQL, on 1, 2 and 3 centrals
 *      sharing one database, against the file store just before.
 * 10–13 (the contract's default configuration: 10 bets a batch):
 *  10. one agency's CPU on the reference agency-1.csv against csv-parse alone
 *      (and its floor, parse-only --encode), five rounds side by side;
 *  11. the reference dataset, 5 agencies started against a listening, idle
 *      central, to the last agency's exit, against csv-parse alone in 5
 *      processes (both timed from the first spawn to the last exit);
 *  12. connect → Welcome with the central idle, one Hello at a time, and one
 *      worker's start-up CPU (idle centrals with 10 and 2 pre-started workers);
 *  13. the central's CPU per stored bet on figure 3's durable load.
 * --quick uses 5 × 40,000, 10 × 20,000, the reference once, 1,000,000 lines
 * and 20 agencies (figures 10 and 11 once, 4 Hellos for 12).
 *
 * Correctness, in every run: bets.csv holds exactly the input (per agency:
 * line count and an order-independent 64-bit checksum of the stored lines,
 * see checksum.ts), every agency got as many winners as its file has 7574s,
 * the draw's `sorteo` line counts them all, and every process exited 0. Any
 * mismatch prints `CORRECTNESS ERROR: ...` and the exit code is 1. Timings
 * never fail the run: a missed target is reported as MISS, exit 0.
 *
 * This file is the runner: it checks the build, generates the data, runs the
 * figures (bench/figures/, one module each) in dependency order and prints
 * the table. What they share — the processes, the checks, the output — is in
 * bench/lib/.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { capacity, durableVsNot } from './figures/capacity.js';
import type { Context } from './figures/context.js';
import { draw } from './figures/draw.js';
import { agencyCpu, connectToWelcome, cpuPerBet, referenceDefaultConfig } from './figures/fast-start.js';
import { endToEnd } from './figures/end-to-end.js';
import { manyAgencies } from './figures/many-agencies.js';
import { peakMemory } from './figures/memory.js';
import { postgres } from './figures/postgres.js';
import { referenceRun } from './figures/reference.js';
import { tlsCapacity } from './figures/tls.js';
import { generateSet, referenceSet, totalBets, totalWinners } from './lib/data.js';
import { fmt, loadavg, printTable, problems, say } from './lib/report.js';
import { args, CLIENT_MAIN, LOAD_GENERATOR, PARSE_ONLY, REFERENCE_DIR, SERVER_MAIN, SINK, sizes, wants } from './lib/settings.js';
import { cleanup, machine } from './lib/workspace.js';

async function main(): Promise<number> {
  for (const path of [SERVER_MAIN, CLIENT_MAIN, PARSE_ONLY, LOAD_GENERATOR, SINK]) {
    if (!existsSync(path)) {
      say(`bench: ${path} is missing; run \`npm run build\` first (npm run bench does)`);
      return 1;
    }
  }
  const started = performance.now();
  say(`# lottery benchmark${args.quick ? ' (--quick: small sizes; the targets are meant for the full run)' : ''}`);
  for (const line of machine()) say(line);

  // Data, generated once with the project's generator, digested for the checks.
  say('\n## data');
  const t0 = performance.now();
  const ctx: Context = {
    e2e: wants(1) || wants(2) || wants(6) ? generateSet('e2e', sizes.e2eAgencies, sizes.e2eBets) : [],
    cap: wants(2) || wants(3) || wants(8) || wants(9) || wants(13) ? generateSet('capacity', sizes.capAgencies, sizes.capBets) : [],
    many: wants(7) ? generateSet('many', sizes.manyAgencies, sizes.manyBets, (agency) => agency % 4) : [],
    reference: wants(4) || wants(6) || wants(10) || wants(11) ? referenceSet() : null,
    e2ePeakRss: null,
    refPeakRss: null,
    capDurable: null,
  };
  const { e2e, cap, many, reference } = ctx;
  say(
    `  generated ${fmt.n(totalBets(e2e) + totalBets(cap) + totalBets(many))} bets (${e2e.length}×${fmt.n(sizes.e2eBets)} end-to-end, ` +
      `${cap.length}×${fmt.n(sizes.capBets)} capacity, ${many.length}×${fmt.n(sizes.manyBets)} many-agencies) in ${fmt.s(performance.now() - t0)}; ` +
      `winners: ${totalWinners(e2e)}, ${totalWinners(cap)}, ${totalWinners(many)}`,
  );
  if (reference) say(`  reference dataset: ${fmt.n(totalBets(reference))} bets, ${totalWinners(reference)} winners (${REFERENCE_DIR})`);
  else if (wants(4) || wants(10) || wants(11)) say(`  reference dataset not found in ${REFERENCE_DIR}: the figures on it are skipped`);

  // Dependency order: 6 reports what 1 and 4 measured; 2 starts from 3's durable run.
  if (wants(1) || wants(2) || wants(6)) await endToEnd(ctx);
  if (wants(2) || wants(3)) await capacity(ctx);
  if (wants(2)) await durableVsNot(ctx);
  if (wants(4) || wants(6)) await referenceRun(ctx);
  if (wants(5)) await draw();
  if (wants(6)) await peakMemory(ctx);
  if (wants(7)) await manyAgencies(ctx);
  if (wants(8)) await tlsCapacity(ctx);
  if (wants(9)) await postgres(ctx);
  if (wants(10)) await agencyCpu(ctx);
  if (wants(11)) await referenceDefaultConfig(ctx);
  if (wants(12)) await connectToWelcome();
  if (wants(13)) await cpuPerBet(ctx);

  say(`\n## results   (load avg ${loadavg()}; total ${fmt.s(performance.now() - started)})\n`);
  printTable();
  say('');
  if (problems.length > 0) {
    say(`${problems.length} CORRECTNESS ERROR(S) — the figures above come from a wrong run:`);
    for (const p of problems) say(`  - ${p.split('\n')[0]}`);
    return 1;
  }
  say('correctness: every run stored exactly its input (counts and checksums) and every agency got its winners.');
  return 0;
}

main().then(
  async (code) => {
    cleanup();
    await sleep(0);
    process.exit(code);
  },
  (error: unknown) => {
    say(`CORRECTNESS ERROR: the benchmark itself failed: ${String((error as Error)?.stack ?? error)}`);
    cleanup();
    process.exit(1);
  },
);
