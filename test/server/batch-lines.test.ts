// The fast path (bytes → CSV lines) must never store what the slow path
// (decode → validateBet → formatBetLines) would refuse, and must produce the
// same bytes whenever it answers.
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import t from 'tap';
import { BodyReader, decodeBetBatch, encodeBetBatch, MessageType, todayNumberUtc, validateBet, type Bet } from '../../protocol/index.js';
import { BatchLineWriter } from '../../server/storage/batch-lines.js';
import { formatBetLines } from '../../server/storage/csv-line.js';

const HEADER = 5;
const today = () => todayNumberUtc();

/** The slow path's verdict: the lines, or null when some bet is invalid or the body malformed. */
function slowPath(body: Buffer, agency: number): Buffer | null {
  try {
    const batch = decodeBetBatch(new BodyReader(body));
    if (batch.bets.some((bet) => validateBet(bet) !== null)) return null;
    return formatBetLines(agency, batch.bets);
  } catch {
    return null;
  }
}

function bodyOf(bets: Bet[], seq = 7): Buffer {
  return encodeBetBatch({ type: MessageType.BetBatch, seq, position: bets.length, bets }).subarray(HEADER);
}

const good: Bet = { firstName: 'José María', lastName: 'Muñoz', document: '30904465', birthdate: '1999-03-17', number: 7574 };

t.test('a plain batch gives the same bytes as the slow path', async (t) => {
  const writer = new BatchLineWriter(12);
  const body = bodyOf([good, { ...good, number: 0 }, { ...good, document: '1', number: 9999 }]);
  t.equal(writer.append(body, today()), 3);
  t.equal(writer.records.toString(), slowPath(body, 12)!.toString());
  t.equal(
    writer.records.toString(),
    '12,José María,Muñoz,30904465,1999-03-17,7574\n12,José María,Muñoz,30904465,1999-03-17,0\n12,José María,Muñoz,1,1999-03-17,9999\n',
  );
});

t.test('quotes a name holding a comma or a quote, byte for byte as the slow path does', async (t) => {
  const writer = new BatchLineWriter(4);
  const body = bodyOf([
    { ...good, firstName: 'Ana, María' },
    { ...good, lastName: 'O"Neil' },
    { ...good, firstName: '"', lastName: ',"Ñ"",' },
    good,
  ]);
  t.equal(writer.append(body, today()), 4);
  t.equal(writer.records.toString(), slowPath(body, 4)!.toString());
  t.equal(
    writer.records.toString(),
    '4,"Ana, María",Muñoz,30904465,1999-03-17,7574\n' +
      '4,José María,"O""Neil",30904465,1999-03-17,7574\n' +
      '4,"""",",""Ñ"""",",30904465,1999-03-17,7574\n' +
      '4,José María,Muñoz,30904465,1999-03-17,7574\n',
  );
  const control = bodyOf([{ ...good, lastName: 'a,b\u0001' }]);
  t.equal(writer.append(control, today()), -1, 'a control character after a comma still defers');
});

t.test('defers to the slow path on every kind of invalid bet', async (t) => {
  const writer = new BatchLineWriter(1);
  const cases: Array<[string, Partial<Bet>]> = [
    ['blank first name', { firstName: '   ' }],
    ['control character', { lastName: 'a\tb' }],
    ['document letters', { document: '12a4' }],
    ['document too long', { document: '12345678901' }],
    ['impossible date', { birthdate: '2023-02-29' }],
    ['old date', { birthdate: '1899-12-31' }],
    ['future date', { birthdate: '2999-01-01' }],
    ['bad date shape', { birthdate: '1999/03/17' }],
    ['number too big', { number: 10000 }],
  ];
  for (const [name, change] of cases) t.equal(writer.append(bodyOf([good, { ...good, ...change }]), today()), -1, name);
  t.equal(writer.append(Buffer.from([0, 0, 0, 1, 0, 0]), today()), -1, 'count 0');
  t.equal(writer.append(Buffer.concat([bodyOf([good]), Buffer.from([1])]), today()), -1, 'trailing byte');
  t.equal(writer.append(bodyOf([good]).subarray(0, 20), today()), -1, 'truncated');
  const badUtf8 = bodyOf([{ ...good, firstName: 'Jos\u00e9' }]);
  badUtf8[6 + 1 + 3] = 0xff; // corrupt the first byte of "é"
  t.equal(writer.append(badUtf8, today()), -1, 'invalid UTF-8');
  t.equal(writer.length, 0, 'a refused batch appends nothing');
});

t.test('differential: random bodies, fast path agrees with the slow path whenever it answers', async (t) => {
  const name = fc.oneof(
    fc.string({ minLength: 0, maxLength: 30 }),
    fc.constantFrom('José', 'Muñoz', ' ', 'a,b', 'x"y', 'Ω', '\u0001', 'Núñez Peña'),
  );
  const date = fc.oneof(
    fc.date({ min: new Date('1890-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
    fc.string({ minLength: 10, maxLength: 10 }),
  );
  const bet = fc.record({
    firstName: name,
    lastName: name,
    document: fc.oneof(fc.stringMatching(/^[0-9]{0,12}$/), fc.string({ maxLength: 5 })),
    birthdate: date,
    number: fc.integer({ min: 0, max: 0xffff }),
  });
  let answered = 0;
  fc.assert(
    fc.property(fc.array(bet, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 65535 }), fc.nat(40), (bets, agency, cut) => {
      let body: Buffer;
      try {
        body = bodyOf(bets);
      } catch {
        return; // a string longer than a u8 length prefix cannot be encoded at all
      }
      if (cut > 30) body = body.subarray(0, Math.max(10, body.length - cut + 30)); // sometimes truncated
      const writer = new BatchLineWriter(agency);
      const fast = writer.append(body, today());
      const slow = slowPath(body, agency);
      if (fast < 0) {
        if (writer.length !== 0) throw new Error('a refused batch left bytes behind');
        return;
      }
      answered++;
      if (slow === null) throw new Error(`fast path accepted what the slow path refuses: ${JSON.stringify(bets)}`);
      if (!writer.records.equals(slow)) throw new Error('different bytes');
    }),
    { numRuns: 3000 },
  );
  t.ok(answered > 0, `the fast path answered ${answered} times`);
});

t.test('differential: raw name bytes, the inline UTF-8 check agrees with isUtf8', async (t) => {
  // Bytes biased towards the edges of UTF-8: lead bytes, continuation bytes, overlongs, surrogates, > U+10FFFF.
  const byte = fc.oneof(
    fc.integer({ min: 0x41, max: 0x5a }),
    fc.constantFrom(0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xee, 0xef, 0xf0, 0xf4, 0xf5, 0xff),
    fc.integer({ min: 0x80, max: 0xff }),
  );
  let accepted = 0;
  fc.assert(
    fc.property(fc.array(byte, { minLength: 1, maxLength: 12 }), (bytes) => {
      const name = Buffer.from(bytes);
      const body = Buffer.concat([
        Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 0, 1, name.length]), // seq 0, position 1, 1 bet, first name length
        name,
        Buffer.from([1, 0x41, 1, 0x31]),
        Buffer.from('1999-03-17'),
        Buffer.from([0, 7]),
      ]);
      const writer = new BatchLineWriter(1);
      const fast = writer.append(body, today()) === 1;
      const valid = isUtf8(name);
      if (fast) accepted++;
      if (fast !== valid) throw new Error(`fast path ${fast ? 'accepted' : 'refused'} ${name.toString('hex')}, isUtf8 says ${valid}`);
      if (fast && !writer.records.equals(Buffer.concat([Buffer.from('1,'), name, Buffer.from(',A,1,1999-03-17,7\n')]))) {
        throw new Error('different bytes');
      }
    }),
    { numRuns: 20000 },
  );
  t.ok(accepted > 100, `accepted ${accepted} well-formed names`);
});

t.test('batches append one after another; reset starts over', async (t) => {
  const writer = new BatchLineWriter(5);
  const one = bodyOf([good]);
  const many = bodyOf(Array.from({ length: 300 }, (_, i) => ({ ...good, number: i })));
  t.equal(writer.append(one, today()), 1);
  t.equal(writer.append(many, today()), 300);
  t.equal(writer.append(bodyOf([{ ...good, document: 'x' }]), today()), -1);
  t.equal(
    writer.records.toString(),
    Buffer.concat([slowPath(one, 5)!, slowPath(many, 5)!]).toString(),
    'grown past its first buffer, earlier lines kept',
  );
  writer.appendBets([{ firstName: 'A, B', lastName: 'C', document: '1', birthdate: '1999-03-17', number: 1 }]);
  t.ok(writer.records.toString().endsWith('9999-03-17,299\n5,"A, B",C,1,1999-03-17,1\n'.replace('9999', '1999')));
  writer.reset();
  t.equal(writer.length, 0);
  t.equal(writer.append(one, today()), 1);
  t.equal(writer.records.toString(), slowPath(one, 5)!.toString());
});
