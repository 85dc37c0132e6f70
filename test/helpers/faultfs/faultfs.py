#!/usr/bin/python3
"""faultfs: an in-memory FUSE filesystem that behaves like a disk which loses
unsynced writes, for tests that must prove "an acknowledged write survives a
power cut". See README.md beside this file for the model and the commands.

    /usr/bin/python3 faultfs.py MOUNTPOINT CONTROL_SOCKET [--exit-with-stdin]

Prints `ready` on stdout once the mount and the control socket are usable;
unmounts on SIGTERM/SIGINT, on the control command `quit`, and (with
--exit-with-stdin) when its stdin reaches EOF, i.e. when the parent died.

Every regular file holds two byte arrays: `cur` (what reads return: it plays
the page cache, so files are opened direct_io and the kernel caches no data
on top of it) and `durable` (what survives a power cut), plus the ranges of
`cur` written since the last sync. A successful fsync copies those ranges and
the size into `durable`; a power cut copies `durable` back over `cur`.
Directory operations are durable at once.
"""

import errno
import json
import os
import signal
import stat
import sys
import time

import pyfuse3
import trio

BLOCK = 4096
# What statfs reports as the disk's size when no capacity is set.
UNLIMITED = 1 << 40


def now_ns():
    return time.time_ns()


def fail(code):
    return pyfuse3.FUSEError(code)


class Node:
    """One inode: a directory (children by name) or a regular file."""

    __slots__ = ('ino', 'mode', 'uid', 'gid', 'atime', 'mtime', 'ctime', 'parent', 'name',
                 'children', 'cur', 'durable', 'dirty', 'lookups', 'linked')

    def __init__(self, ino, mode, uid, gid, parent, name):
        t = now_ns()
        self.ino = ino
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.atime = self.mtime = self.ctime = t
        self.parent = parent  # parent Node, None for the root
        self.name = name  # bytes
        self.lookups = 0  # the kernel's lookup count (see Operations.forget)
        self.linked = True  # still has its directory entry
        if stat.S_ISDIR(mode):
            self.children = {}
            self.cur = self.durable = self.dirty = None
        else:
            self.children = None
            self.cur = bytearray()
            self.durable = bytearray()
            # Written ranges [start, end) of cur since the last sync, unmerged
            # (merged at sync time: appending a tuple is all a write pays).
            self.dirty = []

    @property
    def is_dir(self):
        return self.children is not None

    def path(self):
        parts = []
        node = self
        while node.parent is not None:
            parts.append(node.name.decode('utf-8', 'surrogateescape'))
            node = node.parent
        return '/' + '/'.join(reversed(parts))


def merged(ranges, limit):
    """The ranges sorted, merged and clipped to [0, limit)."""
    out = []
    for start, end in sorted(ranges):
        end = min(end, limit)
        if start >= end:
            continue
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1][1] = end
        else:
            out.append([start, end])
    return out


class Handle:
    """One open file."""

    __slots__ = ('node', 'append')

    def __init__(self, node, flags):
        self.node = node
        self.append = bool(flags & os.O_APPEND)


class Fault:
    """An armed fault: the next `count` matching calls fail."""

    def __init__(self):
        self.count = 0
        self.suffix = None

    def arm(self, count, suffix):
        self.count = count
        self.suffix = suffix

    def take(self, node):
        """True (and one fewer left) when this call on `node` is to fail."""
        if self.count <= 0:
            return False
        if self.suffix is not None and not node.path().endswith(self.suffix):
            return False
        self.count -= 1
        return True

    def describe(self):
        return {'remaining': self.count, 'suffix': self.suffix}


class FaultFs(pyfuse3.Operations):
    enable_writeback_cache = False  # every write must reach us

    def __init__(self):
        super().__init__()
        self.nodes = {}
        self.next_ino = pyfuse3.ROOT_INODE + 1
        self.handles = {}  # fh -> Handle
        self.next_fh = 1
        root = Node(pyfuse3.ROOT_INODE, stat.S_IFDIR | 0o755, os.getuid(), os.getgid(), None, b'')
        root.lookups = 1
        self.nodes[root.ino] = root
        self.root = root
        self.used = 0  # sum of len(cur) over all files, for capacity
        self.capacity = None
        self.sync_fault = Fault()
        self.write_fault = Fault()
        self.counters = {
            'writes': 0, 'bytesWritten': 0, 'syncs': 0, 'failedSyncs': 0, 'failedWrites': 0,
            'shortWrites': 0, 'enospc': 0, 'dirSyncs': 0, 'powerCuts': 0,
        }

    # -- helpers ------------------------------------------------------------

    def node(self, ino):
        try:
            return self.nodes[ino]
        except KeyError:
            raise fail(errno.ENOENT) from None

    def dir_node(self, ino):
        node = self.node(ino)
        if not node.is_dir:
            raise fail(errno.ENOTDIR)
        return node

    def attrs(self, node):
        a = pyfuse3.EntryAttributes()
        a.st_ino = node.ino
        a.generation = 0
        # Zero timeouts: the kernel asks us every time, so sizes and entries
        # are never stale after a power cut.
        a.entry_timeout = 0
        a.attr_timeout = 0
        a.st_mode = node.mode
        if node.is_dir:
            a.st_nlink = 2 + sum(1 for c in node.children.values() if c.is_dir)
            a.st_size = BLOCK
        else:
            a.st_nlink = 1 if node.linked else 0
            a.st_size = len(node.cur)
        a.st_uid = node.uid
        a.st_gid = node.gid
        a.st_rdev = 0
        a.st_blksize = BLOCK
        a.st_blocks = (a.st_size + 511) // 512
        a.st_atime_ns = node.atime
        a.st_mtime_ns = node.mtime
        a.st_ctime_ns = node.ctime
        return a

    def new_node(self, parent, name, mode, ctx):
        if name in parent.children:
            raise fail(errno.EEXIST)
        if len(name) > 255:
            raise fail(errno.ENAMETOOLONG)
        node = Node(self.next_ino, mode, ctx.uid, ctx.gid, parent, name)
        self.next_ino += 1
        self.nodes[node.ino] = node
        parent.children[name] = node
        parent.mtime = parent.ctime = node.ctime
        return node

    def drop_entry(self, parent, name):
        node = parent.children.pop(name)
        node.linked = False
        parent.mtime = parent.ctime = now_ns()
        self.maybe_free(node)

    def maybe_free(self, node):
        if not node.linked and node.lookups <= 0 and node.ino in self.nodes:
            del self.nodes[node.ino]
            if not node.is_dir:
                self.used -= len(node.cur)

    def room(self):
        """Bytes that files may still grow by; None when unlimited."""
        if self.capacity is None:
            return None
        return max(0, self.capacity - self.used)

    def resize(self, node, size):
        """Sets cur's length (zero-filling growth) and marks what changed dirty."""
        old = len(node.cur)
        if size < old:
            del node.cur[size:]
        elif size > old:
            node.cur.extend(bytes(size - old))
            node.dirty.append((old, size))
        self.used += size - old

    def open_handle(self, node, flags):
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = Handle(node, flags)
        # direct_io: no kernel page cache on top of `cur` (which plays the
        # page cache), so reads always see our content, power cut or not, and
        # each write(2) of up to max_write bytes is one write request.
        return pyfuse3.FileInfo(fh=fh, direct_io=True, keep_cache=False)

    # -- lookups and attributes ---------------------------------------------

    async def lookup(self, parent_inode, name, ctx=None):
        parent = self.dir_node(parent_inode)
        if name == b'.':
            node = parent
        elif name == b'..':
            node = parent.parent or parent
        else:
            node = parent.children.get(name)
            if node is None:
                raise fail(errno.ENOENT)
        node.lookups += 1
        return self.attrs(node)

    async def forget(self, inode_list):
        for ino, count in inode_list:
            node = self.nodes.get(ino)
            if node is None or node is self.root:
                continue
            node.lookups -= count
            self.maybe_free(node)

    async def getattr(self, inode, ctx=None):
        return self.attrs(self.node(inode))

    async def setattr(self, inode, attr, fields, fh, ctx):
        node = self.node(inode)
        t = now_ns()
        if fields.update_size:
            if node.is_dir:
                raise fail(errno.EISDIR)
            size = attr.st_size
            grow = size - len(node.cur)
            room = self.room()
            if room is not None and grow > room:
                self.counters['enospc'] += 1
                raise fail(errno.ENOSPC)
            self.resize(node, size)
            node.mtime = t
        if fields.update_mode:
            node.mode = (node.mode & ~0o7777) | (attr.st_mode & 0o7777)
        if fields.update_uid:
            node.uid = attr.st_uid
        if fields.update_gid:
            node.gid = attr.st_gid
        if fields.update_atime:
            node.atime = attr.st_atime_ns
        if fields.update_mtime:
            node.mtime = attr.st_mtime_ns
        node.ctime = attr.st_ctime_ns if fields.update_ctime else t
        return self.attrs(node)

    async def statfs(self, ctx):
        s = pyfuse3.StatvfsData()
        s.f_bsize = BLOCK
        s.f_frsize = BLOCK
        total = self.capacity if self.capacity is not None else UNLIMITED
        s.f_blocks = total // BLOCK
        free = max(0, total - self.used)
        s.f_bfree = free // BLOCK
        s.f_bavail = free // BLOCK
        s.f_files = 1 << 20
        s.f_ffree = max(0, s.f_files - len(self.nodes))
        s.f_favail = s.f_ffree
        s.f_namemax = 255
        return s

    async def access(self, inode, mode, ctx):
        self.node(inode)
        return True

    # -- directories --------------------------------------------------------

    async def mkdir(self, parent_inode, name, mode, ctx):
        parent = self.dir_node(parent_inode)
        node = self.new_node(parent, name, stat.S_IFDIR | (mode & 0o7777), ctx)
        node.lookups += 1
        return self.attrs(node)

    async def rmdir(self, parent_inode, name, ctx):
        parent = self.dir_node(parent_inode)
        node = parent.children.get(name)
        if node is None:
            raise fail(errno.ENOENT)
        if not node.is_dir:
            raise fail(errno.ENOTDIR)
        if node.children:
            raise fail(errno.ENOTEMPTY)
        self.drop_entry(parent, name)

    async def unlink(self, parent_inode, name, ctx):
        parent = self.dir_node(parent_inode)
        node = parent.children.get(name)
        if node is None:
            raise fail(errno.ENOENT)
        if node.is_dir:
            raise fail(errno.EISDIR)
        self.drop_entry(parent, name)

    async def opendir(self, inode, ctx):
        self.dir_node(inode)
        return inode

    async def readdir(self, fh, start_id, token):
        parent = self.dir_node(fh)
        # Entries in inode order, the inode as the resume point: robust to
        # entries added or removed between calls (none skipped or repeated).
        for node in sorted(parent.children.values(), key=lambda n: n.ino):
            if node.ino <= start_id:
                continue
            if not pyfuse3.readdir_reply(token, node.name, self.attrs(node), node.ino):
                break
            node.lookups += 1

    async def releasedir(self, fh):
        pass

    async def fsyncdir(self, fh, datasync):
        # Directory changes are durable at once: nothing to do.
        self.counters['dirSyncs'] += 1

    async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
        old_parent = self.dir_node(parent_inode_old)
        new_parent = self.dir_node(parent_inode_new)
        node = old_parent.children.get(name_old)
        if node is None:
            raise fail(errno.ENOENT)
        target = new_parent.children.get(name_new)
        if target is node:
            return
        if flags & pyfuse3.RENAME_EXCHANGE:
            if target is None:
                raise fail(errno.ENOENT)
            old_parent.children[name_old] = target
            new_parent.children[name_new] = node
            target.parent, target.name = old_parent, name_old
            node.parent, node.name = new_parent, name_new
        else:
            if target is not None:
                if flags & pyfuse3.RENAME_NOREPLACE:
                    raise fail(errno.EEXIST)
                if target.is_dir and not node.is_dir:
                    raise fail(errno.EISDIR)
                if node.is_dir and not target.is_dir:
                    raise fail(errno.ENOTDIR)
                if target.is_dir and target.children:
                    raise fail(errno.ENOTEMPTY)
                self.drop_entry(new_parent, name_new)
            del old_parent.children[name_old]
            new_parent.children[name_new] = node
            node.parent, node.name = new_parent, name_new
        t = now_ns()
        old_parent.mtime = old_parent.ctime = new_parent.mtime = new_parent.ctime = node.ctime = t

    # -- files --------------------------------------------------------------

    async def mknod(self, parent_inode, name, mode, rdev, ctx):
        if not stat.S_ISREG(mode):
            raise fail(errno.EPERM)  # only regular files
        parent = self.dir_node(parent_inode)
        node = self.new_node(parent, name, mode, ctx)
        node.lookups += 1
        return self.attrs(node)

    async def create(self, parent_inode, name, mode, flags, ctx):
        parent = self.dir_node(parent_inode)
        node = parent.children.get(name)
        if node is None:
            node = self.new_node(parent, name, stat.S_IFREG | (mode & 0o7777), ctx)
        elif flags & os.O_EXCL:
            raise fail(errno.EEXIST)
        elif node.is_dir:
            raise fail(errno.EISDIR)
        elif flags & os.O_TRUNC:
            self.resize(node, 0)
        node.lookups += 1
        return self.open_handle(node, flags), self.attrs(node)

    async def open(self, inode, flags, ctx):
        node = self.node(inode)
        if node.is_dir:
            raise fail(errno.EISDIR)
        if flags & os.O_TRUNC:  # only when the kernel hands O_TRUNC over (atomic_o_trunc)
            self.resize(node, 0)
            node.mtime = node.ctime = now_ns()
        return self.open_handle(node, flags)

    async def read(self, fh, off, size):
        node = self.handles[fh].node
        return bytes(node.cur[off:off + size])

    async def write(self, fh, off, buf):
        handle = self.handles[fh]
        node = handle.node
        cur = node.cur
        old = len(cur)
        if handle.append:
            # Without writeback cache appending is the filesystem's job: the
            # kernel's offset comes from its cached size, stale after a torn
            # write or a power cut.
            off = old
        self.counters['writes'] += 1
        want = len(buf)
        room = self.room()
        if room is not None and off + want > old + room:
            # Only growth past the current end uses capacity: write what fits.
            want = old + room - off
            if want <= 0:
                self.counters['enospc'] += 1
                raise fail(errno.ENOSPC)
            self.counters['shortWrites'] += 1
        torn = self.write_fault.take(node)
        if torn:
            want = min(want, len(buf) // 2)
        if want > 0:
            end = off + want
            if off > old:
                cur.extend(bytes(off - old))  # a hole reads as zeros
            cur[off:end] = buf if want == len(buf) else memoryview(buf)[:want]
            node.dirty.append((min(off, old), end))
            self.used += len(cur) - old
            node.mtime = node.ctime = now_ns()
            self.counters['bytesWritten'] += want
        if torn:
            # FUSE cannot return "n bytes and an error": the half is in the
            # file and the caller sees EIO, which is a torn write.
            self.counters['failedWrites'] += 1
            raise fail(errno.EIO)
        return want

    async def flush(self, fh):
        pass

    async def release(self, fh):
        self.handles.pop(fh, None)

    async def fsync(self, fh, datasync):
        node = self.handles[fh].node
        self.counters['syncs'] += 1
        if self.sync_fault.take(node):
            # Like Linux after a writeback error: the dirty pages are marked
            # clean without reaching the disk, so reads still show them but a
            # later sync will not write them and a power cut loses them.
            node.dirty.clear()
            self.counters['failedSyncs'] += 1
            raise fail(errno.EIO)
        self.persist(node)

    def persist(self, node):
        """Current size and written ranges into durable content."""
        cur, durable = node.cur, node.durable
        size = len(cur)
        if len(durable) > size:
            del durable[size:]
        elif len(durable) < size:
            durable.extend(bytes(size - len(durable)))
        for start, end in merged(node.dirty, size):
            durable[start:end] = cur[start:end]
        node.dirty.clear()

    async def link(self, inode, new_parent_inode, new_name, ctx):
        raise fail(errno.EPERM)

    async def symlink(self, parent_inode, name, target, ctx):
        raise fail(errno.EPERM)

    # -- faults -------------------------------------------------------------

    def files(self):
        """(path, node) for every linked regular file."""
        out = []
        stack = [self.root]
        while stack:
            d = stack.pop()
            for child in d.children.values():
                if child.is_dir:
                    stack.append(child)
                else:
                    out.append((child.path(), child))
        return out

    def power_cut(self):
        """Every unsynced change forgotten; returns the inodes to invalidate."""
        self.counters['powerCuts'] += 1
        inodes = []
        for node in list(self.nodes.values()):
            if node.is_dir:
                continue
            self.used += len(node.durable) - len(node.cur)
            node.cur = bytearray(node.durable)
            node.dirty.clear()
            inodes.append(node.ino)
        return inodes

    def status(self):
        files = {path: {'size': len(n.cur), 'durable': len(n.durable), 'dirty': bool(n.dirty) or len(n.cur) != len(n.durable)}
                 for path, n in sorted(self.files())}
        return {
            **self.counters,
            'used': self.used,
            'capacity': self.capacity,
            'failSyncs': self.sync_fault.describe(),
            'failWrites': self.write_fault.describe(),
            'files': files,
        }


def parse_count(word):
    n = int(word)
    if n < 0:
        raise ValueError('count must be >= 0')
    return n


class Control:
    """The control socket: one command a line, one JSON line back."""

    def __init__(self, fs, quit_event):
        self.fs = fs
        self.quit = quit_event

    async def command(self, line):
        words = line.split()
        if not words:
            raise ValueError('empty command')
        cmd, args = words[0], words[1:]
        fs = self.fs
        if cmd == 'power-cut':
            inodes = fs.power_cut()
            # Off the event loop: the kernel may need us to answer a request
            # before the invalidation can finish.
            unknown = await trio.to_thread.run_sync(invalidate_all, inodes)
            return {'invalidated': len(inodes) - unknown}
        if cmd in ('fail-syncs', 'fail-writes'):
            if len(args) not in (1, 2):
                raise ValueError(f'usage: {cmd} N [SUFFIX]')
            fault = fs.sync_fault if cmd == 'fail-syncs' else fs.write_fault
            fault.arm(parse_count(args[0]), args[1] if len(args) == 2 else None)
            return {}
        if cmd == 'capacity':
            if len(args) != 1:
                raise ValueError('usage: capacity BYTES|off')
            fs.capacity = None if args[0] == 'off' else parse_count(args[0])
            return {}
        if cmd == 'status':
            if args:
                raise ValueError('usage: status')
            return fs.status()
        if cmd == 'quit':
            self.quit.set()
            return {}
        raise ValueError(f'unknown command: {cmd}')

    async def serve(self, stream):
        buf = b''
        async with stream:
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    return
                buf += data
                while b'\n' in buf:
                    raw, buf = buf.split(b'\n', 1)
                    line = raw.decode('utf-8', 'replace').strip()
                    try:
                        reply = {'ok': True, **(await self.command(line))}
                    except Exception as e:  # noqa: BLE001 - every error goes back to the caller
                        reply = {'ok': False, 'error': f'{type(e).__name__}: {e}' if not isinstance(e, ValueError) else str(e)}
                    try:
                        await stream.send_all((json.dumps(reply) + '\n').encode())
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        return


def invalidate_all(inodes):
    """Drops the kernel's cached pages and attributes; counts inodes it did not know."""
    unknown = 0
    for ino in inodes:
        try:
            pyfuse3.invalidate_inode(ino, attr_only=False)
        except OSError:
            unknown += 1  # ENOENT: never looked up, or forgotten
    return unknown


async def control_listener(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    await sock.bind(path)
    sock.listen(16)
    return trio.SocketListener(sock)


async def watch_stdin(quit_event):
    """Sets quit_event at EOF on stdin: the parent that started us is gone."""
    stdin = trio.lowlevel.FdStream(os.dup(0))
    async with stdin:
        while True:
            try:
                data = await stdin.receive_some(4096)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                data = b''
            if not data:
                quit_event.set()
                return


async def run(mountpoint, socket_path, exit_with_stdin):
    fs = FaultFs()
    options = set(pyfuse3.default_options)
    options.add('fsname=faultfs')
    options.add('subtype=faultfs')
    if os.geteuid() == 0:
        options.add('allow_other')
    quit_event = trio.Event()
    control = Control(fs, quit_event)
    listener = await control_listener(socket_path)
    pyfuse3.init(fs, mountpoint, options)
    try:
        async with trio.open_nursery() as nursery:
            async def fuse_loop():
                await pyfuse3.main()
                quit_event.set()  # unmounted from outside (fusermount3 -u)

            async def signals():
                with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as received:
                    async for _ in received:
                        quit_event.set()
                        return

            nursery.start_soon(signals)
            nursery.start_soon(fuse_loop)
            nursery.start_soon(trio.serve_listeners, control.serve, [listener])
            if exit_with_stdin:
                nursery.start_soon(watch_stdin, quit_event)
            print('ready', flush=True)
            await quit_event.wait()
            nursery.cancel_scope.cancel()
    finally:
        pyfuse3.close(unmount=True)
        try:
            os.unlink(socket_path)
        except OSError:
            pass


def main(argv):
    args = [a for a in argv if not a.startswith('--')]
    flags = {a for a in argv if a.startswith('--')}
    if len(args) != 2 or flags - {'--exit-with-stdin'}:
        print('usage: faultfs.py MOUNTPOINT CONTROL_SOCKET [--exit-with-stdin]', file=sys.stderr)
        return 2
    mountpoint, socket_path = args
    if not os.path.isdir(mountpoint):
        print(f'faultfs: mount point {mountpoint} is not a directory', file=sys.stderr)
        return 2
    trio.run(run, mountpoint, socket_path, '--exit-with-stdin' in flags)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
