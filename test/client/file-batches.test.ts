// FileBatches: a real file in, batches out, each stamped with the record of its
// last bet; skipping resumes after exactly the records the central has settled,
// and invalid rows are reported with their line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FileBatches, type InvalidRow } from '../../client/file-batches.js';
import { BodyReader, decodeBetBatch, FrameDecoder, CLIENT_FRAME_LIMITS } from '../../protocol/index.js';

const dir = mkdtempSync(join(tmpdir(), 'file-batches-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const LINES = [
  'Ana,Peña,1,1990-01-01,1', // line 1
  'Bad,Row,x,1990-01-01,2', // line 2: invalid document
  '', // line 3: blank
  'Luis,Soto,3,1990-01-01,3', // line 4
  'Eva,Ruiz,4,1990-01-01,4', // line 5
  'Too,Few,5', // line 6: invalid
  'Juan,Gil,6,1990-01-01,5', // line 7
];
const path = join(dir, 'agency.csv');
writeFileSync(path, LINES.join('\r\n') + '\r\n');

/** Every batch the file gives, decoded, and the invalid rows it reported. */
async function drain(
  skip: number,
  maxBets: number,
  room = 1000,
): Promise<{ batches: string[][]; positions: number[]; invalid: InvalidRow[]; records: number }> {
  const invalid: InvalidRow[] = [];
  const file = new FileBatches(path, maxBets, skip, undefined, (row) => invalid.push(row));
  const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
  const batches: string[][] = [];
  const positions: number[] = [];
  const take = () => {
    const taken = file.builder.take();
    if (!taken) return;
    for (const frame of decoder.push(taken.bytes)) {
      const batch = decodeBetBatch(new BodyReader(frame.body));
      batches.push(batch.bets.map((b) => b.document));
      positions.push(batch.position);
    }
  };
  do {
    while (file.encode(room)) take();
    take();
  } while (await file.more());
  take();
  file.close();
  t.ok(file.ended);
  return { batches, positions, invalid, records: file.records };
}

t.test('all valid bets in batches of maxBets; invalid rows reported with their line', async (t) => {
  const { batches, positions, invalid, records } = await drain(0, 2);
  t.same(batches, [
    ['1', '3'],
    ['4', '6'],
  ]);
  t.same(positions, [4, 7], 'each batch ends at the record (line) of its last bet');
  t.same(
    invalid.map((r) => r.line),
    [2, 6],
  );
  t.match(invalid[0].error, /document/);
  t.equal(records, 7, 'every line counted, the blank one too');
});

t.test('skip counts records, valid or not: the resume point is exact whatever was refused', async (t) => {
  const { batches, positions, invalid } = await drain(4, 10);
  t.same(batches, [['4', '6']], 'resumes after line 4 (Luis)');
  t.same(positions, [7]);
  t.same(
    invalid.map((r) => r.line),
    [6],
    'rows in the settled part are not reported again',
  );
  t.same((await drain(2, 10)).batches, [['3', '4', '6']], 'a resume inside invalid rows goes on with the next record');
  t.same((await drain(7, 10)).batches, [], 'every record settled: nothing to send');
});

t.test('encode stops once `room` batches are closed, and goes on from there', async (t) => {
  const { batches } = await drain(0, 1, 1);
  t.same(batches, [['1'], ['3'], ['4'], ['6']]);
});

t.test('a throwing onInvalid (strict mode) stops the encoding', async (t) => {
  const file = new FileBatches(path, 10, 0, undefined, (row) => {
    throw new Error(`line ${row.line}`);
  });
  await t.rejects(async () => {
    do file.encode(1000);
    while (await file.more());
  }, /line 2/);
  file.close();
});
