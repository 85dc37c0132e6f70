// The build's bundles (scripts/bundle.ts), read from the metafile it writes
// beside them: each program runs from its own bundle and chunks, never from
// tsc's per-module output, and what the sources load lazily stays lazy (the
// database driver, the CLI parser, the YAML parser are not loaded by a
// central on the file store or an agency with no flags and no YAML file).
// Every test that starts a central or an agency runs these bundles.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { REPO_ROOT } from '../helpers/processes.js';

interface Metafile {
  readonly outputs: Record<
    string,
    { readonly entryPoint?: string; readonly imports: readonly { path: string; kind: string; external?: boolean }[] }
  >;
}

/** Written by every `npm run build` (npm test builds first; a bare `npx tap` of this file needs a build before it). */
function readBundles(): Record<string, Metafile> {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'dist', 'bundles.json'), 'utf8')) as Record<string, Metafile>;
}

/** What loading `entry`'s bundle loads before any of its code runs: its static imports, transitively (files, and npm packages). */
function staticLoad(meta: Metafile, entry: string): { files: Set<string>; packages: Set<string> } {
  const output = `dist/${entry}.js`;
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [output];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const imported of meta.outputs[file]?.imports ?? []) {
      if (imported.kind !== 'import-statement') continue;
      if (imported.external) {
        if (!imported.path.startsWith('node:')) packages.add(imported.path);
      } else pending.push(imported.path);
    }
  }
  return { files, packages };
}

t.test('each program is a bundle of its own, with a source map, loading only its own chunks', (t) => {
  const bundles = readBundles();
  t.ok(
    ['server/main', 'server/worker', 'client/main'].every((entry) => entry in bundles),
    'the central, its worker and the agency are bundled',
  );
  for (const [entry, meta] of Object.entries(bundles)) {
    const { files } = staticLoad(meta, entry);
    t.ok(meta.outputs[`dist/${entry}.js`], `${entry}: dist/${entry}.js is its bundle`);
    t.ok(existsSync(join(REPO_ROOT, 'dist', `${entry}.js.map`)), `${entry}: its source map is beside it`);
    const strays = [...files].filter((file) => file !== `dist/${entry}.js` && !file.startsWith(`dist/chunks/${entry.replace('/', '-')}-`));
    t.same(strays, [], `${entry}: loads nothing but its own chunks (${files.size} files)`);
  }
  t.end();
});

t.test('what the sources load lazily stays lazy in the bundles', (t) => {
  const bundles = readBundles();
  for (const entry of ['server/main', 'server/worker', 'client/main']) {
    const { packages } = staticLoad(bundles[entry], entry);
    for (const lazy of ['pg', 'pg-copy-streams', 'commander', 'yaml'])
      t.notOk(packages.has(lazy), `${entry} does not load ${lazy} at start (it loads ${[...packages].join(', ') || 'no package'})`);
  }
  t.same([...staticLoad(bundles['client/main'], 'client/main').packages], ['csv-parse'], 'the agency loads csv-parse and nothing else');
  // The worker's store code comes with its connection: the file store's and the database's are both chunks of their own.
  const workerChunks = Object.keys(bundles['server/worker'].outputs).filter((file) => file.endsWith('.js'));
  t.ok(
    workerChunks.some((file) => /file-host/.test(file)) && workerChunks.some((file) => /pg-store/.test(file)),
    'the stores are lazy chunks of the worker',
  );
  t.end();
});
