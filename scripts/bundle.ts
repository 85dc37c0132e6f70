/**
 * The build's second step, after tsc: every program that runs as a process
 * of its own becomes one ES module bundle in place of tsc's output for its
 * entry (dist/server/main.js stays dist/server/main.js), so that Node
 * resolves, opens and links a handful of files instead of forty at every
 * start, and calls between this project's modules become calls within one.
 * Measured side by side (docs/performance.md): an agency's start-up about
 * 28 ms of CPU shorter on Node 20 and 20 ms on Node 24, each worker's
 * start-up and the central's CPU over a 2,000,000-bet run about an eighth
 * lower.
 *
 * Each lazy `import()` of this project's code (the PostgreSQL store, the
 * report command, the auth module) stays a chunk of its program in
 * dist/chunks/, loaded only when it runs. npm packages are not bundled: they
 * load from node_modules as before, and those imported lazily (pg,
 * commander, yaml) stay lazy. tsc's per-module output stays beside the
 * bundles for what imports it (the benchmark's runner, the scripts).
 *
 *   node dist/scripts/bundle.js
 */
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Entries, as paths without extension from the repository root: source `<entry>.ts`, bundle `dist/<entry>.js`. */
const PROGRAMS = [
  'server/main',
  'server/worker',
  'client/main',
  'bench/load-generator',
  'bench/parse-only',
  'bench/relay-floor',
  'bench/welcome-floor',
  'bench/sink',
] as const;

/** What each program's build made (esbuild's metafile, keyed by entry): its outputs and their imports, for the tests. */
const BUNDLES_FILE = join(ROOT, 'dist', 'bundles.json');

// Chunks are named by content: those of an earlier build would pile up.
rmSync(join(ROOT, 'dist', 'chunks'), { recursive: true, force: true });

// One build per program: each bundle holds all of this project's code it runs, whatever another program shares with it.
const builds = await Promise.all(
  PROGRAMS.map((entry) =>
    build({
      absWorkingDir: ROOT,
      entryPoints: [{ in: `${entry}.ts`, out: entry }],
      outdir: join(ROOT, 'dist'),
      // One level below dist/, like the entries: a path relative to import.meta.url (the worker's) resolves the same from both.
      chunkNames: `chunks/${entry.replace('/', '-')}-[name]-[hash]`,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      sourcemap: true,
      allowOverwrite: true,
      metafile: true,
      logLevel: 'warning',
    }),
  ),
);
writeFileSync(BUNDLES_FILE, JSON.stringify(Object.fromEntries(PROGRAMS.map((entry, i) => [entry, builds[i].metafile])), null, 1));
