/**
 * BatchAck (0x83, server → client), 8 bytes:
 *
 *   u32  seq       the acknowledged batch
 *   u32  stored    the agency's stored bets after this batch
 *
 * BatchRejected (0x84, server → client), 10 + text bytes:
 *
 *   u32    seq       the refused batch; none of its bets was stored
 *   u16    code      ErrorCode (InvalidBet, DrawClosed, StorageFailure...)
 *   u16    betIndex  offending bet within the batch, 0xFFFF when not about one bet
 *   str16  reason    UTF-8, at most MAX_TEXT_BYTES
 */
import { MAX_TEXT_BYTES, MessageType } from '../constants.js';
import type { ErrorCode } from '../errors.js';
import { checkRange, type BodyReader } from '../reader.js';
import { FrameWriter, truncateUtf8 } from '../writer.js';

export const NO_BET_INDEX = 0xffff;

export interface BatchAck {
  readonly type: typeof MessageType.BatchAck;
  readonly seq: number;
  readonly stored: number;
}

export interface BatchRejected {
  readonly type: typeof MessageType.BatchRejected;
  readonly seq: number;
  readonly code: ErrorCode;
  readonly betIndex: number;
  readonly reason: string;
}

export function encodeBatchAck(m: BatchAck): Buffer {
  return new FrameWriter(MessageType.BatchAck, 8).u32(m.seq).u32(m.stored).finish();
}

export function decodeBatchAck(r: BodyReader): BatchAck {
  const seq = r.u32('ack seq');
  const stored = r.u32('stored');
  r.done('batch ack');
  return { type: MessageType.BatchAck, seq, stored };
}

export function encodeBatchRejected(m: BatchRejected): Buffer {
  const reason = truncateUtf8(m.reason, MAX_TEXT_BYTES);
  return new FrameWriter(MessageType.BatchRejected, 4 + 2 + 2 + 2 + Buffer.byteLength(reason))
    .u32(m.seq)
    .u16(m.code)
    .u16(m.betIndex)
    .str16(reason)
    .finish();
}

export function decodeBatchRejected(r: BodyReader): BatchRejected {
  const seq = r.u32('rejected seq');
  const code = r.u16('error code') as ErrorCode;
  const betIndex = r.u16('bet index');
  const reason = r.utf8(checkRange(r.u16('reason length'), 0, MAX_TEXT_BYTES, 'reason length'), 'reason');
  r.done('batch rejected');
  return { type: MessageType.BatchRejected, seq, code, betIndex, reason };
}
