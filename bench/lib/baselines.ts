/**
 * The floors the figures are measured against: csv-parse alone
 * (bench/parse-only.ts), the agency's own parsing and encoding without a
 * network, the same frames sent to a sink that only appends them, and the
 * least a central with a worker per connection does for a Hello. The
 * agency's floors run with the agency's Node flags, the central's with the
 * central's; csv-parse alone with Node's defaults, unless asked.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeExit, NodeProcess, procStats, withTimeout } from '../../scripts/proc.js';
import { checkExit } from './checks.js';
import { totalBets, type AgencyInput } from './data.js';
import { correctnessError } from './report.js';
import { checkAcked, ingestFlags, runLoadgen, usPerBet } from './loadgen.js';
import { agencyFlags, args, centralFlags, PARSE_ONLY, RELAY_FLOOR, SINK, WELCOME_FLOOR } from './settings.js';
import { childEnv, runDir, runTimeout, TMP } from './workspace.js';

/** csv-parse alone (with Node's defaults, or with the agency's flags), or one of the agency's floors. */
export type ParseMode = 'parse' | 'parse with agency flags' | 'encode' | { readonly sendTo: number };

/**
 * Five (or N) parse-only processes at once, in `mode` (csv-parse alone by
 * default); wall time from the first spawn to the last exit.
 */
export async function parseRun(
  inputs: readonly AgencyInput[],
  mode: ParseMode = 'parse',
  /** Bets per frame when encoding. */
  batch = 200,
): Promise<{ wallMs: number; cpuMs: number }> {
  const selfBefore = procStats('self');
  const node = mode === 'parse' ? [] : agencyFlags();
  const work = typeof mode === 'object' ? ['--send', String(mode.sendTo)] : mode === 'encode' ? ['--encode'] : [];
  const procs = inputs.map((input) => {
    let rows = -1;
    const proc = new NodeProcess(`parse-only ${input.agency}`, [...node, PARSE_ONLY, '--batch', String(batch), ...work, input.path], {
      cwd: TMP,
      keepLines: false,
      env: childEnv({}),
      onLine: (line) => {
        const m = /^rows: (\d+)$/.exec(line);
        if (m) rows = Number(m[1]);
      },
    });
    return { input, proc, rows: () => rows };
  });
  const start = Math.min(...procs.map((p) => p.proc.startedAt));
  const exits = await withTimeout(Promise.all(procs.map((p) => p.proc.exited)), runTimeout(totalBets(inputs)), 'parse-only');
  const selfAfter = procStats('self');
  procs.forEach((p, i) => {
    checkExit('parse-only', p.proc, exits[i]);
    const expected = p.input.expected.digest.lines + p.input.expected.invalid;
    if (p.rows() !== expected) correctnessError(`parse-only: ${p.input.path}: csv-parse counted ${p.rows()} rows, expected ${expected}`);
  });
  return {
    wallMs: Math.max(...procs.map((p) => p.proc.exitedAt)) - start,
    cpuMs: selfBefore && selfAfter ? selfAfter.childrenCpuMs - selfBefore.childrenCpuMs : NaN,
  };
}

/** What bench/sink.ts prints at the end: bytes received, its CPU, and the part of it spent starting up. */
export interface SinkReport {
  readonly bytes: number;
  readonly cpuMs: number;
  readonly bootCpuMs: number;
}

/**
 * The agencies' parsing and encoding with the frames sent over TCP to
 * bench/sink.ts, which only appends them to a file: the transport and storage
 * any central needs, with none of ours. `sinkWorkCpuMs` leaves out the sink's
 * start-up, which the central's fixed cost already counts once.
 */
export async function transportRun(
  inputs: readonly AgencyInput[],
  /** Bets per frame. */
  batch = 200,
): Promise<{ wallMs: number; agenciesCpuMs: number; sinkWorkCpuMs: number }> {
  const dir = runDir('transport');
  let report: SinkReport | null = null;
  const { proc: sink, port } = await startListening('sink', [SINK, join(dir, 'frames.bin'), String(inputs.length)], (line) => {
    const end = /^bytes: (\d+) cpu-ms: (\d+) boot-cpu-ms: (\d+)$/.exec(line);
    if (end) report = { bytes: Number(end[1]), cpuMs: Number(end[2]), bootCpuMs: Number(end[3]) };
  });
  const selfBefore = procStats('self');
  const run = await parseRun(inputs, { sendTo: port }, batch);
  const sinkExit = await withTimeout(sink.exited, 30_000, 'sink');
  const selfAfter = procStats('self');
  checkExit('sink', sink, sinkExit);
  const got = report as SinkReport | null; // assigned in a callback: TypeScript cannot see it
  if (!got || got.bytes === 0) correctnessError(`sink: no report of bytes received\n${sink.tail()}`);
  if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
  // Both the agencies and the sink were reaped in between: this is all their CPU.
  const totalCpuMs = selfBefore && selfAfter ? selfAfter.childrenCpuMs - selfBefore.childrenCpuMs : NaN;
  return {
    wallMs: run.wallMs,
    agenciesCpuMs: totalCpuMs - (got?.cpuMs ?? NaN),
    sinkWorkCpuMs: (got?.cpuMs ?? NaN) - (got?.bootCpuMs ?? NaN),
  };
}

/**
 * bench/welcome-floor.ts, listening: the least a central with a worker per
 * connection does for a Hello; with `oneThread`, the same answered by the
 * main thread alone (the loopback connection and the wake-up, no hop).
 */
export function startWelcomeFloor(oneThread = false): Promise<{ proc: NodeProcess; port: number }> {
  const argv = [...centralFlags(), WELCOME_FLOOR, ...(oneThread ? ['--one-thread'] : [])];
  return startListening(oneThread ? 'welcome floor, one thread' : 'welcome floor', argv);
}

/**
 * Figure 3's load (pre-encoded batches, one connection per input) against
 * bench/relay-floor.ts: a worker per connection that only frames, appends,
 * syncs and acks. Its CPU per bet from the first batch to the last ack, and
 * the part of it spent in the kernel, µs.
 */
export async function relayFloorPerBet(inputs: readonly AgencyInput[]): Promise<{ us: number; kernelUs: number }> {
  const dir = runDir('relay-floor');
  const floor = await startListening('relay floor', [...centralFlags(), RELAY_FLOOR, join(dir, 'batches.bin'), String(inputs.length)]);
  const target = { port: floor.port, stats: () => procStats(floor.proc.pid) };
  try {
    const run = await runLoadgen('relay-floor', target, ingestFlags(inputs), runTimeout(totalBets(inputs)));
    checkExit('relay floor', floor.proc, await withTimeout(floor.proc.exited, 30_000, 'relay floor'));
    checkAcked('relay floor', run.result, inputs, false);
    const bets = totalBets(inputs);
    return { us: usPerBet(run.serverCores, run.result, bets), kernelUs: usPerBet(run.serverKernelCores, run.result, bets) };
  } finally {
    floor.proc.signal('SIGKILL');
    if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts a helper of the benchmark and waits for its `port: N` line; fails if it exits first. */
async function startListening(
  name: string,
  argv: string[],
  onLine: (line: string) => void = () => undefined,
): Promise<{ proc: NodeProcess; port: number }> {
  let onPort!: (port: number) => void;
  const listening = new Promise<number>((resolve) => (onPort = resolve));
  const proc = new NodeProcess(name, argv, {
    cwd: TMP,
    keepLines: false,
    env: childEnv({}),
    onLine: (line) => {
      const port = /^port: (\d+)$/.exec(line);
      if (port) onPort(Number(port[1]));
      onLine(line);
    },
  });
  const quit = proc.exited.then((exit) =>
    Promise.reject(new Error(`the ${name} ended before listening: ${describeExit(exit)}\n${proc.tail()}`)),
  );
  quit.catch(() => undefined);
  return { proc, port: await withTimeout(Promise.race([listening, quit]), 30_000, name) };
}
