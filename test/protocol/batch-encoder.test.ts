// The agency's fast encoder (protocol's BatchEncoder) must accept exactly the records toRow accepts and
// produce the very frames encodeBetBatch would, cut where the contract says.
import fc from 'fast-check';
import t from 'tap';
import { toRow } from '../../client/bet-source.js';
import { BatchEncoder, MAX_BATCH_BETS_BYTES, MessageType, betSize, encodeBetBatch, type Bet } from '../../protocol/index.js';
import { fromHex } from '../helpers/bytes.js';

const hex = (b: Buffer) => b.toString('hex');

const TODAY = '2026-11-23';

/** The reference: toRow's bets, cut by count and by 8 kB, through the generic codec; record i is position i + 1. */
function reference(records: string[][], maxBets: number): Buffer {
  const frames: Buffer[] = [];
  let batch: Bet[] = [];
  let bytes = 0;
  let position = 0;
  const close = () => {
    if (batch.length > 0) frames.push(encodeBetBatch({ type: MessageType.BetBatch, seq: frames.length, position, bets: batch }));
    batch = [];
    bytes = 0;
  };
  records.forEach((record, i) => {
    const row = toRow(record, 1, TODAY);
    if (!('bet' in row)) return;
    if (bytes + betSize(row.bet) > MAX_BATCH_BETS_BYTES) close();
    batch.push(row.bet);
    bytes += betSize(row.bet);
    position = i + 1;
    if (batch.length === maxBets) close();
  });
  close();
  return Buffer.concat(frames);
}

function build(records: string[][], maxBets: number, takeEvery = Infinity): { bytes: Buffer; accepted: boolean[]; counts: number[] } {
  const builder = new BatchEncoder(maxBets);
  const pieces: Buffer[] = [];
  const counts: number[] = [];
  let nextSeq = 0;
  const take = () => {
    const taken = builder.take();
    if (!taken) return;
    if (taken.firstSeq !== nextSeq) throw new Error(`taken from seq ${taken.firstSeq}, expected ${nextSeq}`);
    nextSeq += taken.counts.length;
    pieces.push(taken.bytes);
    counts.push(...taken.counts);
  };
  const accepted = records.map((record, i) => {
    const ok = builder.addFields(record, TODAY, i + 1);
    if ((i + 1) % takeEvery === 0) take();
    return ok;
  });
  builder.finish();
  take();
  return { bytes: Buffer.concat(pieces), accepted, counts };
}

t.test('byte fixture: two bets, one batch', async (t) => {
  const { bytes, counts } = build(
    [
      ['Ana', 'Peña', '30904465', '1999-03-17', '7574'],
      [' Li ', 'Wu', '7', '2000-01-01', '0'],
    ],
    10,
  );
  t.same(counts, [2]);
  t.equal(
    hex(bytes),
    hex(
      fromHex(
        [
          '03 0000003d', // BetBatch, body 61 bytes
          '00000000 00000002 0002', // seq 0, ends at the file's record 2, 2 bets
          '03 416e61 05 5065c3b161 08 3330393034343635 313939392d30332d3137 1d96', // Ana, Peña (ñ = c3 b1), doc, date, 7574
          '02 4c69 02 5775 01 37 323030302d30312d3031 0000', // trimmed " Li ", Wu, 7, date, 0
        ].join(' '),
      ),
    ),
  );
});

t.test('invalid records write nothing and are reported as not accepted', async (t) => {
  const good = ['Ana', 'Peña', '30904465', '1999-03-17', '7574'];
  const bad: string[][] = [
    ['Ana', 'Peña', '30904465', '1999-03-17'],
    ['   ', 'Peña', '30904465', '1999-03-17', '1'],
    ['A\tna', 'Peña', '30904465', '1999-03-17', '1'],
    ['Ana', 'x'.repeat(101), '30904465', '1999-03-17', '1'],
    ['Ana', 'ñ'.repeat(51), '30904465', '1999-03-17', '1'],
    ['Ana', 'Peña', '3090446a', '1999-03-17', '1'],
    ['Ana', 'Peña', '12345678901', '1999-03-17', '1'],
    ['Ana', 'Peña', '1', '1999-02-29', '1'],
    ['Ana', 'Peña', '1', '2999-01-01', '1'],
    ['Ana', 'Peña', '1', '1999-03-17', '10000'],
    ['Ana', 'Peña', '1', '1999-03-17', '-1'],
    ['Ana', 'Peña', '1', '1999-03-17', ''],
  ];
  const { bytes, accepted } = build([good, ...bad, good], 100);
  t.same(accepted, [true, ...bad.map(() => false), true]);
  t.equal(hex(bytes), hex(reference([good, ...bad, good], 100)), 'the two good bets, the batch ending at the last record');
});

t.test('cuts batches at maxAmount and before a bet that would pass 8 kB', async (t) => {
  const long = (i: number) => ['N'.repeat(90), 'Ñ'.repeat(50), '12345678', '1980-05-05', String(i % 10000)];
  const records = Array.from({ length: 500 }, (_, i) => long(i));
  for (const maxBets of [1, 7, 33, 200, 65535]) {
    const { bytes, counts } = build(records, maxBets);
    t.equal(hex(bytes), hex(reference(records, maxBets)), `maxBets ${maxBets}: same frames as the generic codec`);
    t.equal(
      counts.reduce((a, b) => a + b, 0),
      500,
    );
  }
  // 3 + 90 + 100 + 8 + 10 + 2 = 213 bytes per bet: 38 fit in the 8,181 bytes a frame has for bets.
  t.same(build(records, 200).counts.slice(0, 3), [38, 38, 38]);
});

t.test('frames stay whole across chunk buffers, whenever they are taken', async (t) => {
  const records = Array.from({ length: 20_000 }, (_, i) => [
    `Nombre${i}`,
    'Apellido',
    String(10_000_000 + i),
    '1990-12-31',
    String(i % 10_000),
  ]);
  const expected = hex(reference(records, 10));
  for (const takeEvery of [1, 13, 5000, Infinity]) t.equal(hex(build(records, 10, takeEvery).bytes), expected, `take every ${takeEvery}`);
});

t.test('differential: accepts exactly what toRow accepts, same bytes as encodeBetBatch', async (t) => {
  const text = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'grapheme', maxLength: 8 }),
    fc.string({ unit: 'binary', maxLength: 6 }),
    fc.constantFrom(
      'José',
      ' Núñez ',
      '\u00a0Ana',
      'a\u0000b',
      '\ud800',
      '\udfff x',
      '😀',
      'x'.repeat(100),
      'é'.repeat(50),
      'é'.repeat(51),
      '  ',
    ),
  );
  const digits = fc.oneof(fc.stringMatching(/^[0-9]{0,12}$/), fc.constantFrom(' 42 ', '0007574', '9999', '10000', '+1', '1e3', '٣'));
  const date = fc.oneof(
    fc.date({ min: new Date('1890-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
    fc.constantFrom('1999-02-29', '2000-02-29', ' 1999-03-17', '1999-3-17', TODAY, '2026-11-24'),
  );
  const record = fc.oneof(
    { weight: 9, arbitrary: fc.tuple(text, text, digits, date, digits).map((r) => [...r]) },
    { weight: 1, arbitrary: fc.array(text, { maxLength: 7 }) },
  );
  let accepted = 0;
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 12 }), (records, maxBets) => {
      const built = build(records, maxBets, 5);
      records.forEach((r, i) => {
        const valid = 'bet' in toRow(r, 1, TODAY);
        if (built.accepted[i] !== valid) throw new Error(`addFields says ${built.accepted[i]}, toRow says ${valid}: ${JSON.stringify(r)}`);
        if (valid) accepted++;
      });
      if (!built.bytes.equals(reference(records, maxBets))) throw new Error(`different frames for ${JSON.stringify(records)}`);
    }),
    { numRuns: 3000 },
  );
  t.ok(accepted > 500, `${accepted} valid records encoded`);
});
