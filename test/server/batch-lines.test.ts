// The fast path (bytes → CSV lines) must never store what the slow path
// (decode → validateBet → formatBetLines) would refuse, and must produce the
// same bytes whenever it answers.
import fc from 'fast-check';
import t from 'tap';
import { BodyReader, decodeBetBatch, encodeBetBatch, MessageType, todayUtc, validateBet, type Bet } from '../../protocol/index.js';
import { BatchLineWriter, dateNumber } from '../../server/storage/batch-lines.js';
import { formatBetLines } from '../../server/storage/csv-line.js';

const HEADER = 5;
const today = () => dateNumber(todayUtc());

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
  return encodeBetBatch({ type: MessageType.BetBatch, seq, bets }).subarray(HEADER);
}

const good: Bet = { firstName: 'José María', lastName: 'Muñoz', document: '30904465', birthdate: '1999-03-17', number: 7574 };

t.test('a plain batch gives the same bytes as the slow path', async (t) => {
  const writer = new BatchLineWriter(12);
  const body = bodyOf([good, { ...good, number: 0 }, { ...good, document: '1', number: 9999 }]);
  const lines = writer.write(body, today());
  t.ok(lines);
  t.equal(lines!.count, 3);
  t.equal(writer.scratch.subarray(0, lines!.length).toString(), slowPath(body, 12)!.toString());
  t.equal(
    writer.scratch.subarray(0, lines!.length).toString(),
    '12,José María,Muñoz,30904465,1999-03-17,7574\n12,José María,Muñoz,30904465,1999-03-17,0\n12,José María,Muñoz,1,1999-03-17,9999\n',
  );
});

t.test('defers to the slow path on every kind of invalid bet, and on names that need quotes', async (t) => {
  const writer = new BatchLineWriter(1);
  const cases: Array<[string, Partial<Bet>]> = [
    ['blank first name', { firstName: '   ' }],
    ['control character', { lastName: 'a\tb' }],
    ['comma needs quotes', { firstName: 'Ana, María' }],
    ['quote needs quotes', { lastName: 'O"Neil' }],
    ['document letters', { document: '12a4' }],
    ['document too long', { document: '12345678901' }],
    ['impossible date', { birthdate: '2023-02-29' }],
    ['old date', { birthdate: '1899-12-31' }],
    ['future date', { birthdate: '2999-01-01' }],
    ['bad date shape', { birthdate: '1999/03/17' }],
    ['number too big', { number: 10000 }],
  ];
  for (const [name, change] of cases) t.equal(writer.write(bodyOf([good, { ...good, ...change }]), today()), null, name);
  t.equal(writer.write(Buffer.from([0, 0, 0, 1, 0, 0]), today()), null, 'count 0');
  t.equal(writer.write(Buffer.concat([bodyOf([good]), Buffer.from([1])]), today()), null, 'trailing byte');
  t.equal(writer.write(bodyOf([good]).subarray(0, 20), today()), null, 'truncated');
  const badUtf8 = bodyOf([{ ...good, firstName: 'Jos\u00e9' }]);
  badUtf8[6 + 1 + 3] = 0xff; // corrupt the first byte of "é"
  t.equal(writer.write(badUtf8, today()), null, 'invalid UTF-8');
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
      if (cut > 30) body = body.subarray(0, Math.max(6, body.length - cut + 30)); // sometimes truncated
      const writer = new BatchLineWriter(agency);
      const fast = writer.write(body, today());
      const slow = slowPath(body, agency);
      if (fast === null) return;
      answered++;
      if (slow === null) throw new Error(`fast path accepted what the slow path refuses: ${JSON.stringify(bets)}`);
      if (!writer.scratch.subarray(0, fast.length).equals(slow)) throw new Error('different bytes');
    }),
    { numRuns: 3000 },
  );
  t.ok(answered > 0, `the fast path answered ${answered} times`);
});
