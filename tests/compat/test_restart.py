"""Data survives clean shutdowns (SIGTERM, SIGINT) and crashes (SIGKILL);
`shale dev` keeps its internal addresses (`ports.toml`) across restarts."""

import json
import signal
import socket
import subprocess
import time
import tomllib

import pytest
from boto3.s3.transfer import TransferConfig

from conftest import (KIB, LOOPBACK, MIB, _client_env, random_bytes,
                      shale_bin, unique_bucket_name)


def populate(server, tmp_path):
    s3 = server.client()
    buckets = [unique_bucket_name("restart-a"), unique_bucket_name("restart-b")]
    for b in buckets:
        s3.create_bucket(Bucket=b)
    bodies = {
        (buckets[0], "inline-1k"): random_bytes(KIB),
        (buckets[0], "coded-5m"): random_bytes(5 * MIB),
        (buckets[1], "dir/multipart-20m"): random_bytes(20 * MIB + 7),
    }
    s3.put_object(Bucket=buckets[0], Key="inline-1k",
                  Body=bodies[(buckets[0], "inline-1k")],
                  ContentType="text/x-inline", Metadata={"k": "v"})
    s3.put_object(Bucket=buckets[0], Key="coded-5m",
                  Body=bodies[(buckets[0], "coded-5m")])
    src = tmp_path / "mp.bin"
    src.write_bytes(bodies[(buckets[1], "dir/multipart-20m")])
    s3.upload_file(str(src), buckets[1], "dir/multipart-20m",
                   Config=TransferConfig(multipart_threshold=8 * MIB,
                                         multipart_chunksize=8 * MIB))
    # Tags are acknowledged writes like any other.
    s3.put_object_tagging(Bucket=buckets[0], Key="inline-1k", Tagging={
        "TagSet": [{"Key": "kept", "Value": "yes"}]})
    s3.put_bucket_tagging(Bucket=buckets[1], Tagging={
        "TagSet": [{"Key": "team", "Value": "storage"}]})
    etags = {k: s3.head_object(Bucket=k[0], Key=k[1])["ETag"] for k in bodies}
    assert etags[(buckets[1], "dir/multipart-20m")].endswith('-3"')
    return bodies, etags


def bucket_names(s3):
    return sorted(b["Name"] for b in s3.list_buckets()["Buckets"])


def check(server, bodies, etags, names):
    s3 = server.client()
    assert bucket_names(s3) == names
    for (bucket, key), body in bodies.items():
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["ETag"] == etags[(bucket, key)]
        assert got["Body"].read() == body, (bucket, key)
    head = s3.head_object(Bucket=next(iter(bodies))[0], Key="inline-1k")
    assert head["ContentType"] == "text/x-inline"
    assert head["Metadata"] == {"k": "v"}
    assert head["TagCount"] == 1
    (first, key), _, (second, _) = bodies
    assert s3.get_object_tagging(Bucket=first, Key=key)["TagSet"] == [
        {"Key": "kept", "Value": "yes"}]
    assert s3.get_bucket_tagging(Bucket=second)["TagSet"] == [
        {"Key": "team", "Value": "storage"}]


@pytest.mark.slow
def test_clean_restart_keeps_everything(server_factory, tmp_path):
    server = server_factory.new()
    bodies, etags = populate(server, tmp_path)
    names = bucket_names(server.client())

    code = server.stop(sig=signal.SIGTERM, timeout=30)
    assert code == 0, f"SIGTERM exit code {code}\n{server.log_tail()}"
    # Each storage node wrote its index checkpoint as it stopped; the next
    # start reads it instead of every record.
    checkpoints = sorted(server.data_dir.glob("node-*/volumes/index.ckpt"))
    assert len(checkpoints) == 6, checkpoints
    server.start()
    check(server, bodies, etags, names)

    # Writes after a restart work, and SIGINT is a clean shutdown too.
    server.client().put_object(Bucket=names[0], Key="second-life",
                               Body=b"after restart")
    code = server.stop(sig=signal.SIGINT, timeout=30)
    assert code == 0, f"SIGINT exit code {code}\n{server.log_tail()}"
    server.start()
    check(server, bodies, etags, names)
    assert server.client().get_object(Bucket=names[0], Key="second-life")[
        "Body"].read() == b"after restart"

    # Chunks written after the checkpoint that was read, then a crash: the
    # next start reads the checkpoint and scans what came after it.
    late = random_bytes(3 * MIB)
    server.client().put_object(Bucket=names[0], Key="after-checkpoint", Body=late)
    server.kill()
    assert len(list(server.data_dir.glob("node-*/volumes/index.ckpt"))) == 6
    server.start()
    check(server, bodies, etags, names)
    assert server.client().get_object(Bucket=names[0], Key="after-checkpoint")[
        "Body"].read() == late


@pytest.mark.slow
def test_acknowledged_writes_survive_sigkill(server_factory, tmp_path):
    server = server_factory.new()
    bodies, etags = populate(server, tmp_path)
    names = bucket_names(server.client())
    server.kill()
    server.start()
    check(server, bodies, etags, names)


# -- `shale dev`'s internal addresses across restarts -------------------------

STATUS_TIMEOUT = 30.0


def ports_file(server):
    with open(server.data_dir / "ports.toml", "rb") as f:
        return tomllib.load(f)


def admin_status(server):
    env = dict(_client_env(), SHALE_ENDPOINT=server.endpoint,
               SHALE_ACCESS_KEY=server.access_key,
               SHALE_SECRET_KEY=server.secret_key)
    r = subprocess.run([str(shale_bin()), "admin", "--json", "status"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout)


def group_of_one_at(status, addr):
    """Whether the status shows the metadata group as one replica, at
    `addr`, leading, reachable and a member."""
    meta = status["metadata"]
    replicas = meta["replicas"]
    return (len(replicas) == 1
            and replicas[0]["addr"] == addr
            and replicas[0]["role"] == "leader"
            and replicas[0]["reachable"] is True
            and meta["leader"] == replicas[0]["id"])


def nodes_at(status, ports):
    """Whether every storage node is up at its kept port."""
    nodes = sorted(status["nodes"], key=lambda n: n["id"])
    return ([(n["id"], n["addr"], n["up"]) for n in nodes]
            == [(i + 1, f"{LOOPBACK}:{p}", True)
                for i, p in enumerate(ports["storage_nodes"])])


def wait_for_status(server, ports):
    """Polls `shale admin status` until the metadata group and the nodes are
    where `ports` says (the group records a changed address once its replica
    leads); returns the last status."""
    deadline = time.monotonic() + STATUS_TIMEOUT
    while True:
        status = admin_status(server)
        if (group_of_one_at(status, f"{LOOPBACK}:{ports['metadata']}")
                and nodes_at(status, ports)):
            return status
        assert time.monotonic() < deadline, (
            f"{json.dumps(status['metadata'], indent=1)}\n"
            f"nodes: {[(n['id'], n['addr'], n['up']) for n in status['nodes']]}\n"
            f"ports: {ports}\n{server.log_tail()}")
        time.sleep(0.2)


def stop(server):
    code = server.stop(sig=signal.SIGTERM, timeout=30)
    assert code == 0, f"SIGTERM exit code {code}\n{server.log_tail()}"


def restart(server):
    stop(server)
    server.start()


def read_back(server, bodies):
    s3 = server.client()
    for (bucket, key), body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_dev_restart_keeps_its_addresses(server_factory):
    server = server_factory.new()
    s3 = server.client()
    bucket = unique_bucket_name("dev-ports")
    s3.create_bucket(Bucket=bucket)
    bodies = {(bucket, "small"): random_bytes(KIB),
              (bucket, "coded"): random_bytes(3 * MIB + 5)}
    for (b, key), body in bodies.items():
        s3.put_object(Bucket=b, Key=key, Body=body)
    first = ports_file(server)
    assert len(first["storage_nodes"]) == 6
    wait_for_status(server, first)

    # A restart serves every internal role where it was.
    restart(server)
    assert ports_file(server) == first
    wait_for_status(server, first)
    read_back(server, bodies)

    # Kept ports taken by someone else: new ones, recorded in the file, in
    # the metadata group's membership and in the cluster map.
    stop(server)
    taken = []
    for port in (first["metadata"], first["storage_nodes"][2]):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # As the server's listeners: the old run's connections may linger.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(1)
        taken.append(sock)
    try:
        server.start()
    finally:
        for sock in taken:
            sock.close()
    second = ports_file(server)
    assert second["metadata"] != first["metadata"]
    assert second["storage_nodes"][2] != first["storage_nodes"][2]
    assert second["storage_nodes"][:2] == first["storage_nodes"][:2]
    wait_for_status(server, second)
    read_back(server, bodies)

    # A data dir from before the ports file: new ports, and the file.
    (server.data_dir / "ports.toml").unlink()
    restart(server)
    third = ports_file(server)
    wait_for_status(server, third)
    read_back(server, bodies)
    s3 = server.client()
    s3.put_object(Bucket=bucket, Key="after", Body=b"restarted")
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"restarted"
