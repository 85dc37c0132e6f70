/**
 * Welcome (0x82, server → client), 5 bytes:
 *
 *   u32  stored   how many of this agency's bets the central holds; the agency
 *                 resumes right after them (exactly-once across reconnects)
 *   u8   flags    bit 0: the agency already said Done; bit 1: the draw is done
 */
import { MessageType } from '../constants.js';
import { checkRange, type BodyReader } from '../reader.js';
import { FrameWriter } from '../writer.js';

const FINISHED = 0b01;
const DRAW_DONE = 0b10;

export interface Welcome {
  readonly type: typeof MessageType.Welcome;
  readonly stored: number;
  readonly finished: boolean;
  readonly drawDone: boolean;
}

export function encodeWelcome(m: Welcome): Buffer {
  return new FrameWriter(MessageType.Welcome, 5)
    .u32(m.stored)
    .u8((m.finished ? FINISHED : 0) | (m.drawDone ? DRAW_DONE : 0))
    .finish();
}

export function decodeWelcome(r: BodyReader): Welcome {
  const stored = r.u32('stored');
  const flags = checkRange(r.u8('welcome flags'), 0, FINISHED | DRAW_DONE, 'welcome flags');
  r.done('welcome');
  return { type: MessageType.Welcome, stored, finished: (flags & FINISHED) !== 0, drawDone: (flags & DRAW_DONE) !== 0 };
}
