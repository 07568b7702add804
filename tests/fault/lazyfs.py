#!/usr/bin/env python3
"""A FUSE file system that loses what was not fsynced, in the style of
Jepsen's LazyFS: a power-loss simulator for the fault suite.

    python3 lazyfs.py BACKING MOUNTPOINT --control SOCKET
                      [--drop-fsync-regex REGEX] [--no-backing-fsync]

mounts a passthrough view of the directory BACKING at MOUNTPOINT and runs in
the foreground until SIGTERM/SIGINT (it unmounts on the way out) or SIGKILL
(then `fusermount -uz MOUNTPOINT` cleans up). `LazyFS` below starts, crashes
and stops such a process by its PID for a test.

Semantics
---------
* File data is the "page cache". What `write` and `truncate` (also
  `ftruncate`, and `open` with O_TRUNC) change is held in this process's
  memory and is NOT written to the backing file until an `fsync` or
  `fdatasync` of that file (through any open handle of the same inode).
  Reads and `getattr` (the size) see the pending data merged over the
  backing file. The pending state is keyed by the backing file's inode
  number (st_ino), so it follows renames and hard links; it is dropped when
  the last link is removed (unlink, or rename over it) once no handle is
  open on it any more.
* Metadata operations (create, mknod, mkdir, rename, unlink, rmdir, link,
  symlink, chmod, chown, utimens) are applied to the backing directory at
  once, as LazyFS does by default. So "write a temporary file, rename it
  over the final name, no fsync" leaves an empty (or short) final file after
  a crash: exactly the bug a power loss shows and a SIGKILL does not.
  A directory fsync (fsyncdir) is therefore a no-op.
* fsync of a file writes its pending blocks to the backing file (pwrite,
  ftruncate) under the global lock, then fsyncs/fdatasyncs the backing file
  outside it (skipped with --no-backing-fsync). A power loss while that last
  step runs keeps the data: allowed, an fsync that has not returned may or
  may not have made it.
* Control socket (a UNIX stream socket; one command line, one JSON answer):
    ping    -> {"ok": true, "pid": ...}
    stats   -> counters (fsyncs, fdatasyncs, fsyncs dropped, bytes synced,
               pending files and bytes now)
    crash [KEEP [SEED]]
            -> the power goes out: every pending (unsynced) change is
               discarded and the file system freezes: every operation from
               then on blocks forever (nothing the processes above do
               completes any more). With KEEP (a probability, default 0)
               each pending 4 KiB page, and each pending truncation, is
               first written to the backing file with that probability, in
               no order: the dirty pages the kernel had written back before
               the power went, a torn state as real disks leave (found by
               the path the file was last written under). The answer tells
               what was discarded (files, bytes written since their last
               sync, per-file list) and kept.
               The process is then to be killed (SIGKILL) and the mount
               removed; a fresh instance on the same backing directory is
               the machine after the reboot.
* O_SYNC/O_DSYNC files and RWF_DSYNC writes are synced: the kernel sends
  an fsync after each such write. sync()/syncfs() do not reach a libfuse 2
  file system (Shale uses neither).
* `--drop-fsync-regex REGEX`: fsync/fdatasync of a file whose path (from
  the mount's root, e.g. "/disk-1/volumes/0000000000000001.vol") matches
  REGEX (re.search) returns success and does nothing: "an fsync removed
  from the code", without rebuilding it. Counted as `fsyncs_dropped`.
* Not supported: fallocate (fusepy cannot pass it; the kernel answers
  EOPNOTSUPP, which RocksDB ignores and the storage node handles by
  zeroing instead of punching a hole), renameat2 flags (RENAME_NOREPLACE,
  RENAME_EXCHANGE: EINVAL, libfuse 2 has no rename2), extended attributes,
  ioctl, SEEK_DATA/SEEK_HOLE (the kernel falls back to "all data").
  POSIX (fcntl) and flock locks are not passed to this process: the kernel
  keeps them itself (no `lock` operation is registered), which is what
  RocksDB's LOCK file and the storage node's volume lock need.

Why a remount at the crash rather than `direct_io`: the kernel's page cache
above FUSE belongs to the mount (its superblock and inodes). Killing this
process and mounting a fresh instance drops that cache together with this
process's memory, so everything read after the "reboot" comes from the
backing directory, i.e. only what was fsynced. `direct_io` would cost every
read a round trip to Python and still leave the attribute cache; it is not
needed. Writes are never cached by the kernel (libfuse 2 has no
writeback_cache): every write reaches this process.

Mount options: big_writes (128 KiB writes instead of 4 KiB), hard_remove (an
unlinked file that is still open is unlinked for real, not renamed to
.fuse_hidden*, which would outlive a crash in the backing directory; its
handles go on reading and writing: flag_nullpath_ok is set. One thing does
not work on such a file: fstat(), which the kernel asks by inode without the
handle, answers ENOENT).

Needs: the `fuse` and `libfuse2` Debian packages (libfuse.so.2,
fusermount), the `fusepy` Python package, /dev/fuse, and root (or a user
allowed to mount FUSE file systems).
"""

import argparse
import errno
import json
import logging
import os
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

BLOCK = 64 * 1024  # granularity of the pending data in memory
PAGE = 4096  # granularity of a torn crash (`crash KEEP`)


def _fuse_module():
    """fusepy, with `flag_nullpath_ok` set in the operations it registers
    (so handles of an unlinked file keep working under hard_remove)."""
    import fuse  # fusepy

    if not getattr(fuse.fuse_operations, "_lazyfs_nullpath", False):
        class _Operations(fuse.fuse_operations):
            _lazyfs_nullpath = True

            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.flag_nullpath_ok = 1

        fuse.fuse_operations = _Operations
    return fuse


class _Pending:
    """Unsynced changes of one inode."""

    __slots__ = ("size", "valid", "blocks", "written", "truncated", "path")

    def __init__(self, size, path):
        self.size = size      # logical size
        self.valid = size     # backing bytes at or past this are gone (truncated)
        self.blocks = {}      # block index -> bytearray(BLOCK): logical content
        self.written = 0      # bytes written since the last sync
        self.truncated = False
        self.path = path


class _Handle:
    __slots__ = ("fd", "ino", "append", "path")

    def __init__(self, fd, ino, append, path):
        self.fd, self.ino, self.append, self.path = fd, ino, append, path


def _err(code):
    return OSError(code, os.strerror(code))


class LazyOps:
    """The file system's operations (called by fusepy as `ops(name, *args)`).
    Every operation on file data runs under one lock (the backing fsync
    excepted); directory operations go straight to the backing directory."""

    use_ns = True

    def __init__(self, backing, drop_fsync_regex=None, backing_fsync=True):
        self.root = os.path.realpath(backing)
        self.mutex = threading.RLock()
        self.pending = {}   # ino -> _Pending
        self.handles = {}   # fh -> _Handle
        self.opened = {}    # ino -> open handles
        self.orphans = set()  # inos unlinked while open
        self.next_fh = 1
        self.frozen = threading.Event()
        self.drop = re.compile(drop_fsync_regex) if drop_fsync_regex else None
        self.backing_fsync = backing_fsync
        self.counters = {"fsyncs": 0, "fdatasyncs": 0, "fsyncs_dropped": 0,
                         "fsyncdirs": 0, "bytes_synced": 0, "writes": 0,
                         "bytes_written": 0, "files_synced": 0}
        self.dropped_paths = {}  # path -> fsyncs dropped
        self.synced_by_dir = {}  # first path component -> files synced
        self.control = None

    # -- dispatch ----------------------------------------------------------

    def __call__(self, op, *args):
        if self.frozen.is_set():
            self._hang()
        method = getattr(self, op, None)
        if method is None:
            raise _err(errno.ENOSYS)
        result = method(*args)
        if self.frozen.is_set():
            self._hang()  # the power went out: no answer ever arrives
        return result

    @staticmethod
    def _hang():
        threading.Event().wait()

    def _bp(self, path):
        return self.root + path if path != "/" else self.root

    # -- pending data --------------------------------------------------------

    def _state(self, ino, fd, path):
        p = self.pending.get(ino)
        if p is None:
            p = self.pending[ino] = _Pending(os.fstat(fd).st_size, path)
        return p

    def _load(self, p, fd, idx):
        """Block `idx` as the file now reads (backing bytes below `valid`,
        zeros after)."""
        blk = p.blocks.get(idx)
        if blk is None:
            blk = bytearray(BLOCK)
            start = idx * BLOCK
            n = min(p.valid, start + BLOCK) - start
            if n > 0:
                data = os.pread(fd, n, start)
                blk[:len(data)] = data
            p.blocks[idx] = blk
        return blk

    def _read(self, fd, ino, size, offset):
        p = self.pending.get(ino)
        if p is None:
            return os.pread(fd, size, offset)
        end = min(offset + size, p.size)
        if offset >= end:
            return b""
        out = bytearray()
        pos = offset
        while pos < end:
            idx = pos // BLOCK
            stop = min(end, (idx + 1) * BLOCK)
            blk = p.blocks.get(idx)
            if blk is not None:
                out += blk[pos - idx * BLOCK:stop - idx * BLOCK]
            else:
                n = max(0, min(stop, p.valid) - pos)
                data = os.pread(fd, n, pos) if n else b""
                out += data
                out += bytes(stop - pos - len(data))
            pos = stop
        return bytes(out)

    def _write(self, fd, ino, path, data, offset):
        p = self._state(ino, fd, path)
        if path:
            p.path = path
        view = memoryview(data)
        pos, end = offset, offset + len(data)
        while pos < end:
            idx = pos // BLOCK
            stop = min(end, (idx + 1) * BLOCK)
            blk = self._load(p, fd, idx)
            blk[pos - idx * BLOCK:stop - idx * BLOCK] = view[pos - offset:stop - offset]
            pos = stop
        p.size = max(p.size, end)
        p.written += len(data)
        self.counters["writes"] += 1
        self.counters["bytes_written"] += len(data)
        return len(data)

    def _truncate(self, fd, ino, path, length):
        p = self._state(ino, fd, path)
        if length < p.size:
            for idx in [i for i in p.blocks if i * BLOCK >= length]:
                del p.blocks[idx]
            blk = p.blocks.get(length // BLOCK)
            if blk is not None:
                cut = length % BLOCK
                blk[cut:] = bytes(BLOCK - cut)
            if length < p.valid:
                p.valid = length
                p.truncated = True
        p.size = length

    def _flush_to_backing(self, fd, ino):
        """Writes inode `ino`'s pending changes to the backing file (not
        synced yet); returns the bytes written."""
        p = self.pending.pop(ino, None)
        if p is None:
            return 0
        if p.valid < os.fstat(fd).st_size:
            os.ftruncate(fd, p.valid)
        n = 0
        for idx in sorted(p.blocks):
            start = idx * BLOCK
            if start >= p.size:
                continue
            length = min(BLOCK, p.size - start)
            os.pwrite(fd, memoryview(p.blocks[idx])[:length], start)
            n += length
        if os.fstat(fd).st_size != p.size:
            os.ftruncate(fd, p.size)
        self.counters["files_synced"] += 1
        self.counters["bytes_synced"] += n
        return n

    def _forget(self, ino):
        """The last link of `ino` is gone."""
        if self.opened.get(ino):
            self.orphans.add(ino)
        else:
            self.pending.pop(ino, None)

    def _last_link_of(self, bp):
        """The inode at `bp` if it is a regular file with one link."""
        try:
            st = os.lstat(bp)
        except FileNotFoundError:
            return None
        if stat.S_ISREG(st.st_mode) and st.st_nlink <= 1:
            return st.st_ino
        return None

    # -- control -------------------------------------------------------------

    def crash(self, keep=0.0, seed=0):
        """The power goes out. With `keep` > 0, each pending 4 KiB page (and
        each pending truncation) reaches the backing file first with that
        probability, in no particular order: the kernel had written some
        dirty pages back before the power went (a torn, partial state, as
        real disks leave). Then everything pending is discarded and the file
        system freezes."""
        rng = random.Random(seed)
        with self.mutex:
            self.frozen.set()
            files = sorted(((p.path or f"inode {ino}", p.written, p.truncated)
                            for ino, p in self.pending.items()),
                           key=lambda f: -f[1])
            kept = 0
            if keep > 0:
                for ino, p in sorted(self.pending.items()):
                    kept += self._keep_some(ino, p, rng, keep)
            self.pending.clear()
            return {"discarded_files": len(files),
                    "discarded_bytes": sum(f[1] for f in files),
                    "discarded_truncations": sum(1 for f in files if f[2]),
                    "kept_bytes": kept,
                    "files": [[path, n] for path, n, _ in files[:50]],
                    **self.counters,
                    "synced_by_dir": dict(self.synced_by_dir),
                    "dropped_paths": dict(list(self.dropped_paths.items())[:50])}

    def _keep_some(self, ino, p, rng, keep):
        """Writes a random part of inode `ino`'s pending changes to its
        backing file (found by the path it was last written under; skipped
        if that now names another file). Returns the bytes written."""
        if not p.path:
            return 0
        try:
            fd = os.open(self._bp(p.path), os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return 0
        kept = 0
        try:
            if os.fstat(fd).st_ino != ino:
                return 0
            if p.truncated and rng.random() < keep:
                os.ftruncate(fd, min(p.valid, os.fstat(fd).st_size))
            for idx in sorted(p.blocks):
                blk = p.blocks[idx]
                for page in range(0, BLOCK, PAGE):
                    start = idx * BLOCK + page
                    if start >= p.size:
                        break
                    if rng.random() < keep:
                        n = min(PAGE, p.size - start)
                        os.pwrite(fd, memoryview(blk)[page:page + n], start)
                        kept += n
        finally:
            os.close(fd)
        return kept

    def stats(self):
        with self.mutex:
            return {**self.counters,
                    "pending_files": len(self.pending),
                    "pending_bytes": sum(p.written for p in self.pending.values()),
                    "open_handles": len(self.handles),
                    "frozen": self.frozen.is_set(),
                    "synced_by_dir": dict(self.synced_by_dir),
                    "dropped_paths": dict(list(self.dropped_paths.items())[:50])}

    def _serve_control(self, sock):
        while True:
            conn, _ = sock.accept()
            with conn:
                try:
                    line = conn.makefile("r").readline().strip()
                    if line == "ping":
                        answer = {"ok": True, "pid": os.getpid()}
                    elif line == "stats":
                        answer = self.stats()
                    elif line.split()[:1] == ["crash"]:
                        # crash [KEEP [SEED]]
                        words = line.split()[1:]
                        answer = self.crash(float(words[0]) if words else 0.0,
                                            int(words[1]) if len(words) > 1 else 0)
                    else:
                        answer = {"error": f"unknown command {line!r}"}
                    conn.sendall((json.dumps(answer) + "\n").encode())
                except Exception as e:  # noqa: BLE001 (a bad client)
                    logging.exception("control: %r", e)

    def init(self, path):
        if self.control:
            try:
                os.unlink(self.control)
            except FileNotFoundError:
                pass
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(self.control)
            sock.listen(16)
            threading.Thread(target=self._serve_control, args=(sock,), daemon=True).start()

    def destroy(self, path):
        pass

    # -- attributes, directories ----------------------------------------------

    def getattr(self, path, fh=None):
        with self.mutex:
            if fh:  # a fuse_file_info (raw_fi), or a NULL pointer
                st = os.fstat(self.handles[fh.fh].fd)
            else:
                st = os.lstat(self._bp(path))
            attrs = {k: getattr(st, k) for k in (
                "st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino",
                "st_blocks", "st_atime_ns", "st_mtime_ns", "st_ctime_ns")}
            for k in ("atime", "mtime", "ctime"):
                attrs[f"st_{k}"] = attrs.pop(f"st_{k}_ns")
            p = self.pending.get(st.st_ino) if stat.S_ISREG(st.st_mode) else None
            if p is not None:
                attrs["st_size"] = p.size
                attrs["st_blocks"] = max(st.st_blocks, (p.size + 511) // 512)
                attrs["st_mtime"] = attrs["st_ctime"] = time.time_ns()
            return attrs

    def access(self, path, amode):
        if not os.access(self._bp(path), amode):
            raise _err(errno.EACCES)

    def readlink(self, path):
        return os.readlink(self._bp(path))

    def opendir(self, path):
        return 0

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._bp(path))

    def releasedir(self, path, fh):
        return 0

    def fsyncdir(self, path, datasync, fh):
        # Directory changes reached the backing directory when made.
        with self.mutex:
            self.counters["fsyncdirs"] += 1
        return 0

    def statfs(self, path):
        sv = os.statvfs(self.root)
        return {k: getattr(sv, k) for k in (
            "f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files",
            "f_ffree", "f_favail", "f_flag", "f_namemax")}

    # -- metadata operations: applied to the backing directory at once -------

    def mkdir(self, path, mode):
        os.mkdir(self._bp(path), mode)

    def rmdir(self, path):
        os.rmdir(self._bp(path))

    def mknod(self, path, mode, dev):
        os.mknod(self._bp(path), mode, dev)

    def unlink(self, path):
        with self.mutex:
            bp = self._bp(path)
            ino = self._last_link_of(bp)
            os.unlink(bp)
            if ino is not None:
                self._forget(ino)

    def rename(self, old, new):
        with self.mutex:
            bo, bn = self._bp(old), self._bp(new)
            target = self._last_link_of(bn)
            if target is not None and target == os.lstat(bo).st_ino:
                target = None  # hard links of one file: rename does nothing
            os.rename(bo, bn)
            if target is not None:
                self._forget(target)

    def link(self, target, source):
        os.link(self._bp(source), self._bp(target))

    def symlink(self, target, source):
        os.symlink(source, self._bp(target))

    def chmod(self, path, mode):
        os.chmod(self._bp(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._bp(path), uid, gid, follow_symlinks=False)

    def utimens(self, path, times=None):
        if times is None:
            os.utime(self._bp(path), None, follow_symlinks=False)
        else:
            os.utime(self._bp(path), ns=tuple(int(t) for t in times),
                     follow_symlinks=False)

    # -- files -----------------------------------------------------------------

    def _new_handle(self, fd, path, flags):
        ino = os.fstat(fd).st_ino
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = _Handle(fd, ino, bool(flags & os.O_APPEND), path)
        self.opened[ino] = self.opened.get(ino, 0) + 1
        if flags & os.O_TRUNC:
            self._truncate(fd, ino, path, 0)
        return fh

    def open(self, path, fi):
        with self.mutex:
            # The backing file is always opened read-write (we run as root):
            # an fsync through a read-only handle must be able to write.
            fd = os.open(self._bp(path), os.O_RDWR | os.O_CLOEXEC)
            fi.fh = self._new_handle(fd, path, fi.flags)
        return 0

    def create(self, path, mode, fi):
        with self.mutex:
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | (fi.flags & os.O_EXCL)
            fd = os.open(self._bp(path), flags, mode)
            fi.fh = self._new_handle(fd, path, fi.flags)
        return 0

    def read(self, path, size, offset, fi):
        with self.mutex:
            h = self.handles[fi.fh]
            return self._read(h.fd, h.ino, size, offset)

    def write(self, path, data, offset, fi):
        with self.mutex:
            h = self.handles[fi.fh]
            if h.append:
                p = self.pending.get(h.ino)
                offset = p.size if p is not None else os.fstat(h.fd).st_size
            return self._write(h.fd, h.ino, path or h.path, data, offset)

    def truncate(self, path, length, fi=None):
        with self.mutex:
            if fi is not None:
                h = self.handles[fi.fh]
                self._truncate(h.fd, h.ino, path or h.path, length)
                return 0
            fd = os.open(self._bp(path), os.O_RDONLY | os.O_CLOEXEC)
            try:
                self._truncate(fd, os.fstat(fd).st_ino, path, length)
            finally:
                os.close(fd)
        return 0

    def flush(self, path, fi):
        return 0  # close() is not a sync

    def release(self, path, fi):
        with self.mutex:
            h = self.handles.pop(fi.fh)
            os.close(h.fd)
            left = self.opened[h.ino] - 1
            if left:
                self.opened[h.ino] = left
            else:
                del self.opened[h.ino]
                if h.ino in self.orphans:
                    self.orphans.discard(h.ino)
                    self.pending.pop(h.ino, None)
        return 0

    def fsync(self, path, datasync, fi):
        with self.mutex:
            h = self.handles[fi.fh]
            name = path or h.path
            self.counters["fdatasyncs" if datasync else "fsyncs"] += 1
            if self.drop is not None and self.drop.search(name):
                self.counters["fsyncs_dropped"] += 1
                self.dropped_paths[name] = self.dropped_paths.get(name, 0) + 1
                return 0
            n = self._flush_to_backing(h.fd, h.ino)
            if n:
                top = name.strip("/").split("/")[0]
                self.synced_by_dir[top] = self.synced_by_dir.get(top, 0) + 1
            fd = h.fd
            # The handle cannot be released while this call runs (the
            # kernel holds the file), so its fd stays valid below.
        if n and self.backing_fsync:
            (os.fdatasync if datasync else os.fsync)(fd)
        return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("backing")
    ap.add_argument("mountpoint")
    ap.add_argument("--control", required=True, help="UNIX socket for ping/stats/crash")
    ap.add_argument("--drop-fsync-regex", default=None)
    ap.add_argument("--no-backing-fsync", action="store_true",
                    help="do not fsync the backing files (the simulation is the same)")
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(asctime)s lazyfs %(levelname)s %(message)s")
    fuse = _fuse_module()
    ops = LazyOps(args.backing, args.drop_fsync_regex,
                  backing_fsync=not args.no_backing_fsync)
    ops.control = os.path.abspath(args.control)
    fuse.FUSE(ops, args.mountpoint, raw_fi=True, foreground=True, nothreads=False,
              fsname="lazyfs", subtype="lazyfs", big_writes=True, max_write=131072,
              hard_remove=True, debug=args.debug)


# -- the harness side: one LazyFS process, started and stopped by PID ----------

def _mounted(mountpoint):
    target = os.path.realpath(mountpoint)
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and fields[1].replace("\\040", " ") == target:
                return True
    return False


def fuse_unavailable():
    """Why FUSE cannot be mounted here (a precise reason), or None."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist (no FUSE in this kernel/container: modprobe fuse, or run the container with --device /dev/fuse)"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return f"/dev/fuse is not readable and writable by uid {os.getuid()}"
    try:
        with open("/proc/filesystems") as f:
            if not any(line.split()[-1] == "fuse" for line in f if line.strip()):
                return "the kernel lists no 'fuse' file system in /proc/filesystems (modprobe fuse)"
    except OSError:
        pass
    try:
        _fuse_module()
    except ImportError as e:
        return f"fusepy is not importable ({e}): pip install fusepy"
    except OSError as e:  # fusepy raises EnvironmentError without libfuse.so.2
        return f"libfuse 2 is missing ({e}): apt-get install fuse libfuse2"
    if subprocess.run(["sh", "-c", "command -v fusermount"],
                      capture_output=True).returncode != 0:
        return "fusermount is missing: apt-get install fuse"
    return None


class LazyFS:
    """One LazyFS process over `backing`, mounted at `mountpoint`."""

    def __init__(self, backing, mountpoint, control, log, drop_fsync_regex=None,
                 backing_fsync=True):
        self.backing = Path(backing)
        self.mountpoint = Path(mountpoint)
        self.control = str(control)
        self.log = Path(log)
        self.drop_fsync_regex = drop_fsync_regex
        self.backing_fsync = backing_fsync
        self.popen = None
        self.starts = 0
        if len(self.control.encode()) > 100:
            raise ValueError(f"control socket path too long for AF_UNIX: {self.control}")

    def start(self, timeout=20):
        assert self.popen is None or self.popen.poll() is not None
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        assert not _mounted(self.mountpoint), f"{self.mountpoint} is mounted already"
        cmd = [sys.executable, str(Path(__file__).resolve()), str(self.backing),
               str(self.mountpoint), "--control", self.control]
        if self.drop_fsync_regex:
            cmd += ["--drop-fsync-regex", self.drop_fsync_regex]
        if not self.backing_fsync:
            cmd.append("--no-backing-fsync")
        self.starts += 1
        with open(self.log, "ab") as log:
            log.write(f"--- start {self.starts}: {' '.join(cmd)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.popen.poll() is not None:
                raise AssertionError(f"lazyfs exited ({self.popen.returncode}) before "
                                     f"mounting\n{self.log_tail()}")
            if _mounted(self.mountpoint):
                try:
                    if self.request("ping", timeout=2).get("ok"):
                        return self
                except OSError:
                    pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"lazyfs did not mount within {timeout}s\n{self.log_tail()}")
            time.sleep(0.05)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def request(self, command, timeout=30):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.control)
            s.sendall(command.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return json.loads(data)

    def stats(self):
        return self.request("stats")

    def crash(self, keep=0.0, seed=0):
        """The power goes out: unsynced data discarded (with `keep` > 0,
        each pending page written back first with that probability), the
        file system frozen. Returns what was discarded. Kill the processes
        above it next, then `kill()` this one."""
        return self.request(f"crash {keep} {seed}")

    def kill(self):
        """SIGKILL (its memory, the page cache, is gone) and the mount
        removed."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(timeout=30)
        self.unmount()

    def unmount(self):
        if not _mounted(self.mountpoint):
            return
        r = subprocess.run(["fusermount", "-u", str(self.mountpoint)],
                           capture_output=True, timeout=30)
        if r.returncode != 0 or _mounted(self.mountpoint):
            subprocess.run(["fusermount", "-uz", str(self.mountpoint)],
                           capture_output=True, timeout=30)
        assert not _mounted(self.mountpoint), f"{self.mountpoint} still mounted"

    def stop(self, timeout=10):
        """A clean stop (SIGTERM: libfuse unmounts), else SIGKILL; always
        unmounted afterwards."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=30)
        self.unmount()

    def log_tail(self, n=30):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


if __name__ == "__main__":
    main()
