/**
 * Winners (0x85, server → client), one page of at most MAX_WINNERS_BODY bytes:
 *
 *   u8    flags        bit 0: last page
 *   u32   count        documents in this page
 *   str8  × count      winning documents (ASCII digits)
 *
 * An agency's answer is one or more pages; the last one has bit 0 set.
 */
import { MAX_WINNERS_BODY, MessageType } from '../constants.js';
import { checkRange, type BodyReader } from '../reader.js';
import { FrameWriter, str8Size } from '../writer.js';

const LAST_PAGE = 0b1;

export interface Winners {
  readonly type: typeof MessageType.Winners;
  readonly last: boolean;
  readonly documents: readonly string[];
}

export function encodeWinners(m: Winners): Buffer {
  let size = 1 + 4;
  for (const doc of m.documents) size += str8Size(doc);
  const w = new FrameWriter(MessageType.Winners, size).u8(m.last ? LAST_PAGE : 0).u32(m.documents.length);
  for (const doc of m.documents) w.str8(doc);
  return w.finish();
}

/** Splits a whole answer into pages that each fit a Winners frame. */
export function encodeWinnersPages(documents: readonly string[]): Buffer[] {
  const pages: Buffer[] = [];
  let page: string[] = [];
  let size = 1 + 4;
  for (const doc of documents) {
    if (size + str8Size(doc) > MAX_WINNERS_BODY) {
      pages.push(encodeWinners({ type: MessageType.Winners, last: false, documents: page }));
      page = [];
      size = 1 + 4;
    }
    page.push(doc);
    size += str8Size(doc);
  }
  pages.push(encodeWinners({ type: MessageType.Winners, last: true, documents: page }));
  return pages;
}

export function decodeWinners(r: BodyReader): Winners {
  const flags = checkRange(r.u8('winners flags'), 0, LAST_PAGE, 'winners flags');
  // Each document takes at least one byte, so a count beyond what is left is a lie.
  const count = checkRange(r.u32('winner count'), 0, r.remaining, 'winner count');
  const documents = new Array<string>(count);
  for (let i = 0; i < count; i++) documents[i] = r.str8('winner document');
  r.done('winners');
  return { type: MessageType.Winners, last: (flags & LAST_PAGE) !== 0, documents };
}
