/**
 * Exact resume through a raw protocol peer, whatever was refused before it.
 * An agency's file holds rows the agency itself skips (its positions jump
 * over them) and bets the central refuses (the peer sends them anyway; their
 * batch is refused whole). For every batch boundary the agency sends the
 * batches before it and hangs up — once after reading their answers, once
 * without reading any — then reconnects, resumes after the Welcome's settled
 * position, and finishes. bets.csv must hold exactly the bets of the batches
 * an uninterrupted run would store, each once, in order; the Welcome must
 * say exactly what is stored; and a restarted central must say the same.
 * Once on the file store, once on the database store.
 *
 * Before protocol 2 an agency resumed by skipping `stored` valid rows, which
 * assumed the stored bets were a prefix of its file: one refused batch early
 * on made a later resume send some rows twice and never send others.
 */
import t, { type Test } from 'tap';
import { MessageType } from '../../protocol/index.js';
import { Postgres, postgresUnavailable } from '../helpers/postgres.js';
import { readStoredBets, startServer, workDir, type ServerHandle } from '../helpers/processes.js';
import { frames, RawPeer, type RawBet } from '../helpers/raw-peer.js';

/** One row of the agency's file. */
type Row = { readonly kind: 'bet' | 'refused'; readonly bet: RawBet } | { readonly kind: 'skipped' };

const bet = (n: number): RawBet => ({
  first: 'Fila',
  last: `N${n}`,
  document: String(20_000_000 + n),
  birthdate: '1980-06-15',
  number: n % 10000,
});

/** 22 rows: valid bets, rows the agency skips (bad rows of its file), bets the central refuses. */
const ROWS: Row[] = Array.from({ length: 22 }, (_, i): Row => {
  if (i % 7 === 3) return { kind: 'skipped' };
  if (i === 2 || i === 9 || i === 16) return { kind: 'refused', bet: { ...bet(i), birthdate: '1850-01-01' } };
  return { kind: 'bet', bet: bet(i) };
});
const PER_BATCH = 3;

interface Batch {
  readonly bets: RawBet[];
  /** The record (1-based row) of its last bet. */
  readonly position: number;
  readonly refused: boolean;
}

/** The batches an agency sends from `settled` on: up to PER_BATCH bets each, skipping the rows it skips. */
function batchesFrom(settled: number): Batch[] {
  const batches: Batch[] = [];
  let open: { bets: RawBet[]; position: number; refused: boolean } | null = null;
  for (let i = settled; i < ROWS.length; i++) {
    const row = ROWS[i];
    if (row.kind === 'skipped') continue;
    open ??= { bets: [], position: 0, refused: false };
    open.bets.push(row.bet);
    open.position = i + 1;
    open.refused ||= row.kind === 'refused';
    if (open.bets.length === PER_BATCH) {
      batches.push(open);
      open = null;
    }
  }
  if (open) batches.push(open);
  return batches;
}

const ALL = batchesFrom(0);
const EXPECTED = ALL.filter((b) => !b.refused).flatMap((b) => b.bets);

const key = (agency: number, b: RawBet) => [agency, b.first, b.last, b.document, b.birthdate, b.number].join('\u001f');

async function hello(port: number, agency: number): Promise<{ peer: RawPeer; stored: number; settled: number }> {
  for (let attempt = 0; ; attempt++) {
    const peer = await RawPeer.connect(port);
    await peer.write(frames.hello(agency));
    const reply = await peer.next();
    if (reply.type === MessageType.Welcome) return { peer, stored: reply.stored, settled: reply.settled };
    peer.destroy();
    if (attempt > 100) throw new Error(`agency ${agency}: no Welcome: ${JSON.stringify(reply)}`);
    await new Promise((r) => setTimeout(r, 30)); // the last session not yet reaped (ERR_AGENCY_BUSY)
  }
}

/** Sends `batches` from seq 0; with `read`, reads their answers and checks each batch's. */
async function send(peer: RawPeer, batches: readonly Batch[], read: boolean): Promise<void> {
  await peer.write(Buffer.concat(batches.map((b, seq) => frames.betBatch(seq, b.bets, b.position))));
  if (!read) return;
  if (batches.length === 0) return;
  for (const [seq, reply] of (await peer.answersThrough(batches.length - 1)).entries()) {
    const wanted = batches[seq].refused ? MessageType.BatchRejected : MessageType.BatchAck;
    if (reply.type !== wanted) throw new Error(`batch ${seq}: expected 0x${wanted.toString(16)}, got ${JSON.stringify(reply)}`);
  }
}

async function checkWelcome(t: Test, server: ServerHandle, agency: number, what: string): Promise<void> {
  const { peer, stored, settled } = await hello(server.port, agency);
  peer.destroy();
  t.equal(stored, EXPECTED.length, `${what}: Welcome says every expected bet is stored`);
  t.equal(settled, ALL.at(-1)!.position, `${what}: and the file settled to its last batch`);
}

for (const backend of ['file', 'postgres'] as const) {
  const skip =
    backend === 'postgres' && postgresUnavailable() !== null && process.env['LOTTERY_REQUIRE_ALL'] !== '1'
      ? `PostgreSQL is not available here: ${postgresUnavailable()}`
      : false;
  t.test(`${backend} store: a reconnect at every batch boundary, with refused batches before it, resumes exactly`, { skip }, (t) =>
    exactResume(t, backend),
  );
}

async function exactResume(t: Test, backend: 'file' | 'postgres'): Promise<void> {
  t.ok(
    ALL.some((b) => b.refused) && ROWS.some((r) => r.kind === 'skipped'),
    `${ALL.length} batches, some refused, rows skipped in between`,
  );
  const dir = workDir(t, 'central');
  const pg = backend === 'postgres' ? await Postgres.start(t) : null;
  const env = pg ? { SERVER_DATABASE_URL: pg.url } : {};
  /** The agency's stored bets, in the order stored (the database keeps no order: sorted there). */
  const storedOf = (agency: number, betsFile: string): string[] => {
    if (!pg) return readStoredBets(betsFile).byAgency.get(agency) ?? [];
    const out = pg.psql(
      `SELECT agency, first_name, last_name, document, to_char(birthdate, 'YYYY-MM-DD'), number FROM bets WHERE agency = ${agency}`,
    );
    return out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('|').join('\u001f'))
      .sort();
  };
  // No draw (SERVER_AGENCIES=0: any agency, Done only closes its betting).
  let server = await startServer(t, { agencies: 0, dir, name: 'central-1', env });
  const agencies: number[] = [];
  for (let cut = 0; cut <= ALL.length; cut++) {
    for (const read of [true, false]) {
      const agency = 100 + cut * 2 + (read ? 0 : 1);
      agencies.push(agency);
      await t.test(`agency ${agency}: hang up after ${cut} batches (${read ? 'answers read' : 'answers unread'})`, async (t) => {
        const first = await hello(server.port, agency);
        t.same({ stored: first.stored, settled: first.settled }, { stored: 0, settled: 0 }, 'a new agency starts at 0');
        await send(first.peer, ALL.slice(0, cut), read);
        first.peer.destroy();

        const again = await hello(server.port, agency);
        const settledBatches = ALL.filter((b) => b.position <= again.settled);
        t.ok(
          again.settled === 0 || ALL.some((b) => b.position === again.settled),
          `Welcome's settled (${again.settled}) is a batch boundary`,
        );
        if (read) t.equal(again.settled, cut === 0 ? 0 : ALL[cut - 1].position, 'with every answer read, settled is the last batch sent');
        t.equal(
          again.stored,
          settledBatches.filter((b) => !b.refused).reduce((n, b) => n + b.bets.length, 0),
          'stored counts the accepted batches up to it',
        );
        const rest = batchesFrom(again.settled);
        await send(again.peer, rest, true);
        await again.peer.write(frames.done(EXPECTED.length));
        // Done is answered by silence; an Echo after it proves it was accepted.
        await again.peer.write(frames.echo('done?'));
        const echoed = await again.peer.next();
        t.equal(echoed.type, MessageType.Echo, 'Done with the uninterrupted total is accepted');
        again.peer.destroy();
        const expected = EXPECTED.map((b) => key(agency, b));
        t.same(
          storedOf(agency, server.betsFile),
          pg ? expected.sort() : expected,
          'the store holds the expected bets, once each (in order, in bets.csv)',
        );
      });
    }
  }
  t.equal(await server.stop(), 0, 'the central stops');
  server = await startServer(t, { agencies: 0, dir, name: 'central-2', env });
  for (const agency of agencies) await checkWelcome(t, server, agency, `after a restart, agency ${agency}`);
  t.equal(await server.stop(), 0, 'the restarted central stops');
}
