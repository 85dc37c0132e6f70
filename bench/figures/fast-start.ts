/**
 * Figures 10–13: fast from the first bet, at the contract's default
 * configuration (10 bets a batch):
 *  10. one agency's CPU on the reference agency-1.csv against csv-parse alone
 *      (and its floors, parse-only --encode, and --send to bench/sink.ts),
 *      rounds side by side;
 *  11. the reference dataset, 5 agencies started against a listening, idle
 *      central, to the last agency's exit, against csv-parse alone in 5
 *      processes (and its floor, the five parse-only --encode at once);
 *  12. connect → Welcome with the central idle, one Hello at a time, and one
 *      worker's start-up CPU (idle centrals with 10 and 2 pre-started workers);
 *  13. the central's CPU per stored bet on figure 3's durable load, beside
 *      its floor (bench/relay-floor.ts under the same load).
 */
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  decodeMessage,
  encodeHello,
  FrameDecoder,
  MessageType,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  SERVER_FRAME_LIMITS,
  type ServerMessage,
} from '../../protocol/index.js';
import { NodeProcess, procStats, withTimeout, type Exit } from '../../scripts/proc.js';
import { WINNERS_LINE } from '../lib/agencies.js';
import { parseRun, relayFloorPerBet, startWelcomeFloor, transportRun } from '../lib/baselines.js';
import { Central } from '../lib/central.js';
import { checkCentral, checkExit, verifyStored } from '../lib/checks.js';
import { generateSet, totalBets, totalWinners, type AgencyInput } from '../lib/data.js';
import { loadgenIngest, usPerBet } from '../lib/loadgen.js';
import {
  correctnessError,
  figure,
  fmt,
  median,
  medianRound,
  roundsNote,
  row,
  say,
  skippedWithoutReference,
  verdict,
} from '../lib/report.js';
import { agencyFlags, args, BATCH, CLIENT_MAIN, CORES, sizes, TARGET } from '../lib/settings.js';
import { childEnv, profileArgs, runDir, runTimeout } from '../lib/workspace.js';
import type { Context } from './context.js';

/** The contract's default batch.maxAmount, which the agencies of figures 10 and 11 run with: their floors encode the same. */
const DEFAULT_BATCH = 10;

interface DefaultConfigRun {
  /** The first agency's spawn to the last one's exit, the central listening and idle before (as csv-parse's five are timed). */
  readonly wallMs: number;
  /** The agencies' CPU (user + sys, whole processes). */
  readonly agenciesCpuMs: number;
  /** The central's CPU over the same span (its sessions, store and draw; its boot was before). */
  readonly centralCpuMs: number;
  /** Each agency's `connect` line to its `session` line (its Welcome). */
  readonly welcomeMs: readonly number[];
}

/** The least wall time the run's CPU could take, every core busy throughout. */
function coresBound(run: DefaultConfigRun): number {
  return (run.agenciesCpuMs + run.centralCpuMs) / CORES;
}

/**
 * Agencies as a user runs them first: the contract's default configuration
 * (no CLI_BATCH_MAXAMOUNT: 10 bets a batch), against a central already
 * listening; stored bets, winners and exits checked like every run.
 */
async function defaultConfigRun(label: string, inputs: readonly AgencyInput[]): Promise<DefaultConfigRun> {
  const dir = runDir(label);
  const betsFile = join(dir, 'bets.csv');
  const central = await Central.start({ label, betsFile, agencies: inputs.length, durable: true, listenTimeoutMs: 60_000 });
  // The central idle, as when agencies come some time after it started: its boot work is done.
  await sleep(500);
  const selfBefore = procStats('self');
  const centralBefore = central.stats();
  const agents = inputs.map((input) => {
    const times = { connect: -1, session: -1, winners: null as number | null, errors: [] as string[] };
    const env = childEnv({
      CLI_ID: String(input.agency),
      CLI_SERVER_ADDRESS: `127.0.0.1:${central.port}`,
      CLI_DATA_FILE: input.path,
      CLI_LOOP_PERIOD: '100ms',
      CLI_LOOP_AMOUNT: '20',
    });
    const proc = new NodeProcess(`agency ${input.agency} (default config)`, [...profileArgs('agency'), CLIENT_MAIN], {
      cwd: dir,
      env,
      keepLines: false,
      onLine: (line, at) => {
        if (times.connect < 0 && line.includes('action: connect | result: success')) times.connect = at;
        else if (times.session < 0 && line.includes('action: session | result: success')) times.session = at;
        const m = WINNERS_LINE.exec(line);
        if (m) times.winners = Number(m[1]);
        if ((line.startsWith('ERROR', 20) || line.startsWith('CRITICAL', 20)) && times.errors.length < 3) times.errors.push(line);
      },
    });
    return { input, proc, times };
  });
  let exits: Exit[];
  try {
    exits = await withTimeout(Promise.all(agents.map((a) => a.proc.exited)), runTimeout(totalBets(inputs)), `${label}: agencies`);
  } catch (error) {
    for (const a of agents) a.proc.signal('SIGKILL');
    await central.stop();
    throw error;
  }
  const selfAfter = procStats('self');
  const centralAfter = central.stats();
  const lastExit = Math.max(...agents.map((a) => a.proc.exitedAt));
  const { exit } = await central.stop();
  agents.forEach((a, i) => {
    checkExit(label, a.proc, exits[i]);
    for (const line of a.times.errors) correctnessError(`${label}: agency ${a.input.agency} logged: ${line}`);
    if (a.times.winners !== a.input.expected.winners)
      correctnessError(
        `${label}: agency ${a.input.agency} reported ${a.times.winners ?? 'no'} winners, its file has ${a.input.expected.winners}`,
      );
  });
  checkCentral(label, central, exit, totalWinners(inputs));
  verifyStored(label, betsFile, inputs);
  if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
  return {
    wallMs: lastExit - Math.min(...agents.map((a) => a.proc.startedAt)),
    agenciesCpuMs: selfBefore && selfAfter ? selfAfter.childrenCpuMs - selfBefore.childrenCpuMs : NaN,
    centralCpuMs: centralBefore && centralAfter ? centralAfter.cpuMs - centralBefore.cpuMs : NaN,
    welcomeMs: agents.map((a) => a.times.session - a.times.connect),
  };
}

/** Connects to 127.0.0.1:port, says Hello as `agency`, and resolves with the time from connect() to the decoded Welcome. */
function helloToWelcome(port: number, agency: number, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const decoder = new FrameDecoder(SERVER_FRAME_LIMITS);
    const timer = setTimeout(() => socket.destroy(new Error(`no Welcome for agency ${agency} within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error: Error | null, ms = 0) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(ms);
    };
    socket.once('connect', () =>
      socket.write(
        encodeHello({ type: MessageType.Hello, version: PROTOCOL_VERSION, agency, singleBet: false, nonce: Buffer.alloc(NONCE_BYTES, 7) }),
      ),
    );
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of decoder.push(chunk)) {
          const message = decodeMessage(frame) as ServerMessage;
          if (message.type === MessageType.Welcome) return finish(null, performance.now() - t0);
          return finish(new Error(`agency ${agency}: expected Welcome, got message 0x${message.type.toString(16)}`));
        }
      } catch (error) {
        finish(error as Error);
      }
    });
    socket.once('error', (error) => finish(error));
    socket.once('close', () => finish(new Error(`agency ${agency}: the central closed before its Welcome`)));
  });
}

/** The central's CPU once its boot is over and it has sat idle for `idleMs` (start-up, recovery, the pre-started workers). */
async function idleCentralCpu(label: string, agencies: number, idleMs: number): Promise<number> {
  const dir = runDir(label);
  const central = await Central.start({ label, betsFile: join(dir, 'bets.csv'), agencies, durable: true, listenTimeoutMs: 60_000 });
  await sleep(idleMs);
  const { before, exit } = await central.stop();
  checkCentral(label, central, exit, null);
  if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
  return before?.cpuMs ?? NaN;
}

export async function agencyCpu(ctx: Context): Promise<void> {
  await figure('10. agency CPU on the reference agency-1.csv, default config, vs csv-parse alone', async () => {
    if (!ctx.reference) return skippedWithoutReference('10. agency CPU, reference agency-1.csv', `≤ ${TARGET.agencyCpuRatio}×`);
    const input = ctx.reference.slice(0, 1);
    // Side by side, alternating: a slow spell of the shared machine skews one round, not the figure.
    const rounds: { agency: number; parse: number; flagged: number; encode: number; send: number }[] = [];
    const flags = agencyFlags().join(' ') || 'none';
    for (let i = 1; i <= sizes.startRounds; i++) {
      const parse = (await parseRun(input)).cpuMs;
      // The agency runs with its shebang's Node flags; csv-parse alone with them says what they are worth.
      const flagged = (await parseRun(input, 'parse with agency flags')).cpuMs;
      // The agency's floors: its own reading, validation and encoding into frames, no network, no central;
      // then the same frames written to a TCP socket whose peer (bench/sink.ts) only appends them (the kernel's loopback work counts to the sender).
      const encode = (await parseRun(input, 'encode', DEFAULT_BATCH)).cpuMs;
      const send = (await transportRun(input, DEFAULT_BATCH)).agenciesCpuMs;
      const agency = (await defaultConfigRun(`agency-cpu-${i}`, input)).agenciesCpuMs;
      rounds.push({ agency, parse, flagged, encode, send });
      say(
        `  round ${i}: agency ${fmt.ms(agency)} CPU, csv-parse alone ${fmt.ms(parse)} = ${fmt.x(agency / parse)}; ` +
          `csv-parse alone with the agency's Node flags (${flags}) ${fmt.ms(flagged)}, against which the agency is ${fmt.x(agency / flagged)}; ` +
          `parse + validate + encode without network ${fmt.ms(encode)} = ${fmt.x(encode / parse)}; ` +
          `the same sent to a sink over TCP ${fmt.ms(send)} = ${fmt.x(send / parse)}`,
      );
    }
    const { agency, parse, flagged, encode, send } = medianRound(rounds, (r) => r.agency / r.parse);
    row(
      `10. agency CPU (user + sys, whole process), reference agency-1.csv (${fmt.n(totalBets(input))} bets), default config (10 a batch)`,
      `${fmt.ms(agency)} vs csv-parse alone ${fmt.ms(parse)} = ${fmt.x(agency / parse)}${roundsNote(rounds.map((r) => r.agency / r.parse))}; ` +
        `csv-parse alone with the agency's Node flags (${flags}) ${fmt.ms(flagged)}, the agency ${fmt.x(agency / flagged)} of that; ` +
        `the agency's floors (with its flags): parse + validate + encode, no network ${fmt.x(encode / parse)}; the same frames sent over TCP to a sink ${fmt.x(send / parse)}`,
      `≤ ${TARGET.agencyCpuRatio}×`,
      verdict(agency / parse <= TARGET.agencyCpuRatio),
    );
  });
}

export async function referenceDefaultConfig(ctx: Context): Promise<void> {
  await figure('11. reference dataset, 5 agencies, default config, vs csv-parse alone', async () => {
    const inputs = ctx.reference;
    if (!inputs) return skippedWithoutReference('11. reference dataset, default config', `≤ ${TARGET.referenceRatio}×`);
    const rounds: { run: DefaultConfigRun; parse: number; encode: number }[] = [];
    for (let i = 1; i <= sizes.startRounds; i++) {
      const parse = (await parseRun(inputs)).wallMs;
      // The floor: the five agencies' own reading, validation and encoding at once, no network, no central.
      const encode = (await parseRun(inputs, 'encode', DEFAULT_BATCH)).wallMs;
      const run = await defaultConfigRun(`reference-default-${i}`, inputs);
      rounds.push({ run, parse, encode });
      say(
        `  round ${i}: agencies started → last agency exit ${fmt.s(run.wallMs)}, csv-parse alone in 5 processes ${fmt.s(parse)} = ${fmt.x(run.wallMs / parse)}; ` +
          `parse + validate + encode in 5 processes, no network ${fmt.s(encode)} = ${fmt.x(encode / parse)}; ` +
          `CPU: agencies ${fmt.s(run.agenciesCpuMs)}, central ${fmt.s(run.centralCpuMs)}, ` +
          `on ${CORES} cores at best ${fmt.s(coresBound(run))} = ${fmt.x(coresBound(run) / parse)}; ` +
          `connect → Welcome median ${fmt.ms(median(run.welcomeMs))}`,
      );
    }
    const { run, parse, encode } = medianRound(rounds, (r) => r.run.wallMs / r.parse);
    row(
      `11. reference dataset (${fmt.n(totalBets(inputs))} bets, 5 agencies), default config, central listening, agencies started → last agency exit`,
      `${fmt.s(run.wallMs)} vs csv-parse alone in 5 processes ${fmt.s(parse)} = ${fmt.x(run.wallMs / parse)}${roundsNote(rounds.map((r) => r.run.wallMs / r.parse))}; ` +
        `the agencies' floor (parse + validate + encode in 5 processes, no network) ${fmt.x(encode / parse)}; ` +
        `the run's CPU (agencies ${fmt.s(run.agenciesCpuMs)} + central ${fmt.s(run.centralCpuMs)}) on ${CORES} cores at best ${fmt.x(coresBound(run) / parse)}`,
      `≤ ${TARGET.referenceRatio}×`,
      verdict(run.wallMs / parse <= TARGET.referenceRatio),
    );
  });
}

export async function connectToWelcome(): Promise<void> {
  await figure('12. connect → Welcome, central idle', async () => {
    // No roster (any agency): the pool's default set at boot, then its replenished spare; one Hello at a time, the central idle between.
    const label = 'welcome-latency';
    const dir = runDir(label);
    const central = await Central.start({ label, betsFile: join(dir, 'bets.csv'), agencies: 0, durable: true, listenTimeoutMs: 60_000 });
    const floorServer = await startWelcomeFloor();
    const oneThreadServer = await startWelcomeFloor(true);
    const times: number[] = [];
    const floor: number[] = [];
    const oneThread: number[] = [];
    try {
      // Idle means the pool's workers have started: a worker takes ~0.1 s on a quiet machine, far more on a busy one.
      await sleep(1500);
      // Side by side: each probe of the central is followed by one of each floor, every process idle for the same 0.5 s before its probe.
      for (let agency = 1; agency <= sizes.welcomeProbes; agency++) {
        times.push(await helloToWelcome(central.port, agency));
        await sleep(500);
        floor.push(await helloToWelcome(floorServer.port, agency));
        await sleep(500);
        oneThread.push(await helloToWelcome(oneThreadServer.port, agency));
        await sleep(500);
      }
    } finally {
      floorServer.proc.signal('SIGKILL');
      oneThreadServer.proc.signal('SIGKILL');
      const { exit } = await central.stop();
      checkCentral(label, central, exit, null);
      if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
    }
    // What one worker costs to start (a V8 isolate compiling the session and storage code): an idle
    // central with 10 pre-started workers against one with 2, side by side.
    const few = await idleCentralCpu('idle-2-workers', 0, 1500);
    const many = await idleCentralCpu('idle-10-workers', 10, 1500);
    const perWorker = (many - few) / 8;
    const list = (values: number[]) => values.map((ms) => ms.toFixed(1)).join(', ');
    say(`  connect → Welcome: ${list(times)} ms; worker start-up ≈ ${fmt.ms(perWorker)} CPU each (off the agencies' path)`);
    say(`  the floor (bench/welcome-floor.ts: accept, a warmed worker decodes the Hello, Welcome back): ${list(floor)} ms`);
    say(`  the same answered by the main thread, no hop (welcome-floor.ts --one-thread): ${list(oneThread)} ms`);
    const hop = (median(floor) - median(oneThread)) / 2;
    row(
      `12. connect → Welcome, central idle, ${times.length} connections one at a time`,
      `median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms; the floor (accept, two thread hops, no store) ${median(floor).toFixed(1)} ms, ` +
        `of it the loopback connection and an idle process's wake-up (one thread, no hop) ${median(oneThread).toFixed(1)} ms and ≈ ${hop.toFixed(1)} ms a hop to an idle thread` +
        ` (a worker's start-up, done before its connection: ≈ ${fmt.ms(perWorker)} CPU)`,
      `≤ ${TARGET.welcomeMs} ms`,
      verdict(median(times) <= TARGET.welcomeMs),
    );
  });
}

export async function cpuPerBet(ctx: Context): Promise<void> {
  await figure('13. central CPU per stored bet, durable', async () => {
    // Figure 3's files when they were made for it, else the same sizes made here.
    const inputs = ctx.cap.length > 0 ? ctx.cap : generateSet('per-bet', sizes.capAgencies, sizes.capBets);
    // Side by side: the floor (a worker per connection that frames, appends, syncs and acks; bench/relay-floor.ts), then the central.
    const floor = await relayFloorPerBet(inputs);
    const run = await loadgenIngest('per-bet-durable', inputs, true);
    const bets = totalBets(inputs);
    const windowUs = usPerBet(run.serverCores, run.result, bets);
    const kernelUs = usPerBet(run.serverKernelCores, run.result, bets);
    const wholeUs = (run.serverCpuMs * 1000) / bets;
    const us = (value: number) => `${value.toFixed(2)} µs`;
    say(
      `  ${fmt.n(bets)} bets, first batch → last ack: central ${us(windowUs)} a bet (${us(kernelUs)} of it in the kernel), ` +
        `${us(wholeUs)} start to stop; the relay floor ${us(floor.us)} a bet (${us(floor.kernelUs)} in the kernel)`,
    );
    row(
      `13. central CPU per stored bet, ${fmt.n(bets)}-bet durable run (figure 3's load, ${BATCH} a batch)`,
      `${us(windowUs)} from the first batch to the last ack (kernel ${us(kernelUs)}); ${us(wholeUs)} counting start-up, workers and draw; ` +
        `the floor (a worker per connection: relay, framing, append, sync, ack; no validation, lines or journal) ${us(floor.us)} (kernel ${us(floor.kernelUs)})`,
      `≤ ${TARGET.perBetUs} µs`,
      verdict(windowUs <= TARGET.perBetUs),
    );
  });
}
