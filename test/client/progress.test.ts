// The progress display's pieces that need no process: the file's line count
// (which must equal the records the agency reads, so that the bar ends at
// 100%), and the run-wide counters across a reconnection.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FileBatches } from '../../client/file-batches.js';
import { countLines, resolveMode, SendCounters } from '../../client/progress.js';

const dir = mkdtempSync(join(tmpdir(), 'progress-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Records FileBatches reads from the file (valid, invalid and blank alike). */
async function recordsRead(path: string): Promise<number> {
  const file = new FileBatches(path, 10, 0, undefined, () => undefined);
  try {
    for (;;) {
      file.encode(1_000_000);
      file.builder.take();
      if (!(await file.more())) return file.records;
    }
  } finally {
    file.close();
  }
}

t.test('countLines: the records the agency will read', async (t) => {
  const row = 'Ana,Peña,30111222,1990-01-01,1';
  const cases: [string, string, number][] = [
    ['empty', '', 0],
    ['one line with LF', `${row}\n`, 1],
    ['one line without a newline', row, 1],
    ['CRLF lines', `${row}\r\n${row}\r\n${row}\r\n`, 3],
    ['a last line without a newline', `${row}\n${row}`, 2],
    ['blank lines count', `${row}\n\n${row}\n`, 3],
    // More than one 1 MiB read, with a newline right at the boundary.
    ['several reads', `${'x'.repeat((1 << 20) - 1)}\n${row}\n`.repeat(3), 6],
  ];
  for (const [name, text, lines] of cases) {
    const path = join(dir, `${name.replace(/\W+/g, '-')}.csv`);
    writeFileSync(path, text);
    t.equal(await countLines(path), lines, `${name}: ${lines}`);
    if (!name.startsWith('several')) t.equal(await recordsRead(path), lines, `${name}: as many records as FileBatches reads`);
  }
  await t.rejects(countLines(join(dir, 'missing.csv')), { code: 'ENOENT' }, 'a missing file rejects');
});

t.test('SendCounters: an invalid row read again after a reconnection counts once', async (t) => {
  const c = new SendCounters();
  c.resume(0, 0);
  t.ok(c.startedMs > 0, 'sending began');
  c.invalidRow(5);
  c.invalidRow(9);
  t.equal(c.invalid, 2, 'two invalid rows');
  c.resume(3, 3); // the central had settled 3 records; rows 5 and 9 are read again
  c.invalidRow(5);
  c.invalidRow(9);
  c.invalidRow(12);
  t.equal(c.invalid, 3, 'only the new one is added');
  t.equal(c.rows, 6, 'rows restart from the settled records');
  t.equal(c.rowsAtStart, 0, 'the rate still counts from where this run began');
});

t.test('SendCounters: sent is what the central stored during this run, lost acks included', async (t) => {
  const c = new SendCounters();
  c.resume(100, 104); // an earlier run stored 100 bets
  c.stored = 110; // an ack
  t.equal(c.sent, 10, 'sent counts from where this run began');
  c.resume(130, 134); // reconnected: two batches were stored, their acks lost
  t.equal(c.sent, 30, "the central's total counts them");
});

t.test('resolveMode: auto is a bar on a terminal only', async (t) => {
  t.equal(resolveMode('auto', true), 'bar');
  t.equal(resolveMode('auto', false), 'lines');
  t.equal(resolveMode('lines', true), 'lines');
  t.equal(resolveMode('off', true), 'off');
  t.equal(resolveMode('bar', false), 'bar');
});
