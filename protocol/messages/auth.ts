/**
 * Challenge–response, used only when the central has agency secrets.
 *
 * Challenge (0x81, server → client), 16 bytes:   16  server nonce
 * Proof     (0x02, client → server), 32 bytes:   32  HMAC-SHA256 (see common/auth.ts)
 */
import { MessageType, NONCE_BYTES, PROOF_BYTES } from '../constants.js';
import type { BodyReader } from '../reader.js';
import { FrameWriter } from '../writer.js';

export interface Challenge {
  readonly type: typeof MessageType.Challenge;
  readonly nonce: Buffer;
}

export interface Proof {
  readonly type: typeof MessageType.Proof;
  readonly mac: Buffer;
}

export function encodeChallenge(m: Challenge): Buffer {
  return new FrameWriter(MessageType.Challenge, NONCE_BYTES).bytes(m.nonce).finish();
}

export function decodeChallenge(r: BodyReader): Challenge {
  const nonce = r.bytes(NONCE_BYTES, 'challenge nonce');
  r.done('challenge');
  return { type: MessageType.Challenge, nonce };
}

export function encodeProof(m: Proof): Buffer {
  return new FrameWriter(MessageType.Proof, PROOF_BYTES).bytes(m.mac).finish();
}

export function decodeProof(r: BodyReader): Proof {
  const mac = r.bytes(PROOF_BYTES, 'proof');
  r.done('proof');
  return { type: MessageType.Proof, mac };
}
