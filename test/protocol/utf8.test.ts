// truncateUtf8 cuts text (error reasons) to a byte budget without ever
// splitting a multi-byte character.
import t from 'tap';
import { ErrorCode, MAX_TEXT_BYTES, MessageType, encodeMessage, truncateUtf8 } from '../../protocol/index.js';

const samples = ['plain ascii', 'José María Muñoz', 'precio: 5 €', '😀 emoji 👍🏽 skin tone', 'ñ€😀aé', 'دانیال', '中文名字'];

t.test('never splits a character, and keeps as much as fits', async (t) => {
  for (const text of samples) {
    const size = Buffer.byteLength(text);
    for (let max = 0; max <= size + 2; max++) {
      const cut = truncateUtf8(text, max);
      const bytes = Buffer.byteLength(cut);
      if (!t.ok(bytes <= max, `${JSON.stringify(text)} @ ${max}: ${bytes} bytes`)) return;
      t.ok(text.startsWith(cut), 'a prefix of the input');
      t.notOk(cut.includes('\ufffd'), 'no replacement character');
      // Maximal: the next code point would not have fitted.
      const next = String.fromCodePoint(text.codePointAt(cut.length) ?? 0);
      if (cut.length < text.length) t.ok(bytes + Buffer.byteLength(next) > max, 'nothing more would fit');
      else t.equal(cut, text);
    }
  }
});

t.test('examples', async (t) => {
  t.equal(truncateUtf8('Muñoz', 3), 'Mu', 'ñ (2 bytes) does not fit in the 3rd byte');
  t.equal(truncateUtf8('Muñoz', 4), 'Muñ');
  t.equal(truncateUtf8('a€', 3), 'a', '€ is 3 bytes');
  t.equal(truncateUtf8('a😀', 4), 'a', '😀 is 4 bytes');
  t.equal(truncateUtf8('a😀', 5), 'a😀');
  t.equal(truncateUtf8('', 0), '');
});

t.test('encoders truncate long text to MAX_TEXT_BYTES on a character boundary', async (t) => {
  const long = 'é'.repeat(600) + 'x'; // 1201 bytes
  const error = encodeMessage({ type: MessageType.Error, code: ErrorCode.InvalidBet, message: 'x' + long });
  const length = error.readUInt16BE(5 + 2);
  t.equal(length, MAX_TEXT_BYTES - 1, 'x + 511 × é = 1023 bytes: the 1024th byte would split an é');
  t.equal(error.length, 5 + 4 + length);
  const rejected = encodeMessage({ type: MessageType.BatchRejected, seq: 1, code: ErrorCode.InvalidBet, betIndex: 0, reason: long });
  t.equal(rejected.readUInt16BE(5 + 8), MAX_TEXT_BYTES);
});
