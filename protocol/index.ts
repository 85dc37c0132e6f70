/**
 * The lottery protocol: pure codecs, no I/O. `encodeMessage` turns a typed
 * message into exactly one frame; `decodeMessage` turns a frame from
 * FrameDecoder into a typed message or throws ProtocolError.
 */
import { MessageType } from './constants.js';
import { ErrorCode, ProtocolError } from './errors.js';
import type { Frame } from './frame.js';
import { decodeChallenge, decodeProof, encodeChallenge, encodeProof, type Challenge, type Proof } from './messages/auth.js';
import {
  decodeBatchAck,
  decodeBatchRejected,
  encodeBatchAck,
  encodeBatchRejected,
  type BatchAck,
  type BatchRejected,
} from './messages/batch-result.js';
import { decodeBetBatch, encodeBetBatch, type BetBatch } from './messages/bet-batch.js';
import { decodeDone, decodeWinnersRequest, encodeDone, encodeWinnersRequest, type Done, type WinnersRequest } from './messages/done.js';
import { decodeEcho, encodeEcho, type Echo } from './messages/echo.js';
import { decodeErrorReply, encodeErrorReply, type ErrorReply } from './messages/error-reply.js';
import { decodeHello, encodeHello, type Hello } from './messages/hello.js';
import { decodeWelcome, encodeWelcome, type Welcome } from './messages/welcome.js';
import { decodeWinners, encodeWinners, type Winners } from './messages/winners.js';
import { BodyReader } from './reader.js';

export * from './ascii.js';
export * from './batch-encoder.js';
export * from './batch-scanner.js';
export * from './bet-rules.js';
export * from './constants.js';
export * from './errors.js';
export * from './frame.js';
export { BodyReader, checkRange } from './reader.js';
export { FrameWriter, truncateUtf8 } from './writer.js';
export * from './messages/auth.js';
export * from './messages/batch-result.js';
export * from './messages/bet.js';
export * from './messages/bet-batch.js';
export * from './messages/done.js';
export * from './messages/echo.js';
export * from './messages/error-reply.js';
export * from './messages/hello.js';
export * from './messages/welcome.js';
export * from './messages/winners.js';

/** What a client sends. */
export type ClientMessage = Hello | Proof | BetBatch | Done | WinnersRequest | Echo;
/** What a server sends. */
export type ServerMessage = Challenge | Welcome | BatchAck | BatchRejected | Winners | ErrorReply | Echo;
export type Message = ClientMessage | ServerMessage;

/** One frame for any message. */
export function encodeMessage(m: Message): Buffer {
  switch (m.type) {
    case MessageType.Hello:
      return encodeHello(m);
    case MessageType.Proof:
      return encodeProof(m);
    case MessageType.BetBatch:
      return encodeBetBatch(m);
    case MessageType.Done:
      return encodeDone(m);
    case MessageType.WinnersRequest:
      return encodeWinnersRequest();
    case MessageType.Echo:
      return encodeEcho(m);
    case MessageType.Challenge:
      return encodeChallenge(m);
    case MessageType.Welcome:
      return encodeWelcome(m);
    case MessageType.BatchAck:
      return encodeBatchAck(m);
    case MessageType.BatchRejected:
      return encodeBatchRejected(m);
    case MessageType.Winners:
      return encodeWinners(m);
    case MessageType.Error:
      return encodeErrorReply(m);
    default:
      return unreachable(m);
  }
}

/** Decodes one frame body. The frame's type must already have passed FrameDecoder's limits. */
export function decodeMessage(frame: Frame): Message {
  const r = new BodyReader(frame.body);
  switch (frame.type) {
    case MessageType.Hello:
      return decodeHello(r);
    case MessageType.Proof:
      return decodeProof(r);
    case MessageType.BetBatch:
      return decodeBetBatch(r);
    case MessageType.Done:
      return decodeDone(r);
    case MessageType.WinnersRequest:
      return decodeWinnersRequest(r);
    case MessageType.Echo:
      return decodeEcho(r);
    case MessageType.Challenge:
      return decodeChallenge(r);
    case MessageType.Welcome:
      return decodeWelcome(r);
    case MessageType.BatchAck:
      return decodeBatchAck(r);
    case MessageType.BatchRejected:
      return decodeBatchRejected(r);
    case MessageType.Winners:
      return decodeWinners(r);
    case MessageType.Error:
      return decodeErrorReply(r);
    default:
      throw new ProtocolError(ErrorCode.UnknownType, `unknown message type 0x${frame.type.toString(16).padStart(2, '0')}`);
  }
}

function unreachable(m: never): never {
  throw new Error(`unhandled message ${JSON.stringify(m)}`);
}
