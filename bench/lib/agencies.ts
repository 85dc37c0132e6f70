/**
 * Agency processes (`lottery-client`), one per input file, against a central:
 * the end-to-end run of figures 1, 4 and 7, from the central's spawn to the
 * last agency's exit, with every check.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeExit, NodeProcess, procStats, withTimeout, type Exit } from '../../scripts/proc.js';
import { Central } from './central.js';
import { checkCentral, checkExit, verifyStored } from './checks.js';
import { totalBets, totalWinners, type AgencyInput } from './data.js';
import { correctnessError, say } from './report.js';
import { args, BATCH, CLIENT_MAIN } from './settings.js';
import { childEnv, profileArgs, runDir, runTimeout } from './workspace.js';

export const WINNERS_LINE = /action: consulta_ganadores \| result: success \| cant_ganadores: (\d+)/;

export class Agent {
  winners: number | null = null;
  connectAt = -1;
  firstAckAt = -1;
  /** WARNING lines: retries, reconnections. */
  warnings = 0;
  lastWarning = '';
  readonly errors: string[] = [];
  readonly proc: NodeProcess;

  constructor(
    readonly input: AgencyInput,
    port: number,
    cwd: string,
    debug: boolean,
  ) {
    const env = childEnv({
      CLI_ID: String(input.agency),
      CLI_SERVER_ADDRESS: `127.0.0.1:${port}`,
      CLI_DATA_FILE: input.path,
      CLI_BATCH_MAXAMOUNT: String(BATCH),
      CLI_LOOP_PERIOD: '100ms',
      CLI_LOOP_AMOUNT: '20',
      CLI_LOG_LEVEL: debug ? 'DEBUG' : 'INFO',
    });
    this.proc = new NodeProcess(`agency ${input.agency}`, [...profileArgs('agency'), CLIENT_MAIN], {
      cwd,
      keepLines: false,
      env,
      onLine: (line, at) => {
        if (debug && line.includes('action: batch_')) {
          if (this.firstAckAt < 0 && line.includes('action: batch_ack | result: success')) this.firstAckAt = at;
          return;
        }
        if (this.connectAt < 0 && line.includes('action: connect | result: success')) this.connectAt = at;
        const m = WINNERS_LINE.exec(line);
        if (m) this.winners = Number(m[1]);
        if ((line.startsWith('ERROR', 20) || line.startsWith('CRITICAL', 20)) && this.errors.length < 3) this.errors.push(line);
        else if (line.startsWith('WARNING', 20)) {
          this.warnings++;
          this.lastWarning = line;
        }
      },
    });
  }
}

export interface ClientRun {
  readonly wallMs: number;
  readonly serverCpuMs: number;
  readonly serverPeakRss: number;
  readonly clientsCpuMs: number;
  readonly agents: readonly Agent[];
  readonly central: Central;
}

/** The central and one agency process per input, from the central's start to the last agency's exit. */
export async function clientRun(
  label: string,
  inputs: readonly AgencyInput[],
  options: { durable: boolean; debug?: boolean; maxConnections?: number; backlog?: number },
): Promise<ClientRun> {
  const dir = runDir(label);
  const betsFile = join(dir, 'bets.csv');
  const selfBefore = procStats('self');
  const central = await Central.start({
    label,
    betsFile,
    agencies: inputs.length,
    durable: options.durable,
    maxConnections: options.maxConnections,
    backlog: options.backlog,
    listenTimeoutMs: 60_000,
  });
  const agents = inputs.map((input) => new Agent(input, central.port, dir, options.debug ?? false));
  // An agency that fails leaves the others waiting for a draw that never comes: stop at the first failure.
  const firstFailure = new Promise<never>((_, reject) => {
    for (const a of agents) {
      void a.proc.exited.then((exit) => {
        if (exit.code !== 0) reject(new Error(`${label}: agency ${a.input.agency} ended with ${describeExit(exit)}`));
      });
    }
  });
  firstFailure.catch(() => undefined);
  let exits: Exit[];
  try {
    exits = await withTimeout(
      Promise.race([Promise.all(agents.map((a) => a.proc.exited)), firstFailure]),
      runTimeout(totalBets(inputs)),
      `${label}: agencies`,
    );
  } catch (error) {
    const report = stuckReport(agents, central);
    for (const a of agents) a.proc.signal('SIGKILL');
    await central.stop();
    throw new Error(`${(error as Error).message}\n${report}`);
  }
  const lastExit = Math.max(...agents.map((a) => a.proc.exitedAt));
  const selfAfter = procStats('self');
  const { before, exit } = await central.stop();

  // Correctness.
  agents.forEach((agent, i) => {
    checkExit(label, agent.proc, exits[i]);
    for (const line of agent.errors) correctnessError(`${label}: agency ${agent.input.agency} logged: ${line}`);
    if (agent.winners !== agent.input.expected.winners) {
      correctnessError(
        `${label}: agency ${agent.input.agency} reported ${agent.winners ?? 'no'} winners, its file has ${agent.input.expected.winners}`,
      );
    }
  });
  const retried = agents.filter((a) => a.warnings > 0);
  if (retried.length > 0) {
    say(`  note: ${retried.length} agencies logged warnings (retries), e.g. agency ${retried[0].input.agency}: ${retried[0].lastWarning}`);
  }
  checkCentral(label, central, exit, totalWinners(inputs));
  if (!before) say(`  warning: could not read /proc/${central.proc.pid}: no CPU or RSS figures for the central`);
  verifyStored(label, betsFile, inputs);
  if (!args.keepTemp) rmSync(dir, { recursive: true, force: true });

  return {
    wallMs: lastExit - central.startedAt,
    serverCpuMs: before?.cpuMs ?? NaN,
    serverPeakRss: before?.peakRss ?? NaN,
    clientsCpuMs: selfBefore && selfAfter ? selfAfter.childrenCpuMs - selfBefore.childrenCpuMs : NaN,
    agents,
    central,
  };
}

/** Who is still running and who already failed, when a run does not finish. */
export function stuckReport(agents: readonly Agent[], central: Central): string {
  const running = agents.filter((a) => a.proc.alive).map((a) => a.input.agency);
  const failed = agents.filter((a) => a.proc.exit && a.proc.exit.code !== 0);
  const lines = [`  still running: ${running.length} agencies (${running.slice(0, 20).join(', ')}${running.length > 20 ? ', …' : ''})`];
  for (const a of failed.slice(0, 3)) lines.push(`  agency ${a.input.agency} ended with ${describeExit(a.proc.exit!)}:\n${a.proc.tail(8)}`);
  if (failed.length > 3) lines.push(`  … and ${failed.length - 3} more failed agencies`);
  if (running.length > 0)
    lines.push(`  agency ${running[0]} (still running) last said:\n${agents.find((a) => a.input.agency === running[0])!.proc.tail(8)}`);
  for (const line of central.errors) lines.push(`  the central logged: ${line}`);
  for (const line of central.notable) lines.push(`  the central logged: ${line}`);
  if (central.workerFailures > 0) lines.push(`  ${central.workerFailures} of the central's workers exited with a non-zero code`);
  lines.push(`  the central last said:\n${central.proc.tail(10)}`);
  return lines.join('\n');
}
