/**
 * bench/load-generator.ts against a central: pre-encoded batches from one
 * process, one connection per agency (figures 2, 3, 7b, 9), or the draw
 * alone (figure 5); CPU of both sampled around the measured window.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeExit, NodeProcess, procStats, withTimeout, type Exit, type ProcStats } from '../../scripts/proc.js';
import { Central } from './central.js';
import { checkCentral, checkExit, verifyStored } from './checks.js';
import { totalBets, totalWinners, type AgencyInput } from './data.js';
import { correctnessError } from './report.js';
import { args, BATCH, LOAD_GENERATOR, LOADGEN_WINDOW } from './settings.js';
import { childEnv, profileArgs, runDir, runTimeout, TMP } from './workspace.js';

export interface LoadgenAgency {
  agency: number;
  stored: number;
  winners: string[];
  welcomeMs?: number;
  firstAckMs?: number;
}
export interface LoadgenResult {
  mode: 'ingest' | 'draw';
  bets?: number;
  encodeMs?: number;
  connectMs?: number;
  ingestMs?: number;
  betsPerSecond?: number;
  drawMs?: number;
  agencies: LoadgenAgency[];
}

export interface LoadgenRun {
  readonly result: LoadgenResult;
  /** Cores used by the central and by the load generator during the measured window. */
  readonly serverCores: number;
  /** The part of serverCores spent in the kernel (system calls: the sockets, the writes, the syncs). */
  readonly serverKernelCores: number;
  readonly loadgenCores: number;
  /** Cores used by the database during the window, when a `database` CPU reading was given (else NaN). */
  readonly databaseCores: number;
  /** The measured window on this process's clock (performance.now() at EVENT start and end): to join several load generators' windows. */
  readonly window: { readonly start: number; readonly end: number };
  readonly serverPeakRss: number;
  /** The central's whole CPU, start to stop (its start-up, every worker, the draw). */
  readonly serverCpuMs: number;
  readonly central: Central;
}

/**
 * Several load generators started together: each waits at `EVENT ready`
 * (--start on-signal) until all have arrived, then all get SIGUSR2.
 */
export class StartGate {
  readonly #waiting: (() => void)[] = [];

  constructor(private readonly parties: number) {}

  arrive(go: () => void): void {
    this.#waiting.push(go);
    if (this.#waiting.length === this.parties) for (const start of this.#waiting) start();
  }
}

/** What the load generator runs against: a central, or one of the benchmark's floors. */
export interface LoadTarget {
  readonly port: number;
  stats(): ProcStats | null;
}

/** Runs the load generator against `central`; samples both processes' CPU at EVENT start/end. */
export async function runLoadgen(
  label: string,
  central: LoadTarget,
  loadgenArgs: string[],
  timeoutMs: number,
  /** The database's CPU so far, ms (PostgresCluster.cpuMs), sampled with the others. */
  database: () => number = () => NaN,
  /** Start together with the other load generators at this gate (ingest mode). */
  gate: StartGate | null = null,
): Promise<Omit<LoadgenRun, 'serverPeakRss' | 'serverCpuMs' | 'central'>> {
  let result: LoadgenResult | null = null;
  const samples: Array<{ server: ProcStats | null; loadgen: ProcStats | null; databaseMs: number; at: number }> = [];
  const loadgen: NodeProcess = new NodeProcess(
    `loadgen ${label}`,
    [...profileArgs('loadgen'), LOAD_GENERATOR, '--port', String(central.port), ...loadgenArgs, ...(gate ? ['--start', 'on-signal'] : [])],
    {
      cwd: TMP,
      env: childEnv({}),
      keepLines: false,
      onLine: (line, at) => {
        if (line === 'EVENT ready') gate?.arrive(() => loadgen.signal('SIGUSR2'));
        else if (line.startsWith('EVENT '))
          samples.push({ server: central.stats(), loadgen: procStats(loadgen.pid), databaseMs: database(), at });
        else if (line.startsWith('RESULT ')) result = JSON.parse(line.slice('RESULT '.length)) as LoadgenResult;
      },
    },
  );
  let exit: Exit;
  try {
    exit = await withTimeout(loadgen.exited, timeoutMs, `${label}: load generator`);
  } catch (error) {
    loadgen.signal('SIGKILL');
    throw error;
  }
  checkExit(label, loadgen, exit);
  if (!result) throw new Error(`${label}: the load generator gave no result (${describeExit(exit)})\n${loadgen.tail()}`);
  let serverCores = NaN;
  let serverKernelCores = NaN;
  let loadgenCores = NaN;
  let databaseCores = NaN;
  const [a, b] = samples;
  if (a && b && b.at > a.at) {
    databaseCores = (b.databaseMs - a.databaseMs) / (b.at - a.at);
    if (a.server && b.server) {
      serverCores = (b.server.cpuMs - a.server.cpuMs) / (b.at - a.at);
      serverKernelCores = (b.server.kernelMs - a.server.kernelMs) / (b.at - a.at);
    }
    if (a.loadgen && b.loadgen) loadgenCores = (b.loadgen.cpuMs - a.loadgen.cpuMs) / (b.at - a.at);
  }
  const window = { start: a?.at ?? NaN, end: b?.at ?? NaN };
  return { result: result, serverCores, serverKernelCores, loadgenCores, databaseCores, window };
}

/** The load generator's flags for figure 3's load: ingest mode, the benchmark's batch and window, one file per input. */
export function ingestFlags(inputs: readonly AgencyInput[]): string[] {
  const files = inputs.flatMap((i) => ['--file', `${i.agency}=${i.path}`]);
  return ['--mode', 'ingest', '--batch', String(BATCH), '--window', String(LOADGEN_WINDOW), ...files];
}

/** CPU per bet over the measured window, µs, for `cores` used during it. */
export function usPerBet(cores: number, result: LoadgenResult, bets: number): number {
  return (cores * (result.ingestMs ?? NaN) * 1000) / bets;
}

/** Every input's agency acked exactly its bets (and, with `winners`, got as many winners as its file holds). */
export function checkAcked(label: string, result: LoadgenResult, inputs: readonly AgencyInput[], winners: boolean): void {
  for (const input of inputs) {
    const got = result.agencies.find((a) => a.agency === input.agency);
    if (!got) correctnessError(`${label}: no result for agency ${input.agency}`);
    else {
      if (got.stored !== input.expected.digest.lines)
        correctnessError(`${label}: agency ${input.agency}: acked ${got.stored}, sent ${input.expected.digest.lines}`);
      if (winners && got.winners.length !== input.expected.winners) {
        correctnessError(`${label}: agency ${input.agency}: ${got.winners.length} winners, its file has ${input.expected.winners}`);
      }
    }
  }
}

/** Pre-encoded batches from one connection per input; bets/s from the first batch to the last ack. */
export async function loadgenIngest(
  label: string,
  inputs: readonly AgencyInput[],
  durable: boolean,
  limits: { maxConnections?: number; backlog?: number } = {},
  /** Mutual TLS with the certificates in this folder (made by makeCerts). */
  tlsDir: string | null = null,
): Promise<LoadgenRun> {
  const dir = runDir(label);
  const betsFile = join(dir, 'bets.csv');
  const env: Record<string, string> = tlsDir
    ? { SERVER_TLS_CERT: join(tlsDir, 'server.crt'), SERVER_TLS_KEY: join(tlsDir, 'server.key'), SERVER_TLS_CA: join(tlsDir, 'ca.crt') }
    : {};
  const central = await Central.start({ label, betsFile, agencies: inputs.length, durable, listenTimeoutMs: 60_000, env, ...limits });
  const flags = ingestFlags(inputs);
  if (tlsDir) flags.push('--tls-dir', tlsDir);
  let run;
  try {
    run = await runLoadgen(label, central, flags, runTimeout(totalBets(inputs)));
  } catch (error) {
    await central.stop();
    throw error;
  }
  const { before, exit } = await central.stop();
  checkCentral(label, central, exit, totalWinners(inputs));
  checkAcked(label, run.result, inputs, true);
  verifyStored(label, betsFile, inputs);
  if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });
  return { ...run, serverPeakRss: before?.peakRss ?? NaN, serverCpuMs: before?.cpuMs ?? NaN, central };
}
