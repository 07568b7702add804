"""The metadata service as a Raft group of three processes (issue 5).

Three `shale metadata` replicas (127.0.0.1-3), six storage nodes and two
gateways, every process from its own TOML file. The AWS CLI and boto3 write
and read through both gateways. A stream of boto3 PUTs runs
while the metadata leader is killed with SIGKILL: writes resume within a few
seconds through a new leader, every acknowledged PUT reads back byte for
byte, and listing shows every acknowledged key. Then the killed replica is
restarted with its data wiped: it catches up (from a snapshot, the log
behind it being purged) and becomes the leader itself.

Membership through `shale admin metadata`: a fourth replica added catches
up and votes; a follower and then the leader removed, the group goes on
serving S3 with the rest; bad requests (unknown id, an id already taken,
an address nobody answers at, the last voter) get clear errors. `shale
admin status` shows every replica's role and lag behind the leader.
"""

import json
import re
import shutil
import signal
import subprocess
import threading
import time

import boto3
from botocore.config import Config

from conftest import (_client_env, aws_cli_command, random_bytes, shale_bin,
                      unique_bucket_name)
from ports import free_port
from roles import RoleProcesses

ACCESS_KEY = "AKSHRAFTTEST00000001"
SECRET_KEY = "raft-test-secret-key-0123456789abcdefgh"
GATEWAY_HOST = "127.0.0.1"
# Writes must resume this long after the leader dies (election + retries).
RESUME_LIMIT = 15.0


class RaftCluster(RoleProcesses):
    def __init__(self, root):
        super().__init__(root, ACCESS_KEY, SECRET_KEY)
        self.meta = {i: f"127.0.0.{i}:{free_port(f'127.0.0.{i}')}" for i in (1, 2, 3)}
        self.gateway_port = free_port(GATEWAY_HOST)
        # A second gateway, for the clients' round trips through both.
        self.gateway2_port = free_port(GATEWAY_HOST)
        self.node_ports = {n: free_port(GATEWAY_HOST) for n in range(1, 7)}
        self.meta_list = ",".join(self.meta.values())

    def meta_dir(self, i):
        return self.root / f"meta-{i}"

    def start_meta(self, i):
        """Starts replica `i` (of `self.meta`, which names every replica the
        group has or is about to have: its peers)."""
        peers = "".join(f'[[peers]]\nid = {j}\naddr = "{a}"\n\n' for j, a in self.meta.items())
        cfg = self.write(f"meta-{i}.toml", (
            f'listen = "{self.meta[i]}"\n'
            f'path = "{self.meta_dir(i)}"\n'
            f"node_id = {i}\n\n"
            # Snapshot often, keep little log: a wiped replica must catch up
            # from a snapshot, sent in many small chunks.
            "[raft]\nelection_timeout_ms = 600\nsnapshot_every = 100\nlogs_to_keep = 10\n"
            # Every 100 entries, however small the log (the default also
            # waits for a log as large as the last snapshot).
            "snapshot_log_ratio = 0\n"
            "snapshot_chunk_bytes = 4096\n\n"
            + peers))
        self.spawn(f"meta-{i}", append=True, args=["metadata", "--config", str(cfg)])

    def start(self):
        for i in self.meta:
            self.start_meta(i)
        for i in self.meta:
            self.wait_logged([f"meta-{i}"], b"listening")
        meta_toml = "[" + ", ".join(f'"{a}"' for a in self.meta.values()) + "]"
        for n, port in self.node_ports.items():
            cfg = self.write(f"node-{n}.toml", (
                f'listen = "{GATEWAY_HOST}:{port}"\n'
                f"metadata = {meta_toml}\n"
                f"node_id = {n}\n\n[node]\n"
                f'disks = ["{self.root / f"node-{n}"}"]\n'))
            self.spawn(f"node-{n}", append=True, args=["storage-node", "--config", str(cfg)])
        for n in self.node_ports:
            self.wait_logged([f"node-{n}"], b"listening")
        gw = self.write("gateway.toml", (
            f'listen = "{GATEWAY_HOST}:{self.gateway_port}"\n\n[gateway]\n'
            f'region = "us-east-1"\nmetadata_addr = {meta_toml}\n'))
        self.spawn("gateway", append=True, args=["gateway", "--config", str(gw)])
        gw2 = self.write("gateway-2.toml", (
            f'listen = "{GATEWAY_HOST}:{self.gateway2_port}"\n\n[gateway]\n'
            f'region = "us-east-1"\nmetadata_addr = {meta_toml}\n'))
        self.spawn("gateway-2", append=True, args=["gateway", "--config", str(gw2)])
        self.wait_logged(["gateway", "gateway-2"], b"shale gateway")

    def admin(self, *args, addrs=None):
        r = subprocess.run(
            [str(shale_bin()), "admin", "metadata", "--metadata", addrs or self.meta_list]
            + list(args), capture_output=True, timeout=60, env=self.env)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def cluster_status(self, json_out=True):
        """`shale admin status` through the gateway (JSON, or the screen)."""
        env = dict(self.env, SHALE_ACCESS_KEY=ACCESS_KEY, SHALE_SECRET_KEY=SECRET_KEY)
        r = subprocess.run(
            [str(shale_bin()), "admin", "--endpoint",
             f"http://{GATEWAY_HOST}:{self.gateway_port}", "status"]
            + (["--json"] if json_out else []),
            env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (r.stdout, r.stderr)
        return json.loads(r.stdout) if json_out else r.stdout

    def status(self, addrs=None):
        """{id: (state, applied)} of the replicas that answer, and the leader."""
        _, out, _ = self.admin("status", addrs=addrs)
        replicas = {}
        for m in re.finditer(r"replica (\d+) at \S+: (\w+) term \d+ last_log \S+ applied (\S+)", out):
            applied = int(m.group(3)) if m.group(3) != "-" else -1
            replicas[int(m.group(1))] = (m.group(2), applied)
        leader = re.search(r"^leader: (\d+)", out, re.M)
        return replicas, int(leader.group(1)) if leader else None

    def wait_leader(self, exclude=(), addrs=None):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            _, leader = self.status(addrs)
            if leader is not None and leader not in exclude:
                return leader
            time.sleep(0.2)
        raise AssertionError("no metadata leader elected")

    def endpoint(self, gateway=1):
        port = self.gateway_port if gateway == 1 else self.gateway2_port
        return f"http://{GATEWAY_HOST}:{port}"

    def aws(self, gateway, *args):
        env = dict(_client_env(), AWS_ACCESS_KEY_ID=ACCESS_KEY,
                   AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1",
                   AWS_PAGER="")
        cmd = [*aws_cli_command(), "--endpoint-url", self.endpoint(gateway),
               *[str(a) for a in args]]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
        return r.stdout

    def client(self, gateway=1):
        return boto3.client(
            "s3", endpoint_url=self.endpoint(gateway),
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"},
                          retries={"max_attempts": 4, "mode": "standard"},
                          connect_timeout=5, read_timeout=30))


class Writer(threading.Thread):
    """PUTs one key after another; records what was acknowledged, and when."""

    def __init__(self, s3, bucket):
        super().__init__(daemon=True)
        self.s3, self.bucket = s3, bucket
        self.acked = {}          # key -> body
        self.acked_at = []       # (start, end) of each acknowledged PUT
        self.failures = 0
        self.stop_flag = threading.Event()

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            key = f"k-{i:05d}"
            # Mostly small (inline in the metadata row), some erasure-coded.
            body = random_bytes(100 * 1024 if i % 10 == 0 else 1000 + i % 3000)
            start = time.monotonic()
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
                self.acked[key] = body
                self.acked_at.append((start, time.monotonic()))
            except Exception:
                self.failures += 1
            i += 1

    def wait_acked(self, n, limit=60):
        deadline = time.monotonic() + limit
        while len(self.acked) < n:
            assert time.monotonic() < deadline, f"only {len(self.acked)} PUTs acknowledged"
            assert self.is_alive()
            time.sleep(0.05)


def check_every_acked(s3, bucket, acked):
    for key, body in acked.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        listed.update(o["Key"] for o in page.get("Contents", []))
    missing = set(acked) - listed
    assert not missing, f"acknowledged but not listed: {sorted(missing)[:5]}"


def test_aws_cli_and_boto3_through_both_gateways(tmp_path, request):
    """Three metadata replicas, six nodes, two gateways: what one client
    writes through one gateway the other reads through the other, after a
    leader change too."""
    cluster = RaftCluster(tmp_path)
    try:
        cluster.start()
        bucket = unique_bucket_name(request.node.name)
        cluster.aws(1, "s3", "mb", f"s3://{bucket}")
        src = tmp_path / "src"
        src.mkdir()
        files = {"a.bin": random_bytes(0), "b.bin": random_bytes(70 * 1024),
                 "dir/c.bin": random_bytes(9 * 1024 * 1024 + 5)}
        for name, body in files.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes(body)
        # aws-cli (multipart for the 9 MiB file) through gateway 1 ...
        cluster.aws(1, "s3", "cp", "--recursive", src, f"s3://{bucket}/cli/")
        # ... boto3 through gateway 2 reads it, and writes its own.
        s3_2 = cluster.client(2)
        for name, body in files.items():
            got = s3_2.get_object(Bucket=bucket, Key=f"cli/{name}")["Body"].read()
            assert got == body, name
        boto_body = random_bytes(3 * 1024 * 1024 + 1)
        s3_2.put_object(Bucket=bucket, Key="boto/x.bin", Body=boto_body)
        # aws-cli through gateway 1 reads boto3's object and lists both.
        dst = tmp_path / "dst"
        cluster.aws(1, "s3", "cp", f"s3://{bucket}/boto/x.bin", dst / "x.bin")
        assert (dst / "x.bin").read_bytes() == boto_body
        listing = cluster.aws(1, "s3", "ls", "--recursive", f"s3://{bucket}")
        keys = sorted(line.split()[-1] for line in listing.splitlines())
        assert keys == sorted(["boto/x.bin"] + [f"cli/{n}" for n in files])

        # After a leader change both gateways still see everything.
        leader = cluster.wait_leader()
        cluster.kill(f"meta-{leader}")
        cluster.wait_leader(exclude=(leader,))
        s3_1 = cluster.client(1)
        for gw in (s3_1, s3_2):
            assert gw.get_object(Bucket=bucket, Key="boto/x.bin")["Body"].read() == boto_body
        cluster.aws(2, "s3", "sync", f"s3://{bucket}/cli/", dst / "cli")
        for name, body in files.items():
            assert (dst / "cli" / name).read_bytes() == body, name
        cluster.aws(2, "s3", "rm", "--recursive", f"s3://{bucket}")
        assert s3_1.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
        s3_1.delete_bucket(Bucket=bucket)
    finally:
        cluster.stop()


def test_metadata_leader_killed_mid_stream_and_a_wiped_replica_takes_over(tmp_path, request):
    cluster = RaftCluster(tmp_path)
    writer = None
    try:
        cluster.start()
        s3 = cluster.client()
        bucket = unique_bucket_name(request.node.name)
        s3.create_bucket(Bucket=bucket)

        writer = Writer(cluster.client(), bucket)
        writer.start()
        writer.wait_acked(40)

        # Kill -9 the leader in the middle of the stream.
        leader = cluster.wait_leader()
        killed_at = time.monotonic()
        cluster.kill(f"meta-{leader}")
        before = len(writer.acked)
        writer.wait_acked(before + 60)
        resumed = [s for s, _ in writer.acked_at if s > killed_at]
        assert resumed, "no PUT started after the kill was acknowledged"
        # The first PUT that started after the kill and was acknowledged
        # ended within the limit.
        first_end = min(e for s, e in writer.acked_at if s > killed_at)
        assert first_end - killed_at < RESUME_LIMIT, first_end - killed_at
        new_leader = cluster.wait_leader(exclude=(leader,))
        writer.stop_flag.set()
        writer.join(timeout=60)
        acked = dict(writer.acked)
        check_every_acked(s3, bucket, acked)

        # Restart the killed replica with its data wiped: it catches up.
        shutil.rmtree(cluster.meta_dir(leader))
        snapshot = tmp_path / f"meta-{leader}" / "db.snapshot"
        cluster.start_meta(leader)
        deadline = time.monotonic() + 60
        while True:
            replicas, _ = cluster.status()
            target = replicas.get(new_leader, (None, 0))[1]
            if replicas.get(leader, (None, -1))[1] >= target > 0:
                break
            assert time.monotonic() < deadline, (replicas, cluster.log(f"meta-{leader}"))
            time.sleep(0.2)
        assert snapshot.exists(), "the wiped replica caught up without a snapshot"
        # In chunks: several requests, none larger than a chunk.
        log = (tmp_path / f"meta-{leader}.log").read_text(errors="replace")
        chunks = log.count("snapshot chunk received")
        assert chunks >= 2, chunks
        # Received into a file, checked and installed from it: the file is
        # the replica's snapshot now, and no partial file is left.
        assert "installed a snapshot" in log, log[-2000:]
        assert snapshot.read_bytes().startswith(b"shale-snapshot-v2\n")
        left = [p.name for p in snapshot.parent.iterdir()
                if p.name.startswith("db.snapshot.")]
        assert left == [], left

        # It can lead: kill the current leader and let it campaign.
        cluster.kill(f"meta-{new_leader}")
        wiped_addr = cluster.meta[leader]
        deadline = time.monotonic() + 30
        while True:
            cluster.admin("campaign", "--addr", wiped_addr)
            time.sleep(0.3)
            replicas, current = cluster.status()
            if current == leader:
                break
            assert time.monotonic() < deadline, (replicas, current)
        check_every_acked(s3, bucket, acked)
        late = random_bytes(2000)
        s3.put_object(Bucket=bucket, Key="after-takeover", Body=late)
        assert s3.get_object(Bucket=bucket, Key="after-takeover")["Body"].read() == late
    finally:
        if writer is not None:
            writer.stop_flag.set()
        cluster.stop()


def voters(out):
    """{id: "voter"|"learner"} from the `  member ...` lines of an answer."""
    return {int(m.group(1)): m.group(2)
            for m in re.finditer(r"^  member (\d+) \S+ (voter|learner)", out, re.M)}


def test_metadata_replicas_added_and_removed(tmp_path, request):
    cluster = RaftCluster(tmp_path)
    try:
        cluster.start()
        s3 = cluster.client()
        bucket = unique_bucket_name(request.node.name)
        s3.create_bucket(Bucket=bucket)
        acked = {}

        def write(n):
            for i in range(n):
                key = f"m-{len(acked):04d}"
                body = random_bytes(70 * 1024 if i % 4 == 0 else 500 + i)
                s3.put_object(Bucket=bucket, Key=key, Body=body)
                acked[key] = body

        write(20)
        # A fourth replica, empty, started with the group as its peers.
        cluster.meta[4] = f"127.0.0.4:{free_port('127.0.0.4')}"
        every = ",".join(cluster.meta.values())
        cluster.start_meta(4)
        cluster.wait_logged(["meta-4"], b"listening")
        rc, out, err = cluster.admin("add-replica", "--id", "4", "--addr", cluster.meta[4])
        assert rc == 0, err
        assert voters(out) == {1: "voter", 2: "voter", 3: "voter", 4: "voter"}, out
        write(10)
        # It has caught up: its applied index reaches the leader's.
        deadline = time.monotonic() + 30
        while True:
            replicas, leader = cluster.status(every)
            if leader and replicas.get(4, (None, -1))[1] >= replicas[leader][1] > 0:
                break
            assert time.monotonic() < deadline, replicas
            time.sleep(0.2)
        assert replicas[4][0] == "Follower", replicas

        # `shale admin status` shows the group: roles, and each replica's lag
        # behind the leader (replica 4 too, which the gateway was not
        # configured with: the leader names it).
        deadline = time.monotonic() + 30
        while True:
            meta = cluster.cluster_status()["metadata"]
            roles = {r["id"]: (r["role"], r["lag"], r["reachable"]) for r in meta["replicas"]}
            expected = {i: ("leader" if i == leader else "follower", 0, True)
                        for i in (1, 2, 3, 4)}
            if meta["leader"] == leader and roles == expected:
                break
            assert time.monotonic() < deadline, meta
            time.sleep(0.2)
        screen = cluster.cluster_status(json_out=False)
        assert f"4 replica(s), leader {leader}" in screen, screen
        assert re.search(rf"^  {leader} +\S+ +leader +Leader +\d+ +0$", screen, re.M), screen
        assert re.search(r"^  4 +127\.0\.0\.4:\d+ +follower +Follower +\d+ +0$", screen, re.M), screen
        # A paused follower falls behind: the screen shows how far.
        paused = next(i for i in (1, 2, 3) if i != leader)
        cluster.procs[f"meta-{paused}"].send_signal(signal.SIGSTOP)
        try:
            write(10)
            meta = cluster.cluster_status()["metadata"]
            behind = next(r for r in meta["replicas"] if r["id"] == paused)
            assert behind["role"] == "follower" and not behind["reachable"], behind
            assert behind["lag"] >= 10, behind
        finally:
            cluster.procs[f"meta-{paused}"].send_signal(signal.SIGCONT)

        # Remove a follower of the original three, then stop it.
        follower = next(i for i in (1, 2, 3) if i != leader)
        rc, out, err = cluster.admin("remove-replica", "--id", str(follower), addrs=every)
        assert rc == 0, err
        assert follower not in voters(out) and len(voters(out)) == 3, out
        cluster.kill(f"meta-{follower}", signal.SIGTERM)
        write(10)
        check_every_acked(s3, bucket, acked)
        gone = next(r for r in cluster.cluster_status()["metadata"]["replicas"]
                    if r["addr"] == cluster.meta[follower])
        assert gone["role"] == "not a member" and not gone["reachable"], gone

        # Remove the leader itself: the other two elect a new one.
        rc, out, err = cluster.admin("remove-replica", "--id", str(leader), addrs=every)
        assert rc == 0, err
        assert set(voters(out)) == {1, 2, 3, 4} - {follower, leader}, out
        new_leader = cluster.wait_leader(exclude=(leader,), addrs=every)
        cluster.kill(f"meta-{leader}", signal.SIGTERM)
        write(10)
        check_every_acked(s3, bucket, acked)
        remaining = sorted({1, 2, 3, 4} - {follower, leader})
        replicas, current = cluster.status(every)
        assert current == new_leader and current in remaining, replicas

        # Bad requests: clear errors, no panic, nothing changed.
        def refused(*args, expect):
            rc, out, err = cluster.admin(*args, addrs=every)
            assert rc != 0 and expect in err and "panicked" not in err, (rc, out, err)

        refused("remove-replica", "--id", "9",
                expect="replica 9 is not a member of the metadata group")
        refused("remove-replica", "--id", str(follower),
                expect=f"replica {follower} is not a member")
        refused("add-replica", "--id", "4", "--addr", "127.0.0.9:1",
                expect=f"replica 4 is already a member of the metadata group, at {cluster.meta[4]}")
        # An address nobody answers at: it stays a learner, never a voter
        # (a dead voter would leave the group unable to lose another one).
        refused("add-replica", "--id", "7", "--addr", f"127.0.0.7:{free_port('127.0.0.7')}",
                expect="replica 7 at 127.0.0.7")
        rc, out, _ = cluster.admin("status", addrs=every)
        assert voters(out) == {**{i: "voter" for i in remaining}, 7: "learner"}, out
        rc, out, err = cluster.admin("remove-replica", "--id", "7", addrs=every)
        assert rc == 0 and voters(out) == {i: "voter" for i in remaining}, (out, err)
        write(5)
        check_every_acked(s3, bucket, acked)

        # Down to one voter; that one cannot be removed.
        rc, out, err = cluster.admin("remove-replica", "--id", str(remaining[0]), addrs=every)
        assert rc == 0 and voters(out) == {remaining[1]: "voter"}, (out, err)
        cluster.wait_leader(exclude=(remaining[0],), addrs=every)
        refused("remove-replica", "--id", str(remaining[1]),
                expect=f"replica {remaining[1]} is the metadata group's last voter")
        replicas, current = cluster.status(every)
        assert current == remaining[1], replicas
    finally:
        cluster.stop()
