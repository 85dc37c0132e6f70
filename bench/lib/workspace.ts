/**
 * The benchmark's temporary folder (removed at the end, also on an
 * interrupt), the children's environment, CPU profiles, and what machine this is.
 */
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { liveProcesses, programEnv } from '../../scripts/proc.js';
import { fmt, loadavg, say } from './report.js';
import { args, CORES } from './settings.js';

export const TMP = mkdtempSync(join(os.tmpdir(), 'lottery-bench-'));
let cleaned = false;
export function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  for (const proc of liveProcesses()) proc.signal('SIGKILL');
  if (args.keepTemp) say(`temp dir kept: ${TMP}`);
  else rmSync(TMP, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`\ninterrupted by ${signal}; stopping children and removing ${TMP}`);
    cleanup();
    process.exit(130);
  });
}
process.once('exit', cleanup);

/** A child's environment: ours minus every setting the programs read, plus `extra`. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return programEnv(extra);
}

/** `--profile DIR`: V8 CPU profiles of every thread, in DIR/<program>/ (Node names each file by pid and thread). */
export function profileArgs(name: string): string[] {
  if (!args.profileDir) return [];
  const dir = join(args.profileDir, name);
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

export function machine(): string[] {
  let cpu = 'unknown CPU';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux
  }
  let fs = 'unknown filesystem';
  try {
    const real = realpathSync(TMP);
    let best = { mount: '', device: '', type: '' };
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, mount, type] = line.split(' ');
      if (!device || !mount || !type) continue;
      const m = mount.replace(/\\040/g, ' ');
      if ((real === m || real.startsWith(m.endsWith('/') ? m : `${m}/`)) && m.length >= best.mount.length)
        best = { mount: m, device, type };
    }
    const stat = statfsSync(TMP);
    fs = `${best.type} on ${best.device} (mounted at ${best.mount}), ${fmt.n((stat.bavail * stat.bsize) / 1024 ** 3)} GiB free`;
  } catch {
    // keep "unknown"
  }
  return [
    `machine:  ${cpu}, ${CORES} cores, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM`,
    `software: Node ${process.version}, ${os.type()} ${os.release()}`,
    `temp dir: ${TMP} — ${fs}`,
    `load avg: ${loadavg()} (1/5/15 min) at start`,
  ];
}

export let runNumber = 0;
export function runDir(label: string): string {
  const dir = join(TMP, `run-${++runNumber}-${label.replace(/[^a-z0-9]+/gi, '-')}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function runTimeout(bets: number): number {
  return 120_000 + bets * 0.5;
}
