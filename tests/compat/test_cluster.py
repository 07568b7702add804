"""A cluster of separate processes started from TOML files (issue 5's roles).

One `shale metadata`, six `shale storage-node` and one `shale gateway`
process, each from its own configuration file, on loopback. boto3 writes and
reads through the gateway; a storage node killed with SIGKILL leaves every
object readable byte for byte and new writes still succeed.
"""

import signal
import subprocess

import boto3
import pytest
from botocore.config import Config

from conftest import (LOOPBACK, MIB, free_port, random_bytes,
                      shale_bin, unique_bucket_name)
from roles import RoleProcesses

ACCESS_KEY = "AKSHCLUSTERTEST00001"
SECRET_KEY = "cluster-test-secret-key-0123456789abcdef"


class Cluster(RoleProcesses):
    """With `metrics`, every role serves `/metrics` on a port of its own
    (`self.metrics_ports[name]`); `env` is added to every role's environment."""

    def __init__(self, root, env=None, metrics=False, meta_extra="", role_extra=""):
        super().__init__(root, ACCESS_KEY, SECRET_KEY)
        self.meta_extra = meta_extra
        # Top-level lines of every role's TOML (e.g. `internal_tls`).
        self.role_extra = role_extra
        self.env.update(env or {})
        self.meta_port = free_port()
        self.gateway_port = free_port()
        self.node_ports = {n: free_port() for n in range(1, 7)}
        names = ["metadata", "gateway"] + [f"node-{n}" for n in self.node_ports]
        self.metrics_ports = {name: free_port() for name in names} if metrics else {}

    def metrics_line(self, name):
        port = self.metrics_ports.get(name)
        return f'metrics_listen = "{LOOPBACK}:{port}"\n' if port else ""

    def start(self):
        meta = self.write("metadata.toml", f'listen = "{LOOPBACK}:{self.meta_port}"\n'
                                           f'path = "{self.root / "meta"}"\n'
                                           + self.metrics_line("metadata")
                                           + self.role_extra + self.meta_extra)
        self.spawn("metadata", ["metadata", "--config", str(meta)])
        for n, port in self.node_ports.items():
            cfg = self.write(f"node-{n}.toml", (
                f'listen = "{LOOPBACK}:{port}"\n'
                f'metadata = "{LOOPBACK}:{self.meta_port}"\n'
                f"node_id = {n}\n"
                f'zone = "z{n}"\n' + self.metrics_line(f"node-{n}") + self.role_extra
                + '\n[node]\n'
                f'disks = ["{self.root / f"node-{n}"}"]\n'))
            self.spawn(f"node-{n}", ["storage-node", "--config", str(cfg)])
        gw = self.write("gateway.toml", (
            f'listen = "{LOOPBACK}:{self.gateway_port}"\n'
            + self.metrics_line("gateway") + self.role_extra + '\n[gateway]\n'
            f'region = "us-east-1"\nmetadata_addr = "{LOOPBACK}:{self.meta_port}"\n'))
        # The gateway reads the cluster map once at start: after the nodes.
        # "listening" from the metadata service: it has stored the root key
        # (on a busy machine the first request could come before that).
        self.wait_logged(["metadata"] + [f"node-{n}" for n in self.node_ports], b"listening")
        self.spawn("gateway", ["gateway", "--config", str(gw)])
        self.wait_port(self.gateway_port)

    def client(self):
        return boto3.client(
            "s3", endpoint_url=f"http://{LOOPBACK}:{self.gateway_port}",
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"},
                          retries={"max_attempts": 2}))


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def test_roles_from_config_files_serve_and_survive_a_killed_node(cluster, request):
    s3 = cluster.client()
    bucket = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=bucket)
    bodies = {f"obj-{i}": random_bytes(size)
              for i, size in enumerate([0, 1, 70 * 1024, 5 * MIB + 3])}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == sorted(bodies)

    cluster.kill("node-3")
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    late = random_bytes(3 * MIB)
    s3.put_object(Bucket=bucket, Key="after-kill", Body=late)
    assert s3.get_object(Bucket=bucket, Key="after-kill")["Body"].read() == late

    # Every role stops cleanly on SIGTERM.
    for name in ["gateway", "metadata"] + [f"node-{n}" for n in (1, 2, 4, 5, 6)]:
        cluster.kill(name, signal.SIGTERM)
        assert cluster.procs[name].returncode == 0, (name, cluster.log(name))


@pytest.mark.parametrize("role,text,field", [
    ("storage-node", 'listen = "127.0.0.1:1"\nmetadata = "x:1"\nnode_id = 1\n'
                     'colour = "blue"\n[node]\ndisks = ["/tmp/x"]\n', "colour"),
    ("storage-node", 'listen = "127.0.0.1:1"\nnode_id = 1\n[node]\ndisks = []\n',
     "metadata"),
    ("gateway", 'listen = "127.0.0.1:1"\n[gateway]\nregion = "r"\n', "metadata_addr"),
    ("metadata", 'listen = "not an address"\npath = "/tmp/x"\n', "listen"),
])
def test_a_bad_config_is_refused_naming_the_field(tmp_path, role, text, field):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    r = subprocess.run([str(shale_bin()), role, "--config", str(cfg)],
                       capture_output=True, timeout=30)
    assert r.returncode != 0
    assert field in r.stderr.decode(), r.stderr.decode()
