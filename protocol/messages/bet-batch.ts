/**
 * BetBatch (0x03, client → server), at most MAX_BATCH_FRAME bytes with header:
 *
 *   u32  seq      batch sequence number: 0 for the first batch of a session, +1 each
 *   u16  count    1..65535 bets follow
 *   Bet  × count  see bet.ts
 */
import { HEADER_SIZE, MAX_BATCH_FRAME, MessageType } from '../constants.js';
import { checkRange, type BodyReader } from '../reader.js';
import { FrameWriter } from '../writer.js';
import { betSize, readBet, writeBet, type Bet } from './bet.js';

export interface BetBatch {
  readonly type: typeof MessageType.BetBatch;
  readonly seq: number;
  readonly bets: readonly Bet[];
}

/** Bytes of a BetBatch frame, header included, before any bet. */
export const BATCH_OVERHEAD = HEADER_SIZE + 4 + 2;

/** Largest bets payload a batch frame can carry. */
export const MAX_BATCH_BETS_BYTES = MAX_BATCH_FRAME - BATCH_OVERHEAD;

export function encodeBetBatch(m: BetBatch): Buffer {
  let size = 4 + 2;
  for (const bet of m.bets) size += betSize(bet);
  const w = new FrameWriter(MessageType.BetBatch, size).u32(m.seq).u16(m.bets.length);
  for (const bet of m.bets) writeBet(w, bet);
  return w.finish();
}

export function decodeBetBatch(r: BodyReader): BetBatch {
  const seq = r.u32('batch seq');
  const count = checkRange(r.u16('bet count'), 1, 0xffff, 'bet count');
  const bets: Bet[] = new Array(count);
  for (let i = 0; i < count; i++) bets[i] = readBet(r);
  r.done('bet batch');
  return { type: MessageType.BetBatch, seq, bets };
}
