"""The verifying workload: random PUTs, multipart uploads, overwrites and
deletes, every acknowledged write recorded with its SHA-256.

Per key the workload keeps the set of states the key may be in: after an
acknowledged PUT exactly its content, after an acknowledged DELETE exactly
"absent"; a write whose answer never came (a killed gateway, a timeout)
adds its state to the ones before it, since it may or may not have
happened. `verify` then reads every key back: its bytes must hash to one
of its states (0 acknowledged writes lost, 0 wrong bytes served), and a
key that must be absent must be absent.
"""

import hashlib
import os
import random
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET

from botocore.exceptions import ClientError

KIB = 1024
MIB = 1024 * KIB
ABSENT = None


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Workload:
    def __init__(self, cluster, bucket, seed, keys=40, max_size=6 * MIB):
        self.cluster = cluster
        self.s3 = cluster.client()
        self.bucket = bucket
        self.rng = random.Random(seed)
        self.keys = [f"obj/{i:03d}" for i in range(keys)]
        self.max_size = max_size
        self.states = {}  # key -> set of sha256 hex (or ABSENT)
        self.lock = threading.Lock()
        self.written = 0  # acknowledged writes (PUT, multipart, DELETE)
        self.bytes_written = 0
        self.write_errors = []
        self.read_errors = []
        self.reads_checked = 0
        self.acked_at = []  # time.monotonic() of every acknowledged write
        self._stop = threading.Event()
        self._thread = None

    # -- operations --------------------------------------------------------

    def _size(self):
        r = self.rng.random()
        if r < 0.1:
            return 0
        if r < 0.35:
            return self.rng.randint(1, 64 * KIB)  # inline in the metadata row
        if r < 0.7:
            return self.rng.randint(64 * KIB + 1, MIB)
        return self.rng.randint(MIB, self.max_size)

    def _before(self, key):
        return set(self.states.get(key, {ABSENT}))

    def _settle(self, key, new_state, acked, error=None):
        with self.lock:
            if acked:
                self.states[key] = {new_state}
                self.written += 1
                self.acked_at.append(time.monotonic())
            else:
                self.states[key] = self._before(key) | {new_state}
                self.write_errors.append(f"{key}: {error!r}")

    def put(self, key=None, size=None):
        key = key or self.rng.choice(self.keys)
        data = os.urandom(self._size() if size is None else size)
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        except Exception as e:  # the write may or may not have happened
            self._settle(key, sha256(data), False, e)
            return False
        self.bytes_written += len(data)
        self._settle(key, sha256(data), True)
        return True

    def multipart(self, key=None):
        key = key or self.rng.choice(self.keys)
        parts = [os.urandom(5 * MIB), os.urandom(self.rng.randint(1, MIB))]
        data = b"".join(parts)
        try:
            up = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)
            etags = []
            for n, body in enumerate(parts, 1):
                r = self.s3.upload_part(Bucket=self.bucket, Key=key, PartNumber=n,
                                        UploadId=up["UploadId"], Body=body)
                etags.append({"PartNumber": n, "ETag": r["ETag"]})
            self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=up["UploadId"],
                MultipartUpload={"Parts": etags})
        except Exception as e:
            self._settle(key, sha256(data), False, e)
            return False
        self.bytes_written += len(data)
        self._settle(key, sha256(data), True)
        return True

    def delete(self, key=None):
        key = key or self.rng.choice(self.keys)
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        except Exception as e:
            self._settle(key, ABSENT, False, e)
            return False
        self._settle(key, ABSENT, True)
        return True

    def read_one(self):
        """GETs a key mid-stream: its bytes must be one of its states."""
        with self.lock:
            known = [k for k, s in self.states.items() if ABSENT not in s]
        if not known:
            return
        key = self.rng.choice(known)
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as e:
            self.read_errors.append(f"GET {key}: {e!r}")
            return
        with self.lock:
            states = set(self.states[key])
        assert sha256(body) in states, f"GET {key} served bytes never written"
        self.reads_checked += 1

    def step(self):
        r = self.rng.random()
        if r < 0.5:
            self.put()
        elif r < 0.6:
            self.multipart()
        elif r < 0.75:
            self.delete()
        else:
            self.read_one()

    def run(self, ops):
        for _ in range(ops):
            self.step()

    # -- in the background -------------------------------------------------

    def start(self):
        """Runs operations in a thread until `stop`."""
        def loop():
            while not self._stop.is_set():
                self.step()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def wait_writes(self, n, timeout=300):
        """Until `n` more writes have been acknowledged."""
        target = self.written + n
        deadline = time.monotonic() + timeout
        while self.written < target:
            assert self._thread.is_alive(), "workload thread died"
            assert time.monotonic() < deadline, f"workload stalled at {self.written}"
            time.sleep(0.05)

    def unavailable_after(self, t):
        """Seconds from `t` (a fault) until the first write acknowledged
        after it: how long writes were unavailable, at most (the write that
        ended the gap may have started before `t`)."""
        with self.lock:
            after = [a for a in self.acked_at if a > t]
        return (min(after) - t) if after else None

    def stop(self, timeout=300):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "workload did not stop (a hung request?)"

    # -- checking ----------------------------------------------------------

    def verify(self, s3=None):
        """Reads every key back; returns (objects checked, bytes verified)."""
        s3 = s3 or self.cluster.client()
        objects = verified = 0
        for key, states in sorted(self.states.items()):
            try:
                body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as e:
                if e.response["Error"]["Code"] == "NoSuchKey":
                    assert ABSENT in states, f"{key}: acknowledged write lost (404)"
                    continue
                raise
            assert sha256(body) in states, (
                f"{key}: wrong bytes ({len(body)} bytes, states {states})")
            objects += 1
            verified += len(body)
        listed = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            listed.update(o["Key"] for o in page.get("Contents", []))
        for key, states in self.states.items():
            if states == {ABSENT}:
                assert key not in listed, f"{key}: deleted but listed"
            elif ABSENT not in states:
                assert key in listed, f"{key}: acknowledged but not listed"
        return objects, verified


def report(name, **figures):
    """Prints a scenario's figures in one line (pytest -s, or the CI log)."""
    text = " ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\n[fault figures] {name}: {text}", flush=True)


# -- versions ----------------------------------------------------------------

def _local(tag):
    """An XML element's name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def _child_text(el, name):
    for ch in el:
        if _local(ch.tag) == name:
            return ch.text or ""
    return None


# A versioned bucket's lifecycle rule (`VersionWorkload(lifecycle=...)`):
# under `prefix`, NoncurrentVersionExpiration {NoncurrentDays:
# `noncurrent_days`, NewerNoncurrentVersions: `keep`} and Expiration
# {ExpiredObjectDeleteMarker: true}; a day lasts `day_secs` (the gateways'
# `lifecycle.day_secs`).
LIFECYCLE = {"prefix": "lc/", "day_secs": 2, "noncurrent_days": 1, "keep": 2}


def lifecycle_rules(lc):
    """The bucket lifecycle configuration (boto3) of rule `lc`."""
    return {"Rules": [{
        "ID": "trim-noncurrent",
        "Filter": {"Prefix": lc["prefix"]},
        "Status": "Enabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": lc["noncurrent_days"],
                                        "NewerNoncurrentVersions": lc["keep"]},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
    }]}


def day_ceil(ms, day_ms):
    """`ms` rounded up to a whole day (as shale_metadata::day_ceil)."""
    return -(-ms // day_ms) * day_ms


def _error_code(e):
    if isinstance(e, ClientError):
        return (e.response.get("Error", {}).get("Code") or "?",
                e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
    return (type(e).__name__, None)


class VersionWorkload:
    """Writer threads on a versioned bucket: PUTs of new versions of a few
    keys (small inline bodies and erasure-coded ones of 1 MiB and more),
    DELETEs without a version id (delete markers), DELETEs of one older
    version by its id, and GETs by version id.

    Every attempt is one HTTP request (the clients never retry by
    themselves: `make_client` must give clients with `max_attempts` 1) and
    is recorded with its start and end. A writer repeats a failed operation
    (on the other gateway) until it is acknowledged, for `op_deadline`
    seconds at most; its failed attempts may or may not have happened, so
    each may have made at most one version (PUT, marker) or removed its
    version (DELETE ?versionId). Acknowledged: a PUT with the version id it
    was given and its body's SHA-256, a marker with its id, a removal with
    the id it removed.

    With `lifecycle` (a rule as `LIFECYCLE`, put on the bucket by the
    caller) there are `lc_keys` more keys under the rule's prefix, now and
    then swept (a marker, then every older version removed: a lone marker),
    and a watcher lists that prefix all along: a version or marker of those
    keys may vanish only as `lifecycle_veto` allows.
    """

    def __init__(self, make_client, gateways, bucket, seed, keys=6, writers=4,
                 op_deadline=45.0, lifecycle=None, lc_keys=3):
        self.bucket = bucket
        self.gateways = gateways
        self.keys = [f"ver/{i:02d}" for i in range(keys)]
        # The bucket's lifecycle rule, when it has one (see `LIFECYCLE`):
        # `lc_keys` more keys under its prefix, judged by its rules.
        self.lifecycle = dict(LIFECYCLE, **lifecycle) if lifecycle else None
        if self.lifecycle:
            self.keys += [f"{self.lifecycle['prefix']}{i:02d}" for i in range(lc_keys)]
        self.op_deadline = op_deadline
        self.seed = seed
        # Clients made here, in one thread: one per writer and gateway.
        self.clients = {w: [make_client(g) for g in range(gateways)]
                        for w in range(writers)}
        self.lock = threading.Lock()
        self.attempts = []      # every finished PUT / marker / removal attempt
        self.reads = []         # every mid-stream GET by version id
        self.inflight = {}      # id(record) -> record, attempts under way
        self.acked = {k: [] for k in self.keys}  # key -> acknowledged creations
        self.removed = set()    # (key, version id) acknowledged removed
        self.acks = []          # time.monotonic() of every acknowledged write
        self.anomalies = []     # answers that break the protocol, seen at once
        self.gave_up = []       # operations that failed for op_deadline seconds
        self.counts = {"put": 0, "marker": 0, "remove": 0}
        # Lifecycle evidence: listings of the rule's prefix taken all along
        # (`snapshots`, by start time) and markers a DELETE ?versionId found
        # already gone (`gone`).
        self.watch_clients = ([make_client(g) for g in range(gateways)]
                              if self.lifecycle else [])
        self.snapshots = []
        self.gone = []
        self._stop = threading.Event()
        self._threads = []
        self.t0 = time.monotonic()
        self.wall_offset = time.time() - time.monotonic()

    # -- one attempt -------------------------------------------------------

    def _attempts(self, w, rec_fields, call):
        """Runs `call(s3)` until acknowledged (then returns the answer and
        the attempt's record, not yet filed) or until `op_deadline` passed
        (returns None, None); failed attempts are filed as they fail."""
        g = w % self.gateways  # each operation starts on its own gateway
        deadline = time.monotonic() + self.op_deadline
        while True:
            rec = dict(rec_fields, writer=w, gw=g, start=time.monotonic(), acked=False)
            with self.lock:
                self.inflight[id(rec)] = rec
            try:
                resp = call(self.clients[w][g])
            except Exception as e:  # it may or may not have happened
                rec["end"] = time.monotonic()
                rec["error"] = _error_code(e)
                rec["error_text"] = repr(e)[:300]
                with self.lock:
                    del self.inflight[id(rec)]
                    self.attempts.append(rec)
                if time.monotonic() > deadline:
                    with self.lock:
                        self.gave_up.append(rec)
                    return None, None
                g = (g + 1) % self.gateways
                time.sleep(0.1)
                continue
            rec["end"] = time.monotonic()
            rec["acked"] = True
            with self.lock:
                del self.inflight[id(rec)]
            return resp, rec

    def _removal_raced(self, key, vid, rec):
        """Whether another removal of `key`'s version `vid` (a failed attempt
        of this one, or another writer's) was sent before `rec` was
        answered."""
        with self.lock:
            others = list(self.attempts) + list(self.inflight.values())
        return any(o is not rec and o.get("kind") == "remove" and o.get("key") == key
                   and o.get("vid") == vid and o["start"] < rec["end"] for o in others)

    def _file_ack(self, rec, creation):
        with self.lock:
            self.attempts.append(rec)
            self.acks.append(rec["end"])
            self.counts[rec["kind"]] += 1
            if creation:
                self.acked[rec["key"]].append(rec)
            else:
                self.removed.add((rec["key"], rec["vid"]))

    def _anomaly(self, text):
        with self.lock:
            self.anomalies.append(text)

    # -- operations --------------------------------------------------------

    def put(self, w, rng, key):
        if rng.random() < 0.6:
            size = rng.randint(0, 60 * KIB)  # inline in the metadata row
        else:
            size = rng.randint(MIB, 2 * MIB + 512 * KIB)  # erasure-coded
        data = os.urandom(size)
        digest = sha256(data)
        resp, rec = self._attempts(
            w, {"kind": "put", "key": key, "sha": digest, "size": size},
            lambda s3: s3.put_object(Bucket=self.bucket, Key=key, Body=data))
        if rec is None:
            return
        rec["vid"] = resp.get("VersionId")
        if not rec["vid"] or rec["vid"] == "null":
            self._anomaly(f"PUT {key} acknowledged without a version id: {rec['vid']!r}")
            return
        self._file_ack(rec, True)

    def marker(self, w, rng, key):
        resp, rec = self._attempts(
            w, {"kind": "marker", "key": key},
            lambda s3: s3.delete_object(Bucket=self.bucket, Key=key))
        if rec is None:
            return
        rec["vid"] = resp.get("VersionId")
        if not resp.get("DeleteMarker") or not rec["vid"] or rec["vid"] == "null":
            self._anomaly(f"DELETE {key} acknowledged without a delete marker: "
                          f"DeleteMarker={resp.get('DeleteMarker')!r} "
                          f"VersionId={rec['vid']!r}")
            return
        self._file_ack(rec, True)
        return rec

    def remove(self, w, rng, key):
        """DELETE ?versionId of one of the key's older acknowledged versions
        (or markers): never the newest acknowledged one."""
        with self.lock:
            live = [r for r in self.acked[key] if (key, r["vid"]) not in self.removed]
        if len(live) < 2:
            return self.put(w, rng, key)
        self._remove(w, key, rng.choice(live[:-1]))

    def sweep(self, w, rng, key):
        """A delete marker, then DELETE ?versionId of every older
        acknowledged version and marker of the key: the marker is left its
        key's only version (unless another writer's write came between),
        for lifecycle's ExpiredObjectDeleteMarker."""
        rec = self.marker(w, rng, key)
        if rec is None:
            return
        with self.lock:
            older = [r for r in self.acked[key]
                     if (key, r["vid"]) not in self.removed and r["vid"] < rec["vid"]]
            # Not those lifecycle removed already (as far as the last
            # listing tells).
            snap = self.snapshots[-1] if self.snapshots else None
        if snap is not None:
            older = [r for r in older
                     if (key, r["vid"]) in snap["entries"] or r["end"] > snap["start"]]
        for target in older:
            self._remove(w, key, target)

    def _remove(self, w, key, target):
        vid = target["vid"]
        resp, rec = self._attempts(
            w, {"kind": "remove", "key": key, "vid": vid, "target": target["kind"]},
            lambda s3: s3.delete_object(Bucket=self.bucket, Key=key, VersionId=vid))
        if rec is None:
            return
        gone_already = (target["kind"] == "marker" and resp.get("VersionId") == vid
                        and not resp.get("DeleteMarker"))
        if gone_already and self._removal_raced(key, vid, rec):
            # An earlier attempt of this removal failed after it took effect,
            # or another writer removed the marker first: S3 answers a
            # removal of a version that is not there (any more) the same way.
            pass
        elif gone_already and self.in_rule(key):
            # The marker was gone already: lifecycle's doing, if it was its
            # key's only version (judged in `verify`).
            with self.lock:
                self.gone.append(dict(target, by=rec["end"], by_start=rec["start"],
                                      removal=rec))
        elif resp.get("VersionId") != vid or bool(resp.get("DeleteMarker")) != (
                target["kind"] == "marker"):
            self._anomaly(f"DELETE {key}?versionId={vid} ({target['kind']}) answered "
                          f"VersionId={resp.get('VersionId')!r} "
                          f"DeleteMarker={resp.get('DeleteMarker')!r}")
        self._file_ack(rec, False)

    def read(self, w, rng):
        """One GET by version id of an acknowledged version: its bytes
        must be that version's (judged in `verify` when it is missing: a
        removal of it may have been under way)."""
        with self.lock:
            live = [r for k in self.keys for r in self.acked[k]
                    if r["kind"] == "put" and (k, r["vid"]) not in self.removed]
        if not live:
            return
        target = rng.choice(live)
        g = rng.randrange(self.gateways)
        rec = {"kind": "read", "key": target["key"], "vid": target["vid"], "gw": g,
               "writer": w, "start": time.monotonic()}
        try:
            body = self.clients[w][g].get_object(
                Bucket=self.bucket, Key=target["key"],
                VersionId=target["vid"])["Body"].read()
            rec["outcome"] = "ok" if sha256(body) == target["sha"] else "wrong"
            rec["got"] = (len(body), sha256(body))
        except ClientError as e:
            code, status = _error_code(e)
            rec["outcome"] = "missing" if status == 404 else "error"
            rec["error"] = (code, status)
        except Exception as e:
            rec["outcome"] = "error"
            rec["error"] = _error_code(e)
        rec["end"] = time.monotonic()
        with self.lock:
            self.reads.append(rec)

    def _writer(self, w):
        rng = random.Random(self.seed * 31 + w)
        while not self._stop.is_set():
            key = rng.choice(self.keys)
            r = rng.random()
            if self.in_rule(key) and r < 0.01:
                self.sweep(w, rng, key)
            elif r < 0.55:
                self.put(w, rng, key)
            elif r < 0.67:
                self.marker(w, rng, key)
            elif r < 0.85:
                self.remove(w, rng, key)
            else:
                self.read(w, rng)

    # -- in the background -------------------------------------------------

    def start(self):
        self.t0 = time.monotonic()
        self.wall_offset = time.time() - time.monotonic()
        for w in self.clients:
            t = threading.Thread(target=self._writer, args=(w,), daemon=True)
            t.start()
            self._threads.append(t)
        if self.lifecycle:
            t = threading.Thread(target=self._watch, daemon=True)
            t.start()
            self._threads.append(t)

    def in_rule(self, key):
        return bool(self.lifecycle) and key.startswith(self.lifecycle["prefix"])

    def snapshot(self, s3, tag):
        """Lists the lifecycle rule's prefix, every page; files it as a
        snapshot (None when the listing failed: a gateway down)."""
        start = time.monotonic()
        try:
            entries = self.list_versions(s3, prefix=self.lifecycle["prefix"], timeout=10)
        except Exception:
            return None
        snap = {"start": start, "end": time.monotonic(), "tag": tag, "by_key": {},
                "entries": {(e["key"], e["vid"]): e for e in entries}}
        for e in entries:
            snap["by_key"].setdefault(e["key"], []).append(e)
        with self.lock:
            self.snapshots.append(snap)
        return snap

    def _watch(self):
        """Lists the rule's prefix every ~0.25 s, through each gateway in
        turn, while the writers run."""
        i = 0
        while not self._stop.is_set():
            g = i % self.gateways
            i += 1
            self.snapshot(self.watch_clients[g], f"gw{g}")
            self._stop.wait(0.25)

    def untrimmed(self, snap):
        """Keys under the rule the worker still has work on in `snap`:
        key -> (noncurrent object versions, whether a lone marker)."""
        keep = self.lifecycle["keep"]
        out = {}
        for key, es in snap["by_key"].items():
            noncurrent = sum(1 for e in es if not e["latest"] and not e["marker"])
            lone_marker = len(es) == 1 and es[0]["marker"]
            if noncurrent > keep or lone_marker:
                out[key] = (noncurrent, lone_marker)
        return out

    def wait_trimmed(self, s3, timeout=30):
        """After the writers stopped: until every key under the rule has at
        most `keep` noncurrent object versions and no key is a lone marker
        (the worker has nothing left to do). Returns the seconds taken."""
        start = time.monotonic()
        while True:
            snap = self.snapshot(s3, "trim")
            left = self.untrimmed(snap) if snap else {"(listing failed)": None}
            if not left:
                return time.monotonic() - start
            assert time.monotonic() - start < timeout, (
                f"lifecycle did not trim within {timeout}s: key -> (noncurrent "
                f"versions, lone marker): {left}")
            time.sleep(0.3)

    def wait_acks(self, n, timeout=120, min_seconds=0.0):
        """Until `n` more writes were acknowledged (and `min_seconds` passed)."""
        start = time.monotonic()
        target = len(self.acks) + n
        while len(self.acks) < target or time.monotonic() - start < min_seconds:
            assert all(t.is_alive() for t in self._threads), "a writer thread died"
            assert time.monotonic() - start < timeout, (
                f"writes stalled at {len(self.acks)} acknowledged "
                f"(last errors: {[a.get('error_text') for a in self.attempts[-3:]]})")
            time.sleep(0.05)

    def wait_inflight(self, gw, min_size, timeout=15):
        """Until a PUT of at least `min_size` bytes has been under way
        through gateway `gw` for a moment: the fault hits it mid-upload.
        Returns whether one was found."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = time.monotonic()
            with self.lock:
                busy = [r for r in self.inflight.values()
                        if r["gw"] == gw and r.get("size", 0) >= min_size
                        and now - r["start"] > 0.02]
            if busy:
                return True
            time.sleep(0.005)
        return False

    def stop(self, timeout=120):
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.1, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), (
            "a writer did not stop (a hung request?)")

    def unavailable(self, since, until):
        """The longest time in [since, until] without an acknowledged write
        (from `since`, a fault, to the first one after it included)."""
        with self.lock:
            acks = sorted(a for a in self.acks if since < a <= until)
        points = [since] + acks
        gaps = [b - a for a, b in zip(points, points[1:])]
        if not acks:
            return until - since
        return max(gaps)

    # -- checking ----------------------------------------------------------

    def wall(self, t):
        """Unix seconds of monotonic time `t`."""
        return t + self.wall_offset

    def lifecycle_veto(self, r, by):
        """Why lifecycle may NOT have removed acknowledged creation `r` (a
        version or marker of a key under the rule) by monotonic time `by`;
        None when it may have. Conservative: every bound leans towards
        allowing the removal, so a reason given is a removal made early.

        - A marker: only while it is its key's only version; so never while
          a version older than it still exists: one listed by a listing
          begun after `by` existed at the removal too.
        - A version: never one of the `keep` newest noncurrent object
          versions: at its removal there were at least `keep` newer
          noncurrent object versions and a newer latest one, so at least
          keep+1 newer versions, or keep newer ones and a newer marker,
          written before `by`. Every acknowledged write with a greater
          version id counts, and every failed attempt that may have been
          applied after `r` was sent.
        - A version: not before day_ceil(noncurrent since + days). It became
          noncurrent no earlier than it was sent; and if a listing begun at
          T showed it latest, the write that demoted it committed after T
          (reads are linearizable), and that write was stamped no earlier
          than it was sent: an acknowledged write that ended after T, or
          any failed attempt (it may commit at any time).
        """
        lc = self.lifecycle
        key, vid = r["key"], r["vid"]
        t = lambda x: f"{x - self.t0:.2f}s"  # noqa: E731
        with self.lock:
            snaps = sorted(self.snapshots, key=lambda s: s["start"])
            writes = [a for a in self.attempts
                      if a["key"] == key and a["kind"] in ("put", "marker")]
        if r["kind"] == "marker":
            for snap in snaps:
                if snap["start"] <= by:
                    continue
                older = [e for e in snap["by_key"].get(key, []) if e["vid"] < vid]
                if older:
                    what = "marker" if older[0]["marker"] else "version"
                    return (f"gone by {t(by)}, but the older {what} {older[0]['vid']} is "
                            f"listed at {t(snap['start'])} ({snap['tag']}): the marker was "
                            f"never its key's only version")
            return None

        def newer(kind):
            return sum(1 for a in writes if a["kind"] == kind and a["start"] < by and (
                a["vid"] > vid if a["acked"] else a["end"] > r["start"] - 0.5))

        objs, markers = newer("put"), newer("marker")
        keep = lc["keep"]
        if not (objs >= keep + 1 or (objs >= keep and markers >= 1)):
            return (f"gone by {t(by)}, but at most {objs} newer versions and {markers} "
                    f"newer markers were written by then: it was one of the {keep} newest "
                    f"noncurrent versions")
        since, why = r["start"], "it was sent"
        failed_starts = [a["start"] for a in writes if not a["acked"] and a["start"] < by]
        for snap in snaps:
            if snap["start"] >= by:
                break
            e = snap["entries"].get((key, vid))
            if not (e and e["latest"]):
                continue
            after = failed_starts + [a["start"] for a in writes if a["acked"]
                                     and a["end"] > snap["start"] and a["start"] < by]
            if not after:
                return (f"gone by {t(by)}, but it was listed latest at "
                        f"{t(snap['start'])} and no write of {key} came after")
            if min(after) > since:
                since, why = min(after), f"it was listed latest at {t(snap['start'])}"
        day_ms = lc["day_secs"] * 1000
        due_ms = day_ceil(int(self.wall(since) * 1000) - 5 + lc["noncurrent_days"] * day_ms,
                          day_ms)
        by_ms = self.wall(by) * 1000 + 5
        if due_ms > by_ms:
            return (f"gone by {t(by)}, but noncurrent no earlier than {t(since)} ({why}): "
                    f"not due before {t(due_ms / 1000 - self.wall_offset)}")
        return None

    def gone_for_good(self, key, vid, after):
        """The end of the first snapshot begun after `after` that does not
        list (key, vid), when no later one lists it (versions never come
        back); None when there is none."""
        with self.lock:
            snaps = sorted(self.snapshots, key=lambda s: s["start"])
        first = None
        for snap in snaps:
            if snap["start"] <= after:
                continue
            if (key, vid) in snap["entries"]:
                first = None
            elif first is None:
                first = snap["end"]
        return first

    def list_versions(self, s3, page=1000, prefix=None, timeout=60):
        """ListObjectVersions, every page, from the raw XML: entries in the
        order listed (versions and delete markers interleaved)."""
        entries = []
        key_marker = vid_marker = None
        for _ in range(10000):
            params = {"Bucket": self.bucket, "MaxKeys": page}
            if prefix:
                params["Prefix"] = prefix
            if key_marker is not None:
                params["KeyMarker"] = key_marker
                if vid_marker:
                    params["VersionIdMarker"] = vid_marker
            url = s3.generate_presigned_url("list_object_versions", Params=params,
                                            ExpiresIn=600)
            with urllib.request.urlopen(url, timeout=timeout) as r:
                root = ET.fromstring(r.read())
            for el in root:
                tag = _local(el.tag)
                if tag in ("Version", "DeleteMarker"):
                    entries.append({
                        "key": _child_text(el, "Key"),
                        "vid": _child_text(el, "VersionId"),
                        "latest": _child_text(el, "IsLatest") == "true",
                        "marker": tag == "DeleteMarker",
                        "size": int(_child_text(el, "Size") or 0),
                        "modified": _child_text(el, "LastModified"),
                    })
            if _child_text(root, "IsTruncated") != "true":
                return entries
            key_marker = _child_text(root, "NextKeyMarker")
            vid_marker = _child_text(root, "NextVersionIdMarker")
            assert key_marker, "a truncated listing without NextKeyMarker"
        raise AssertionError("ListObjectVersions never ended")

    def verify(self, s3, s3_other=None, page=7):
        """Checks the bucket against every acknowledged outcome; returns
        (figures, problems)."""
        problems = list(self.anomalies)
        P = problems.append

        def t(x):
            return f"{x - self.t0:.2f}s"

        def who(r):
            return (f"{r['kind']} {r['vid']} (writer {r['writer']}, gw {r['gw']}, "
                    f"sent {t(r['start'])}, acked {t(r['end'])})")

        for r in self.gave_up:
            P(f"{r['kind']} {r['key']}: no attempt acknowledged within "
              f"{self.op_deadline:.0f} s (last: {r.get('error_text')})")

        # The listing: whole, by small pages, and through the other gateway.
        listed_at = time.monotonic()
        listing = self.list_versions(s3)
        listing_end = time.monotonic()
        paged = self.list_versions(s3, page=page)
        if self.lifecycle:
            # Lifecycle has nothing left to do (`wait_trimmed`), yet it still
            # runs: this last listing is evidence like the others.
            snap = {"start": listed_at, "end": listing_end, "tag": "final",
                    "by_key": {}, "entries": {}}
            for e in listing:
                if self.in_rule(e["key"]):
                    snap["entries"][(e["key"], e["vid"])] = e
                    snap["by_key"].setdefault(e["key"], []).append(e)
            with self.lock:
                self.snapshots.append(snap)
        if [(e["key"], e["vid"], e["marker"], e["latest"]) for e in paged] != [
                (e["key"], e["vid"], e["marker"], e["latest"]) for e in listing]:
            P(f"ListObjectVersions by pages of {page} differs from one page: "
              f"{len(paged)} vs {len(listing)} entries")
        if s3_other is not None:
            other = self.list_versions(s3_other)
            if other != listing:
                P("the two gateways list different versions")
        per_key = {}
        for e in listing:
            per_key.setdefault(e["key"], []).append(e)
        pos = {}  # (key, vid) -> position in its key's list (0: newest)
        for key, es in per_key.items():
            if key not in self.acked:
                P(f"listed key {key!r} was never written")
            for i, e in enumerate(es):
                if (key, e["vid"]) in pos:
                    P(f"{key}: version {e['vid']} listed twice")
                pos[(key, e["vid"])] = i
                if e["latest"] != (i == 0):
                    P(f"{key}: version {e['vid']} at position {i} has IsLatest={e['latest']}")
                if i and not es[i - 1]["vid"] > e["vid"]:
                    P(f"{key}: version ids not descending in the listing: "
                      f"{es[i - 1]['vid']} then {e['vid']}")
        listed = {(e["key"], e["vid"]): e for e in listing}

        created = {}  # (key, vid) -> acknowledged creation
        for key, recs in self.acked.items():
            for r in recs:
                if (key, r["vid"]) in created:
                    P(f"{key}: version id {r['vid']} given to two acknowledged writes: "
                      f"{who(created[(key, r['vid'])])} and {who(r)}")
                created[(key, r["vid"])] = r
        maybe_removed = {(a["key"], a["vid"]) for a in self.attempts
                         if a["kind"] == "remove" and not a["acked"]} - self.removed
        failed = [a for a in self.attempts if not a["acked"]]

        # Every acknowledged version and marker not removed is listed, as
        # what it is; under the lifecycle rule, unless lifecycle may have
        # removed it (`lifecycle_veto`) by the time it was gone for good.
        lost = 0
        lc_removed = {"put": 0, "marker": 0}
        lc_gone = set()  # (key, vid) judged removed by lifecycle
        removal_starts = {}  # (key, vid) -> first removal attempt sent
        for a in self.attempts:
            if a["kind"] == "remove":
                k = (a["key"], a["vid"])
                removal_starts[k] = min(a["start"], removal_starts.get(k, a["start"]))
        for (key, vid), r in sorted(created.items()):
            e = listed.get((key, vid))
            if self.in_rule(key):
                # Gone for good before any removal of it was sent: lifecycle
                # removed it, and had to be allowed to.
                by = self.gone_for_good(key, vid, r["end"])
                if by is not None and by < removal_starts.get((key, vid), float("inf")):
                    veto = self.lifecycle_veto(r, by)
                    lc_gone.add((key, vid))
                    if veto:
                        lost += 1
                        P(f"{key}: acknowledged {who(r)} removed early by lifecycle: {veto}")
                        continue
                    if e is None:
                        lc_removed[r["kind"]] += 1
                        continue
            if (key, vid) in self.removed:
                if e is not None:
                    P(f"{key}: {who(r)} was removed (acknowledged) but is listed")
                continue
            if e is None:
                if (key, vid) not in maybe_removed:
                    lost += 1
                    why = (" (and no listing after it was acknowledged showed it gone: "
                           "lifecycle is no excuse)" if self.in_rule(key) else "")
                    P(f"{key}: acknowledged {who(r)} is not listed{why}")
                continue
            if e["marker"] != (r["kind"] == "marker"):
                P(f"{key}: {who(r)} is listed as a {'marker' if e['marker'] else 'version'}")
            elif r["kind"] == "put" and e["size"] != r["size"]:
                P(f"{key}: {who(r)} listed with size {e['size']}, written {r['size']}")

        # Markers a removal found already gone: lifecycle's, unless another
        # removal of it was sent before this one was answered.
        for g in self.gone:
            other = [a for a in self.attempts if a["kind"] == "remove"
                     and (a["key"], a["vid"]) == (g["key"], g["vid"])
                     and a is not g["removal"] and a["start"] < g["by"]]
            if other or (g["key"], g["vid"]) in lc_gone:
                continue  # (or judged above already)
            lc_removed["marker"] += 1
            veto = self.lifecycle_veto(g, g["by"])
            if veto:
                lost += 1
                P(f"{g['key']}: acknowledged {who(g)}: DELETE ?versionId at "
                  f"{t(g['by_start'])} found it gone; lifecycle may not have removed it: "
                  f"{veto}")

        # Order: a write acknowledged before another was sent is older
        # (so, in particular, each writer's own writes of a key are in its
        # order).
        order_violations = 0
        for key, recs in self.acked.items():
            shown = [r for r in recs if (key, r["vid"]) in pos]
            for a in shown:
                for b in shown:
                    if a["end"] < b["start"] and pos[(key, b["vid"])] > pos[(key, a["vid"])]:
                        order_violations += 1
                        if order_violations <= 20:
                            same = " (same writer)" if a["writer"] == b["writer"] else ""
                            P(f"{key}: {who(b)} is listed older than {who(a)}, which "
                              f"was acknowledged before it was sent{same}")

        # Every listed version reads back by its id: acknowledged ones with
        # their bytes; the others must be what a failed attempt sent.
        verified = bytes_verified = 0
        unacked = {}  # (key, sha or "marker") -> versions listed, not acknowledged
        shas = {}
        for e in listing:
            key, vid = e["key"], e["vid"]
            r = created.get((key, vid))
            if e["marker"]:
                try:
                    s3.head_object(Bucket=self.bucket, Key=key, VersionId=vid)
                    P(f"{key}: marker {vid} answered HEAD by id with an object")
                except ClientError as err:
                    if _error_code(err)[1] != 405:
                        P(f"{key}: marker {vid}: HEAD by id answered {_error_code(err)}")
                if r is None:
                    unacked[(key, "marker")] = unacked.get((key, "marker"), 0) + 1
                continue
            try:
                body = s3.get_object(Bucket=self.bucket, Key=key,
                                     VersionId=vid)["Body"].read()
            except ClientError as err:
                P(f"{key}: listed version {vid} does not read back by id: "
                  f"{_error_code(err)}")
                continue
            digest = sha256(body)
            shas[(key, vid)] = digest
            if r is not None:
                if digest != r["sha"]:
                    P(f"{key}: {who(r)} reads back {len(body)} bytes of the wrong "
                      f"content (written {r['size']} bytes)")
                else:
                    verified += 1
                    bytes_verified += len(body)
            else:
                unacked[(key, digest)] = unacked.get((key, digest), 0) + 1
        # A failed attempt makes one version at most.
        for (key, what), n in sorted(unacked.items()):
            if what == "marker":
                chances = sum(1 for a in failed if a["kind"] == "marker" and a["key"] == key)
                label = "delete markers"
            else:
                chances = sum(1 for a in failed if a["kind"] == "put" and a["key"] == key
                              and a["sha"] == what)
                label = f"versions with body {what[:12]}"
            if n > chances:
                P(f"{key}: {n} unacknowledged {label} listed, from {chances} failed "
                  f"attempts (a write applied twice, or bytes never written)")

        # Acknowledged removals are gone for good.
        for key, vid in sorted(self.removed):
            if (key, vid) in created and (key, vid) in listed:
                continue  # reported above
            try:
                s3.head_object(Bucket=self.bucket, Key=key, VersionId=vid)
                P(f"{key}: removed version {vid} still answers HEAD by id")
            except ClientError as err:
                if _error_code(err)[1] != 404:
                    P(f"{key}: removed version {vid}: HEAD by id answered "
                      f"{_error_code(err)}")

        # Each key's current version is the newest listed.
        for key in self.keys:
            es = per_key.get(key, [])
            try:
                body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                got = sha256(body)
            except ClientError as err:
                got = _error_code(err)
            if not es or es[0]["marker"]:
                if not (isinstance(got, tuple) and got[1] == 404):
                    P(f"{key}: latest is {'a marker' if es else 'nothing'}, GET answered {got}")
            elif got != shas.get((key, es[0]["vid"])):
                P(f"{key}: GET answers {got}, not the newest listed version {es[0]['vid']}")

        # Mid-stream reads: right bytes, and missing only while (or after)
        # a removal of that version was sent.
        for rd in self.reads:
            if rd["outcome"] == "wrong":
                P(f"{rd['key']}: GET ?versionId={rd['vid']} at {t(rd['start'])} via gw "
                  f"{rd['gw']} served other bytes: {rd['got']}")
            elif rd["outcome"] == "missing":
                removal = [a for a in self.attempts if a["kind"] == "remove"
                           and a["key"] == rd["key"] and a["vid"] == rd["vid"]
                           and a["start"] < rd["end"]]
                if removal:
                    continue
                if self.in_rule(rd["key"]):
                    # Lifecycle's, if allowed by then and it never came back.
                    back = [sn for sn in self.snapshots if sn["start"] > rd["end"]
                            and (rd["key"], rd["vid"]) in sn["entries"]]
                    veto = ("it is listed again at "
                            f"{t(min(sn['start'] for sn in back))}" if back else
                            self.lifecycle_veto(created[(rd["key"], rd["vid"])], rd["end"]))
                    if not veto:
                        continue
                    P(f"{rd['key']}: GET ?versionId={rd['vid']} at {t(rd['start'])} via gw "
                      f"{rd['gw']} answered {rd['error']}, no removal of it was sent, and "
                      f"lifecycle may not have removed it: {veto}")
                    continue
                P(f"{rd['key']}: GET ?versionId={rd['vid']} at {t(rd['start'])} via gw "
                  f"{rd['gw']} answered {rd['error']} and no removal of it was sent")

        errors = {}
        for a in failed:
            code = a["error"][0] if a["error"][1] is None else f"{a['error'][0]}/{a['error'][1]}"
            errors[code] = errors.get(code, 0) + 1
        figures = {
            "versions_written": self.counts["put"],
            "markers": self.counts["marker"],
            "removals": self.counts["remove"],
            "failed_attempts": len(failed),
            "unacked_listed": sum(unacked.values()),
            "versions_listed": len(listing),
            "lost": lost,
            "order_violations": order_violations,
            "versions_verified": verified,
            "bytes_verified": bytes_verified,
            "reads_midway": sum(1 for rd in self.reads if rd["outcome"] == "ok"),
            "read_errors_midway": sum(1 for rd in self.reads if rd["outcome"] == "error"),
            "errors": ",".join(f"{k}:{v}" for k, v in sorted(errors.items())) or "-",
        }
        if self.lifecycle:
            figures.update({
                "lc_snapshots": len(self.snapshots),
                "lc_versions_gone": lc_removed["put"],
                "lc_markers_gone": lc_removed["marker"],
                "lc_versions_listed": sum(1 for e in listing if self.in_rule(e["key"])),
            })
        return figures, problems
