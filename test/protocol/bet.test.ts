// The rules of a valid bet (validateBet) and the 8 kB hard limit of a BetBatch frame.
import t from 'tap';
import {
  BATCH_OVERHEAD,
  CLIENT_FRAME_LIMITS,
  ErrorCode,
  FrameDecoder,
  HEADER_SIZE,
  MAX_BATCH_BETS_BYTES,
  MAX_BATCH_FRAME,
  MessageType,
  betSize,
  decodeMessage,
  encodeMessage,
  validateBet,
  type Bet,
} from '../../protocol/index.js';
import { Bytes } from '../helpers/bytes.js';

const TODAY = '2024-06-15';
const good: Bet = { firstName: 'José María', lastName: 'Muñoz', document: '30904465', birthdate: '1999-03-17', number: 7574 };
const bet = (change: Partial<Bet>): Bet => ({ ...good, ...change });

t.test('valid bets', async (t) => {
  const valid: Bet[] = [
    good,
    bet({ firstName: 'A', lastName: 'B' }),
    bet({ firstName: 'Ñ'.repeat(50) }), // exactly 100 bytes
    bet({ lastName: "O'Connor-Pérez, Jr." }), // punctuation and commas are the CSV writer's business
    bet({ document: '0' }),
    bet({ document: '1234567890' }),
    bet({ birthdate: '1900-01-01' }),
    bet({ birthdate: '2024-02-29' }), // leap day
    bet({ birthdate: '2000-02-29' }), // leap day, century divisible by 400
    bet({ birthdate: TODAY }),
    bet({ number: 0 }),
    bet({ number: 9999 }),
  ];
  for (const b of valid) t.equal(validateBet(b, TODAY), null, JSON.stringify(b));
});

t.test('each rule refuses a bet with a reason', async (t) => {
  const invalid: [string, Partial<Bet>][] = [
    ['empty first name', { firstName: '' }],
    ['blank last name', { lastName: '   ' }],
    ['first name over 100 bytes', { firstName: 'a'.repeat(101) }],
    ['last name over 100 bytes though 51 characters', { lastName: 'ñ'.repeat(51) }],
    ['newline in a name', { firstName: 'Ana\nMaría' }],
    ['tab in a name', { lastName: 'Paz\t' }],
    ['NUL in a name', { firstName: 'A\u0000' }],
    ['DEL in a name', { lastName: 'B\u007f' }],
    ['empty document', { document: '' }],
    ['letters in the document', { document: '3090A465' }],
    ['dots in the document', { document: '30.904.465' }],
    ['negative document', { document: '-1' }],
    ['non-ASCII digits in the document', { document: '٣٠٩' }],
    ['document over 10 digits', { document: '12345678901' }],
    ['February 30', { birthdate: '2023-02-30' }],
    ['February 29 of a common year', { birthdate: '2023-02-29' }],
    ['February 29 of 1900', { birthdate: '1900-02-29' }],
    ['month 13', { birthdate: '2000-13-01' }],
    ['day 0', { birthdate: '2000-01-00' }],
    ['April 31', { birthdate: '2000-04-31' }],
    ['wrong format', { birthdate: '17/03/1999' }],
    ['no zero padding', { birthdate: '1999-3-17' }],
    ['trailing text', { birthdate: '1999-03-17T00:00' }],
    ['before 1900', { birthdate: '1899-12-31' }],
    ['year 0099 (not 1999)', { birthdate: '0099-01-01' }],
    ['after today', { birthdate: '2024-06-16' }],
    ['far future', { birthdate: '3000-01-01' }],
    ['number -1', { number: -1 }],
    ['number 10000', { number: 10000 }],
    ['fractional number', { number: 1.5 }],
    ['NaN', { number: Number.NaN }],
  ];
  for (const [what, change] of invalid) {
    const reason = validateBet(bet(change), TODAY);
    t.type(reason, 'string', what);
  }
});

t.test('today defaults to the current UTC date', async (t) => {
  const tomorrow = new Date(Date.now() + 36 * 3600 * 1000).toISOString().slice(0, 10);
  t.type(validateBet(bet({ birthdate: tomorrow })), 'string', 'a date after today');
  t.equal(validateBet(bet({ birthdate: '1999-03-17' })), null);
});

/** Valid bets whose encoded sizes add up to exactly `bytes`. */
function betsOfSize(bytes: number): Bet[] {
  const bets: Bet[] = [];
  const base = { lastName: 'Paz', document: '12345678', birthdate: '1990-05-05', number: 1 };
  // A bet with an n-byte first name: 3 + n + 3 + 8 + 10 + 2 = n + 26 bytes.
  let left = bytes;
  while (left > 0) {
    const n = left - 26 <= 100 ? left - 26 : Math.min(100, left - 26 - 27); // leave room for one more bet of >= 1 byte
    if (n < 1) throw new Error(`cannot fill ${bytes} bytes exactly`);
    bets.push({ ...base, firstName: 'é'.repeat(n >> 1) + 'x'.repeat(n & 1) });
    left -= n + 26;
  }
  return bets;
}

t.test('BetBatch at the 8 kB limit', async (t) => {
  t.equal(MAX_BATCH_FRAME, 8192);
  t.equal(BATCH_OVERHEAD, HEADER_SIZE + 4 + 4 + 2);

  t.test('a batch whose frame is exactly 8192 bytes is accepted', async (t) => {
    const bets = betsOfSize(MAX_BATCH_BETS_BYTES);
    t.equal(
      bets.reduce((sum, b) => sum + betSize(b), 0),
      MAX_BATCH_BETS_BYTES,
    );
    for (const b of bets) t.equal(validateBet(b, TODAY), null);
    const frame = encodeMessage({ type: MessageType.BetBatch, seq: 9, position: 40, bets });
    t.equal(frame.length, 8192);
    t.equal(frame.readUInt32BE(1), MAX_BATCH_FRAME - HEADER_SIZE);
    const frames = new FrameDecoder(CLIENT_FRAME_LIMITS).push(frame);
    t.same(decodeMessage(frames[0]), { type: MessageType.BetBatch, seq: 9, position: 40, bets });
  });

  t.test('one byte more is refused at the header', async (t) => {
    const frame = encodeMessage({ type: MessageType.BetBatch, seq: 9, position: 40, bets: betsOfSize(MAX_BATCH_BETS_BYTES + 1) });
    t.equal(frame.length, 8193);
    const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
    t.throws(() => decoder.push(frame.subarray(0, HEADER_SIZE)), { code: ErrorCode.FrameTooLarge });
  });

  t.test('a header declaring MAX_BATCH_FRAME - HEADER_SIZE + 1 is refused with no body sent', async (t) => {
    const header = new Bytes()
      .u8(0x03) //                                  type BetBatch
      .u32(MAX_BATCH_FRAME - HEADER_SIZE + 1) //    8188
      .build();
    t.throws(() => new FrameDecoder(CLIENT_FRAME_LIMITS).push(header), { code: ErrorCode.FrameTooLarge });
  });

  t.test('many small bets that fit are all delivered', async (t) => {
    const small: Bet = { firstName: 'A', lastName: 'B', document: '1', birthdate: '2000-01-01', number: 0 };
    const count = Math.floor(MAX_BATCH_BETS_BYTES / betSize(small));
    const bets = Array.from({ length: count }, (_, i) => ({ ...small, number: i % 10000 }));
    const frame = encodeMessage({ type: MessageType.BetBatch, seq: 0, position: count, bets });
    t.ok(frame.length <= MAX_BATCH_FRAME);
    const decoded = decodeMessage(new FrameDecoder(CLIENT_FRAME_LIMITS).push(frame)[0]);
    t.equal(decoded.type === MessageType.BetBatch && decoded.bets.length, count);
  });
});
