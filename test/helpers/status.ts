/**
 * The central's status port, as a test sees it from outside: the port it
 * logged, plain HTTP requests, and the Prometheus text format parsed back
 * into samples (an independent reading, not prom-client's).
 */
import { request } from 'node:http';
import type { Proc } from './processes.js';

/** The port of `status_listening | result: success | host: H | port: P`. */
export async function statusPortOf(proc: Proc): Promise<number> {
  const line = await proc.waitForLog((l) => l.action === 'status_listening' && l.result === 'success', 'status_listening');
  return Number(line.fields['port']);
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request to 127.0.0.1:port, the whole answer read (never for /events). */
export function http(port: number, path: string, method = 'GET', timeoutMs = 10_000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition; a line that is neither a comment nor a sample throws. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    // Prometheus reads floats as Go's ParseFloat does: NaN and Inf in any case (prom-client writes "Nan").
    const word = m[3].toLowerCase();
    const value = word === 'nan' ? NaN : word === '+inf' || word === 'inf' ? Infinity : word === '-inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && word !== 'nan') throw new Error(`not a number in ${JSON.stringify(line)}`);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}

/** Samples of one metric whose labels include `labels`. */
export function samplesOf(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one sample of a metric with these labels; throws when there is none or several. */
export function valueOf(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number {
  const found = samplesOf(samples, name, labels);
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0].value;
}
