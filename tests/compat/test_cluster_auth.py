"""Issue 15: every internal listener authenticates its callers with the
cluster secret.

A cluster of separate role processes (test_cluster.Cluster) with metrics on.
For every route of the metadata service and of a storage node, and for
paths and methods that are no route at all (the check comes before the
routing, so an endpoint added later is behind it too): a request without
credentials, signed with another cluster's secret, with a tampered body or
path, replayed, or too old is refused with 401/403, and nothing changed
afterwards. Refusals are counted in `shale_internal_auth_refused_total` and
logged without the payload. Then the secret is rotated (add, use, retire)
while a client keeps writing and reading: no request fails, and the old
secret is refused afterwards.
"""

import secrets
import threading
import time

import boto3  # noqa: F401  (the cluster's client)
import pytest

import cluster_secret
from conftest import LOOPBACK, random_bytes, shale_bin, unique_bucket_name
from test_cluster import Cluster
from test_metrics import scrape, total

PAYLOAD_MARK = b"PAYLOAD-MARK-" + secrets.token_hex(8).encode()

# Every route each role serves, and what is no route (the check must come
# first whatever the path). Bodies are what an attacker would send.
META_ROUTES = [
    ("GET", "/health"), ("POST", "/rpc"), ("GET", "/raft/status"),
    ("POST", "/raft/append"), ("POST", "/raft/vote"), ("POST", "/raft/install"),
    ("POST", "/raft/membership"), ("POST", "/raft/campaign"),
    # Not routes: still refused before anything else.
    ("GET", "/rpc"), ("DELETE", "/raft/status"), ("POST", "/raft/unknown"),
    ("GET", "/"), ("PUT", "/anything/at/all"), ("PATCH", "/rpc"),
]
NOT_ROUTES = {
    ("GET", "/rpc"), ("DELETE", "/raft/status"), ("POST", "/raft/unknown"),
    ("GET", "/"), ("PUT", "/anything/at/all"), ("PATCH", "/rpc"),
    ("GET", "/metrics"), ("OPTIONS", "/status"), ("POST", "/chunks/{id}"),
}
NODE_ROUTES = [
    ("GET", "/status"), ("GET", "/scrub"), ("GET", "/chunks"),
    ("PUT", "/chunks/{id}"), ("GET", "/chunks/{id}"), ("HEAD", "/chunks/{id}"),
    ("DELETE", "/chunks/{id}"),
    ("POST", "/chunks/{id}"), ("GET", "/"), ("GET", "/metrics"), ("OPTIONS", "/status"),
    ("PUT", "/chunks/new-chunk-from-nobody"),
]


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, metrics=True)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def signed(c, port, method, path, body=b"", **kw):
    return cluster_secret.request(c.secret, LOOPBACK, port, method, path, body, **kw)


def tier_of(c, port):
    """The tier a caller of the role at `port` signs as: storage nodes
    accept the data tier only."""
    return "data" if port in c.node_ports.values() else "root"


def node_chunks(c, n):
    status, _, body = signed(c, c.node_ports[n], "GET", "/chunks", tier="data")
    assert status == 200, body
    import json
    return json.loads(body)


def attacks(c, port, method, path):
    """(name, answer) for each way of getting `method path` wrong."""
    body = PAYLOAD_MARK if method in ("PUT", "POST", "PATCH") else b""
    host = f"{LOOPBACK}:{port}"
    other = cluster_secret.PREFIX + secrets.token_hex(32)
    now = int(time.time() * 1000)
    tier = tier_of(c, port)
    out = []
    out.append(("none", cluster_secret.request(None, LOOPBACK, port, method, path, body)))
    out.append(("garbage", cluster_secret.request(
        None, LOOPBACK, port, method, path, body, auth="v1 nonsense")))
    out.append(("other cluster", cluster_secret.request(other, LOOPBACK, port, method, path,
                                                        body, tier=tier)))
    # Signed for another body (or, without one, for another path).
    if body:
        auth = cluster_secret.sign(c.secret, method, path, host, b"what was signed", tier=tier)
    else:
        auth = cluster_secret.sign(c.secret, method, "/elsewhere", host, body, tier=tier)
    out.append(("tampered", cluster_secret.request(None, LOOPBACK, port, method, path, body,
                                                   auth=auth)))
    # Signed for another method.
    auth = cluster_secret.sign(c.secret, "GET" if method != "GET" else "DELETE", path, host,
                               body, tier=tier)
    out.append(("method", cluster_secret.request(None, LOOPBACK, port, method, path, body,
                                                 auth=auth)))
    # Signed two minutes ago, or two minutes ahead.
    for name, t in (("stale", now - 120_000), ("future", now + 120_000)):
        auth = cluster_secret.sign(c.secret, method, path, host, body, time_ms=t, tier=tier)
        out.append((name, cluster_secret.request(None, LOOPBACK, port, method, path, body,
                                                 auth=auth)))
    return out


def test_every_internal_route_refuses_what_the_cluster_did_not_sign(cluster, request):
    c = cluster
    s3 = c.client()
    bucket = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=bucket)
    data = random_bytes(300_000)
    s3.put_object(Bucket=bucket, Key="kept", Body=data)
    before = {n: node_chunks(c, n) for n in c.node_ports}
    some = next(n for n in c.node_ports if before[n])
    chunk = before[some][0]
    node_port = c.node_ports[some]

    refused = []
    for role, port, routes in (("metadata", c.meta_port, META_ROUTES),
                               ("storage", node_port, NODE_ROUTES)):
        for method, template in routes:
            path = template.replace("{id}", chunk)
            routed = (method, template) not in NOT_ROUTES
            for name, (status, _, body) in attacks(c, port, method, path):
                expect = (403,) if name in ("stale", "future") else (401,)
                if name == "tampered" and not routed:
                    # Signed for another body, which no route reads: the
                    # request is the cluster's own; nothing is done.
                    expect = (401, 404, 405)
                if status not in expect:
                    refused.append(f"{role} {method} {path} ({name}): {status} {body[:80]!r}")
    assert not refused, "\n".join(refused)

    # A replayed request: the first passes, the same bytes again are refused.
    for port, method, path, body in ((node_port, "GET", "/status", b""),
                                     (node_port, "DELETE", "/chunks/no-such-chunk", b""),
                                     (c.meta_port, "POST", "/rpc", b""),
                                     (node_port, "PUT", "/chunks/replayed-probe", b"probe")):
        auth = cluster_secret.sign(c.secret, method, path, f"{LOOPBACK}:{port}", body,
                                   tier=tier_of(c, port))
        first = cluster_secret.request(None, LOOPBACK, port, method, path, body, auth=auth)
        assert first[0] not in (401, 403), (method, path, first)
        again = cluster_secret.request(None, LOOPBACK, port, method, path, body, auth=auth)
        assert again[0] == 403, (method, path, again)

    # Nothing changed: the same chunks everywhere (but the probe), the object
    # whole, the same buckets, the same storage nodes.
    after = {n: [x for x in node_chunks(c, n) if x != "replayed-probe"] for n in c.node_ports}
    assert after == before
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == data
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [bucket]

    # Counted, by reason, and logged without the payload.
    node = scrape(c.metrics_ports[f"node-{some}"])
    meta = scrape(c.metrics_ports["metadata"])
    for samples, role in ((node, "storage"), (meta, "metadata")):
        for reason in ("missing", "malformed", "unknown_key", "bad_signature", "stale",
                       "replayed"):
            assert total(samples, "shale_internal_auth_refused_total", role=role,
                         reason=reason) > 0, (role, reason)
    assert total(node, "shale_internal_auth_refused_total", reason="body_mismatch") > 0 or \
        total(meta, "shale_internal_auth_refused_total", reason="body_mismatch") > 0
    for name in ("metadata", f"node-{some}"):
        log = c.log(name)
        assert "internal request refused" in log, name
        assert PAYLOAD_MARK.decode() not in log, name


def admin_secret(c, *args):
    import subprocess
    r = subprocess.run([str(shale_bin()), "admin", "cluster-secret", "--file",
                        str(c.secret_file), *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    assert cluster_secret.PREFIX not in r.stdout + r.stderr, "a secret was printed"
    return r.stdout


def test_the_cluster_secret_rotates_under_load_without_a_failed_request(cluster, request):
    c = cluster
    s3 = c.client()
    bucket = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=bucket)
    failures, done = [], [0]
    stop = threading.Event()

    def load():
        i = 0
        while not stop.is_set():
            key = f"k{i % 20}"
            body = random_bytes(20_000 + i % 7 * 30_000)
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
                assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
                done[0] += 1
            except Exception as e:  # noqa: BLE001  (every failure counts)
                failures.append(repr(e)[:300])
            i += 1

    old = c.secret
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        time.sleep(2)
        # After each step, the gateway's and the nodes' key files are
        # derived again (as an operator would, and copy them to their hosts).
        out = admin_secret(c, "add")
        c.derive()
        new_id = out.split()[2]
        assert new_id != cluster_secret.secret_id(old)
        time.sleep(2.5)  # every role has re-read: both accepted everywhere
        admin_secret(c, "use", new_id)
        c.derive()
        time.sleep(2.5)  # every role signs with the new one
        admin_secret(c, "retire")
        c.derive()
        time.sleep(2.5)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not failures, failures[:5]
    assert done[0] > 10
    listed = admin_secret(c, "list").split()
    assert listed[0] == new_id and len(listed) == 3, listed
    # The old secret opens nothing any more; the new one does.
    status, _, _ = cluster_secret.request(old, LOOPBACK, c.node_ports[1], "GET", "/status",
                                          tier="data")
    assert status == 401
    new = cluster_secret.signing_secret(c.secret_file)
    assert cluster_secret.secret_id(new) == new_id
    status, _, _ = cluster_secret.request(new, LOOPBACK, c.node_ports[1], "GET", "/status",
                                          tier="data")
    assert status == 200
    # No role refused another during the rotation.
    for name in ["metadata", "gateway"] + [f"node-{n}" for n in c.node_ports]:
        samples = scrape(c.metrics_ports[name])
        assert total(samples, "shale_internal_auth_refused_total",
                     reason="unknown_key") <= (1 if name == "node-1" else 0), name


def test_what_the_roles_create_is_their_users_alone(cluster, request):
    """Data directories 0700, files 0600: RocksDB's, the chunk volumes, the
    root credentials (none here: they come from the environment)."""
    import os
    import stat
    c = cluster
    s3 = c.client()
    bucket = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=random_bytes(100_000))
    open_to_others, seen = [], 0
    for top in [c.root / "meta"] + [c.root / f"node-{n}" for n in c.node_ports]:
        assert top.is_dir(), top
        for path in [top, *top.rglob("*")]:
            seen += 1
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            if mode & 0o077:
                open_to_others.append(f"{path}: {mode:o}")
    assert seen > 20
    assert not open_to_others, open_to_others[:10]


# Postcard encodings of a few metadata requests (variant index, then
# fields): what a caller holding only some role's keys would send.
LIST_ACCESS_KEYS = bytes([31])
LIST_BUCKETS = bytes([3])


def get_access_key(access_key):
    raw = access_key.encode()
    return bytes([16, len(raw)]) + raw


def test_each_role_may_do_what_it_needs_and_no_more(cluster):
    """Least privilege: a storage node's keys (and the data tier every
    holder of a chunk key has) read no access key, bucket or object from
    the metadata service and drive no Raft; a gateway's keys drive no Raft
    and open no storage node's chunks but through the data tier; the role
    key files hold neither the cluster secret nor another role's key."""
    from test_cluster import ACCESS_KEY, SECRET_KEY
    c = cluster
    meta, node = c.meta_port, c.node_ports[1]

    # The gateway's tier reads the keys it verifies signatures with.
    status, _, body = signed(c, meta, "POST", "/rpc", LIST_ACCESS_KEYS, tier="gateway")
    assert status == 200 and ACCESS_KEY.encode() in body and SECRET_KEY.encode() in body

    refused = []

    def expect(what, answer, statuses):
        status, _, body = answer
        if status not in statuses:
            refused.append(f"{what}: {status} {body[:100]!r}")
        if SECRET_KEY.encode() in body:
            refused.append(f"{what}: the answer holds a secret")

    for tier in ("node", "data"):
        for name, body in (("ListAccessKeys", LIST_ACCESS_KEYS),
                           ("GetAccessKey", get_access_key(ACCESS_KEY)),
                           ("ListBuckets", LIST_BUCKETS)):
            expect(f"{tier} /rpc {name}", signed(c, meta, "POST", "/rpc", body, tier=tier),
                   (403,))
    expect("data GET /health", signed(c, meta, "GET", "/health", tier="data"), (403,))
    for tier in ("gateway", "node", "data"):
        for path in ("/raft/append", "/raft/vote", "/raft/install", "/raft/membership",
                     "/raft/campaign"):
            expect(f"{tier} POST {path}", signed(c, meta, "POST", path, b"\0", tier=tier),
                   (403,))
    # A storage node accepts the data tier only: it does not hold the root's
    # or a gateway's key (401), and its own node key is not for chunks (403).
    for tier, status in (("root", 401), ("gateway", 401), ("node", 403)):
        expect(f"{tier} node GET /status", signed(c, node, "GET", "/status", tier=tier),
               (status,))
    expect("data node GET /status", signed(c, node, "GET", "/status", tier="data"), (200,))
    # The node tier sends heartbeats (the nodes' own, every second, pass).
    assert not refused, "\n".join(refused)

    # The role files: no cluster secret in them, and a node's file cannot
    # sign as a gateway (the tier is in the key id, and the MAC key is the
    # tier's own).
    root_hex = c.secret[len(cluster_secret.PREFIX):]
    for path in c.role_files.values():
        text = path.read_text()
        assert root_hex not in text and cluster_secret.PREFIX not in text, path
        assert oct(path.stat().st_mode & 0o777) == "0o600", path
    node_line = next(line for line in c.role_files["storage-node"].read_text().splitlines()
                     if line.startswith(cluster_secret.ROLE_PREFIX))
    assert cluster_secret.tier_key(bytes.fromhex(root_hex), "gateway").hex() not in node_line
    auth = cluster_secret.sign(c.secret, "POST", "/rpc", f"{LOOPBACK}:{meta}", LIST_ACCESS_KEYS,
                               tier="node").replace(".node ", ".gateway ", 1)
    status, _, body = cluster_secret.request(None, LOOPBACK, meta, "POST", "/rpc",
                                             LIST_ACCESS_KEYS, auth=auth)
    assert status == 401 and SECRET_KEY.encode() not in body

    samples = scrape(c.metrics_ports["metadata"])
    assert total(samples, "shale_internal_auth_refused_total", role="metadata",
                 reason="wrong_role") >= 20
    assert "wrong_role" in c.log("metadata")


@pytest.fixture
def snapshotting_cluster(tmp_path):
    c = Cluster(tmp_path, metrics=False,
                meta_extra="\n[raft]\nsnapshot_every = 8\nlogs_to_keep = 4\n"
                "snapshot_log_ratio = 0\n")
    try:
        c.start()
        yield c
    finally:
        c.stop()


def test_secrets_are_sealed_in_the_catalogue_the_raft_log_and_snapshots(snapshotting_cluster,
                                                                        request):
    """Access-key secrets are sealed under the secrets key before they are
    proposed: no file of the metadata service (RocksDB's tables and WAL,
    the Raft log, the snapshots) holds one in the clear, while the key ids
    beside them are there to find. `shale admin key list` prints no secret;
    `key create` prints its new secret once."""
    import json
    import os
    import subprocess
    from test_cluster import ACCESS_KEY, SECRET_KEY
    c = snapshotting_cluster
    s3 = c.client()
    env = dict(os.environ, SHALE_ENDPOINT=f"http://{LOOPBACK}:{c.gateway_port}",
               SHALE_ACCESS_KEY=ACCESS_KEY, SHALE_SECRET_KEY=SECRET_KEY)

    def admin(*args):
        r = subprocess.run([str(shale_bin()), "admin", *args], env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    made = [json.loads(admin("--json", "key", "create", "--name", f"k{i}")) for i in range(3)]
    secrets_made = [SECRET_KEY] + [k["secret_key"] for k in made]
    assert all(len(x) >= 20 for x in secrets_made)
    # Enough writes for a few snapshots and a compacted log.
    bucket = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=bucket)
    for i in range(40):
        s3.put_object(Bucket=bucket, Key=f"o{i}", Body=b"x")
    listed = admin("key", "list") + admin("--json", "key", "list")
    for secret in secrets_made:
        assert secret not in listed
    # The keys still sign.
    other = boto3.client("s3", endpoint_url=f"http://{LOOPBACK}:{c.gateway_port}",
                         aws_access_key_id=made[0]["access_key"],
                         aws_secret_access_key=made[0]["secret_key"], region_name="us-east-1")
    other.list_buckets()

    deadline = time.monotonic() + 30
    snapshots = []
    while time.monotonic() < deadline and not snapshots:
        snapshots = [p for p in c.root.rglob("*") if p.is_file() and "snapshot" in str(p)]
        time.sleep(0.2)
    assert snapshots, "no Raft snapshot was taken"
    files = [p for p in (c.root / "meta").rglob("*") if p.is_file()] + snapshots
    blobs = {p: p.read_bytes() for p in files}
    found = [k["access_key"] for k in made if any(k["access_key"].encode() in b
                                                  for b in blobs.values())]
    assert found, "the scan finds the key ids beside the secrets"
    clear = [f"{p}" for p, b in blobs.items() for s in secrets_made if s.encode() in b]
    assert not clear, clear
