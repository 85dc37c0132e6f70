// A pre-started worker's rehearsal runs the handshake's codecs for real: a
// Hello decoded whole, a Welcome encoded, a log line formatted.
import t from 'tap';
import { rehearseHandshake } from '../../server/warm-up.js';

t.test('the rehearsal decodes one whole Hello and encodes a Welcome and a log line', (t) => {
  const { frames, bytes } = rehearseHandshake();
  t.equal(frames, 1, 'one Hello frame decoded');
  // Hello: 5-byte header + version, agency, flags, 16-byte nonce; Welcome: header + 9; the line is about 100 characters.
  t.ok(bytes > 5 + 5 + 16 + 5 + 9 + 80, `bytes handled: ${bytes}`);
  t.end();
});
