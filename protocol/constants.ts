/**
 * Wire constants of the lottery protocol, version 3. The byte-level layout of
 * every message is documented in docs/protocol.md and in each codec's header.
 */

/**
 * 2: BetBatch carries its file position and Welcome the settled position (exact resume).
 * 3: a BatchAck answers its batch and every earlier one still unanswered (one ack per durable group).
 */
export const PROTOCOL_VERSION = 3;

/** Every frame starts with `u8 type` and `u32be bodyLength`. */
export const HEADER_SIZE = 5;

/** Hard limit for a whole bet-batch frame, header included (8 kB). */
export const MAX_BATCH_FRAME = 8192;

/** Message type codes. Client-to-server codes are below 0x80, replies above. */
export const MessageType = {
  /** client → server: version, agency id, flags, client nonce */
  Hello: 0x01,
  /** client → server: HMAC proof answering a Challenge */
  Proof: 0x02,
  /** client → server: a sequence-numbered batch of bets */
  BetBatch: 0x03,
  /** client → server: no more bets; carries the agency's total */
  Done: 0x04,
  /** client → server: ask for this agency's winners */
  WinnersRequest: 0x05,
  /** both ways: health check, answered with the identical frame */
  Echo: 0x0e,
  /** server → client: nonce the client must sign with its secret */
  Challenge: 0x81,
  /** server → client: session accepted; where the agency's stored bets end */
  Welcome: 0x82,
  /** server → client: a batch is stored (durably, by default) */
  BatchAck: 0x83,
  /** server → client: a batch was refused whole; nothing of it was stored */
  BatchRejected: 0x84,
  /** server → client: one page of the agency's winning documents */
  Winners: 0x85,
  /** server → client: fatal error; the server closes the connection after it */
  Error: 0x86,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Field limits shared by the codecs and the bet rules. */
export const MAX_NAME_BYTES = 100;
export const MAX_DOCUMENT_DIGITS = 10;
export const BIRTHDATE_BYTES = 10;
export const MAX_BET_NUMBER = 9999;
/** Birthdates run from January 1st of this year to today. */
export const OLDEST_BIRTH_YEAR = 1900;
export const NONCE_BYTES = 16;
export const PROOF_BYTES = 32;
export const MAX_AGENCY_ID = 65535;
export const MAX_ECHO_BODY = 4096;
export const MAX_TEXT_BYTES = 1024;
/** Winners are paged so that an agency with many winners never needs a huge frame. */
export const MAX_WINNERS_BODY = 64 * 1024;

/** Bounds of each body, checked as soon as a frame header is complete. */
export interface BodyLimits {
  readonly min: number;
  readonly max: number;
}
export type FrameLimits = ReadonlyMap<number, BodyLimits>;

const fixed = (size: number): BodyLimits => ({ min: size, max: size });

/** What a server accepts from a client. */
export const CLIENT_FRAME_LIMITS: FrameLimits = new Map<number, BodyLimits>([
  [MessageType.Hello, fixed(2 + 2 + 1 + NONCE_BYTES)],
  [MessageType.Proof, fixed(PROOF_BYTES)],
  [MessageType.BetBatch, { min: 4 + 4 + 2, max: MAX_BATCH_FRAME - HEADER_SIZE }],
  [MessageType.Done, fixed(4)],
  [MessageType.WinnersRequest, fixed(0)],
  [MessageType.Echo, { min: 0, max: MAX_ECHO_BODY }],
]);

/** What a client accepts from a server. */
export const SERVER_FRAME_LIMITS: FrameLimits = new Map<number, BodyLimits>([
  [MessageType.Challenge, fixed(NONCE_BYTES)],
  [MessageType.Welcome, fixed(4 + 4 + 1)],
  [MessageType.BatchAck, fixed(4 + 4)],
  [MessageType.BatchRejected, { min: 4 + 2 + 2 + 2, max: 4 + 2 + 2 + 2 + MAX_TEXT_BYTES }],
  [MessageType.Winners, { min: 1 + 4, max: MAX_WINNERS_BODY }],
  [MessageType.Error, { min: 2 + 2, max: 2 + 2 + MAX_TEXT_BYTES }],
  [MessageType.Echo, { min: 0, max: MAX_ECHO_BODY }],
]);
