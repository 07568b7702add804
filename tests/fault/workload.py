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
