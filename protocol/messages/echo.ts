/**
 * Echo (0x0E, both ways), 0..MAX_ECHO_BODY bytes of payload. The central
 * answers with a byte-identical frame, so a plain TCP echo server and ours
 * look the same to validate-echo-server.sh.
 */
import { MessageType } from '../constants.js';
import type { BodyReader } from '../reader.js';
import { FrameWriter } from '../writer.js';

export interface Echo {
  readonly type: typeof MessageType.Echo;
  readonly payload: Buffer;
}

export function encodeEcho(m: Echo): Buffer {
  return new FrameWriter(MessageType.Echo, m.payload.length).bytes(m.payload).finish();
}

export function decodeEcho(r: BodyReader): Echo {
  return { type: MessageType.Echo, payload: r.rest() };
}
