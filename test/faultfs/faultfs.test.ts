/**
 * The fault-injecting filesystem itself (test/helpers/faultfs), checked
 * through the same node:fs calls the central makes, so that tests built on it
 * prove what they claim: unsynced data is lost by a power cut, synced data is
 * not, a failed fdatasync loses what it did not write (Linux's "fsyncgate"),
 * a full disk gives short writes then ENOSPC, a torn write leaves half its
 * bytes, and appends, renames and truncations behave as on a real disk.
 *
 * Each subtest mounts its own, empty filesystem.
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import t, { type Test } from 'tap';
import { FaultFs, faultFsUnavailable } from '../helpers/faultfs.js';

t.setTimeout(60_000);

/** The errno code of what `fn` throws, or null when it does not throw. */
function errorCode(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

/** Writes all of `data` (failing on a short write, which only a full disk gives). */
function writeAll(fd: number, data: string | Buffer): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  const n = writeSync(fd, buf);
  if (n !== buf.length) throw new Error(`short write: ${n} of ${buf.length}`);
}

function read(fs: FaultFs, name: string): string {
  return readFileSync(fs.path(name), 'latin1');
}

const reason = faultFsUnavailable();
if (reason !== null) {
  if (process.env['LOTTERY_REQUIRE_ALL'] === '1') t.fail(`faultfs is required (LOTTERY_REQUIRE_ALL=1) but unavailable: ${reason}`);
  else t.plan(0, `faultfs unavailable: ${reason}`);
} else {
  t.test('unsynced writes are visible, then lost by a power cut', async (t: Test) => {
    const fs = await FaultFs.mount(t);
    const fd = openSync(fs.path('a.txt'), 'w');
    writeAll(fd, 'hello, page cache');
    t.equal(read(fs, 'a.txt'), 'hello, page cache', 'another descriptor reads the unsynced data');
    t.equal(fstatSync(fd).size, 17);
    closeSync(fd);
    await fs.powerCut();
    t.ok(existsSync(fs.path('a.txt')), 'the file itself survives: creation is durable at once');
    t.equal(read(fs, 'a.txt'), '', 'its unsynced content is gone');
    t.equal(statSync(fs.path('a.txt')).size, 0, 'and so is its size');
  });

  t.test('synced data survives a power cut; the size after it is the durable size', async (t: Test) => {
    const fs = await FaultFs.mount(t);
    const fd = openSync(fs.path('b.txt'), 'w');
    writeAll(fd, 'durable');
    fdatasyncSync(fd);
    writeAll(fd, ' and lost');
    t.equal(read(fs, 'b.txt'), 'durable and lost');
    closeSync(fd);
    await fs.powerCut();
    t.equal(read(fs, 'b.txt'), 'durable');
    t.equal(statSync(fs.path('b.txt')).size, 7);

    const fd2 = openSync(fs.path('b.txt'), 'r+');
    writeSync(fd2, Buffer.from('DUR'), 0, 3, 0);
    fsyncSync(fd2);
    writeSync(fd2, Buffer.from('xx'), 0, 2, 5);
    closeSync(fd2);
    await fs.powerCut();
    t.equal(read(fs, 'b.txt'), 'DURable', 'an overwrite in place: synced part kept, unsynced part undone');
  });

  t.test('a failed fdatasync drops the dirty data, as Linux does (fsyncgate)', async (t: Test) => {
    const fs = await FaultFs.mount(t);
    const fd = openSync(fs.path('bets.csv'), 'a');
    writeAll(fd, 'synced-before\n');
    fdatasyncSync(fd);
    writeAll(fd, 'lost-by-eio\n');
    await fs.failSyncs(1);
    t.equal(
      errorCode(() => fdatasyncSync(fd)),
      'EIO',
      'fdatasync fails with EIO',
    );
    t.equal(read(fs, 'bets.csv'), 'synced-before\nlost-by-eio\n', 'the data is still readable (the page cache keeps it)');
    t.equal(
      errorCode(() => fdatasyncSync(fd)),
      null,
      'a second fdatasync succeeds…',
    );
    t.same((await fs.status()).files['/bets.csv'], { size: 26, durable: 26, dirty: false }, '…and reports nothing left to write');
    writeAll(fd, 'after\n');
    fdatasyncSync(fd);
    closeSync(fd);
    await fs.powerCut();
    const after = read(fs, 'bets.csv');
    t.notMatch(after, /lost-by-eio/, 'what the failed sync should have written is gone');
    t.equal(after, 'synced-before\n' + '\0'.repeat(12) + 'after\n', 'it reads as zeros (a hole); what came after and was synced survives');
    const status = await fs.status();
    t.equal(status.failedSyncs, 1);
    t.equal(status.syncs, 4);
  });

  t.test('fail-syncs with a suffix hits only matching files', async (t: Test) => {
    const fs = await FaultFs.mount(t);
    mkdirSync(fs.path('data'));
    const other = openSync(fs.path('data', 'bets.csv.batches'), 'w');
    const bets = openSync(fs.path('data', 'bets.csv'), 'w');
    writeAll(other, 'index');
    writeAll(bets, 'bets');
    await fs.failSyncs(1, 'bets.csv');
    t.equal(
      errorCode(() => fdatasyncSync(other)),
      null,
      'a file whose path does not end with the suffix syncs',
    );
    t.equal(
      errorCode(() => fsyncSync(bets)),
      'EIO',
      'the matching file fails (fsync as well as fdatasync)',
    );
    t.equal(
      errorCode(() => fsyncSync(bets)),
      null,
      'the count is used up',
    );
    closeSync(other);
    closeSync(bets);
    await fs.powerCut();
    t.equal(read(fs, 'data/bets.csv.batches'), 'index');
    t.equal(read(fs, 'data/bets.csv'), '\0\0\0\0', "the failed sync's data is lost");

    await fs.failSyncs(3, '/data/bets.csv');
    const again = openSync(fs.path('data', 'bets.csv'), 'r+');
    t.equal(
      errorCode(() => fdatasyncSync(again)),
      'EIO',
    );
    await fs.failSyncs(0);
    t.equal(
      errorCode(() => fdatasyncSync(again)),
      null,
      'fail-syncs 0 disarms',
    );
    closeSync(again);
  });

  t.test('capacity: a short write, then ENOSPC, then room again', async (t: Test) => {
    const fs = await FaultFs.mount(t);
    await fs.capacity(64 * 1024);
    const statfs = statfsSync(fs.root);
    t.equal(statfs.bsize, 4096, 'statfs reports a block size');
    t.equal(statfs.blocks, 16, 'and the capacity as its size');
    t.equal(statfs.bavail, 16);

    const fd = openSync(fs.path('full.csv'), 'w');
    writeAll(fd, Buffer.alloc(40_000, 'a'));
    t.equal(statfsSync(fs.root).bavail, Math.floor((65_536 - 40_000) / 4096), 'free space shrinks as files grow');
    t.equal(writeSync(fd, Buffer.alloc(40_000, 'b')), 65_536 - 40_000, 'a write larger than the free space is short');
    t.equal(
      errorCode(() => writeSync(fd, Buffer.from('c'))),
      'ENOSPC',
      'the next one fails with ENOSPC',
    );
    t.equal(
      errorCode(() => ftruncateSync(fd, 70_000)),
      'ENOSPC',
      'growing by truncate past capacity fails too',
    );
    t.equal(writeSync(fd, Buffer.from('OVER'), 0, 4, 0), 4, 'overwriting in place needs no room');
    t.equal(fstatSync(fd).size, 65_536);
    closeSync(fd);
    await fs.capacity(null);
    const fd2 = openSync(fs.path('full.csv'), 'a');
    writeAll(fd2, 'more');
    closeSync(fd2);
    t.equal(statSync(fs.path('full.csv')).size, 65_540, 'after capacity off writes succeed');
    const status = await fs.status();
    // libuv retries the rest of a short write itself (that try is an ENOSPC too)
    // and hands back the short count: hence at least, not exactly, 2.
    t.ok(status.enospc >= 2, `ENOSPC counted (${status.enospc})`);
    t.equal(status.shortWrites, 1);
    t.equal(status.capacity, null);
  });

  t.test('fail-writes: a torn write leaves half its bytes and fails with EIO', async (t: Test) => {
    const fs = await FaultFs.mount(t);
    const fd = openSync(fs.path('torn.csv'), 'a');
    writeAll(fd, 'whole\n');
    await fs.failWrites(1, 'torn.csv');
    const buf = Buffer.from('0123456789'.repeat(100));
    t.equal(
      errorCode(() => writeSync(fd, buf)),
      'EIO',
      'writeSync throws EIO',
    );
    t.equal(fstatSync(fd).size, 6 + 500, 'the file has grown by half the buffer');
    t.equal(read(fs, 'torn.csv'), 'whole\n' + buf.toString('latin1', 0, 500));
    writeAll(fd, 'next\n');
    t.equal(read(fs, 'torn.csv').slice(506), 'next\n', 'an append lands after the torn half, as on a real disk');
    const status = await fs.status();
    t.equal(status.failedWrites, 1);
    t.equal(status.failWrites.remaining, 0);
    closeSync(fd);
  });

  t.test('O_APPEND from two descriptors interleaves at the end', async (t: Test) => {
    const fs = await FaultFs.mount(t);
    const first = openSync(fs.path('log'), 'a');
    const second = openSync(fs.path('log'), 'a');
    const expected: string[] = [];
    for (let i = 0; i < 20; i++) {
      const fd = i % 2 === 0 ? first : second;
      const line = `${i % 2 === 0 ? 'first' : 'second'} ${i}${'.'.repeat(i * 37)}\n`;
      writeAll(fd, line);
      expected.push(line);
    }
    t.equal(read(fs, 'log'), expected.join(''), 'no write overwrote another');
    fdatasyncSync(second);
    await fs.powerCut();
    writeAll(first, 'after the cut\n');
    t.equal(read(fs, 'log'), expected.join('') + 'after the cut\n', 'an append right after a power cut goes to the durable end');
    closeSync(first);
    closeSync(second);
  });

  t.test('renames and truncations', async (t: Test) => {
    const fs = await FaultFs.mount(t);
    const old = openSync(fs.path('state.json'), 'w');
    writeAll(old, '{"v":1}');
    fsyncSync(old);
    closeSync(old);
    const tmp = openSync(fs.path('state.json.tmp'), 'w');
    writeAll(tmp, '{"v":2}');
    fsyncSync(tmp);
    closeSync(tmp);
    renameSync(fs.path('state.json.tmp'), fs.path('state.json'));
    const dir = openSync(fs.root, 'r');
    fsyncSync(dir);
    closeSync(dir);
    await fs.powerCut();
    t.equal(read(fs, 'state.json'), '{"v":2}', 'a synced temp file renamed over survives');
    t.same(readdirSync(fs.root), ['state.json'], 'and the temp name is gone');

    const unsynced = openSync(fs.path('state.json.tmp'), 'w');
    writeAll(unsynced, '{"v":3}');
    closeSync(unsynced);
    renameSync(fs.path('state.json.tmp'), fs.path('state.json'));
    await fs.powerCut();
    t.equal(read(fs, 'state.json'), '', 'renaming an unsynced file: the name survives, the content does not');

    const fd = openSync(fs.path('t.csv'), 'w');
    writeAll(fd, 'abcdefgh');
    fdatasyncSync(fd);
    ftruncateSync(fd, 3);
    fsyncSync(fd);
    t.equal(read(fs, 't.csv'), 'abc');
    ftruncateSync(fd, 1);
    t.equal(read(fs, 't.csv'), 'a', 'truncation is visible at once');
    closeSync(fd);
    await fs.powerCut();
    t.equal(read(fs, 't.csv'), 'abc', 'ftruncate then fsync survives; ftruncate without fsync is undone');

    const grow = openSync(fs.path('t.csv'), 'r+');
    ftruncateSync(grow, 10);
    t.equal(read(fs, 't.csv'), 'abc' + '\0'.repeat(7));
    closeSync(grow);
    await fs.powerCut();
    t.equal(statSync(fs.path('t.csv')).size, 3, 'an unsynced growth is undone too');

    mkdirSync(fs.path('d'));
    const inDir = openSync(fs.path('d', 'x'), 'w');
    closeSync(inDir);
    unlinkSync(fs.path('t.csv'));
    await fs.powerCut();
    t.same(readdirSync(fs.root).sort(), ['d', 'state.json'], 'mkdir and unlink are durable at once');
    t.same(readdirSync(fs.path('d')), ['x']);
  });

  t.test('status reports sizes and counters', async (t: Test) => {
    const fs = await FaultFs.mount(t);
    const fd = openSync(fs.path('s.csv'), 'w');
    writeAll(fd, '0123456789');
    fdatasyncSync(fd);
    writeAll(fd, 'abcde');
    closeSync(fd);
    let status = await fs.status();
    t.same(status.files, { '/s.csv': { size: 15, durable: 10, dirty: true } });
    t.equal(status.writes, 2);
    t.equal(status.bytesWritten, 15);
    t.equal(status.syncs, 1);
    t.equal(status.used, 15);
    await fs.powerCut();
    status = await fs.status();
    t.same(status.files, { '/s.csv': { size: 10, durable: 10, dirty: false } });
    t.equal(status.powerCuts, 1);
    await t.rejects(fs.failSyncs(-1), /whole number/, 'bad arguments are refused before they are sent');
  });
}
