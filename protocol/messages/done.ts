/**
 * Done (0x04, client → server), 4 bytes:
 *
 *   u32  total   bets of this agency the central acknowledged, over all sessions
 *
 * WinnersRequest (0x05, client → server): empty body.
 */
import { MessageType } from '../constants.js';
import type { BodyReader } from '../reader.js';
import { FrameWriter } from '../writer.js';

export interface Done {
  readonly type: typeof MessageType.Done;
  readonly total: number;
}

export interface WinnersRequest {
  readonly type: typeof MessageType.WinnersRequest;
}

export function encodeDone(m: Done): Buffer {
  return new FrameWriter(MessageType.Done, 4).u32(m.total).finish();
}

export function decodeDone(r: BodyReader): Done {
  const total = r.u32('total');
  r.done('done');
  return { type: MessageType.Done, total };
}

export function encodeWinnersRequest(): Buffer {
  return new FrameWriter(MessageType.WinnersRequest, 0).finish();
}

export function decodeWinnersRequest(r: BodyReader): WinnersRequest {
  r.done('winners request');
  return { type: MessageType.WinnersRequest };
}
