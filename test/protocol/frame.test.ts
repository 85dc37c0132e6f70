// FrameDecoder under stress, and every way a peer can send malformed bytes.
// Every error is checked by its stable code, never by its message text.
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import {
  CLIENT_FRAME_LIMITS,
  ErrorCode,
  FrameDecoder,
  MessageType,
  SERVER_FRAME_LIMITS,
  decodeMessage,
  type FrameLimits,
  type Message,
} from '../../protocol/index.js';
import { Bytes } from '../helpers/bytes.js';

const done = (total: number) =>
  new Bytes()
    .u32(total) // total
    .frame(0x04); // type Done
const winnersRequest = new Bytes().frame(0x05); // type WinnersRequest, empty body
const echo = (text: string) =>
  new Bytes()
    .utf8(text) // payload
    .frame(0x0e); // type Echo
const ack = (seq: number, stored: number) =>
  new Bytes()
    .u32(seq) // seq
    .u32(stored) // stored
    .frame(0x83); // type BatchAck

/** Pushes every chunk, decodes every frame; lets ProtocolErrors out. */
function decodeAll(limits: FrameLimits, ...chunks: Buffer[]): Message[] {
  const decoder = new FrameDecoder(limits);
  return chunks.flatMap((chunk) => decoder.push(chunk)).map(decodeMessage);
}

t.test('many frames packed into one chunk', async (t) => {
  const frames: Buffer[] = [];
  for (let i = 0; i < 200; i++) frames.push(i % 3 === 0 ? done(i) : i % 3 === 1 ? winnersRequest : echo(`n${i}`));
  const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
  const out = decoder.push(Buffer.concat(frames));
  t.equal(out.length, 200);
  t.same(decodeMessage(out[0]), { type: MessageType.Done, total: 0 });
  t.same(decodeMessage(out[1]), { type: MessageType.WinnersRequest });
  t.same(decodeMessage(out[198]), { type: MessageType.Done, total: 198 });
  t.same(decodeMessage(out[199]), { type: MessageType.WinnersRequest });
  t.equal(decoder.buffered, 0);
});

t.test('a chunk that ends inside the next frame keeps the rest for later', async (t) => {
  const decoder = new FrameDecoder(SERVER_FRAME_LIMITS);
  const first = ack(1, 10);
  const second = ack(2, 20);
  const got = decoder.push(Buffer.concat([first, second.subarray(0, 7)]));
  t.equal(got.length, 1);
  t.equal(decoder.buffered, 7);
  const rest = decoder.push(second.subarray(7));
  t.same(rest.map(decodeMessage), [{ type: MessageType.BatchAck, seq: 2, stored: 20 }]);
  t.equal(decoder.buffered, 0);
});

t.test('every split of a three-frame stream, including empty bodies', async (t) => {
  const stream = Buffer.concat([winnersRequest, done(5), echo(''), echo('€')]);
  const expected = [
    { type: MessageType.WinnersRequest },
    { type: MessageType.Done, total: 5 },
    { type: MessageType.Echo, payload: Buffer.alloc(0) },
    { type: MessageType.Echo, payload: Buffer.from('€') },
  ];
  for (let a = 0; a <= stream.length; a++) {
    for (let b = a; b <= stream.length; b++) {
      const got = decodeAll(CLIENT_FRAME_LIMITS, stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b));
      if (!t.same(got, expected, `cuts at ${a} and ${b}`)) return;
    }
  }
});

t.test('keeps no view into a chunk once push returns: a caller may overwrite or free it', async (t) => {
  // The central's worker frees each socket chunk after handling its frames.
  const stream = Buffer.concat([done(7), echo('árbol'), ack(3, 30), winnersRequest, echo('x'.repeat(40))]);
  const bothWays = new Map([...CLIENT_FRAME_LIMITS, ...SERVER_FRAME_LIMITS]);
  const expected = [
    { type: MessageType.Done, total: 7 },
    { type: MessageType.Echo, payload: Buffer.from('árbol') },
    { type: MessageType.BatchAck, seq: 3, stored: 30 },
    { type: MessageType.WinnersRequest },
    { type: MessageType.Echo, payload: Buffer.from('x'.repeat(40)) },
  ];
  const wrong: string[] = [];
  for (let a = 1; a < stream.length; a++) {
    for (let b = a; b < stream.length; b++) {
      const decoder = new FrameDecoder(bothWays);
      const got: Message[] = [];
      for (const [from, to] of [
        [0, a],
        [a, b],
        [b, stream.length],
      ] as const) {
        const chunk = Buffer.from(stream.subarray(from, to)); // a buffer of its own, like a socket read
        got.push(...decoder.push(chunk).map(decodeMessage)); // its frames are handled before it goes
        chunk.fill(0xff);
      }
      if (!isDeepStrictEqual(got, expected)) wrong.push(`cuts at ${a} and ${b}`);
    }
  }
  t.same(wrong, [], 'every split decodes the same messages');
});

t.test('empty chunks are harmless', async (t) => {
  const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
  t.same(decoder.push(Buffer.alloc(0)), []);
  t.equal(decoder.push(done(1)).length, 1);
  t.same(decoder.push(Buffer.alloc(0)), []);
  t.doesNotThrow(() => decoder.end());
});

t.test('buffered counts every byte not yet returned as a frame', async (t) => {
  const frame = done(9); // 5 header + 4 body
  const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
  t.equal(decoder.buffered, 0);
  for (let i = 0; i < frame.length - 1; i++) {
    t.same(decoder.push(frame.subarray(i, i + 1)), []);
    t.equal(decoder.buffered, i + 1, `after ${i + 1} bytes`);
  }
  t.equal(decoder.push(frame.subarray(frame.length - 1)).length, 1);
  t.equal(decoder.buffered, 0);
});

t.test('end()', async (t) => {
  t.test('is quiet on a clean stream', async (t) => {
    const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
    t.doesNotThrow(() => decoder.end(), 'nothing received');
    decoder.push(done(1));
    t.doesNotThrow(() => decoder.end(), 'after a whole frame');
  });
  const frame = done(1);
  for (const cut of [1, 4, 5, 6, 8]) {
    t.test(`throws ERR_TRUNCATED after ${cut} of ${frame.length} bytes`, async (t) => {
      const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
      decoder.push(frame.subarray(0, cut));
      t.equal(decoder.buffered, cut);
      t.throws(() => decoder.end(), { name: 'ProtocolError', code: ErrorCode.Truncated, codeName: 'ERR_TRUNCATED' });
    });
  }
});

t.test('unknown type', async (t) => {
  t.test('is detected on the first byte, before the length arrives', async (t) => {
    for (const type of [0x00, 0x06, 0x7f, 0x80, 0x87, 0xff]) {
      const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
      t.throws(() => decoder.push(Buffer.from([type])), { code: ErrorCode.UnknownType }, `0x${type.toString(16)}`);
    }
  });

  t.test('after valid frames in the same chunk: those frames first, then the failure', async (t) => {
    const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
    const frames = decoder.push(Buffer.concat([done(1), Buffer.from([0x42])]));
    t.equal(frames.length, 1, 'the valid Done frame is delivered');
    t.equal(frames[0].type, MessageType.Done);
    t.equal(decoder.failure?.code, ErrorCode.UnknownType, 'the failure is recorded');
    t.throws(() => decoder.push(Buffer.alloc(0)), { code: ErrorCode.UnknownType }, 'the next push throws it');
    t.throws(() => decoder.end(), { code: ErrorCode.UnknownType }, 'and so does end()');
  });

  t.test('a server-only type sent to a server is unknown', async (t) => {
    for (const type of [0x81, 0x82, 0x83, 0x84, 0x85, 0x86]) {
      t.throws(
        () => decodeAll(CLIENT_FRAME_LIMITS, new Bytes().fill(8).frame(type)),
        { code: ErrorCode.UnknownType },
        `0x${type.toString(16)}`,
      );
    }
  });

  t.test('a client-only type sent to a client is unknown', async (t) => {
    for (const type of [0x01, 0x02, 0x03, 0x04, 0x05]) {
      t.throws(
        () => decodeAll(SERVER_FRAME_LIMITS, new Bytes().fill(4).frame(type)),
        { code: ErrorCode.UnknownType },
        `0x${type.toString(16)}`,
      );
    }
  });

  t.test('Echo is known both ways', async (t) => {
    t.equal(decodeAll(CLIENT_FRAME_LIMITS, echo('x')).length, 1);
    t.equal(decodeAll(SERVER_FRAME_LIMITS, echo('x')).length, 1);
  });

  t.test('decodeMessage alone refuses a type it does not know', async (t) => {
    t.throws(() => decodeMessage({ type: 0x42, body: Buffer.alloc(0) }), { code: ErrorCode.UnknownType });
  });
});

t.test('the decoder stays failed after an error', async (t) => {
  const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
  t.throws(() => decoder.push(Buffer.from([0x99])), { code: ErrorCode.UnknownType });
  t.equal(decoder.buffered, 0, 'buffers released');
  t.throws(() => decoder.push(done(1)), { code: ErrorCode.UnknownType }, 'a good frame does not resync it');
  t.throws(() => decoder.end(), { code: ErrorCode.UnknownType });
});

t.test('length over the limit is refused at the header, before the body is buffered', async (t) => {
  const cases: [string, FrameLimits, number, number][] = [
    ['BetBatch over 8187', CLIENT_FRAME_LIMITS, 0x03, 8188],
    ['BetBatch of 4 GiB', CLIENT_FRAME_LIMITS, 0x03, 0xffffffff],
    ['Hello of 22', CLIENT_FRAME_LIMITS, 0x01, 22],
    ['Echo over 4096 to a server', CLIENT_FRAME_LIMITS, 0x0e, 4097],
    ['WinnersRequest of 1', CLIENT_FRAME_LIMITS, 0x05, 1],
    ['Winners over 64 KiB', SERVER_FRAME_LIMITS, 0x85, 65537],
    ['Error over 1028', SERVER_FRAME_LIMITS, 0x86, 1029],
    ['BatchRejected over 1034', SERVER_FRAME_LIMITS, 0x84, 1035],
    ['Echo over 4096 to a client', SERVER_FRAME_LIMITS, 0x0e, 4097],
  ];
  for (const [name, limits, type, length] of cases) {
    t.test(name, async (t) => {
      const header = new Bytes()
        .u8(type) // type
        .u32(length) // declared body length
        .build();
      const decoder = new FrameDecoder(limits);
      t.throws(() => decoder.push(header), { code: ErrorCode.FrameTooLarge }, 'only the header was pushed');
    });
  }

  t.test('also when the length bytes arrive one at a time', async (t) => {
    const header = new Bytes().u8(0x03).u32(100_000).build();
    const decoder = new FrameDecoder(CLIENT_FRAME_LIMITS);
    for (let i = 0; i < 4; i++) t.same(decoder.push(header.subarray(i, i + 1)), []);
    t.throws(() => decoder.push(header.subarray(4)), { code: ErrorCode.FrameTooLarge });
  });
});

t.test('body shorter than the type needs is refused at the header', async (t) => {
  const cases: [string, FrameLimits, number, number][] = [
    ['Hello of 20', CLIENT_FRAME_LIMITS, 0x01, 20],
    ['Proof of 31', CLIENT_FRAME_LIMITS, 0x02, 31],
    ['BetBatch of 9', CLIENT_FRAME_LIMITS, 0x03, 9],
    ['Done of 3', CLIENT_FRAME_LIMITS, 0x04, 3],
    ['Challenge of 15', SERVER_FRAME_LIMITS, 0x81, 15],
    ['Welcome of 8', SERVER_FRAME_LIMITS, 0x82, 8],
    ['BatchAck of 7', SERVER_FRAME_LIMITS, 0x83, 7],
    ['BatchRejected of 9', SERVER_FRAME_LIMITS, 0x84, 9],
    ['Winners of 4', SERVER_FRAME_LIMITS, 0x85, 4],
    ['Error of 3', SERVER_FRAME_LIMITS, 0x86, 3],
  ];
  for (const [name, limits, type, length] of cases) {
    const header = new Bytes().u8(type).u32(length).build();
    t.throws(() => new FrameDecoder(limits).push(header), { code: ErrorCode.Truncated }, name);
  }
});

t.test('truncated field inside a body', async (t) => {
  t.throws(
    () =>
      decodeAll(
        CLIENT_FRAME_LIMITS,
        new Bytes()
          .u32(0) //         seq
          .u32(9) //         position
          .u16(1) //         count
          .u8(50) //         first name length: 50...
          .utf8('Ana') //    ...but only 3 bytes in the body
          .frame(0x03),
      ),
    { code: ErrorCode.Truncated },
    'first name runs past the body',
  );
  t.throws(
    () =>
      decodeAll(
        CLIENT_FRAME_LIMITS,
        new Bytes()
          .u32(0) //                  seq
          .u32(9) //                  position
          .u16(2) //                  count: 2...
          .str8('Ana') //             bet 0 first name
          .str8('Paz') //             last name
          .str8('123') //             document
          .utf8('1990-01-01') //      birthdate
          .u16(1) //                  number; ...but no bet 1
          .frame(0x03),
      ),
    { code: ErrorCode.Truncated },
    'fewer bets than the count',
  );
  t.throws(
    () =>
      decodeAll(
        CLIENT_FRAME_LIMITS,
        new Bytes()
          .u32(0) //                  seq
          .u32(9) //                  position
          .u16(1) //                  count
          .str8('Ana') //             first name
          .str8('Paz') //             last name
          .str8('123') //             document
          .utf8('1990-01') //         birthdate cut short: 7 of 10 bytes
          .frame(0x03),
      ),
    { code: ErrorCode.Truncated },
    'birthdate cut short',
  );
  t.throws(
    () =>
      decodeAll(
        SERVER_FRAME_LIMITS,
        new Bytes()
          .u8(1) //          flags: last
          .u32(2) //         count: 2
          .str8('1234') //   document 0; document 1 missing
          .frame(0x85),
      ),
    { code: ErrorCode.Truncated },
    'winners page missing a document',
  );
  t.throws(
    () =>
      decodeAll(
        SERVER_FRAME_LIMITS,
        new Bytes()
          .u32(1) //         seq
          .u16(23) //        code
          .u16(0) //         bet index
          .u16(10) //        reason length: 10...
          .utf8('bad') //    ...but 3 bytes
          .frame(0x84),
      ),
    { code: ErrorCode.Truncated },
    'rejection reason cut short',
  );
  t.throws(
    () =>
      decodeAll(
        SERVER_FRAME_LIMITS,
        new Bytes()
          .u16(25) //        code
          .u16(5) //         message length: 5...
          .utf8('no') //     ...but 2 bytes
          .frame(0x86),
      ),
    { code: ErrorCode.Truncated },
    'error message cut short',
  );
});

t.test('invalid UTF-8', async (t) => {
  const badName = (raw: string) =>
    new Bytes()
      .u32(0) //                   seq
      .u32(9) //                   position
      .u16(1) //                   count
      .u8(raw.replace(/\s/g, '').length / 2) // first name length
      .raw(raw) //                 first name bytes
      .str8('Paz') //              last name
      .str8('123') //              document
      .utf8('1990-01-01') //       birthdate
      .u16(1) //                   number
      .frame(0x03);
  for (const [what, raw] of [
    ['a lone continuation byte', '41 80'],
    ['a cut two-byte sequence', '4a 6f 73 c3'],
    ['an overlong "/"', 'c0 af'],
    ['a UTF-16 surrogate', 'ed a0 80'],
    ['0xff', 'ff'],
  ]) {
    t.throws(() => decodeAll(CLIENT_FRAME_LIMITS, badName(raw)), { code: ErrorCode.InvalidUtf8 }, `first name with ${what}`);
  }
  t.throws(
    () =>
      decodeAll(
        CLIENT_FRAME_LIMITS,
        new Bytes()
          .u32(0) //                   seq
          .u32(9) //                   position
          .u16(1) //                   count
          .str8('Ana') //              first name
          .str8('Paz') //              last name
          .str8('123') //              document
          .raw('31 39 39 30 2d 30 31 2d 30 ff') // birthdate with a 0xff byte
          .u16(1) //                   number
          .frame(0x03),
      ),
    { code: ErrorCode.InvalidUtf8 },
    'birthdate',
  );
  t.throws(
    () =>
      decodeAll(
        SERVER_FRAME_LIMITS,
        new Bytes()
          .u16(25) //        code
          .u16(2) //         message length
          .raw('c3 28') //   invalid two-byte sequence
          .frame(0x86),
      ),
    { code: ErrorCode.InvalidUtf8 },
    'error message',
  );
  t.throws(
    () =>
      decodeAll(
        SERVER_FRAME_LIMITS,
        new Bytes()
          .u8(1) //          flags
          .u32(1) //         count
          .u8(1) //          document length
          .raw('fe') //      not UTF-8
          .frame(0x85),
      ),
    { code: ErrorCode.InvalidUtf8 },
    'winner document',
  );
});

t.test('field value out of range', async (t) => {
  const hello = (agency: number, flags: number) =>
    new Bytes()
      .u16(1) //          version
      .u16(agency) //     agency
      .u8(flags) //       flags
      .fill(16) //        nonce
      .frame(0x01);
  t.throws(() => decodeAll(CLIENT_FRAME_LIMITS, hello(0, 0)), { code: ErrorCode.OutOfRange }, 'Hello agency 0');
  for (const flags of [0b10, 0b100, 0x80, 0xff]) {
    t.throws(() => decodeAll(CLIENT_FRAME_LIMITS, hello(1, flags)), { code: ErrorCode.OutOfRange }, `Hello flags 0x${flags.toString(16)}`);
  }
  t.same(decodeAll(CLIENT_FRAME_LIMITS, hello(1, 1)).length, 1, 'Hello flags 0x01 is fine');

  t.throws(
    () =>
      decodeAll(
        CLIENT_FRAME_LIMITS,
        new Bytes()
          .u32(0) //     seq
          .u32(9) //     position
          .u16(0) //     count: 0
          .frame(0x03),
      ),
    { code: ErrorCode.OutOfRange },
    'BetBatch with 0 bets',
  );

  for (const flags of [0b100, 0xff]) {
    t.throws(
      () =>
        decodeAll(
          SERVER_FRAME_LIMITS,
          new Bytes()
            .u32(0) //       stored
            .u32(0) //       settled
            .u8(flags) //    flags
            .frame(0x82),
        ),
      { code: ErrorCode.OutOfRange },
      `Welcome flags 0x${flags.toString(16)}`,
    );
  }

  t.throws(
    () =>
      decodeAll(
        SERVER_FRAME_LIMITS,
        new Bytes()
          .u8(0b10) //   flags: unknown bit
          .u32(0) //     count
          .frame(0x85),
      ),
    { code: ErrorCode.OutOfRange },
    'Winners flags 0x02',
  );
  t.throws(
    () =>
      decodeAll(
        SERVER_FRAME_LIMITS,
        new Bytes()
          .u8(1) //              flags
          .u32(0xffffffff) //    count: more documents than bytes left
          .str8('1') //          one document
          .frame(0x85),
      ),
    { code: ErrorCode.OutOfRange },
    'Winners count larger than the body could hold',
  );
  t.throws(
    () =>
      decodeAll(
        SERVER_FRAME_LIMITS,
        new Bytes()
          .u32(0) //         seq
          .u16(23) //        code
          .u16(0) //         bet index
          .u16(1025) //      reason length over MAX_TEXT_BYTES
          .frame(0x84),
      ),
    { code: ErrorCode.OutOfRange },
    'BatchRejected reason length 1025',
  );
  t.throws(
    () =>
      decodeAll(
        SERVER_FRAME_LIMITS,
        new Bytes()
          .u16(25) //        code
          .u16(0xffff) //    message length over MAX_TEXT_BYTES
          .frame(0x86),
      ),
    { code: ErrorCode.OutOfRange },
    'Error message length 65535',
  );
});

t.test('trailing bytes after the last field', async (t) => {
  t.throws(
    () =>
      decodeAll(
        CLIENT_FRAME_LIMITS,
        new Bytes()
          .u32(0) //                 seq
          .u32(9) //                 position
          .u16(1) //                 count: 1
          .str8('Ana') //            first name
          .str8('Paz') //            last name
          .str8('123') //            document
          .utf8('1990-01-01') //     birthdate
          .u16(1) //                 number
          .u8(0) //                  one byte too many
          .frame(0x03),
      ),
    { code: ErrorCode.TrailingBytes },
    'BetBatch',
  );
  t.throws(
    () =>
      decodeAll(
        SERVER_FRAME_LIMITS,
        new Bytes()
          .u8(1) //          flags
          .u32(1) //         count: 1
          .str8('1234') //   document
          .str8('5678') //   a document beyond the count
          .frame(0x85),
      ),
    { code: ErrorCode.TrailingBytes },
    'Winners',
  );
  t.throws(
    () =>
      decodeAll(
        SERVER_FRAME_LIMITS,
        new Bytes()
          .u32(0) //         seq
          .u16(23) //        code
          .u16(0) //         bet index
          .str16('x') //     reason
          .u8(0) //          extra
          .frame(0x84),
      ),
    { code: ErrorCode.TrailingBytes },
    'BatchRejected',
  );
  t.throws(
    () =>
      decodeAll(
        SERVER_FRAME_LIMITS,
        new Bytes()
          .u16(25) //        code
          .str16('x') //     message
          .u8(0) //          extra
          .frame(0x86),
      ),
    { code: ErrorCode.TrailingBytes },
    'Error',
  );
});
