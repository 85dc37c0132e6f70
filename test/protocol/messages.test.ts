// One byte fixture per message type, written by hand with test/helpers/bytes.ts
// (never with our encoder). Each fixture gets the mqtt-packet triple:
//   parse   fixture bytes → FrameDecoder → decodeMessage → the expected message
//   encode  encodeMessage(expected message) → exactly the fixture bytes
//   mirror  decodeMessage(encodeMessage(message)) → the same message
// Parsing is also done with the frame split at every offset and byte by byte.
import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  CLIENT_FRAME_LIMITS,
  ErrorCode,
  FrameDecoder,
  MessageType,
  SERVER_FRAME_LIMITS,
  decodeMessage,
  encodeMessage,
  type FrameLimits,
  type Message,
} from '../../protocol/index.js';
import { Bytes } from '../helpers/bytes.js';

interface Fixture {
  readonly name: string;
  /** Limits of the side that receives this message. */
  readonly limits: FrameLimits;
  readonly message: Message;
  readonly bytes: Buffer;
}

const NONCE = Buffer.from([0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]);
const SERVER_NONCE = Buffer.from('f0e1d2c3b4a5968778695a4b3c2d1e0f', 'hex');
const MAC = Buffer.from(Array.from({ length: 32 }, (_, i) => 0xa0 + i));

const fixtures: Fixture[] = [
  {
    name: 'Hello',
    limits: CLIENT_FRAME_LIMITS,
    message: { type: MessageType.Hello, version: 3, agency: 7, singleBet: false, nonce: NONCE },
    // Literal bytes, to check the builder itself too (this is the Hello of docs/protocol.md).
    bytes: Buffer.from([
      0x01, //                  type: Hello
      0x00,
      0x00,
      0x00,
      0x15, // body length: 21
      0x00,
      0x03, //            version: 3
      0x00,
      0x07, //            agency: 7
      0x00, //                  flags: none
      0x00,
      0x01,
      0x02,
      0x03, // nonce[0..3]
      0x04,
      0x05,
      0x06,
      0x07, // nonce[4..7]
      0x08,
      0x09,
      0x0a,
      0x0b, // nonce[8..11]
      0x0c,
      0x0d,
      0x0e,
      0x0f, // nonce[12..15]
    ]),
  },
  {
    name: 'Hello, single-bet session, highest agency',
    limits: CLIENT_FRAME_LIMITS,
    message: { type: MessageType.Hello, version: 1, agency: 65535, singleBet: true, nonce: NONCE },
    bytes: new Bytes()
      .u16(1) //              version
      .u16(65535) //          agency
      .u8(0b1) //             flags: single bet
      .raw(NONCE) //          nonce
      .frame(0x01), //        type Hello
  },
  {
    name: 'Proof',
    limits: CLIENT_FRAME_LIMITS,
    message: { type: MessageType.Proof, mac: MAC },
    bytes: new Bytes()
      .raw(MAC) //            HMAC-SHA256, 32 bytes
      .frame(0x02), //        type Proof
  },
  {
    name: 'BetBatch with UTF-8 names',
    limits: CLIENT_FRAME_LIMITS,
    message: {
      type: MessageType.BetBatch,
      seq: 0,
      position: 3,
      bets: [
        { firstName: 'José María', lastName: 'Muñoz', document: '30904465', birthdate: '1999-03-17', number: 7574 },
        { firstName: 'Santiago Lionel', lastName: 'Lorca', document: '30904466', birthdate: '2000-01-01', number: 2201 },
      ],
    },
    bytes: new Bytes()
      .u32(0) //                                       seq: 0
      .u32(3) //                                       position: the file's 3rd record (one row before was not a bet)
      .u16(2) //                                       count: 2
      // bet 0
      .u8(12) //                                       first name length: 12 bytes for 10 characters
      .raw('4a 6f 73 c3a9 20 4d 61 72 c3ad 61') //     "José María" (é = c3 a9, í = c3 ad)
      .u8(6) //                                        last name length
      .raw('4d 75 c3b1 6f 7a') //                      "Muñoz" (ñ = c3 b1)
      .u8(8) //                                        document length
      .raw('33 30 39 30 34 34 36 35') //               "30904465"
      .raw('31 39 39 39 2d 30 33 2d 31 37') //         birthdate "1999-03-17", no length prefix
      .u16(7574) //                                    number
      // bet 1
      .str8('Santiago Lionel') //                      first name
      .str8('Lorca') //                                last name
      .str8('30904466') //                             document
      .utf8('2000-01-01') //                           birthdate
      .u16(2201) //                                    number
      .frame(0x03), //                                 type BetBatch
  },
  {
    name: 'Done',
    limits: CLIENT_FRAME_LIMITS,
    message: { type: MessageType.Done, total: 70000 },
    bytes: new Bytes()
      .u32(70000) //          total acknowledged bets
      .frame(0x04), //        type Done
  },
  {
    name: 'WinnersRequest (empty body)',
    limits: CLIENT_FRAME_LIMITS,
    message: { type: MessageType.WinnersRequest },
    bytes: new Bytes().frame(0x05), // type WinnersRequest, length 0
  },
  {
    name: 'Echo from a client',
    limits: CLIENT_FRAME_LIMITS,
    message: { type: MessageType.Echo, payload: Buffer.from('hola ñandú\n') },
    bytes: new Bytes()
      .utf8('hola ñandú\n') // payload, opaque bytes
      .frame(0x0e), //        type Echo
  },
  {
    name: 'Echo, empty, from a server',
    limits: SERVER_FRAME_LIMITS,
    message: { type: MessageType.Echo, payload: Buffer.alloc(0) },
    bytes: new Bytes().frame(0x0e), // type Echo, length 0
  },
  {
    name: 'Challenge',
    limits: SERVER_FRAME_LIMITS,
    message: { type: MessageType.Challenge, nonce: SERVER_NONCE },
    bytes: new Bytes()
      .raw(SERVER_NONCE) //   server nonce, 16 bytes
      .frame(0x81), //        type Challenge
  },
  {
    name: 'Welcome, draw done',
    limits: SERVER_FRAME_LIMITS,
    message: { type: MessageType.Welcome, stored: 120, settled: 131, finished: false, drawDone: true },
    bytes: new Bytes()
      .u32(120) //            stored bets
      .u32(131) //            settled: records of the file handled (stored or refused)
      .u8(0b10) //            flags: draw done
      .frame(0x82), //        type Welcome
  },
  {
    name: 'Welcome, finished and draw done',
    limits: SERVER_FRAME_LIMITS,
    message: { type: MessageType.Welcome, stored: 0xffffffff, settled: 0xffffffff, finished: true, drawDone: true },
    bytes: new Bytes()
      .u32(0xffffffff) //     stored bets
      .u32(0xffffffff) //     settled records
      .u8(0b11) //            flags: finished | draw done
      .frame(0x82), //        type Welcome
  },
  {
    name: 'BatchAck',
    limits: SERVER_FRAME_LIMITS,
    message: { type: MessageType.BatchAck, seq: 4, stored: 50 },
    bytes: new Bytes()
      .u32(4) //              seq
      .u32(50) //             stored
      .frame(0x83), //        type BatchAck
  },
  {
    name: 'BatchRejected',
    limits: SERVER_FRAME_LIMITS,
    message: { type: MessageType.BatchRejected, seq: 3, code: ErrorCode.InvalidBet, betIndex: 1, reason: 'fecha inválida: 2023-02-30' },
    bytes: new Bytes()
      .u32(3) //                                seq
      .u16(23) //                               code: InvalidBet
      .u16(1) //                                bet index
      .u16(27) //                               reason length: 27 bytes (á is two)
      .utf8('fecha inválida: 2023-02-30') //    reason
      .frame(0x84), //                          type BatchRejected
  },
  {
    name: 'BatchRejected, not about one bet, no reason',
    limits: SERVER_FRAME_LIMITS,
    message: { type: MessageType.BatchRejected, seq: 0, code: ErrorCode.StorageFailure, betIndex: 0xffff, reason: '' },
    bytes: new Bytes()
      .u32(0) //              seq
      .u16(31) //             code: StorageFailure
      .u16(0xffff) //         bet index: none
      .u16(0) //              reason length
      .frame(0x84), //        type BatchRejected
  },
  {
    name: 'Winners, last page',
    limits: SERVER_FRAME_LIMITS,
    message: { type: MessageType.Winners, last: true, documents: ['30904465', '7574'] },
    bytes: new Bytes()
      .u8(0b1) //             flags: last page
      .u32(2) //              count
      .str8('30904465') //    document 0
      .str8('7574') //        document 1
      .frame(0x85), //        type Winners
  },
  {
    name: 'Winners, empty page, not last',
    limits: SERVER_FRAME_LIMITS,
    message: { type: MessageType.Winners, last: false, documents: [] },
    bytes: new Bytes()
      .u8(0) //               flags: more pages follow
      .u32(0) //              count
      .frame(0x85), //        type Winners
  },
  {
    name: 'Error',
    limits: SERVER_FRAME_LIMITS,
    message: { type: MessageType.Error, code: ErrorCode.UnsupportedVersion, message: 'versión 2 no soportada' },
    bytes: new Bytes()
      .u16(21) //                           code: UnsupportedVersion
      .u16(23) //                           message length: 23 bytes (ó is two)
      .utf8('versión 2 no soportada') //    message
      .frame(0x86), //                      type Error
  },
];

/** Feeds chunks to a fresh decoder and decodes every frame; the stream must end cleanly. */
function decodeChunks(limits: FrameLimits, chunks: readonly Buffer[]): Message[] {
  const decoder = new FrameDecoder(limits);
  const messages: Message[] = [];
  for (const chunk of chunks) for (const frame of decoder.push(chunk)) messages.push(decodeMessage(frame));
  if (decoder.buffered !== 0) throw new Error(`${decoder.buffered} bytes left in the decoder`);
  decoder.end();
  return messages;
}

t.test('every message type has a fixture', async (t) => {
  const covered = new Set(fixtures.map((f) => f.message.type));
  for (const [name, code] of Object.entries(MessageType)) t.ok(covered.has(code), name);
});

t.test('the builder writes the same Hello as the literal bytes', async (t) => {
  const built = new Bytes()
    .u16(3) //     version
    .u16(7) //     agency
    .u8(0) //      flags
    .raw(NONCE) // nonce
    .frame(0x01);
  t.equal(built.toString('hex'), fixtures[0].bytes.toString('hex'));
});

for (const fixture of fixtures) {
  t.test(fixture.name, async (t) => {
    const { bytes, message, limits } = fixture;

    t.test('parse', async (t) => {
      const decoder = new FrameDecoder(limits);
      const frames = decoder.push(bytes);
      t.equal(frames.length, 1);
      t.equal(frames[0].type, bytes[0]);
      t.equal(frames[0].body.length, bytes.readUInt32BE(1));
      t.same(decodeMessage(frames[0]), message);
      t.equal(decoder.buffered, 0);
      t.doesNotThrow(() => decoder.end());
    });

    t.test('parse, split at every offset', async (t) => {
      for (let cut = 1; cut < bytes.length; cut++) {
        const messages = decodeChunks(limits, [bytes.subarray(0, cut), bytes.subarray(cut)]);
        t.same(messages, [message], `cut at ${cut}`);
      }
    });

    t.test('parse, one byte at a time', async (t) => {
      const bytewise = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
      t.same(decodeChunks(limits, bytewise), [message]);
    });

    t.test('encode', async (t) => {
      t.equal(encodeMessage(message).toString('hex'), bytes.toString('hex'));
    });

    t.test('mirror', async (t) => {
      t.same(decodeChunks(limits, [encodeMessage(message)]), [message]);
    });
  });
}

t.test('every fixture, back to back in one chunk, then split at every offset', async (t) => {
  for (const limits of [CLIENT_FRAME_LIMITS, SERVER_FRAME_LIMITS]) {
    const side = fixtures.filter((f) => f.limits === limits);
    const stream = Buffer.concat(side.map((f) => f.bytes));
    const expected = side.map((f) => f.message);
    t.same(decodeChunks(limits, [stream]), expected, 'one chunk');
    let ok = true;
    for (let cut = 1; cut < stream.length && ok; cut++) {
      const got = decodeChunks(limits, [stream.subarray(0, cut), stream.subarray(cut)]);
      ok = t.same(got, expected, `cut at ${cut}`);
    }
    for (let a = 1; a < stream.length && ok; a += 7) {
      for (let b = a; b < stream.length && ok; b += 5) {
        const got = decodeChunks(limits, [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
        ok = t.same(got, expected, `cuts at ${a} and ${b}`);
      }
    }
  }
});

t.test('the worked examples in docs/protocol.md are these fixtures', async (t) => {
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
  const examples = doc.slice(doc.indexOf('## Worked examples'));
  // The first fenced block after each heading: hex bytes at the start of each line, comments after.
  const hexAfter = (heading: string): string => {
    const open = examples.indexOf('```\n', examples.indexOf(heading)) + 4;
    const block = examples.slice(open, examples.indexOf('\n```', open));
    return block
      .split('\n')
      .map((line) => /^(?:[0-9a-f]{2} )*[0-9a-f]{2}(?=\s|$)/.exec(line)?.[0] ?? '')
      .join(' ')
      .replace(/\s+/g, '');
  };
  t.equal(hexAfter('### Hello'), fixtures.find((f) => f.name === 'Hello')!.bytes.toString('hex'));
  t.equal(hexAfter('### BetBatch'), fixtures.find((f) => f.name === 'BetBatch with UTF-8 names')!.bytes.toString('hex'));
});
