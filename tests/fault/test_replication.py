"""Bucket replication across two linked regions under faults (issue 14):
a versioned source bucket in region A (us-east-1) with a V2 rule (delete
markers replicated) to a versioned destination bucket in region B
(eu-west-1); region A's gateway runs the replication worker, which copies
each version to B's S3 endpoint through the link (the WAN proxy, `wan.py`).

A writer puts versions (4 KiB .. 8 MiB, mostly small, overwrites of the same
keys, now and then a DELETE that makes a delete marker) into the source all
along, recording every acknowledged version id, ETag and SHA-256. After the
fault, once `shale admin replication status` shows the backlog at 0, what
must hold (ARCHITECTURE.md, "The replication queue"):

- nothing lost: every version and marker the source acknowledged is at the
  destination with the same version id and ETag (bytes compared for a
  sample), and so is every version the source lists (also those of writes
  whose answer never came);
- nothing twice: the destination lists no version or marker the source does
  not, and none twice; the newest version of each key is the same on both
  sides (kept at its order);
- statuses: every source version is COMPLETED, every replica REPLICA, no
  task FAILED for a transient fault.

Scenarios: 1 the destination region cut off for 60 s under load and back
(1b: its gateway SIGSTOPped 60 s), 2 the source gateway (the worker)
killed -9 mid-copy, 3 the source region's metadata leader killed -9
mid-copy (three replicas in region A), 4 a link with 100 ms of added
round-trip time: lag figures, 5 the source region lost as a whole: reads
fail over to the replica.
"""

import concurrent.futures
import json
import os
import random
import statistics
import threading
import time

import pytest
from botocore.exceptions import ClientError

from workload import KIB, MIB, report, sha256

A, B = "us-east-1", "eu-west-1"  # the source region (namespace), the destination
SRC, DST = "repl-src", "repl-dst"
SEED = int(os.environ.get("SHALE_FAULT_SEED", "0")) or random.randrange(1 << 30)
OUTAGE = 60.0  # scenario 1: the 60 s
# After a 60 s outage a task may wait one back-off period (at most 60 s,
# plus a quarter of jitter) before its next attempt: the drain deadline.
DRAIN_DEADLINE = 60.0 * 1.25 + 45.0


@pytest.fixture
def seed(request):
    s = SEED + sum(map(ord, request.node.name))
    print(f"\n[fault seed] {request.node.name}: SHALE_FAULT_SEED base {SEED}")
    return s


def code(exc):
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") or "?"
    return type(exc).__name__


def replicated_pair(d):
    """SRC in A, DST in B (made from B's endpoint), both versioned; a V2
    rule SRC -> DST with delete markers."""
    a, b = d[A].client(), d[B].client()
    a.create_bucket(Bucket=SRC)
    a.put_bucket_versioning(Bucket=SRC, VersioningConfiguration={"Status": "Enabled"})
    b.create_bucket(Bucket=DST, CreateBucketConfiguration={"LocationConstraint": B})
    b.put_bucket_versioning(Bucket=DST, VersioningConfiguration={"Status": "Enabled"})
    a.put_bucket_replication(Bucket=SRC, ReplicationConfiguration={"Role": "", "Rules": [{
        "ID": "r", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
        "DeleteMarkerReplication": {"Status": "Enabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{DST}"}}]})
    return a, b


# -- the writer ------------------------------------------------------------------

class Writer:
    """Writer threads putting versions into SRC at about `rate` operations
    per second: PUTs of random keys among `keys` (so overwrites), 1 in
    `marker_every` a DELETE without a version id (a delete marker). Sizes:
    `sizes="mixed"` 4 KiB .. 8 MiB, mostly small (2 % of exactly 8 MiB: the
    worker's large lane), or `"small"` 4 .. 64 KiB. Every attempt is one
    request (no retries by boto3); acknowledged ones are recorded with
    version id, ETag and SHA-256, failed ones counted (they may or may not
    have made a version)."""

    def __init__(self, cluster, seed, rate=4.0, keys=30, threads=2, sizes="mixed",
                 marker_every=12):
        self.cluster = cluster
        self.rate = rate
        self.keys = [f"k/{i:03d}" for i in range(keys)]
        self.threads_n = threads
        self.sizes = sizes
        self.marker_every = marker_every
        self.seed = seed
        self.lock = threading.Lock()
        self.acked = []    # {"key","vid","etag","sha","marker","size","t","took"}
        self.failed = []   # (t, what, error code)
        self.bytes = 0
        self._stop = threading.Event()
        self._threads = []
        self.clients = [cluster.client(retries=0, read_timeout=30) for _ in range(threads)]

    def _size(self, rng):
        if self.sizes == "small":
            return rng.randint(4 * KIB, 64 * KIB)
        r = rng.random()
        if r < 0.02:
            return 8 * MIB
        if r < 0.10:
            return rng.randint(MIB, 4 * MIB)
        if r < 0.30:
            return rng.randint(64 * KIB, MIB)
        return rng.randint(4 * KIB, 64 * KIB)

    def one(self, s3, rng, key=None, size=None, marker=None):
        key = key or rng.choice(self.keys)
        if marker is None:
            marker = rng.randrange(self.marker_every) == 0
        start = time.monotonic()
        try:
            if marker:
                r = s3.delete_object(Bucket=SRC, Key=key)
                assert r.get("DeleteMarker") is True and r.get("VersionId"), r
                rec = {"key": key, "vid": r["VersionId"], "etag": None, "sha": None,
                       "marker": True, "size": 0}
            else:
                data = os.urandom(self._size(rng) if size is None else size)
                r = s3.put_object(Bucket=SRC, Key=key, Body=data)
                assert r.get("VersionId"), r
                rec = {"key": key, "vid": r["VersionId"], "etag": r["ETag"],
                       "sha": sha256(data), "marker": False, "size": len(data)}
        except Exception as e:  # noqa: BLE001 (counted; may or may not have happened)
            with self.lock:
                self.failed.append((time.monotonic(), "marker" if marker else "put", code(e)))
            return None
        now = time.monotonic()
        rec["t"], rec["took"] = now, now - start
        with self.lock:
            self.acked.append(rec)
            self.bytes += rec["size"]
        return rec

    def _loop(self, i):
        rng = random.Random(self.seed * 31 + i)
        s3 = self.clients[i]
        period = self.threads_n / self.rate
        next_at = time.monotonic() + rng.uniform(0, period)
        while not self._stop.is_set():
            wait = next_at - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            next_at = max(next_at + period, time.monotonic() - 1.0)
            if self.one(s3, rng) is None:
                self._stop.wait(0.2)  # a process down refuses fast: no busy loop

    def start(self):
        for i in range(self.threads_n):
            t = threading.Thread(target=self._loop, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(120)
        assert not any(t.is_alive() for t in self._threads), "a writer hung"

    def count(self):
        with self.lock:
            return len(self.acked)

    def wait_acks(self, n, timeout=60):
        """Until `n` more writes are acknowledged."""
        target = self.count() + n
        deadline = time.monotonic() + timeout
        while self.count() < target:
            assert time.monotonic() < deadline, (
                f"{n} writes not acknowledged within {timeout}s: failures "
                f"{self.failed[-5:]}\n{self.cluster.gateway.log_tail(15)}")
            time.sleep(0.1)

    def failed_since(self, t):
        with self.lock:
            return [f for f in self.failed if f[0] >= t]


# -- the queue's figures -----------------------------------------------------------

def pair_status(cluster, check=True):
    """This pair's row of `shale admin replication status` in `cluster`'s
    region, or None (no row yet; with check=False also when the admin
    call failed)."""
    if check:
        answer = cluster.admin("replication", "status", timeout=30)
    else:
        r = cluster.admin("replication", "status", check=False, timeout=30)
        if r.returncode != 0:
            return None
        answer = json.loads(r.stdout)
    for row in answer.get("pairs", []):
        if row["bucket"] == SRC and row["destination"] == DST:
            return row
    return None


class BacklogWatch:
    """Polls the pair's status every `period` seconds in a thread: the
    largest backlog seen, and every sample (time asked, row)."""

    def __init__(self, cluster, period=1.0):
        self.cluster = cluster
        self.period = period
        self.samples = []
        self.max_pending = 0
        self.max_pending_bytes = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                row = pair_status(self.cluster, check=False)
            except Exception:  # noqa: BLE001 (a process down: counted)
                row = None
            if row is None:
                self.errors += 1
            else:
                self.samples.append((t, row))
                self.max_pending = max(self.max_pending, row["pending"])
                self.max_pending_bytes = max(self.max_pending_bytes, row["pending_bytes"])
            self._stop.wait(self.period)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(60)


def wait_drained(cluster, deadline, what=""):
    """Until the pair's backlog is 0 (nothing pending, nothing FAILED).
    Returns (seconds taken, the last row, the largest backlog seen)."""
    start = time.monotonic()
    biggest = 0
    row = None
    while True:
        try:
            row = pair_status(cluster)
        except AssertionError:
            row = None  # the gateway restarting: asked again
        if row is not None:
            biggest = max(biggest, row["pending"])
            assert row["failed_pending"] == 0 and row["failed"] == 0, (
                f"{what}: tasks FAILED for a transient fault: {row}")
            if row["pending"] == 0:
                return time.monotonic() - start, row, biggest
        if time.monotonic() - start > deadline:
            raise AssertionError(f"{what}: backlog not 0 within {deadline}s: {row}\n"
                                 f"{cluster.gateway.log_tail(30)}")
        time.sleep(0.25)


def wait_copying(d, writer, min_bytes=2 * MIB, timeout=60):
    """Puts a burst of large versions (8 MiB) and small ones and returns
    once a copy of them is crossing the link A -> B (the proxy passes
    bytes to B) with tasks pending: the moment to kill something
    "mid-replication". Returns (pending tasks then, link bytes then)."""
    wan = d.wans[(A, B)]
    s3 = d[A].client(retries=0, read_timeout=60)
    rng = random.Random(writer.seed ^ 0x5EED)
    burst_done = threading.Event()

    def burst():
        try:
            for i in range(4):
                writer.one(s3, rng, key=f"burst/{i}", size=8 * MIB, marker=False)
            for i in range(40):
                writer.one(s3, rng, key=f"burst/s{i % 10}", size=rng.randint(4 * KIB, 64 * KIB),
                           marker=False)
        finally:
            burst_done.set()

    before = last = wan.bytes_up
    threading.Thread(target=burst, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        row = pair_status(d[A])
        now = wan.bytes_up
        # Bytes crossed the link since the last look (a copy under way),
        # enough of them to be the large ones, and tasks still queued.
        if now - before >= min_bytes and now > last and row and row["pending"] > 0:
            return row["pending"], now
        assert time.monotonic() < deadline, (
            f"no copy under way within {timeout}s: {row}, link bytes "
            f"{wan.bytes_up - before}")
        last = now
        time.sleep(0.02)


# -- the checks -------------------------------------------------------------------

def list_versions(s3, bucket):
    """{(key, version id, is marker): entry} and the duplicates listed."""
    out, dups = {}, []
    for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 1000}):
        for v in page.get("Versions", []):
            k = (v["Key"], v["VersionId"], False)
            if k in out:
                dups.append(k)
            out[k] = {"etag": v["ETag"], "latest": v["IsLatest"], "size": v["Size"]}
        for m in page.get("DeleteMarkers", []):
            k = (m["Key"], m["VersionId"], True)
            if k in out:
                dups.append(k)
            out[k] = {"etag": None, "latest": m["IsLatest"], "size": 0}
    return out, dups


def check_replicated(d, writer, rng, sample=20):
    """Nothing lost, nothing twice, statuses right (see the module notes).
    Returns figures."""
    a, b = d[A].client(), d[B].client()
    src, src_dups = list_versions(a, SRC)
    dst, dst_dups = list_versions(b, DST)
    assert not src_dups, f"the source lists versions twice: {src_dups[:10]}"
    assert not dst_dups, f"the destination lists versions twice: {dst_dups[:10]}"
    acked = {(r["key"], r["vid"], r["marker"]): r for r in writer.acked}
    assert len(acked) == len(writer.acked), "the source gave one version id twice"
    lost_at_source = sorted(set(acked) - set(src))
    assert not lost_at_source, f"acknowledged but not at the source: {lost_at_source[:10]}"
    missing = sorted(set(acked) - set(dst))
    assert not missing, (f"{len(missing)} acknowledged versions missing at the "
                         f"destination: {missing[:10]}")
    unreplicated = sorted(set(src) - set(dst))
    assert not unreplicated, (f"{len(unreplicated)} source versions not at the "
                              f"destination: {unreplicated[:10]}")
    extra = sorted(set(dst) - set(src))
    assert not extra, f"{len(extra)} destination versions the source does not have: {extra[:10]}"
    wrong_etag = [(k, src[k]["etag"], dst[k]["etag"]) for k in src
                  if src[k]["etag"] != dst[k]["etag"] or src[k]["size"] != dst[k]["size"]]
    assert not wrong_etag, f"ETag/size differ at the destination: {wrong_etag[:10]}"
    wrong_ack = [(k, r["etag"], src[k]["etag"]) for k, r in acked.items()
                 if not r["marker"] and r["etag"] != src[k]["etag"]]
    assert not wrong_ack, f"listed ETag is not the acknowledged one: {wrong_ack[:10]}"
    latest = {k[0]: k[1] for k, e in src.items() if e["latest"]}
    latest_dst = {k[0]: k[1] for k, e in dst.items() if e["latest"]}
    assert latest == latest_dst, (
        "newest version differs: "
        f"{[(k, latest.get(k), latest_dst.get(k)) for k in set(latest) | set(latest_dst) if latest.get(k) != latest_dst.get(k)][:10]}")

    # Statuses of every version (markers have none to HEAD).
    def head(s3, bucket, k):
        r = s3.head_object(Bucket=bucket, Key=k[0], VersionId=k[1])
        return r.get("ReplicationStatus"), r["ETag"]

    versions = [k for k in src if not k[2]]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        src_st = dict(zip(versions, pool.map(lambda k: head(a, SRC, k), versions)))
        dst_st = dict(zip(versions, pool.map(lambda k: head(b, DST, k), versions)))
    not_completed = [(k, s) for k, (s, _) in src_st.items() if s != "COMPLETED"]
    assert not not_completed, (f"{len(not_completed)} source versions not COMPLETED: "
                               f"{not_completed[:10]}")
    not_replica = [(k, s) for k, (s, _) in dst_st.items() if s != "REPLICA"]
    assert not not_replica, f"{len(not_replica)} replicas not REPLICA: {not_replica[:10]}"
    head_etag = [k for k in versions if src_st[k][1] != dst_st[k][1]]
    assert not head_etag, f"HEAD ETag differs: {head_etag[:10]}"

    # Bytes of a sample (every 8 MiB version among them, up to 4).
    puts = [r for r in writer.acked if not r["marker"]]
    chosen = [r for r in puts if r["size"] >= 8 * MIB][:4]
    chosen += rng.sample(puts, min(sample, len(puts)))
    checked = 0
    for r in chosen:
        got = b.get_object(Bucket=DST, Key=r["key"], VersionId=r["vid"])
        assert got.get("ReplicationStatus") == "REPLICA", got.get("ReplicationStatus")
        assert sha256(got["Body"].read()) == r["sha"], f"{r['key']}@{r['vid']}: wrong bytes"
        checked += r["size"]
    return {"versions_replicated": len(dst),
            "markers": sum(1 for k in dst if k[2]),
            "bytes_spot_checked": checked,
            "unacked_but_replicated": len(set(src) - set(acked))}


def no_partial_replica(d, writer):
    """What the destination lists now (a copy may have been cut off
    mid-body): every acknowledged version it has is whole (its ETag and
    size). Returns how many were checked."""
    dst, dups = list_versions(d[B].client(), DST)
    assert not dups, f"the destination lists versions twice: {dups[:10]}"
    with writer.lock:
        acked = {(r["key"], r["vid"], r["marker"]): r for r in writer.acked}
    bad = [(k, e, acked[k]["etag"], acked[k]["size"]) for k, e in dst.items()
           if k in acked and not k[2]
           and (e["etag"] != acked[k]["etag"] or e["size"] != acked[k]["size"])]
    assert not bad, f"partial or wrong replicas visible: {bad[:5]}"
    return len(dst)


def backlog_at(watch, t):
    """The backlog of the first status sample taken at `t` or later."""
    for ts, row in watch.samples:
        if ts >= t:
            return row["pending"]
    return None


def first_copy_after(watch, t0, row0):
    """Seconds from `t0` to the first status sample (one a second) whose
    worker had copied more than in `row0`: the back-off wait after a
    fault ends."""
    for t, row in watch.samples:
        if t >= t0 and row["replicated"] > row0["replicated"]:
            return f"{t - t0:.1f}"
    return None


def lag_figures(row):
    return {"lag_p50_ms": row["lag_p50_ms"], "lag_p99_ms": row["lag_p99_ms"],
            "lag_max_ms": row["lag_max_ms"]}


def start_replicating(d, seed, **writer_kwargs):
    """The pair, a writer and a backlog watch, the writer warmed up with
    its first versions replicated (the link works before the fault)."""
    replicated_pair(d)
    writer = Writer(d[A], seed, **writer_kwargs).start()
    watch = BacklogWatch(d[A]).start()
    writer.wait_acks(10)
    first = next(r for r in writer.acked if not r["marker"])  # a marker has no HEAD
    b = d[B].client()
    deadline = time.monotonic() + 30
    while True:
        try:
            r = b.head_object(Bucket=DST, Key=first["key"], VersionId=first["vid"])
            assert r.get("ReplicationStatus") == "REPLICA", r
            break
        except ClientError as e:
            assert time.monotonic() < deadline, (
                f"the first version ({first}) never replicated: {e.response}, "
                f"{pair_status(d[A])}\n"
                f"{d[A].gateway.log_tail(20)}")
            time.sleep(0.2)
    return writer, watch


# -- the scenarios ------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_1_destination_region_cut_off_60s_under_load(make_deployment, seed):
    d = make_deployment(wan_delay=0.0)  # a link that can be cut, no added delay
    writer, watch = start_replicating(d, seed)
    writer.wait_acks(15)
    acked_before = writer.count()

    cut_at = time.monotonic()
    reset = d.cut()  # both ways: region B off the network
    # Region A keeps taking writes; what it takes now stays PENDING.
    time.sleep(OUTAGE / 2)
    during = [r for r in writer.acked if r["t"] > cut_at + 2 and not r["marker"]]
    assert during, "no write acknowledged while B was cut off"
    pending_status = d[A].client().head_object(
        Bucket=SRC, Key=during[-1]["key"], VersionId=during[-1]["vid"]).get("ReplicationStatus")
    assert pending_status == "PENDING", pending_status
    time.sleep(max(0.0, cut_at + OUTAGE - 0.5 - time.monotonic()))
    cut_row = pair_status(d[A])
    time.sleep(max(0.0, cut_at + OUTAGE - time.monotonic()))
    d.restore()
    restored_at = time.monotonic()
    acked_cut = writer.count() - acked_before
    failed_cut = writer.failed_since(cut_at)
    cut_latencies = [r["took"] for r in writer.acked if cut_at <= r["t"] <= restored_at]

    # The writer goes on; the outage's backlog drains: until no task
    # older than the restore is left.
    drained_s = None
    while drained_s is None:
        t = time.monotonic()
        row = pair_status(d[A])
        assert row["failed_pending"] == 0, row
        if row["oldest_pending_ms"] is None or row["oldest_pending_ms"] < (t - restored_at) * 1000:
            drained_s = t - restored_at
        else:
            assert t - restored_at < DRAIN_DEADLINE, (
                f"the outage's backlog not drained within {DRAIN_DEADLINE}s: {row}\n"
                f"{d[A].gateway.log_tail(30)}")
            time.sleep(0.25)
    writer.wait_acks(8)
    writer.stop()
    final_s, row, _ = wait_drained(d[A], 60, "after the writer stopped")
    watch.stop()
    first_copy_s = first_copy_after(watch, restored_at, cut_row)
    assert not failed_cut, f"region A refused writes while B was cut off: {failed_cut[:5]}"
    assert not writer.failed, writer.failed[:5]
    figures = check_replicated(d, writer, random.Random(seed))
    report("replication 1: destination region cut off 60 s under load",
           writes_acked=len(writer.acked), writes_acked_during_cut=acked_cut,
           write_failures=len(writer.failed),
           put_p50_ms_during_cut=f"{statistics.median(cut_latencies) * 1000:.0f}",
           put_max_ms_during_cut=f"{max(cut_latencies) * 1000:.0f}",
           bytes_written=writer.bytes, connections_reset=reset,
           outage_s=f"{restored_at - cut_at:.1f}",
           backlog_at_restore=cut_row["pending"],
           backlog_bytes_at_restore=cut_row["pending_bytes"],
           oldest_at_restore_ms=cut_row["oldest_pending_ms"],
           max_backlog_seen=watch.max_pending, max_backlog_bytes=watch.max_pending_bytes,
           retries=row["retries"], first_copy_after_restore_s=first_copy_s,
           backlog_10s_after_restore=backlog_at(watch, restored_at + 10),
           backlog_30s_after_restore=backlog_at(watch, restored_at + 30),
           drain_after_restore_s=f"{drained_s:.1f}",
           final_drain_s=f"{final_s:.1f}", **figures, **lag_figures(row))


@pytest.mark.timeout(300)
def test_1b_destination_gateway_sigstopped(make_deployment, seed):
    """Region B's gateway SIGSTOPped for 60 s (its socket accepts, nothing
    answers): copies hang until it is resumed or they time out (60 s for a
    small one: the resume and the timeouts come together, so some copies
    B made are tried again, and must be kept once)."""
    stopped_for = OUTAGE
    d = make_deployment(wan_delay=0.0)
    writer, watch = start_replicating(d, seed)
    writer.wait_acks(10)
    stopped_at = time.monotonic()
    d[B].gateway.pause()
    try:
        time.sleep(stopped_for)
        paused_row = pair_status(d[A])
    finally:
        d[B].gateway.resume()
    resumed_at = time.monotonic()
    drained_s = None
    while drained_s is None:
        t = time.monotonic()
        row = pair_status(d[A])
        assert row["failed_pending"] == 0, row
        if row["oldest_pending_ms"] is None or row["oldest_pending_ms"] < (t - resumed_at) * 1000:
            drained_s = t - resumed_at
        else:
            assert t - resumed_at < DRAIN_DEADLINE, (
                f"the backlog not drained within {DRAIN_DEADLINE}s: {row}\n"
                f"{d[A].gateway.log_tail(30)}")
            time.sleep(0.25)
    writer.wait_acks(5)
    writer.stop()
    final_s, row, _ = wait_drained(d[A], 60, "after the writer stopped")
    watch.stop()
    first_copy_s = first_copy_after(watch, resumed_at, paused_row)
    assert not writer.failed, f"region A refused writes: {writer.failed[:5]}"
    figures = check_replicated(d, writer, random.Random(seed))
    report("replication 1b: destination gateway SIGSTOPped",
           writes_acked=len(writer.acked), stopped_s=f"{resumed_at - stopped_at:.1f}",
           backlog_at_resume=paused_row["pending"], max_backlog_seen=watch.max_pending,
           retries=row["retries"], first_copy_after_resume_s=first_copy_s,
           drain_after_resume_s=f"{drained_s:.1f}",
           final_drain_s=f"{final_s:.1f}", **figures, **lag_figures(row))


@pytest.mark.timeout(200)
def test_2_source_gateway_killed_mid_replication(make_deployment, seed):
    d = make_deployment(wan_delay=0.05)
    writer, watch = start_replicating(d, seed)
    writer.wait_acks(10)
    pending_at_kill, _ = wait_copying(d, writer)
    wan = d.wans[(A, B)]
    open_at_kill = wan.open_connections()
    killed_at = time.monotonic()
    d[A].gateway.kill9()
    listed_while_down = no_partial_replica(d, writer)
    time.sleep(max(0.0, killed_at + 2 - time.monotonic()))
    d[A].start_gateway()
    back_at = time.monotonic()
    writer.wait_acks(10)
    writer.stop()
    # The new worker takes the lease once the dead one's has run out (10 s).
    drain_s, row, biggest = wait_drained(d[A], 90, "after the gateway restart")
    since_restart_s = time.monotonic() - back_at
    watch.stop()
    figures = check_replicated(d, writer, random.Random(seed))
    report("replication 2: source gateway (the worker) killed -9 mid-copy",
           writes_acked=len(writer.acked), write_failures=len(writer.failed),
           pending_at_kill=pending_at_kill, link_connections_at_kill=open_at_kill,
           replicas_listed_while_down=listed_while_down,
           gateway_down_s=f"{back_at - killed_at:.1f}",
           max_backlog_seen=max(watch.max_pending, biggest),
           drained_after_restart_s=f"{since_restart_s:.1f}",
           drain_after_writer_stopped_s=f"{drain_s:.1f}",
           **figures, **lag_figures(row))


@pytest.mark.timeout(240)
def test_3_source_metadata_leader_killed_mid_replication(make_deployment, seed):
    d = make_deployment(wan_delay=0.05, region_kwargs={A: {"meta_replicas": 3}})
    writer, watch = start_replicating(d, seed)
    writer.wait_acks(10)
    pending_at_kill, _ = wait_copying(d, writer)
    leader = d[A].meta_leader()
    killed_at = time.monotonic()
    d[A].metas[leader].kill9()
    listed_after_kill = no_partial_replica(d, writer)
    # Writes go on through a leader elected among the other two.
    writer.wait_acks(10)
    new_leader = d[A].meta_leader(exclude=(leader,))
    writes_back_s = time.monotonic() - killed_at
    d[A].restart_meta(leader)
    d[A].wait_meta_caught_up(leader)
    writer.wait_acks(5)
    writer.stop()
    stopped_at = time.monotonic()
    drain_s, row, biggest = wait_drained(d[A], 90, "after the leader's death")
    watch.stop()
    figures = check_replicated(d, writer, random.Random(seed))
    report("replication 3: source metadata leader killed -9 mid-copy",
           writes_acked=len(writer.acked), write_failures=len(writer.failed),
           killed=leader, new_leader=new_leader, pending_at_kill=pending_at_kill,
           replicas_listed_after_kill=listed_after_kill,
           writes_back_within_s=f"{writes_back_s:.1f}",
           max_backlog_seen=max(watch.max_pending, biggest),
           drain_after_writer_stopped_s=f"{drain_s:.1f}",
           since_kill_s=f"{stopped_at + drain_s - killed_at:.1f}",
           **figures, **lag_figures(row))


@pytest.mark.timeout(150)
def test_4_lag_over_a_100ms_link(make_deployment, seed):
    d = make_deployment(wan_delay=0.05)  # 100 ms of added round-trip time
    writer, watch = start_replicating(d, seed, rate=20.0, threads=4, sizes="small",
                                      keys=200)
    wan = d.wans[(A, B)]
    up_before = wan.bytes_up
    acked_before = writer.count()
    started = time.monotonic()
    time.sleep(20)
    writer.stop()
    ran_s = time.monotonic() - started
    acked = writer.count() - acked_before
    drain_s, row, _ = wait_drained(d[A], 60, "after the stream")
    watch.stop()
    assert not writer.failed, writer.failed[:5]
    figures = check_replicated(d, writer, random.Random(seed))
    # Every copy crossed the link: its bytes, and at least one round trip
    # of 100 ms each.
    assert wan.bytes_up - up_before >= sum(r["size"] for r in writer.acked
                                           if r["t"] > started)
    assert row["lag_p50_ms"] >= 100, row
    lags = [r["lag_p99_ms"] for _, r in watch.samples]
    report("replication 4: 100 ms of added RTT, steady small writes",
           writes_acked=len(writer.acked), rate_per_s=f"{acked / ran_s:.1f}",
           duration_s=f"{ran_s:.1f}", max_backlog_seen=watch.max_pending,
           drain_after_last_write_s=f"{drain_s:.2f}", replicated=row["replicated"],
           lag_p99_ms_max_sample=max(lags) if lags else None,
           link_bytes_up=wan.bytes_up, **figures, **lag_figures(row))


@pytest.mark.timeout(180)
def test_5_source_region_lost_reads_fail_over_to_the_replica(make_deployment, seed):
    """The README walk-through's last step: region A lost as a whole (every
    process killed -9) once its backlog is drained. Readers switch to the
    replica bucket in B and get every key's current version, bytes and
    version id, as REPLICA; a key whose newest version is a delete marker
    is gone there too. B keeps serving and taking writes; for A's bucket B
    answers an error that is not NoSuchBucket (the name is taken)."""
    d = make_deployment(wan_delay=0.05)
    writer, watch = start_replicating(d, seed, sizes="small", keys=20)
    writer.wait_acks(40)
    writer.stop()
    drain_s, _, _ = wait_drained(d[A], 60, "before region A is lost")
    watch.stop()
    check_replicated(d, writer, random.Random(seed))
    acked = {(r["key"], r["vid"]): r for r in writer.acked}
    src, _ = list_versions(d[A].client(), SRC)
    latest = {key: (vid, marker) for (key, vid, marker), e in src.items() if e["latest"]}
    for p in d[A].procs():
        p.kill9()
    lost_at = time.monotonic()
    b = d[B].client(retries=0)
    served = gone = 0
    for key, (vid, marker) in sorted(latest.items()):
        if marker:
            with pytest.raises(ClientError) as e:
                b.get_object(Bucket=DST, Key=key)
            assert code(e.value) == "NoSuchKey", key
            gone += 1
            continue
        got = b.get_object(Bucket=DST, Key=key)
        body = got["Body"].read()
        assert got["VersionId"] == vid, key
        assert got.get("ReplicationStatus") == "REPLICA", key
        if (key, vid) in acked:
            assert sha256(body) == acked[(key, vid)]["sha"], key
        served += 1
    read_all_s = time.monotonic() - lost_at
    # B goes on: its bucket takes writes with region A gone.
    b.put_object(Bucket=DST, Key="written-after-failover", Body=b"b")
    assert b.get_object(Bucket=DST, Key="written-after-failover")["Body"].read() == b"b"
    try:
        b.head_bucket(Bucket=SRC)
        answer = 200
    except ClientError as e:
        answer = int(e.response["ResponseMetadata"]["HTTPStatusCode"])
    assert answer != 404 and answer >= 300, answer
    report("replication 5: source region lost, reads fail over to the replica",
           writes_acked=len(writer.acked), drained_before_loss_s=f"{drain_s:.1f}",
           keys_served_from_replica=served, keys_deleted_there_too=gone,
           read_all_after_loss_s=f"{read_all_s:.1f}", source_bucket_from_b=answer)
