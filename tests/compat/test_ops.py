"""Operating a multi-process cluster (issue 5): heartbeats, the cluster map,
zones, two gateways, `shale admin`, per-bucket key grants.

Each test starts its own cluster from TOML files: one `shale metadata`, six
`shale storage-node` in six zones (heartbeats every 300 ms, down after
1.5 s) and two `shale gateway`, all on loopback, each a real process
stopped by its PID at the end. Waits poll with a deadline; nothing sleeps a
fixed time to let something happen.
"""

import http.client
import json
import subprocess
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (LOOPBACK, MIB, _client_env,
                      aws_cli_command, error_code, free_port, random_bytes,
                      shale_bin, unique_bucket_name)
from roles import RoleProcesses

ACCESS_KEY = "AKSHOPSTEST000000001"
SECRET_KEY = "ops-test-secret-key-0123456789abcdefghij"
HEARTBEAT_MS = 300
DOWN_AFTER_MS = 1500
# How long a poll waits for the cluster to notice something.
NOTICE_TIMEOUT = 30.0


class OpsCluster(RoleProcesses):
    def __init__(self, root):
        super().__init__(root, ACCESS_KEY, SECRET_KEY)
        self.meta_port = free_port()
        self.gateway_ports = [free_port(), free_port()]
        self.node_ports = {n: free_port() for n in range(1, 7)}

    def start(self):
        meta = self.write("metadata.toml",
                          f'listen = "{LOOPBACK}:{self.meta_port}"\n'
                          f'path = "{self.root / "meta"}"\n')
        self.spawn("metadata", ["metadata", "--config", str(meta)])
        for n, port in self.node_ports.items():
            cfg = self.write(f"node-{n}.toml", (
                f'listen = "{LOOPBACK}:{port}"\n'
                f'metadata = "{LOOPBACK}:{self.meta_port}"\n'
                f"node_id = {n}\n"
                f'zone = "zone-{n}"\n\n'
                f"[heartbeat]\ninterval_ms = {HEARTBEAT_MS}\n"
                f"down_after_ms = {DOWN_AFTER_MS}\n\n[node]\n"
                f'disks = ["{self.root / f"node-{n}"}"]\n'))
            self.spawn(f"node-{n}", ["storage-node", "--config", str(cfg)])
        # "listening": the metadata service has stored the root key (the
        # admin CLI signs with it), the nodes have registered.
        self.wait_logged(["metadata"] + [f"node-{n}" for n in self.node_ports], b"listening")
        for i, port in enumerate(self.gateway_ports):
            gw = self.write(f"gateway-{i}.toml", (
                f'listen = "{LOOPBACK}:{port}"\n\n[gateway]\n'
                f'region = "us-east-1"\n'
                f'metadata_addr = "{LOOPBACK}:{self.meta_port}"\n'))
            self.spawn(f"gateway-{i}", ["gateway", "--config", str(gw)])
        for port in self.gateway_ports:
            self.wait_port(port)

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
        conn = http.client.HTTPConnection(LOOPBACK, self.node_ports[n], timeout=30)
        try:
            conn.request("GET", "/status")
            resp = conn.getresponse()
            assert resp.status == 200
            return sum(d["chunks"] for d in json.loads(resp.read())["disks"])
        finally:
            conn.close()

    def wait_following(self, epoch):
        """Waits until both gateways place by map epoch `epoch` or later."""
        for g in range(len(self.gateway_ports)):
            deadline = time.monotonic() + NOTICE_TIMEOUT
            while self.admin_json("status", gateway=g)["gateway_epoch"] < epoch:
                assert time.monotonic() < deadline, f"gateway {g} does not follow the map"
                time.sleep(0.2)

    def wait_status(self, what, predicate):
        deadline = time.monotonic() + NOTICE_TIMEOUT
        while True:
            status = self.admin_json("status")
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen within {NOTICE_TIMEOUT}s\n"
                                     f"{json.dumps(status, indent=1)}")
            time.sleep(0.2)


@pytest.fixture
def cluster(tmp_path):
    c = OpsCluster(tmp_path)
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


def test_admin_nodes_drain_and_remove(cluster, request):
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

    # Removing a node that holds chunks is refused, naming the way out.
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
