/**
 * Hello (0x01, client → server), 21 bytes:
 *
 *   u16  version      PROTOCOL_VERSION
 *   u16  agency       1..65535
 *   u8   flags        bit 0: single-bet session; other bits must be 0
 *   16   nonce        client nonce, random; signed into the Proof when secrets are on
 */
import { MAX_AGENCY_ID, MessageType, NONCE_BYTES } from '../constants.js';
import { checkRange, type BodyReader } from '../reader.js';
import { FrameWriter } from '../writer.js';

export const HelloFlags = { SingleBet: 0b1 } as const;
const KNOWN_FLAGS = HelloFlags.SingleBet;

export interface Hello {
  readonly type: typeof MessageType.Hello;
  readonly version: number;
  readonly agency: number;
  readonly singleBet: boolean;
  readonly nonce: Buffer;
}

export function encodeHello(m: Hello): Buffer {
  return new FrameWriter(MessageType.Hello, 2 + 2 + 1 + NONCE_BYTES)
    .u16(m.version)
    .u16(m.agency)
    .u8(m.singleBet ? HelloFlags.SingleBet : 0)
    .bytes(m.nonce)
    .finish();
}

export function decodeHello(r: BodyReader): Hello {
  // The version is not range-checked here: the session answers a clear UnsupportedVersion.
  const version = r.u16('version');
  const agency = checkRange(r.u16('agency'), 1, MAX_AGENCY_ID, 'agency');
  const flags = checkRange(r.u8('flags'), 0, KNOWN_FLAGS, 'hello flags');
  const nonce = r.bytes(NONCE_BYTES, 'nonce');
  r.done('hello');
  return { type: MessageType.Hello, version, agency, singleBet: (flags & HelloFlags.SingleBet) !== 0, nonce };
}
