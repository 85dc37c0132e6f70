/**
 * BetBatch (0x03, client → server), at most MAX_BATCH_FRAME bytes with header:
 *
 *   u32  seq       batch sequence number: 0 for the first batch of a session, +1 each
 *   u32  position  records of the agency's file read up to and including this
 *                  batch's last bet; the central keeps, durably, the position of
 *                  the last batch it settled (stored or refused), so a resuming
 *                  agency skips exactly the records behind it
 *   u16  count     1..65535 bets follow
 *   Bet  × count   see bet.ts
 *
 * The fixed part's offsets are exported for the two fast paths that write
 * and read batches on the bytes (the agency's BatchEncoder, the central's
 * scanBetBatch).
 */
import { HEADER_SIZE, MAX_BATCH_FRAME, MessageType } from '../constants.js';
import { checkRange, type BodyReader } from '../reader.js';
import { FrameWriter } from '../writer.js';
import { betSize, readBet, writeBet, type Bet } from './bet.js';

export interface BetBatch {
  readonly type: typeof MessageType.BetBatch;
  readonly seq: number;
  readonly position: number;
  readonly bets: readonly Bet[];
}

/** Offsets within a BetBatch body. */
export const BATCH_SEQ_OFFSET = 0;
export const BATCH_POSITION_OFFSET = 4;
export const BATCH_COUNT_OFFSET = 8;
/** Where the first bet starts. */
export const BATCH_BETS_OFFSET = 10;

/** Bytes of a BetBatch frame, header included, before any bet. */
export const BATCH_OVERHEAD = HEADER_SIZE + BATCH_BETS_OFFSET;

/** Largest bets payload a batch frame can carry. */
export const MAX_BATCH_BETS_BYTES = MAX_BATCH_FRAME - BATCH_OVERHEAD;

export function encodeBetBatch(m: BetBatch): Buffer {
  let size = BATCH_BETS_OFFSET;
  for (const bet of m.bets) size += betSize(bet);
  const w = new FrameWriter(MessageType.BetBatch, size).u32(m.seq).u32(m.position).u16(m.bets.length);
  for (const bet of m.bets) writeBet(w, bet);
  return w.finish();
}

export function decodeBetBatch(r: BodyReader): BetBatch {
  const seq = r.u32('batch seq');
  const position = r.u32('batch position');
  const count = checkRange(r.u16('bet count'), 1, 0xffff, 'bet count');
  const bets = new Array<Bet>(count);
  for (let i = 0; i < count; i++) bets[i] = readBet(r);
  r.done('bet batch');
  return { type: MessageType.BetBatch, seq, position, bets };
}
