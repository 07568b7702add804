"""Issue 15: TLS between roles (`internal_tls = { cert, key, ca }`).

A cluster of separate role processes whose metadata service and storage
nodes serve their internal listeners over TLS with certificates of a test
CA, and whose clients (gateway, storage nodes, the admin CLI) call them over
https trusting that CA. S3 works through it; the internal ports answer no
plaintext; a signed request over TLS is served; and a role whose addresses
are not all on this host refuses to start without TLS unless its TOML says
`plaintext_between_hosts = true`.
"""

import http.client
import json
import socket
import ssl
import subprocess

import pytest

import cluster_secret
from conftest import LOOPBACK, random_bytes, shale_bin, unique_bucket_name
from test_cluster import Cluster


def make_ca_and_cert(directory):
    """A CA, and a certificate it signed for 127.0.0.1 and localhost."""
    d = directory
    run = lambda *args: subprocess.run(args, check=True, capture_output=True,  # noqa: E731
                                       timeout=60)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-subj", "/CN=shale test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "role.key"),
        "-out", str(d / "role.csr"), "-subj", "/CN=shale role")
    (d / "ext.cnf").write_text("basicConstraints=CA:FALSE\n"
                               "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", str(d / "role.csr"), "-CA", str(d / "ca.pem"),
        "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", str(d / "ext.cnf"), "-out", str(d / "role.pem"))
    return d / "ca.pem", d / "role.pem", d / "role.key"


@pytest.fixture
def tls_cluster(tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    ca, cert, key = make_ca_and_cert(pki)
    (tmp_path / "cluster").mkdir()
    c = Cluster(tmp_path / "cluster", role_extra=(
        f'internal_tls = {{ cert = "{cert}", key = "{key}", ca = "{ca}" }}\n'))
    c.ca = ca
    try:
        c.start()
        yield c
    finally:
        c.stop()


def plaintext_answer(port):
    """What a plain-HTTP request to `port` gets back (bytes; b"" if closed)."""
    with socket.create_connection((LOOPBACK, port), timeout=10) as s:
        s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        try:
            return s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            return b""


def tls_request(c, port, method, path, tier):
    ctx = ssl.create_default_context(cafile=str(c.ca))
    conn = http.client.HTTPSConnection(LOOPBACK, port, context=ctx, timeout=30)
    host = f"{LOOPBACK}:{port}"
    try:
        conn.request(method, path, headers={
            "Host": host,
            cluster_secret.HEADER: cluster_secret.sign(c.secret, method, path, host, tier=tier)})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_roles_talk_over_tls_and_their_ports_answer_no_plaintext(tls_cluster, request):
    c = tls_cluster
    s3 = c.client()
    bucket = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=bucket)
    # Inline and erasure-coded: the gateway reaches the metadata service and
    # every storage node over TLS.
    bodies = {"small": random_bytes(1000), "coded": random_bytes(700_000)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body

    # Plain HTTP gets no HTTP answer from an internal port.
    for port in (c.meta_port, c.node_ports[1]):
        answer = plaintext_answer(port)
        assert not answer.startswith(b"HTTP/"), (port, answer[:100])
    # Over TLS, trusting the cluster's CA, a signed request is served.
    status, body = tls_request(c, c.node_ports[1], "GET", "/status", "data")
    assert status == 200 and "disks" in json.loads(body)
    status, _ = tls_request(c, c.meta_port, "GET", "/health", "root")
    assert status == 200
    # A client that does not trust the CA does not get through.
    with pytest.raises(ssl.SSLError):
        ctx = ssl.create_default_context()
        with socket.create_connection((LOOPBACK, c.meta_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass

    # The admin CLI, given the CA.
    r = subprocess.run([str(shale_bin()), "admin", "metadata", "--metadata",
                        f"{LOOPBACK}:{c.meta_port}", "--internal-tls-ca", str(c.ca), "status"],
                       env=c.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "leader" in r.stdout


def test_a_role_on_another_host_refuses_plaintext_unless_told(tmp_path):
    """A storage node whose metadata service is on another host: it does
    not start without TLS (no traffic is sent), and says how to fix it."""
    c = Cluster(tmp_path)
    for extra, refused in (("", True), ("plaintext_between_hosts = false\n", True)):
        cfg = c.write("node.toml", (
            f'listen = "{LOOPBACK}:1"\nmetadata = "10.99.0.1:7100"\nnode_id = 1\n' + extra
            + f'\n[node]\ndisks = ["{tmp_path / "disk"}"]\n'))
        env = dict(c.env, SHALE_CLUSTER_SECRET_FILE=str(c.role_files["storage-node"]))
        r = subprocess.run([str(shale_bin()), "storage-node", "--config", str(cfg)], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert "10.99.0.1:7100 is not on this host" in r.stderr + r.stdout
        assert "plaintext_between_hosts" in r.stderr + r.stdout
