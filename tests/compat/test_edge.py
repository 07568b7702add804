"""The public edge against slow and hostile clients (issue 15): the header
read timeout fires (slowloris, idle keep-alive), a connection limit holds,
and a normal client keeps its answers meanwhile.

The attackers connect from 127.0.0.2 (loopback, another source address),
the normal client from 127.0.0.1. Every figure comes from the gateway's
`/metrics` (`shale dev --metrics-addr`) or from what the sockets see.
"""

import socket
import threading
import time

import boto3
import pytest
from botocore.config import Config

from conftest import LOOPBACK, free_port, unique_bucket_name
from test_metrics import scrape, total

ATTACKER = "127.0.0.2"
TIMEOUT_S = 2  # --header-read-timeout-secs of these servers


def edge_server(server_factory, *flags):
    port = free_port()
    server = server_factory.new(extra_args=[
        "--metrics-addr", f"{LOOPBACK}:{port}", *flags])
    return server, port


def attacker_socket(server):
    s = socket.socket()
    s.bind((ATTACKER, 0))
    s.settimeout(15)
    s.connect((LOOPBACK, server.port))
    return s


def closed_by_server(s, deadline):
    """True when the server closed `s` (EOF or reset) before `deadline`."""
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = s.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        if not data:
            return True
        # An answer (a 408 or 400) before the close is fine; read on.
    return False


def test_slowloris_connections_are_closed_while_a_normal_client_is_served(server_factory):
    server, metrics = edge_server(
        server_factory, "--header-read-timeout-secs", str(TIMEOUT_S))
    s3 = server.client(config=Config(
        s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=20,
        retries={"max_attempts": 1}))
    bucket = unique_bucket_name("edge")
    s3.create_bucket(Bucket=bucket)

    n = 300
    slow = [attacker_socket(server) for _ in range(n)]
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    stop = threading.Event()
    sent = [0]

    def trickle():
        # One byte to every connection each 100 ms: none ever ends its
        # headers.
        i = 0
        while not stop.is_set() and i < len(request):
            for s in slow:
                try:
                    s.send(request[i:i + 1])
                except OSError:
                    pass
            sent[0] += 1
            i += 1
            stop.wait(0.1)

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    answered = 0
    try:
        # The normal client, meanwhile: every request answered.
        end = time.monotonic() + TIMEOUT_S + 2
        while time.monotonic() < end:
            key = f"k{answered}"
            s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 1024)
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x" * 1024
            answered += 1
        assert sent[0] >= TIMEOUT_S * 5, "the slow clients kept sending"
        # Every slow connection closed by the server, although it kept
        # sending: the timeout counts from the connection's start.
        deadline = time.monotonic() + TIMEOUT_S + 10
        closed = sum(closed_by_server(s, deadline) for s in slow)
        assert closed == n, f"{n - closed} of {n} slow connections still open"
    finally:
        stop.set()
        t.join(10)
        for s in slow:
            s.close()
    assert answered > 0
    samples = scrape(metrics)
    assert total(samples, "shale_gateway_connections_timed_out_total") >= n
    assert total(samples, "shale_gateway_connections_accepted_total") >= n + 1
    # The normal client's connection still works after all that.
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == answered


def test_an_idle_connection_is_closed_after_the_timeout(server_factory):
    server, metrics = edge_server(
        server_factory, "--header-read-timeout-secs", str(TIMEOUT_S))
    # Never a byte.
    silent = attacker_socket(server)
    # One request answered, then idle on keep-alive.
    kept = attacker_socket(server)
    kept.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    kept.settimeout(10)
    head = kept.recv(65536)
    assert head.startswith(b"HTTP/1.1 403"), head[:100]  # anonymous ListBuckets
    started = time.monotonic()
    try:
        deadline = started + TIMEOUT_S + 10
        assert closed_by_server(silent, deadline), "a silent connection stayed open"
        assert closed_by_server(kept, deadline), "an idle keep-alive connection stayed open"
        assert time.monotonic() - started >= TIMEOUT_S - 0.5
    finally:
        silent.close()
        kept.close()
    samples = scrape(metrics)
    assert total(samples, "shale_gateway_connections_timed_out_total") >= 2
    assert total(samples, "shale_gateway_connections_open") <= 1


def test_connections_past_the_limit_are_closed_at_once(server_factory):
    limit = 16
    server, metrics = edge_server(
        server_factory, "--max-connections", str(limit),
        "--header-read-timeout-secs", "60")
    # Let the ready probe's connection go (boto3 keeps it in its pool).
    held = []
    try:
        deadline = time.monotonic() + 20
        refused_at = None
        while time.monotonic() < deadline and len(held) < 4 * limit:
            s = attacker_socket(server)
            held.append(s)
            if closed_by_server(s, time.monotonic() + 0.3):
                refused_at = len(held)
                break
        assert refused_at is not None, f"{len(held)} connections all kept"
        assert refused_at <= limit + 1
        samples = scrape(metrics)
        assert total(samples, "shale_gateway_connections_refused_total") >= 1
        assert total(samples, "shale_gateway_connections_open") <= limit
    finally:
        for s in held:
            s.close()
    # The slots come back with the connections: a client is served again.
    s3 = server.client(config=Config(
        s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=20,
        retries={"max_attempts": 10, "mode": "standard"}))
    deadline = time.monotonic() + 20
    while True:
        try:
            s3.list_buckets()
            break
        except Exception:  # noqa: BLE001 (slots freed a moment later)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_flood_of_an_unknown_key_reaches_the_metadata_service_rarely(server_factory):
    server, metrics = edge_server(server_factory)
    stranger = boto3.client(
        "s3", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id="AKUNKNOWNFLOOD000001", aws_secret_access_key="x" * 40,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    def lookups():
        return total(scrape(metrics), "shale_metadata_requests_total", kind="GetIdentity")

    before = lookups()
    started = time.monotonic()
    n = 300
    for _ in range(n):
        with pytest.raises(Exception) as e:
            stranger.list_buckets()
        assert "InvalidAccessKeyId" in str(e.value)
    elapsed = time.monotonic() - started
    looked_up = lookups() - before
    # One read per 2 s period at most (and one to start), not one per request.
    assert 1 <= looked_up <= elapsed / 2 + 2, (looked_up, elapsed)
    hits = total(scrape(metrics), "shale_gateway_unknown_key_cache_hits_total")
    assert hits >= n - looked_up


def _bad_signature_request(server, source):
    """ListBuckets signed with the right key and a wrong secret, sent from
    `source`: (status, S3 error code)."""
    import http.client
    import re
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method="GET", url=f"{server.endpoint}/")
    S3SigV4Auth(Credentials(server.access_key, "wrong" * 8), "s3", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection(LOOPBACK, server.port, timeout=10,
                                      source_address=(source, 0))
    try:
        conn.request("GET", "/", headers=dict(req.headers))
        r = conn.getresponse()
        body = r.read().decode(errors="replace")
    finally:
        conn.close()
    m = re.search(r"<Code>([^<]+)</Code>", body)
    return r.status, m.group(1) if m else None


def test_an_address_that_keeps_failing_to_authenticate_is_slowed_down(server_factory):
    limit = 20
    server, metrics = edge_server(server_factory, "--auth-failures-per-minute", str(limit))
    answers = [_bad_signature_request(server, ATTACKER) for _ in range(limit + 10)]
    assert answers[0] == (403, "SignatureDoesNotMatch")
    # The limit's worth of failures (a token or two may come back meanwhile),
    # then SlowDown without the signature being looked at.
    first_held = next(i for i, a in enumerate(answers) if a != (403, "SignatureDoesNotMatch"))
    assert limit <= first_held <= limit + 3, answers
    assert all(a == (503, "SlowDown") for a in answers[first_held:]), answers
    # Another address is not held: served, and its failures answered as usual.
    s3 = server.client(config=Config(s3={"addressing_style": "path"},
                                     retries={"max_attempts": 1}))
    s3.list_buckets()
    assert _bad_signature_request(server, LOOPBACK) == (403, "SignatureDoesNotMatch")
    samples = scrape(metrics)
    assert total(samples, "shale_gateway_requests_total", op="AuthFailuresHeld") >= 5
    # A token comes back every 60 / limit = 3 s.
    time.sleep(60 / limit + 0.5)
    assert _bad_signature_request(server, ATTACKER) == (403, "SignatureDoesNotMatch")


def test_a_stalled_upload_is_answered_request_timeout(server_factory):
    """A PUT whose body stops arriving: 400 RequestTimeout once the body
    has been idle for --body-idle-timeout-secs, the connection closed, and
    nothing stored."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    server, _ = edge_server(server_factory, "--body-idle-timeout-secs", str(TIMEOUT_S))
    s3 = server.client()
    bucket = unique_bucket_name("stall")
    s3.create_bucket(Bucket=bucket)
    length = 100_000
    url = f"http://{LOOPBACK}:{server.port}/{bucket}/stalled"
    req = AWSRequest(method="PUT", url=url, headers={"Content-Length": str(length)})
    req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3",
                "us-east-1").add_auth(req)
    head = f"PUT /{bucket}/stalled HTTP/1.1\r\nHost: {LOOPBACK}:{server.port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in req.headers.items() if k.lower() != "host")
    s = attacker_socket(server)
    try:
        s.sendall(head.encode() + b"\r\n" + b"x" * 1000)
        started = time.monotonic()
        s.settimeout(TIMEOUT_S + 15)
        answer = b""
        while b"</Error>" not in answer:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
        waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert b"<Code>RequestTimeout</Code>" in answer, answer[-400:]
        assert waited >= TIMEOUT_S - 0.5, waited
        assert closed_by_server(s, time.monotonic() + 10), "the stalled connection stayed open"
    finally:
        s.close()
    with pytest.raises(Exception) as e:
        s3.head_object(Bucket=bucket, Key="stalled")
    assert "404" in str(e.value)


def test_the_workers_figures_can_be_kept_from_the_public_port(server_factory):
    """`/_shale/status` answers anyone by default; with
    --no-public-status it is an S3 request like any other (refused without
    a bucket name S3 refuses), and root keys still get the figures through the admin
    API (`shale admin status`)."""
    import json
    import os
    import subprocess
    import urllib.error
    import urllib.request

    from conftest import shale_bin

    def fetch(server):
        try:
            with urllib.request.urlopen(
                    f"http://{LOOPBACK}:{server.port}/_shale/status", timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    open_server, _ = edge_server(server_factory)
    status, body = fetch(open_server)
    assert status == 200 and "heal" in json.loads(body)

    closed, _ = edge_server(server_factory, "--no-public-status")
    status, body = fetch(closed)
    # What S3 answers an unsigned request for a bucket named `_shale`.
    assert status == 400 and b"<Code>InvalidBucketName</Code>" in body, (status, body[:300])
    assert b"heal" not in body
    env = dict(os.environ, SHALE_ENDPOINT=f"http://{LOOPBACK}:{closed.port}",
               SHALE_ACCESS_KEY=closed.access_key, SHALE_SECRET_KEY=closed.secret_key)
    r = subprocess.run([str(shale_bin()), "admin", "--json", "status"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "heal" in json.loads(r.stdout)
