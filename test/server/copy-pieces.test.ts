// The database store's COPY data is the sessions' lines joined into large
// pieces: same bytes, same order, nothing lost at the edges.
import t from 'tap';
import { coalesce } from '../../server/storage/postgres/committer.js';

const bytes = (...values: number[]) => Uint8Array.from(values);
/** The pieces of `coalesce`, as plain arrays to compare. */
const pieces = (chunks: Uint8Array[], size: number) => [...coalesce(chunks, size)].map((piece) => [...piece]);

t.test('joins chunks in order into pieces of at least the size, the last one smaller', async (t) => {
  const chunks = [bytes(1, 2), bytes(3), bytes(4, 5, 6), bytes(7), bytes(8, 9)];
  t.same(pieces(chunks, 3), [
    [1, 2, 3],
    [4, 5, 6],
    [7, 8, 9],
  ]);
  t.same(pieces(chunks, 4), [
    [1, 2, 3, 4, 5, 6],
    [7, 8, 9],
  ]);
});

t.test('a chunk larger than the size is a piece of its own; one chunk, one piece', async (t) => {
  t.same(pieces([bytes(1), bytes(2, 3, 4, 5, 6), bytes(7)], 2), [[1, 2, 3, 4, 5, 6], [7]]);
  t.same(pieces([bytes(9, 8)], 1024), [[9, 8]]);
  t.same(pieces([], 1024), [], 'nothing to copy, no piece');
  t.same(pieces([bytes(1, 2), bytes()], 2), [[1, 2]], 'no empty piece after the last full one');
});

t.test('random chunks: the concatenation is unchanged and every piece but the last reaches the size', async (t) => {
  for (let round = 0; round < 200; round++) {
    const chunks = Array.from({ length: Math.floor(Math.random() * 30) }, () =>
      Uint8Array.from({ length: Math.floor(Math.random() * 50) }, () => Math.floor(Math.random() * 256)),
    );
    const size = 1 + Math.floor(Math.random() * 200);
    const joined = [...coalesce(chunks, size)];
    t.same(Buffer.concat(joined), Buffer.concat(chunks));
    for (const piece of joined.slice(0, -1)) if (piece.length < size) t.fail(`a piece of ${piece.length} bytes below ${size}`);
    for (const piece of joined) if (piece.length === 0) t.fail('an empty piece');
  }
});
