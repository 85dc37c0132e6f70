// encodeWinnersPages: an agency's whole answer split into Winners frames that
// each fit MAX_WINNERS_BODY, with only the last one marked last.
import t from 'tap';
import {
  FrameDecoder,
  HEADER_SIZE,
  MAX_WINNERS_BODY,
  MessageType,
  SERVER_FRAME_LIMITS,
  decodeMessage,
  encodeWinnersPages,
  type Winners,
} from '../../protocol/index.js';
import { Bytes } from '../helpers/bytes.js';

/** Decodes pages through a client-side decoder, which enforces MAX_WINNERS_BODY. */
function decodePages(pages: readonly Buffer[]): Winners[] {
  const decoder = new FrameDecoder(SERVER_FRAME_LIMITS);
  const out = pages.flatMap((page) => decoder.push(page)).map(decodeMessage);
  decoder.end();
  return out.map((m) => {
    if (m.type !== MessageType.Winners) throw new Error(`not a Winners page: ${m.type}`);
    return m;
  });
}

t.test('an empty answer is one empty last page', async (t) => {
  const pages = encodeWinnersPages([]);
  const expected = new Bytes()
    .u8(0b1) //    flags: last page
    .u32(0) //     count
    .frame(0x85);
  t.equal(pages.length, 1);
  t.equal(pages[0].toString('hex'), expected.toString('hex'));
});

t.test('a small answer is one last page', async (t) => {
  const pages = encodeWinnersPages(['30904465', '7']);
  t.same(decodePages(pages), [{ type: MessageType.Winners, last: true, documents: ['30904465', '7'] }]);
});

t.test('a large answer is split into pages within MAX_WINNERS_BODY', async (t) => {
  const documents = Array.from({ length: 25_000 }, (_, i) => String(1_000_000_000 + i * 7919));
  const pages = encodeWinnersPages(documents);
  t.ok(pages.length >= 4, `${pages.length} pages`);
  for (const page of pages) t.ok(page.length - HEADER_SIZE <= MAX_WINNERS_BODY, `page body ${page.length - HEADER_SIZE}`);
  const decoded = decodePages(pages);
  t.same(
    decoded.map((p) => p.last),
    pages.map((_, i) => i === pages.length - 1),
    'only the last page is last',
  );
  t.same(
    decoded.flatMap((p) => p.documents),
    documents,
    'the pages concatenate to the input, in order',
  );
  for (const p of decoded) t.ok(p.documents.length > 0, 'no empty page');
});

t.test('a page is filled up to exactly MAX_WINNERS_BODY', async (t) => {
  // 5 + 5951 × 11 + 7 × 10 = 65536: ten-digit documents take 11 bytes, nine-digit ones 10.
  const documents = [
    ...Array.from({ length: 5951 }, (_, i) => String(2_000_000_000 + i)),
    ...Array.from({ length: 7 }, (_, i) => String(300_000_000 + i)),
  ];
  const exact = encodeWinnersPages(documents);
  t.equal(exact.length, 1);
  t.equal(exact[0].length - HEADER_SIZE, MAX_WINNERS_BODY);

  const overflow = encodeWinnersPages([...documents, '1']);
  t.equal(overflow.length, 2);
  t.equal(overflow[0].length - HEADER_SIZE, MAX_WINNERS_BODY);
  t.same(decodePages(overflow)[1], { type: MessageType.Winners, last: true, documents: ['1'] });
});
