/**
 * Welcome (0x82, server → client), 9 bytes:
 *
 *   u32  stored    how many of this agency's bets the central holds durably
 *   u32  settled   the position (see BetBatch) of the last batch the central
 *                  settled durably, stored or refused: the agency resumes with
 *                  the record after it (exactly once across reconnects)
 *   u8   flags     bit 0: the agency already said Done; bit 1: the draw is done
 */
import { MessageType } from '../constants.js';
import { checkRange, type BodyReader } from '../reader.js';
import { FrameWriter } from '../writer.js';

const FINISHED = 0b01;
const DRAW_DONE = 0b10;

export interface Welcome {
  readonly type: typeof MessageType.Welcome;
  readonly stored: number;
  readonly settled: number;
  readonly finished: boolean;
  readonly drawDone: boolean;
}

export function encodeWelcome(m: Welcome): Buffer {
  return new FrameWriter(MessageType.Welcome, 9)
    .u32(m.stored)
    .u32(m.settled)
    .u8((m.finished ? FINISHED : 0) | (m.drawDone ? DRAW_DONE : 0))
    .finish();
}

export function decodeWelcome(r: BodyReader): Welcome {
  const stored = r.u32('stored');
  const settled = r.u32('settled');
  const flags = checkRange(r.u8('welcome flags'), 0, FINISHED | DRAW_DONE, 'welcome flags');
  r.done('welcome');
  return { type: MessageType.Welcome, stored, settled, finished: (flags & FINISHED) !== 0, drawDone: (flags & DRAW_DONE) !== 0 };
}
