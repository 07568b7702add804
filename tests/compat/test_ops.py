"""Operating a multi-process cluster (issue 5): heartbeats, the cluster map,
zones, two gateways, `shale admin`, per-bucket key grants.

Each test starts its own cluster from TOML files: one `shale metadata`, six
`shale storage-node` in six zones (heartbeats every 300 ms, down after
1.5 s) and two `shale gateway`, all on loopback, each a real process
stopped by its PID at the end. Waits poll with a deadline; nothing sleeps a
fixed time to let something happen.
"""

import json
import shutil
import subprocess
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (LOOPBACK, MIB, _client_env,
                      aws_cli_command, error_code, free_port, random_bytes,
                      shale_bin, unique_bucket_name, wait_for)
import cluster_secret
from roles import RoleProcesses

ACCESS_KEY = "AKSHOPSTEST000000001"
SECRET_KEY = "ops-test-secret-key-0123456789abcdefghij"
HEARTBEAT_MS = 300
DOWN_AFTER_MS = 1500
# How long a poll waits for the cluster to notice something.
NOTICE_TIMEOUT = 30.0
# A disk with less free space than this fraction of its capacity receives no
# chunks for rebalancing (workers/src/heal/sweep.rs, REBALANCE_MIN_FREE).
REBALANCE_FREE_FRACTION = 0.05


class OpsCluster(RoleProcesses):
    """`nodes` storage nodes (node n in zone-n), of which the first
    `started` start with the cluster; `heal` is the gateways' `[gateway.heal]`
    section (TOML lines)."""

    def __init__(self, root, nodes=6, started=None, heal=""):
        super().__init__(root, ACCESS_KEY, SECRET_KEY)
        self.meta_port = free_port()
        self.gateway_ports = [free_port(), free_port()]
        self.node_ports = {n: free_port() for n in range(1, nodes + 1)}
        self.started = nodes if started is None else started
        self.heal = heal

    def start(self):
        meta = self.write("metadata.toml",
                          f'listen = "{LOOPBACK}:{self.meta_port}"\n'
                          f'path = "{self.root / "meta"}"\n')
        self.spawn("metadata", ["metadata", "--config", str(meta)])
        first = list(self.node_ports)[:self.started]
        for n in first:
            self.start_node(n, wait=False)
        # "listening": the metadata service has stored the root key (the
        # admin CLI signs with it), the nodes have registered.
        self.wait_logged(["metadata"] + [f"node-{n}" for n in first], b"listening")
        for i, port in enumerate(self.gateway_ports):
            gw = self.write(f"gateway-{i}.toml", (
                f'listen = "{LOOPBACK}:{port}"\n\n[gateway]\n'
                f'region = "us-east-1"\n'
                f'metadata_addr = "{LOOPBACK}:{self.meta_port}"\n'
                + (f"\n[gateway.heal]\n{self.heal}\n" if self.heal else "")))
            self.spawn(f"gateway-{i}", ["gateway", "--config", str(gw)])
        for port in self.gateway_ports:
            self.wait_port(port)
        # The metadata service stores the root key just after it starts
        # listening; on a busy machine a gateway may be asked before that.
        for g in range(len(self.gateway_ports)):
            deadline = time.monotonic() + NOTICE_TIMEOUT
            while self.admin("status", check=False, gateway=g).returncode != 0:
                assert time.monotonic() < deadline, "the root key never worked"
                time.sleep(0.3)

    def start_node(self, n, wait=True):
        cfg = self.write(f"node-{n}.toml", (
            f'listen = "{LOOPBACK}:{self.node_ports[n]}"\n'
            f'metadata = "{LOOPBACK}:{self.meta_port}"\n'
            f"node_id = {n}\n"
            f'zone = "zone-{n}"\n\n'
            f"[heartbeat]\ninterval_ms = {HEARTBEAT_MS}\n"
            f"down_after_ms = {DOWN_AFTER_MS}\n\n[node]\n"
            f'disks = ["{self.root / f"node-{n}"}"]\n'))
        self.spawn(f"node-{n}", ["storage-node", "--config", str(cfg)])
        if wait:
            self.wait_logged([f"node-{n}"], b"listening")

    def endpoint(self, i=0):
        return f"http://{LOOPBACK}:{self.gateway_ports[i]}"

    def client(self, i=0, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
        return boto3.client(
            "s3", endpoint_url=self.endpoint(i),
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"},
                          retries={"max_attempts": 2}))

    def aws(self, i, *args):
        env = _client_env()
        env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                   AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
        cmd = [*aws_cli_command(), "--endpoint-url", self.endpoint(i),
               *[str(a) for a in args]]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
        return r.stdout

    def admin(self, *args, check=True, access_key=ACCESS_KEY,
              secret_key=SECRET_KEY, gateway=0):
        env = dict(_client_env(), SHALE_ENDPOINT=self.endpoint(gateway),
                   SHALE_ACCESS_KEY=access_key, SHALE_SECRET_KEY=secret_key)
        r = subprocess.run([str(shale_bin()), "admin", *map(str, args)],
                           env=env, capture_output=True, text=True, timeout=60)
        if check:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    def admin_json(self, *args, gateway=0):
        return json.loads(self.admin("--json", *args, gateway=gateway).stdout)

    def node(self, status, n):
        return next(x for x in status["nodes"] if x["id"] == n)

    def chunks(self, n):
        """Chunks node `n` holds, asked of the node itself."""
        status, _, body = cluster_secret.request(self.secret, LOOPBACK, self.node_ports[n],
                                                 "GET", "/status", tier="data")
        assert status == 200, body
        return sum(d["chunks"] for d in json.loads(body)["disks"])

    def wait_following(self, epoch):
        """Waits until both gateways place by map epoch `epoch` or later."""
        for g in range(len(self.gateway_ports)):
            deadline = time.monotonic() + NOTICE_TIMEOUT
            while self.admin_json("status", gateway=g)["gateway_epoch"] < epoch:
                assert time.monotonic() < deadline, f"gateway {g} does not follow the map"
                time.sleep(0.2)

    def wait_status(self, what, predicate):
        return wait_for(lambda: self.admin_json("status"), predicate, what, NOTICE_TIMEOUT,
                        interval=0.2)


@pytest.fixture
def cluster(tmp_path):
    c = OpsCluster(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture
def cluster_no_healer(tmp_path):
    """Gateways without a healer: a drained node keeps its chunks."""
    c = OpsCluster(tmp_path, heal="enabled = false")
    try:
        c.start()
        yield c
    finally:
        c.stop()



def test_two_gateways_six_zones_and_a_killed_node(cluster, request, tmp_path):
    status = cluster.wait_status(
        "six nodes up", lambda s: sum(n["state"] == "up" for n in s["nodes"]) == 6)
    assert sorted(n["zone"] for n in status["nodes"]) == [f"zone-{n}" for n in range(1, 7)]
    assert all(n["disks"] and n["disks"][0]["capacity_bytes"] for n in status["nodes"])
    text = cluster.admin("status").stdout
    assert "zone-3" in text and " up " in text, text

    # Writes through one gateway are read through the other, by boto3 and
    # by the aws CLI.
    bucket = unique_bucket_name(request.node.name)
    g0, g1 = cluster.client(0), cluster.client(1)
    g0.create_bucket(Bucket=bucket)
    bodies = {f"obj-{i}": random_bytes(size)
              for i, size in enumerate([0, 1, 70 * 1024, 4 * MIB, 9 * MIB + 5])}
    for i, (key, body) in enumerate(bodies.items()):
        (g0, g1)[i % 2].put_object(Bucket=bucket, Key=key, Body=body)
    src = tmp_path / "cli.bin"
    src.write_bytes(random_bytes(6 * MIB + 1))
    cluster.aws(1, "s3", "cp", src, f"s3://{bucket}/cli.bin")
    bodies["cli.bin"] = src.read_bytes()
    out = tmp_path / "cli.out"
    cluster.aws(0, "s3", "cp", f"s3://{bucket}/obj-4", out)
    assert out.read_bytes() == bodies["obj-4"]
    for key, body in bodies.items():
        for s3 in (g0, g1):
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body

    # Kill -9 a storage node: the map reports it down.
    cluster.kill("node-3")
    status = cluster.wait_status(
        "node 3 down", lambda s: cluster.node(s, 3)["state"] == "down")
    assert sum(n["state"] == "up" for n in status["nodes"]) == 5
    assert "down" in cluster.admin("status").stdout
    # Reads stay exact through both gateways.
    for key, body in bodies.items():
        for s3 in (g0, g1):
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body

    # New writes go to the five remaining nodes: a one-segment object adds
    # one chunk to each of them (node 3's shard is left to the healer).
    cluster.wait_following(status["epoch"])
    before = {n: cluster.chunks(n) for n in (1, 2, 4, 5, 6)}
    for i, s3 in enumerate((g0, g1)):
        body = random_bytes(4 * MIB)
        s3.put_object(Bucket=bucket, Key=f"after-kill-{i}", Body=body)
        for reader in (g0, g1):
            assert reader.get_object(Bucket=bucket, Key=f"after-kill-{i}")["Body"].read() == body
    assert {n: cluster.chunks(n) - before[n] for n in before} == {n: 2 for n in before}


def test_admin_nodes_drain_and_remove(cluster_no_healer, request):
    cluster = cluster_no_healer
    cluster.wait_status(
        "six nodes up", lambda s: sum(n["state"] == "up" for n in s["nodes"]) == 6)
    epoch = cluster.admin_json("status")["epoch"]
    s3 = cluster.client(0)
    bucket = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=random_bytes(MIB))

    cluster.admin("node", "drain", 2)
    status = cluster.admin_json("status", gateway=1)
    assert cluster.node(status, 2)["state"] == "draining"
    assert status["epoch"] == epoch + 1
    cluster.wait_following(status["epoch"])
    # A draining node takes no new chunks, from either gateway.
    before = cluster.chunks(2)
    for g in (0, 1):
        body = random_bytes(MIB)
        cluster.client(g).put_object(Bucket=bucket, Key=f"drained-{g}", Body=body)
        assert s3.get_object(Bucket=bucket, Key=f"drained-{g}")["Body"].read() == body
    assert cluster.chunks(2) == before

    # Removing a node that holds chunks objects need is refused, naming
    # the way out.
    r = cluster.admin("node", "remove", 2, check=False)
    assert r.returncode != 0
    assert "still holds" in r.stderr and "--force" in r.stderr, r.stderr
    cluster.admin("node", "remove", 2, "--force")
    status = cluster.admin_json("status")
    assert cluster.node(status, 2)["state"] == "removed"
    assert status["epoch"] == epoch + 2
    # Data stays readable.
    assert len(s3.get_object(Bucket=bucket, Key="k")["Body"].read()) == MIB
    # Unknown nodes are clear errors.
    r = cluster.admin("node", "drain", 42, check=False)
    assert r.returncode != 0 and "no storage node 42" in r.stderr, r.stderr


def _read_all(cluster, bucket, bodies):
    for key, body in bodies.items():
        for g in (0, 1):
            got = cluster.client(g).get_object(Bucket=bucket, Key=key)["Body"].read()
            assert got == body, f"{key} through gateway {g}"


def test_drain_moves_chunks_then_remove(tmp_path, request):
    """Drain node 2 of seven (zones 1-7) while it holds chunks of single-part
    objects, a completed multipart upload and one still in progress: the
    healers (both gateways run one) copy every chunk to a node without a chunk
    of its segment, at a bounded rate, while writes go on; status shows the
    chunks left going down to 0; the node is removed without --force; every
    object reads back exactly, also with node 2 killed and two more nodes
    down, which leaves exactly k=4 chunks of each segment: none of them may
    be on node 2."""
    # 1 MiB/s: node 2's ~7 MiB of chunks take seconds, so progress shows.
    c = OpsCluster(tmp_path, nodes=7,
                   heal="interval_secs = 1\nmove_bytes_per_sec = 1048576")
    try:
        c.start()
        c.wait_status("seven nodes up",
                      lambda s: sum(n["state"] == "up" for n in s["nodes"]) == 7)
        s3 = c.client(0)
        bucket = unique_bucket_name(request.node.name)
        s3.create_bucket(Bucket=bucket)
        bodies = {f"obj-{i}": random_bytes(size)
                  for i, size in enumerate([100 * 1024, MIB, 4 * MIB + 3, 9 * MIB])}
        for key, body in bodies.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        parts = [random_bytes(5 * MIB), random_bytes(MIB + 7)]
        for key in ("mpu-done", "mpu-open"):
            up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
            etags = [s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=i + 1,
                                    Body=p)["ETag"] for i, p in enumerate(parts)]
            done = {"Parts": [{"ETag": e, "PartNumber": i + 1} for i, e in enumerate(etags)]}
            if key == "mpu-done":
                s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up,
                                             MultipartUpload=done)
                bodies[key] = b"".join(parts)
            else:
                open_upload = (up, done)
        held = c.chunks(2)
        assert held > 0

        c.admin("node", "drain", 2)
        seen = []
        deadline = time.monotonic() + NOTICE_TIMEOUT
        written = 0
        while True:
            status = c.admin_json("status")
            left = c.node(status, 2)["drain_chunks_left"]
            seen.append(left)
            if left == 0 and c.node(status, 2)["drained"]:
                break
            assert time.monotonic() < deadline, (seen, json.dumps(status, indent=1))
            # Traffic goes on meanwhile.
            if written < 3:
                body = random_bytes(2 * MIB)
                c.client(written % 2).put_object(Bucket=bucket, Key=f"during-{written}", Body=body)
                bodies[f"during-{written}"] = body
                written += 1
            time.sleep(0.2)
        assert any(x for x in seen if x), f"no progress shown: {seen}"
        assert status["heal"]["drain_backlog"] == 0
        # One gateway's healer moves (the one holding the `heal-moves`
        # lease), so the cluster moves at one gateway's rate.
        drained = [c.admin_json("status", gateway=g)["heal"]["drained"] for g in (0, 1)]
        assert sum(drained) > 0 and 0 in drained, drained
        screen = c.admin("status").stdout
        assert "drained" in screen and "heal (this gateway)" in screen, screen
        assert "gc (this gateway)" in screen and "scrub (" in screen, screen
        assert status["gc"]["due"] >= 0 and status["heal"]["last_sweep_unix_ms"] > 0
        assert c.node(status, 1)["scrub"]["passes"] >= 0
        # The copies left node 2 (deleted once the layout named the new one).
        deadline = time.monotonic() + NOTICE_TIMEOUT
        while c.chunks(2) > 0:
            assert time.monotonic() < deadline, c.chunks(2)
            time.sleep(0.2)

        up, done = open_upload
        s3.complete_multipart_upload(Bucket=bucket, Key="mpu-open", UploadId=up,
                                     MultipartUpload=done)
        bodies["mpu-open"] = b"".join(parts)
        c.admin("node", "remove", 2)
        assert c.node(c.admin_json("status"), 2)["state"] == "removed"
        _read_all(c, bucket, bodies)

        c.kill("node-2")
        c.kill("node-3")
        c.kill("node-4")
        _read_all(c, bucket, bodies)
    finally:
        c.stop()


def test_rebalance_onto_a_new_node(tmp_path, request):
    """Six nodes hold the chunks of 36 one-segment objects; a seventh joins
    and receives chunks moved from the others until every node holds about
    as many (within one or two chunks), then nothing moves any more; every
    object reads back exactly, new writes included."""
    # Rebalancing fills no node whose disk has less than 5 % free (the
    # nodes here share the host's disk): on a host that full there is
    # nothing this test can see move.
    usage = shutil.disk_usage(tmp_path)
    if usage.free < usage.total * REBALANCE_FREE_FRACTION + 64 * MIB:
        pytest.skip(f"the host disk has {usage.free * 100 // usage.total}% free; "
                    "rebalancing (rightly) fills no node with less than 5%")
    c = OpsCluster(tmp_path, nodes=7, started=6,
                   heal="interval_secs = 1\nmove_bytes_per_sec = 0")
    try:
        c.start()
        c.wait_status("six nodes up",
                      lambda s: sum(n["state"] == "up" for n in s["nodes"]) == 6)
        s3 = c.client(0)
        bucket = unique_bucket_name(request.node.name)
        s3.create_bucket(Bucket=bucket)
        bodies = {f"obj-{i:02}": random_bytes(256 * 1024) for i in range(36)}
        for key, body in bodies.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        assert [c.chunks(n) for n in range(1, 7)] == [36] * 6

        c.start_node(7)
        deadline = time.monotonic() + NOTICE_TIMEOUT
        while True:
            counts = [c.chunks(n) for n in range(1, 8)]
            status = c.admin_json("status")
            # (Mid-move, a copy is on both nodes: wait for the sum too.)
            if (counts[6] > 0 and max(counts) - min(counts) <= 2
                    and sum(counts) == 36 * 6
                    and status["heal"]["rebalance_backlog"] == 0
                    and c.admin_json("status", gateway=1)["heal"]["rebalance_backlog"] == 0):
                break
            assert time.monotonic() < deadline, (
                f"{counts} {status['heal']} "
                f"{c.admin_json('status', gateway=1)['heal']}")
            time.sleep(0.3)
        # Balanced: a few more sweeps move nothing (no ping-pong). Only the
        # gateway holding the `heal-moves` lease moves chunks.
        def moved():
            return sum(c.admin_json("status", gateway=g)["heal"]["rebalanced"]
                       for g in (0, 1))
        before = moved()
        assert before > 0
        assert 0 in [c.admin_json("status", gateway=g)["heal"]["rebalanced"] for g in (0, 1)]
        rounds = c.admin_json("status")["heal"]["rounds"]
        c.wait_status("three more sweeps", lambda s: s["heal"]["rounds"] >= rounds + 3)
        assert moved() == before
        assert [c.chunks(n) for n in range(1, 8)] == counts

        # New writes are placed as before (rendezvous over all seven).
        for i in range(3):
            body = random_bytes(MIB)
            s3.put_object(Bucket=bucket, Key=f"new-{i}", Body=body)
            bodies[f"new-{i}"] = body
        _read_all(c, bucket, bodies)
    finally:
        c.stop()


def test_node_down_past_the_grace_is_lost(tmp_path, request):
    """The cluster map's lease, plus `lost_after_secs`, makes a node lost:
    its chunks are rebuilt on nodes without a chunk of their segment, status
    lists it lost, and once it is back it is not lost any more."""
    c = OpsCluster(tmp_path, nodes=7, heal="interval_secs = 1\nlost_after_secs = 2")
    try:
        c.start()
        c.wait_status("seven nodes up",
                      lambda s: sum(n["state"] == "up" for n in s["nodes"]) == 7)
        s3 = c.client(0)
        bucket = unique_bucket_name(request.node.name)
        s3.create_bucket(Bucket=bucket)
        bodies = {f"obj-{i}": random_bytes(size)
                  for i, size in enumerate([200 * 1024, MIB, 5 * MIB])}
        for key, body in bodies.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        assert c.chunks(3) > 0
        c.kill("node-3")
        status = c.wait_status(
            "node 3 lost and its chunks rebuilt",
            lambda s: s["heal"]["lost_nodes"] == [3] and s["heal"]["backlog"] == 0
            and s["heal"]["unavailable"] == 0 and s["heal"]["rounds"] > 0)
        assert "lost nodes: 3" in c.admin("status").stdout
        assert sum(c.admin_json("status", gateway=g)["heal"]["moved"] for g in (0, 1)) > 0
        # Nodes 3, 4 and 5 down: every segment still has 4 chunks, none
        # of them needed from node 3.
        for n in (4, 5):
            c.kill(f"node-{n}")
        _read_all(c, bucket, bodies)
        # Back: not lost any more (rebalancing may then fill it again).
        c.start_node(3)
        c.wait_status("node 3 back", lambda s: 3 not in s["heal"]["lost_nodes"])
    finally:
        c.stop()


def test_admin_buckets_and_keys_with_grants(cluster, request):
    root = cluster.client(0)
    mine = unique_bucket_name("mine")
    other = unique_bucket_name("other")
    for b in (mine, other):
        root.create_bucket(Bucket=b)
        root.put_object(Bucket=b, Key="hello.txt", Body=b"hello " + b.encode())

    listed = cluster.admin("bucket", "list").stdout
    assert mine in listed and other in listed
    info = cluster.admin_json("bucket", "info", mine)
    assert info["objects"] == 1 and info["bytes"] == len(b"hello " + mine.encode())
    r = cluster.admin("bucket", "info", "no-such-bucket-here", check=False)
    assert r.returncode != 0 and "NoSuchBucket" in r.stderr

    # A reader key: reads its bucket, nothing else.
    key = cluster.admin_json("key", "create", "--name", "reader", "--grant", f"{mine}:read")
    assert key["grants"] == [{"bucket": mine, "permission": "read"}]
    reader = cluster.client(1, key["access_key"], key["secret_key"])
    assert reader.get_object(Bucket=mine, Key="hello.txt")["Body"].read().startswith(b"hello")
    assert [o["Key"] for o in reader.list_objects_v2(Bucket=mine)["Contents"]] == ["hello.txt"]
    with pytest.raises(ClientError) as e:
        reader.put_object(Bucket=mine, Key="nope", Body=b"x")
    assert error_code(e.value) == "AccessDenied"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    for call in (lambda: reader.get_object(Bucket=other, Key="hello.txt"),
                 lambda: reader.list_objects_v2(Bucket=other),
                 lambda: reader.delete_object(Bucket=mine, Key="hello.txt"),
                 lambda: reader.delete_bucket(Bucket=mine)):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e.value) == "AccessDenied", e.value.response
    assert [b["Name"] for b in reader.list_buckets()["Buckets"]] == [mine]
    # It is no admin.
    r = cluster.admin("status", check=False, access_key=key["access_key"],
                      secret_key=key["secret_key"])
    assert r.returncode != 0 and "AccessDenied" in r.stderr, r.stderr

    # Granted write, it can write (through the other gateway too, at once).
    cluster.admin("key", "grant", key["access_key"], mine, "write")
    cluster.client(0, key["access_key"], key["secret_key"]).put_object(
        Bucket=mine, Key="now-ok", Body=b"y")
    assert root.get_object(Bucket=mine, Key="now-ok")["Body"].read() == b"y"
    listed = cluster.admin("key", "list").stdout
    assert key["access_key"] in listed and f"{mine}:write" in listed
    assert key["secret_key"] not in listed

    # A key with no grants owns the buckets it creates, and only those.
    maker = cluster.admin_json("key", "create", "--name", "maker")
    s3m = cluster.client(0, maker["access_key"], maker["secret_key"])
    assert s3m.list_buckets()["Buckets"] == []
    made = unique_bucket_name("made")
    s3m.create_bucket(Bucket=made)
    s3m.put_object(Bucket=made, Key="a", Body=b"a")
    s3m.put_bucket_tagging(Bucket=made, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    with pytest.raises(ClientError) as e:
        s3m.create_bucket(Bucket=other)
    assert error_code(e.value) == "BucketAlreadyExists"
    info = cluster.admin_json("bucket", "info", made)
    assert info["grants"] == [{"access_key": maker["access_key"], "name": "maker",
                               "permission": "owner"}]
    s3m.delete_object(Bucket=made, Key="a")
    s3m.delete_bucket(Bucket=made)

    # A deleted key stops working (gateways cache keys for a few seconds).
    cluster.admin("key", "delete", key["access_key"])
    deadline = time.monotonic() + NOTICE_TIMEOUT
    while True:
        try:
            reader.get_object(Bucket=mine, Key="hello.txt")
        except ClientError as e:
            assert error_code(e) == "InvalidAccessKeyId", e.response
            break
        assert time.monotonic() < deadline, "the deleted key still works"
        time.sleep(0.2)
    r = cluster.admin("key", "delete", ACCESS_KEY, check=False)
    assert r.returncode != 0 and "root key" in r.stderr, r.stderr
    r = cluster.admin("status", check=False, secret_key="wrong" * 8)
    assert r.returncode != 0 and "SignatureDoesNotMatch" in r.stderr, r.stderr
