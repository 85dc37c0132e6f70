// The one byte-level bet validator (protocol/bet-rules.ts) and the central's
// scanner over it (protocol/batch-scanner.ts), with byte fixtures written by
// hand from docs/protocol.md.
import t from 'tap';
import {
  birthdateProblem,
  documentProblem,
  nameProblem,
  numberProblem,
  Problem,
  scanBetBatch,
  type BetSink,
} from '../../protocol/index.js';
import { Bytes, fromHex } from '../helpers/bytes.js';

const TODAY = 20240615;
const name = (hex: string) => {
  const bytes = fromHex(hex);
  return nameProblem(bytes, 0, bytes.length);
};

t.test('names: UTF-8, 1..100 bytes, not blank, no control characters', async (t) => {
  t.equal(name('41 6e 61'), Problem.None, '"Ana"');
  t.equal(name('4a 6f 73 c3 a9'), Problem.None, '"José": two-byte é');
  t.equal(name('e2 82 ac'), Problem.None, 'a three-byte sign');
  t.equal(name('f0 9f 8e b2'), Problem.None, 'a four-byte character');
  t.equal(name(''), Problem.Empty, 'empty');
  t.equal(name('20 20 20'), Problem.Empty, 'blank');
  t.equal(name('41 09 42'), Problem.Control, 'a tab');
  t.equal(name('41 0a'), Problem.Control, 'a newline');
  t.equal(name('41 7f'), Problem.Control, 'DEL');
  t.equal(name('41 80'), Problem.NotUtf8, 'a lone continuation byte');
  t.equal(name('c3'), Problem.NotUtf8, 'a cut two-byte sequence');
  t.equal(name('c0 af'), Problem.NotUtf8, 'an overlong "/"');
  t.equal(name('ed a0 80'), Problem.NotUtf8, 'a UTF-16 surrogate');
  t.equal(name('f4 90 80 80'), Problem.NotUtf8, 'above U+10FFFF');
  t.equal(nameProblem(Buffer.alloc(100, 0x61), 0, 100), Problem.None, '100 bytes');
  t.equal(nameProblem(Buffer.alloc(101, 0x61), 0, 101), Problem.TooLong, '101 bytes');
});

t.test('documents, birthdates, numbers', async (t) => {
  const doc = (text: string) => documentProblem(Buffer.from(text), 0, Buffer.byteLength(text));
  t.equal(doc('30904465'), Problem.None);
  t.equal(doc('1234567890'), Problem.None, 'ten digits');
  t.equal(doc(''), Problem.Empty);
  t.equal(doc('12345678901'), Problem.TooLong, 'eleven digits');
  t.equal(doc('3090A465'), Problem.NotDigits);
  t.equal(doc('٣٠٩'), Problem.NotDigits, 'non-ASCII digits');
  const date = (text: string) => birthdateProblem(Buffer.from(text), 0, TODAY);
  t.equal(date('1999-03-17'), Problem.None);
  t.equal(date('2024-02-29'), Problem.None, 'a leap day');
  t.equal(date('2024-06-15'), Problem.None, 'today');
  t.equal(date('2024-06-16'), Problem.DateOutOfRange, 'tomorrow');
  t.equal(date('1899-12-31'), Problem.DateOutOfRange, 'before 1900');
  t.equal(date('2023-02-29'), Problem.NotADate, 'February 29 of a common year');
  t.equal(date('2000-13-01'), Problem.NotADate, 'month 13');
  t.equal(date('1999/03/17'), Problem.NotADate, 'slashes');
  t.equal(numberProblem(0), Problem.None);
  t.equal(numberProblem(9999), Problem.None);
  t.equal(numberProblem(10000), Problem.NumberOutOfRange);
  t.equal(numberProblem(1.5), Problem.NumberOutOfRange);
});

/** Collects what scanBetBatch hands over, as text. */
function scan(body: Buffer): { count: number; bets: string[] } {
  const bets: string[] = [];
  const sink: BetSink = {
    bet(b, first, firstEnd, last, lastEnd, doc, docEnd, date, number) {
      bets.push(
        [
          b.toString('utf8', first, firstEnd),
          b.toString('utf8', last, lastEnd),
          b.toString('latin1', doc, docEnd),
          b.toString('latin1', date, date + 10),
          number,
        ].join('|'),
      );
    },
  };
  return { count: scanBetBatch(body, TODAY, sink), bets };
}

const bodyOf = (b: Bytes) => b.frame(0x03).subarray(5);

t.test('scanBetBatch: a well-formed batch of valid bets comes out as byte ranges', async (t) => {
  const body = bodyOf(
    new Bytes()
      .u32(3) //                   seq
      .u32(12) //                  position
      .u16(2) //                   count
      .str8('José')
      .str8('Muñoz')
      .str8('30904465')
      .utf8('1999-03-17')
      .u16(7574)
      .str8('Ana')
      .str8('Paz')
      .str8('1')
      .utf8('2000-01-01')
      .u16(0),
  );
  t.same(scan(body), { count: 2, bets: ['José|Muñoz|30904465|1999-03-17|7574', 'Ana|Paz|1|2000-01-01|0'] });
});

t.test('scanBetBatch: unsure (-1) on anything unusual', async (t) => {
  const bet = (b: Bytes, over: { first?: string; doc?: string; date?: string; number?: number } = {}) =>
    b
      .str8(over.first ?? 'Ana')
      .str8('Paz')
      .str8(over.doc ?? '1')
      .utf8(over.date ?? '2000-01-01')
      .u16(over.number ?? 1);
  const head = (count: number) => new Bytes().u32(0).u32(9).u16(count);
  t.equal(scan(bodyOf(head(0))).count, -1, 'no bets');
  t.equal(scan(bodyOf(bet(head(2)))).count, -1, 'fewer bets than the count');
  t.equal(scan(bodyOf(bet(head(1)).u8(0))).count, -1, 'a trailing byte');
  t.equal(scan(bodyOf(bet(head(1), { first: ' ' }))).count, -1, 'a blank name');
  t.equal(scan(bodyOf(bet(head(1), { doc: '1a' }))).count, -1, 'a document with a letter');
  t.equal(scan(bodyOf(bet(head(1), { date: '2024-06-16' }))).count, -1, 'a birthdate after today');
  t.equal(scan(bodyOf(bet(head(1), { number: 10000 }))).count, -1, 'number 10000');
  t.equal(scan(fromHex('00000000 00000009 0001 05 41')).count, -1, 'a name running past the body');
  t.equal(scan(fromHex('00000000 0000')).count, -1, 'shorter than the fixed part');
});
