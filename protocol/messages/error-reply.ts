/**
 * Error (0x86, server → client), 4 + text bytes; the server closes the
 * connection after sending it:
 *
 *   u16    code      ErrorCode
 *   str16  message   UTF-8, at most MAX_TEXT_BYTES
 */
import { MAX_TEXT_BYTES, MessageType } from '../constants.js';
import type { ErrorCode } from '../errors.js';
import { checkRange, type BodyReader } from '../reader.js';
import { FrameWriter, truncateUtf8 } from '../writer.js';

export interface ErrorReply {
  readonly type: typeof MessageType.Error;
  readonly code: ErrorCode;
  readonly message: string;
}

export function encodeErrorReply(m: ErrorReply): Buffer {
  const message = truncateUtf8(m.message, MAX_TEXT_BYTES);
  return new FrameWriter(MessageType.Error, 2 + 2 + Buffer.byteLength(message)).u16(m.code).str16(message).finish();
}

export function decodeErrorReply(r: BodyReader): ErrorReply {
  const code = r.u16('error code') as ErrorCode;
  const message = r.utf8(checkRange(r.u16('message length'), 0, MAX_TEXT_BYTES, 'message length'), 'error message');
  r.done('error');
  return { type: MessageType.Error, code, message };
}
