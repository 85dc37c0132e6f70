// Property tests with fast-check:
//   1. arbitrary valid messages survive encode → decode, alone and as a stream
//      cut into random chunks;
//   2. random or mutated bytes, fed in random chunks, either decode or throw a
//      ProtocolError with a malformed-input code — never another exception.
// Run counts are bounded so the file finishes in a few seconds. Each run is a
// synchronous, finite loop over a bounded input, so a hang would show up as a
// tap timeout; the decoder has no way to wait for input it does not have.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import {
  CLIENT_FRAME_LIMITS,
  ErrorCode,
  FrameDecoder,
  MAX_BATCH_BETS_BYTES,
  MAX_TEXT_BYTES,
  MessageType,
  ProtocolError,
  SERVER_FRAME_LIMITS,
  betSize,
  decodeMessage,
  encodeMessage,
  truncateUtf8,
  validateBet,
  type Bet,
  type ClientMessage,
  type FrameLimits,
  type Message,
  type ServerMessage,
} from '../../protocol/index.js';

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length }).map((a) => Buffer.from(a));
const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

// Names: any code points (accents, CJK, emoji), no control characters, not blank, at most 100 bytes.
const name = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 40 })
  .filter((s) => s.trim() !== '' && !/[\u0000-\u001f\u007f]/.test(s) && Buffer.byteLength(s) <= 100);
const birthdate = fc
  .date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date(), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));
const bet: fc.Arbitrary<Bet> = fc.record({
  firstName: name,
  lastName: name,
  document: digits(1, 10),
  birthdate,
  number: fc.integer({ min: 0, max: 9999 }),
});
const bets = fc
  .array(bet, { minLength: 1, maxLength: 30 })
  .filter((list) => list.reduce((sum, b) => sum + betSize(b), 0) <= MAX_BATCH_BETS_BYTES);
const text = fc.string({ unit: 'binary', maxLength: 400 });
const errorCode = fc.constantFrom(...Object.values(ErrorCode));
const echo = fc.uint8Array({ maxLength: 300 }).map((a) => ({ type: MessageType.Echo, payload: Buffer.from(a) }) as const);

const clientMessage: fc.Arbitrary<ClientMessage> = fc.oneof(
  fc.record({
    type: fc.constant(MessageType.Hello),
    version: u16,
    agency: fc.integer({ min: 1, max: 0xffff }),
    singleBet: fc.boolean(),
    nonce: bytes(16),
  }),
  fc.record({ type: fc.constant(MessageType.Proof), mac: bytes(32) }),
  fc.record({ type: fc.constant(MessageType.BetBatch), seq: u32, position: u32, bets }),
  fc.record({ type: fc.constant(MessageType.Done), total: u32 }),
  fc.constant({ type: MessageType.WinnersRequest } as const),
  echo,
);

const serverMessage: fc.Arbitrary<ServerMessage> = fc.oneof(
  fc.record({ type: fc.constant(MessageType.Challenge), nonce: bytes(16) }),
  fc.record({ type: fc.constant(MessageType.Welcome), stored: u32, settled: u32, finished: fc.boolean(), drawDone: fc.boolean() }),
  fc.record({ type: fc.constant(MessageType.BatchAck), seq: u32, stored: u32 }),
  fc.record({ type: fc.constant(MessageType.BatchRejected), seq: u32, code: errorCode, betIndex: u16, reason: text }),
  fc.record({ type: fc.constant(MessageType.Winners), last: fc.boolean(), documents: fc.array(digits(1, 10), { maxLength: 60 }) }),
  fc.record({ type: fc.constant(MessageType.Error), code: errorCode, message: text }),
  echo,
);

/**
 * What a message looks like after the trip: over-long text is cut, and objects
 * are plain ones (fc.record builds null-prototype objects, which strict
 * deepEqual tells apart).
 */
function expected(m: Message): Message {
  if (m.type === MessageType.BatchRejected) return { ...m, reason: truncateUtf8(m.reason, MAX_TEXT_BYTES) };
  if (m.type === MessageType.Error) return { ...m, message: truncateUtf8(m.message, MAX_TEXT_BYTES) };
  if (m.type === MessageType.BetBatch) return { ...m, bets: m.bets.map((b) => ({ ...b })) };
  return { ...m };
}

/** Cuts a buffer at the given offsets (taken modulo its length, sorted). */
function cut(buffer: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => (buffer.length ? o % (buffer.length + 1) : 0)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(buffer.subarray(from, p));
    from = p;
  }
  chunks.push(buffer.subarray(from));
  return chunks;
}

function decodeChunks(limits: FrameLimits, chunks: readonly Buffer[]): Message[] {
  const decoder = new FrameDecoder(limits);
  const out = chunks.flatMap((c) => decoder.push(c)).map(decodeMessage);
  decoder.end();
  return out;
}

const offsets = fc.array(fc.nat(), { maxLength: 12 });
const sides = [
  ['client → server', CLIENT_FRAME_LIMITS, clientMessage],
  ['server → client', SERVER_FRAME_LIMITS, serverMessage],
] as const;

t.test('generated bets are valid bets', async (t) => {
  fc.assert(
    fc.property(bet, (b) => validateBet(b) === null),
    { numRuns: 300 },
  );
  t.pass('300 bets');
});

for (const [side, limits, message] of sides) {
  t.test(`${side}: a message survives encode → decode`, async (t) => {
    fc.assert(
      fc.property(message as fc.Arbitrary<Message>, (m) => {
        assert.deepStrictEqual(decodeChunks(limits, [encodeMessage(m)]), [expected(m)]);
      }),
      { numRuns: 300 },
    );
    t.pass('300 runs');
  });

  t.test(`${side}: a stream of messages cut into random chunks`, async (t) => {
    fc.assert(
      fc.property(fc.array(message as fc.Arbitrary<Message>, { minLength: 1, maxLength: 8 }), offsets, (list, cuts) => {
        const stream = Buffer.concat(list.map(encodeMessage));
        assert.deepStrictEqual(decodeChunks(limits, cut(stream, cuts)), list.map(expected));
      }),
      { numRuns: 200 },
    );
    t.pass('200 runs');
  });
}

/** The malformed-input codes, the only ones the decoders may throw. */
const MALFORMED = new Set<number>([
  ErrorCode.UnknownType,
  ErrorCode.FrameTooLarge,
  ErrorCode.Truncated,
  ErrorCode.InvalidUtf8,
  ErrorCode.OutOfRange,
  ErrorCode.TrailingBytes,
]);

/**
 * Feeds chunks and decodes every frame. True when that ends in frames or in a
 * ProtocolError with a malformed-input code; any other exception escapes.
 */
function survives(limits: FrameLimits, chunks: readonly Buffer[]): boolean {
  const decoder = new FrameDecoder(limits);
  let stage: 'push' | 'decode' | 'end' = 'push';
  try {
    for (const chunk of chunks) {
      stage = 'push';
      const frames = decoder.push(chunk);
      stage = 'decode';
      for (const frame of frames) decodeMessage(frame);
    }
    stage = 'end';
    decoder.end();
    return true;
  } catch (error) {
    if (!(error instanceof ProtocolError) || !MALFORMED.has(error.code)) throw error;
    if (stage !== 'push') return true;
    // A framer that failed stays failed: it throws the same error whatever comes next.
    try {
      decoder.push(Buffer.from([0x0e, 0, 0, 0, 0]));
    } catch (again) {
      return again === error;
    }
    return false;
  }
}

for (const [side, limits, message] of sides) {
  const knownTypes = [...limits.keys()];

  t.test(`${side}: random bytes in random chunks`, async (t) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), offsets, (raw, cuts) => survives(limits, cut(Buffer.from(raw), cuts))),
      { numRuns: 2000 },
    );
    t.pass('2000 runs');
  });

  t.test(`${side}: random bodies behind a known type and a plausible length`, async (t) => {
    const frame = fc
      .record({ type: fc.constantFrom(...knownTypes), body: fc.uint8Array({ maxLength: 120 }), lie: fc.integer({ min: -3, max: 3 }) })
      .map(({ type, body, lie }) => {
        const header = Buffer.alloc(5);
        header.writeUInt8(type, 0);
        header.writeUInt32BE(Math.max(0, body.length + lie), 1);
        return Buffer.concat([header, body]);
      });
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 4 }), offsets, (frames, cuts) =>
        survives(limits, cut(Buffer.concat(frames), cuts)),
      ),
      { numRuns: 2000 },
    );
    t.pass('2000 runs');
  });

  t.test(`${side}: valid streams with bytes flipped, dropped or cut`, async (t) => {
    const mutation = fc.record({
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
      kind: fc.constantFrom('flip', 'drop', 'insert', 'truncate'),
    });
    fc.assert(
      fc.property(
        fc.array(message as fc.Arbitrary<Message>, { minLength: 1, maxLength: 4 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        offsets,
        (list, mutations, cuts) => {
          let stream = Buffer.from(Buffer.concat(list.map(encodeMessage)));
          for (const { at, value, kind } of mutations) {
            const i = at % Math.max(1, stream.length);
            if (kind === 'flip') stream[i] = value;
            else if (kind === 'drop') stream = Buffer.concat([stream.subarray(0, i), stream.subarray(i + 1)]);
            else if (kind === 'insert') stream = Buffer.concat([stream.subarray(0, i), Buffer.from([value]), stream.subarray(i)]);
            else stream = stream.subarray(0, i);
          }
          return survives(limits, cut(stream, cuts));
        },
      ),
      { numRuns: 1000 },
    );
    t.pass('1000 runs');
  });
}
