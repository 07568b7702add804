"""Power loss: the metadata service and the storage nodes run on LazyFS
(`lazyfs.py`), a FUSE file system that keeps everything not yet fsynced in
its own memory; mid-workload the power goes out (every role process is
SIGKILLed and the unsynced data is thrown away), the machine "reboots" (a
fresh LazyFS on the same backing directory, every role restarted on the
same data) and every acknowledged write must read back byte for byte, every
acknowledged delete must stay deleted.

A SIGKILL alone leaves the page cache in place, so a missing fsync goes
unseen by the other fault tests; here it loses data. Test B proves that:
the same run with the fsyncs of the storage nodes' volume files (or of the
metadata's RocksDB WAL) dropped finds acknowledged writes lost.

The crash, step by step (`Rig.power_loss`):
1. `crash` on LazyFS's control socket: pending (unsynced) data discarded,
   or in a torn crash a random part of its pages written first, as the
   kernel may have done before the power went; the file system frozen
   (every operation from then on blocks forever, so nothing the roles do
   after this instant reaches the disk or completes);
2. SIGKILL every role process (metadata, storage nodes, gateway) and the
   LazyFS process itself (its memory is the lost page cache), then wait for
   all of them; remove the dead mount (`fusermount -u`, else `-uz`);
3. mount a fresh LazyFS over the same backing directory (the kernel's page
   cache of the old mount is gone with it) and start every role again
   (`Rig.restart`), once the writers have stopped: every write in flight at
   the crash stays unanswered (it may or may not have happened).

LazyFS applies directory operations (create, rename, unlink) at once, as
LazyFS does by default: a missing directory fsync is not caught here, only
missing file fsyncs.

Figures are printed as `[fault figures]` lines (pytest -s).
"""

import os
import random
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import Cluster  # tests/fault/conftest.py (also the fixtures' home)
from lazyfs import LazyFS, fuse_unavailable
from workload import ABSENT, KIB, Workload, report, sha256

SEED = int(os.environ.get("SHALE_FAULT_SEED", "0")) or random.randrange(1 << 30)
INLINE_MAX = 64 * KIB  # objects up to this size live in the metadata row
WRITERS = 4
# Test A's power losses: (the share of unsynced pages that reached the disk
# anyway: 0 all lost, else a random part, a torn state; the least and most
# writes acknowledged before it, picked at random in between). The third
# comes right after the reboot before it.
POWER_LOSSES = ((0.0, 60, 200), (0.5, 60, 200), (0.0, 0, 5), (0.9, 60, 200))

# The storage nodes' volume files, `<disk>/volumes/<seq as 16 hex>.vol`
# (storage-node/src/volume.rs): every chunk is appended to one and
# acknowledged once an `fdatasync` of it covering the append returned.
VOLUME_FILES = r"^/disk-\d+/volumes/[0-9a-f]{16}\.vol$"
# The metadata's RocksDB write-ahead log, `<path>/db/<number>.log`: a commit
# is acknowledged after `flush_wal(true)` (metadata/src/raft.rs), an
# fdatasync of this file; the memtable reaches SST files only later.
META_WAL = r"^/meta(-\d+)?/db/\d+\.log$"


@pytest.fixture
def seed(request):
    s = SEED + sum(map(ord, request.node.name))
    print(f"\n[fault seed] {request.node.name}: SHALE_FAULT_SEED base {SEED}")
    return s


class SmallWorkload(Workload):
    """The suite's verifying workload with small objects (Python FUSE is no
    speed demon) and no multipart uploads: PUTs (new keys and overwrites),
    DELETEs and GETs checked mid-stream. Objects of up to 64 KiB are stored
    inline in the metadata, larger ones erasure-coded on the nodes."""

    def __init__(self, cluster, bucket, seed, prefix, keys=16):
        super().__init__(cluster, bucket, seed, keys=keys)
        self.keys = [f"{prefix}/{i:03d}" for i in range(keys)]
        self.sizes = {}  # sha256 -> size, of every body sent

    def _size(self):
        r = self.rng.random()
        if r < 0.05:
            return 0
        if r < 0.35:
            return self.rng.randint(1, INLINE_MAX)
        return self.rng.randint(INLINE_MAX + 1, 384 * KIB)

    def put(self, key=None, size=None):
        size = self._size() if size is None else size
        self._last_size = size
        return super().put(key, size)

    def _settle(self, key, new_state, acked, error=None):
        if new_state is not ABSENT:
            self.sizes[new_state] = self._last_size
        super()._settle(key, new_state, acked, error)

    def step(self):
        r = self.rng.random()
        if r < 0.6:
            self.put()
        elif r < 0.75:
            self.delete()
        else:
            self.read_one()

    def chunked(self, states):
        """Whether one of `states` is an object stored in chunks."""
        return any(s is not ABSENT and self.sizes.get(s, 0) > INLINE_MAX for s in states)


def check(works, s3):
    """Reads every key of every workload back. Returns (problems, figures):
    a problem is an acknowledged write lost or damaged (404, an error, other
    bytes) or an acknowledged delete undone; each as (key, chunked, text)."""
    problems = []
    objects = verified = 0
    bucket = works[0].bucket
    for w in works:
        for key, states in sorted(w.states.items()):
            chunked = w.chunked(states)
            try:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as e:
                code = e.response["Error"]["Code"]
                if code == "NoSuchKey" and ABSENT in states:
                    continue
                lost = code in ("NoSuchKey", "NoSuchBucket")
                problems.append((key, chunked, f"GET answered {code} "
                                 f"({'acknowledged write lost' if lost else 'unreadable'})"))
                continue
            except Exception as e:  # noqa: BLE001 (a timeout, a reset: unreadable)
                problems.append((key, chunked, f"GET failed: {e!r}"[:300]))
                continue
            digest = sha256(body)
            if digest not in states:
                what = ("an acknowledged delete undone" if states == {ABSENT}
                        else "wrong bytes")
                problems.append((key, chunked, f"{what}: {len(body)} bytes, sha256 "
                                 f"{digest[:12]}, expected one of "
                                 f"{sorted((s or 'absent')[:12] for s in states)}"))
                continue
            objects += 1
            verified += len(body)
    try:
        listed = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            listed.update(o["Key"] for o in page.get("Contents", []))
        for w in works:
            for key, states in sorted(w.states.items()):
                if states == {ABSENT} and key in listed:
                    problems.append((key, False, "deleted (acknowledged) but listed"))
                elif ABSENT not in states and key not in listed:
                    problems.append((key, w.chunked(states), "acknowledged but not listed"))
    except Exception as e:  # noqa: BLE001 (e.g. the bucket itself lost)
        problems.append(("(listing)", False, f"ListObjectsV2 failed: {e!r}"[:300]))
    return problems, {"objects_verified": objects, "bytes_verified": verified}


class Rig:
    """LazyFS over `<tmp>/backing` mounted at `<tmp>/mnt`, and a cluster
    (metadata + 6 storage nodes + gateway) whose root (configs, logs, the
    gateway) stays on the real disk while the metadata's `path` and every
    node's disk are on the mount."""

    def __init__(self, tmp_path, drop_fsync_regex=None, meta_replicas=1,
                 raft_snapshots=True):
        why = fuse_unavailable()
        if why:
            pytest.fail(f"LazyFS cannot run here: {why}")
        self.mnt = tmp_path / "mnt"
        # AF_UNIX paths are short: the control socket goes in its own
        # short-named temporary directory.
        self.sockdir = Path(tempfile.mkdtemp(prefix="lazyfs-"))
        self.fs = LazyFS(tmp_path / "backing", self.mnt, self.sockdir / "ctl",
                         tmp_path / "lazyfs.log", drop_fsync_regex=drop_fsync_regex)
        self.frozen = False
        self.crashes = 0
        self.fs.start()
        try:
            self.cluster = Cluster(tmp_path / "cluster", nodes=6, meta_replicas=meta_replicas,
                                   node_disk={n: self.mnt / f"disk-{n}" for n in range(1, 7)})
            for i, meta in self.cluster.metas.items():
                name = "meta" if meta_replicas == 1 else f"meta-{i}"
                text = meta.config.read_text()
                old = f'path = "{self.cluster.root / name}"'
                assert old in text, text
                text = text.replace(old, f'path = "{self.mnt / name}"')
                if meta_replicas == 1 and raft_snapshots:
                    # Frequent Raft snapshots (a file written, synced and
                    # renamed into place) and log purges: more of the
                    # metadata's write paths cross the crash. (A group of
                    # three has its own [raft] table, as frequent.)
                    text += ("\n[raft]\nsnapshot_every = 50\nlogs_to_keep = 20\n"
                             "snapshot_log_ratio = 0\n")
                meta.config.write_text(text)
        except BaseException:
            self.fs.stop()
            shutil.rmtree(self.sockdir, ignore_errors=True)
            raise

    def start(self):
        self.cluster.start()
        return self

    def procs(self):
        return self.cluster.procs()

    def power_loss(self, probe=True, keep=0.0, seed=0):
        """The power goes out and comes back (see the module's docstring):
        the roles are down, LazyFS remounted, `restart` starts them. With
        `keep` > 0 a random part of the unsynced pages had reached the disk
        (LazyFS `crash KEEP`). Returns (LazyFS's crash report, probe file
        results)."""
        probes = {}
        if probe:
            # Proof that the crash discards what was not fsynced, through
            # the whole remount: one file written and synced, one not.
            # New files every time: a torn crash may have kept part of an
            # earlier one.
            self.crashes += 1
            (self.mnt / "probe").mkdir(exist_ok=True)
            probes["synced"] = os.urandom(300 * KIB)
            probes["unsynced"] = os.urandom(300 * KIB)
            for name, data in probes.items():
                with open(self.mnt / "probe" / f"{name}-{self.crashes}", "xb") as f:
                    f.write(data)
                    f.flush()
                    if name == "synced":
                        os.fsync(f.fileno())
        self.frozen = True
        crashed = self.fs.crash(keep, seed)
        t_crash = time.monotonic()
        for p in self.procs():
            if p.alive():
                p.resume()
                p.signal(signal.SIGKILL)
        # A process killed while it waits for the frozen file system (an
        # exit's flush) is freed only once LazyFS is gone.
        self.fs.kill()
        for p in self.procs():
            if p.popen is not None:
                p.popen.wait(timeout=30)
                p.stopped = False
        self.frozen = False
        down_s = time.monotonic() - t_crash
        self.fs.start()
        results = {}
        if probe:
            for name, data in probes.items():
                got = (self.mnt / "probe" / f"{name}-{self.crashes}").read_bytes()
                results[name] = "intact" if got == data else f"{len(got)} bytes"
        crashed["down_s"] = round(down_s, 2)
        return crashed, results

    def restart(self):
        """Every role started again on its data after the reboot."""
        self.cluster.start()

    def close(self):
        """Every process stopped by PID, the mount removed, also after a
        failure half-way."""
        errors = []
        try:
            if self.frozen:
                for p in self.procs():
                    if p.alive():
                        p.signal(signal.SIGKILL)
                self.fs.kill()
            for p in self.procs():
                try:
                    p.stop()
                except Exception as e:  # noqa: BLE001 (raised below)
                    errors.append(e)
        finally:
            try:
                self.fs.stop()
            except Exception as e:  # noqa: BLE001
                errors.append(e)
            shutil.rmtree(self.sockdir, ignore_errors=True)
        if errors:
            raise errors[0]


@pytest.fixture
def make_rig(tmp_path):
    made = []

    def make(**kwargs):
        made.append(Rig(tmp_path / f"r{len(made)}", **kwargs))
        return made[-1].start()

    yield make
    for r in made:
        r.close()


def new_workloads(rig, seed, bucket="power-loss"):
    c = rig.cluster
    c.client().create_bucket(Bucket=bucket)
    works = [SmallWorkload(c, bucket, seed * 31 + i, prefix=f"w{i}") for i in range(WRITERS)]
    for w in works:
        # One attempt per operation: a write in flight when the power goes
        # out fails (and may or may not have happened) instead of being
        # retried against the rebooted cluster.
        w.s3 = c.client(retries=1)
    return works


def run_until_power_loss(rig, works, rng, min_writes, max_writes, min_chunked=3, keep=0.0):
    """The writers run until a random number of writes (in [min_writes,
    max_writes] more, and at least `min_chunked` chunked objects in all) is
    acknowledged; then the power loss, with writes in flight. Returns
    (crash report, probes, figures of the run)."""
    target = sum(w.written for w in works) + rng.randint(min_writes, max_writes)

    def chunked_acked():
        n = 0
        for w in works:
            with w.lock:
                n += sum(1 for states in list(w.states.values())
                         if len(states) == 1 and w.chunked(states))
        return n

    acked_before = sum(w.written for w in works)
    unanswered_before = sum(len(w.write_errors) for w in works)
    started = time.monotonic()
    for w in works:
        w._stop.clear()
        w.start()
    deadline = time.monotonic() + 120
    while (sum(w.written for w in works) < target or chunked_acked() < min_chunked):
        assert all(w._thread.is_alive() for w in works), "a workload thread died"
        assert time.monotonic() < deadline, (
            f"workload stalled at {sum(w.written for w in works)} writes\n"
            f"{rig.fs.log_tail()}")
        time.sleep(0.02)
    # The power goes out now, with writes in flight; they fail (an
    # acknowledgement can no longer come: the file system is frozen). The
    # writers stop before the roles come back, so every write in flight at
    # the crash stays unanswered.
    crashed, probes = rig.power_loss(keep=keep, seed=rng.randrange(1 << 30))
    stop_errors = []
    for w in works:
        w._stop.set()
    for w in works:
        try:
            w.stop(timeout=120)
        except AssertionError as e:
            stop_errors.append(e)
    assert not stop_errors, stop_errors
    rig.restart()
    figures = {"writes_acked": sum(w.written for w in works) - acked_before,
               "writes_unanswered": sum(len(w.write_errors) for w in works) - unanswered_before,
               "reads_checked_midway": sum(w.reads_checked for w in works),
               "run_s": round(time.monotonic() - started, 1)}
    return crashed, probes, figures


def crash_figures(crashed):
    top = ",".join(f"{p}:{n}" for p, n in crashed["files"][:6]) or "-"
    return {"discarded_files": crashed["discarded_files"],
            "discarded_bytes": crashed["discarded_bytes"],
            "fsyncs": crashed["fsyncs"], "fdatasyncs": crashed["fdatasyncs"],
            "fsyncs_dropped": crashed["fsyncs_dropped"], "kept_bytes": crashed["kept_bytes"],
            "synced_files_by_dir": ",".join(f"{d}:{n}" for d, n in
                                            sorted(crashed["synced_by_dir"].items())),
            "bytes_synced": crashed["bytes_synced"], "down_s": crashed["down_s"],
            "discarded_top": top}


@pytest.mark.parametrize("meta_replicas", [1, 3], ids=["meta1", "meta3"])
def test_a_acknowledged_writes_survive_power_loss(make_rig, seed, meta_replicas):
    """Nothing acknowledged is lost when unsynced data is: every fsync
    Shale relies on is in place. Four power losses, each at a random point
    of the workload (one right after the reboot before it), each followed by
    a full check; two of them torn (a random half, or nine tenths, of the
    unsynced pages reached the disk). With one metadata replica, and with a
    Raft group of three whose replicas all lose power together."""
    t0 = time.monotonic()
    rig = make_rig(meta_replicas=meta_replicas)
    rng = random.Random(seed)
    works = new_workloads(rig, seed)
    s3 = rig.cluster.client(retries=1, read_timeout=30)
    for cycle, (keep, least, most) in enumerate(POWER_LOSSES, 1):
        crashed, probes, figures = run_until_power_loss(rig, works, rng, least, most,
                                                        keep=keep)
        # The crash had teeth: Shale synced through LazyFS, unsynced data
        # was discarded, and a file written without fsync is really gone
        # after the remount (unless a torn crash kept some of its pages)
        # while a synced one is intact.
        assert crashed["fsyncs"] + crashed["fdatasyncs"] > 0, crashed
        assert crashed["discarded_bytes"] > 0, crashed
        assert probes["synced"] == "intact", probes
        if not keep:
            assert probes["unsynced"] == "0 bytes", probes
        problems, verified = check(works, s3)
        report(f"power loss {cycle}/{len(POWER_LOSSES)} (keep {keep}, {meta_replicas} "
               "metadata replicas): acknowledged writes survive", **figures, **verified,
               lost=len(problems), **crash_figures(crashed))
        assert not problems, (
            f"acknowledged writes lost in power loss {cycle}:\n" + "\n".join(
                f"  {k} ({'chunked' if ch else 'inline'}): {t}" for k, ch, t in problems))
    # The cluster takes writes again after the last reboot, and keeps them.
    after = SmallWorkload(rig.cluster, works[0].bucket, seed + 7, prefix="after", keys=4)
    after.run(8)
    assert not after.write_errors, after.write_errors
    more, _ = check([after], s3)
    assert not more, more
    report(f"power loss test A ({meta_replicas} metadata replicas)",
           power_losses=len(POWER_LOSSES), test_s=round(time.monotonic() - t0, 1))


@pytest.mark.parametrize("dropped", ["volume-fsync", "meta-wal-fsync"])
def test_b_a_dropped_fsync_is_caught(make_rig, seed, dropped):
    """The same run with an fsync removed (LazyFS's --drop-fsync-regex: the
    call returns success and syncs nothing) must lose acknowledged writes,
    or test A proves nothing.

    * volume-fsync: every storage node's `fdatasync` of its volume files
      (`<disk>/volumes/*.vol`, the group commit in
      storage-node/src/volume.rs `Volume::sync_through`, and the header sync
      of `Volume::create`). All six nodes: with 4+2 erasure coding, two lost
      chunks of a stripe are rebuilt from the others, so a single node's
      loss would (rightly) go unnoticed. Objects above 64 KiB lose their
      chunks; inline objects (in the metadata row) must all survive, which
      shows the loss is exactly the dropped fsync's.
    * meta-wal-fsync: the metadata's RocksDB WAL (`meta/db/*.log`, synced by
      `flush_wal(true)` in metadata/src/raft.rs before a commit is
      acknowledged). Everything since the last memtable flush is lost:
      acknowledged writes (or the bucket itself) are gone.
    """
    regex = {"volume-fsync": VOLUME_FILES, "meta-wal-fsync": META_WAL}[dropped]
    t0 = time.monotonic()
    # Without the frequent Raft snapshots of test A when the WAL loses its
    # fsync: a snapshot file (synced) newer than the log and state (lost
    # with the WAL) makes the metadata refuse to start (openraft panics
    # "snapshot_last_log_id <= committed"), loud but not what the checker
    # is here to show.
    rig = make_rig(drop_fsync_regex=regex, raft_snapshots=dropped != "meta-wal-fsync")
    works = new_workloads(rig, seed)
    crashed, probes, figures = run_until_power_loss(rig, works, random.Random(seed), 40, 80)
    assert crashed["fsyncs_dropped"] > 0, crashed
    assert probes == {"synced": "intact", "unsynced": "0 bytes"}, probes

    s3 = rig.cluster.client(retries=1, read_timeout=30)
    problems, verified = check(works, s3)
    chunked = [p for p in problems if p[1]]
    report(f"power loss with the {dropped} dropped", **figures, **verified,
           lost=len(problems), lost_chunked=len(chunked),
           lost_inline=len(problems) - len(chunked), **crash_figures(crashed),
           test_s=round(time.monotonic() - t0, 1))
    for k, ch, t in problems[:10]:
        print(f"  caught: {k} ({'chunked' if ch else 'inline'}): {t}")
    assert problems, ("no acknowledged write was lost although the "
                      f"{dropped} was dropped: the power-loss test is blind")
    if dropped == "volume-fsync":
        assert chunked, problems
        inline = [p for p in problems if not p[1]]
        assert not inline, ("objects not stored on the nodes were lost too:\n"
                            + "\n".join(f"  {k}: {t}" for k, _, t in inline))
