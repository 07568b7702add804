"""Garbage collection: the chunks of replaced and deleted versions go away.

The server runs with no grace period and one-second rounds, so a replaced or
deleted version's chunk records must disappear from the nodes' volumes
within a bounded time, while every live object stays readable. The orphan
sweep (chunks nothing references) is skipped while no node took a chunk.
"""

import os
import time

import pytest

import cluster_secret
from conftest import LOOPBACK, MIB, random_bytes, unique_bucket_name

GC_DEADLINE_S = 30


@pytest.fixture
def gc_setup(server_factory, request):
    server = server_factory.new(
        extra_args=["--gc-grace-secs", "0", "--gc-interval-secs", "1"])
    s3 = server.client()
    bucket = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=bucket)
    return server, s3, bucket


def put_and_collect_chunks(server, s3, bucket, key, body):
    """Puts an object; returns the chunk ids that appeared."""
    before = {r.chunk_id for r in server.chunk_records()}
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return {r.chunk_id for r in server.chunk_records()} - before


def wait_until_gone(server, chunk_ids):
    deadline = time.monotonic() + GC_DEADLINE_S
    while time.monotonic() < deadline:
        left = chunk_ids & {r.chunk_id for r in server.chunk_records()}
        if not left:
            return
        time.sleep(0.2)
    raise AssertionError(
        f"{len(left)} chunks still on disk after {GC_DEADLINE_S} s\n"
        f"{server.log_tail()}")


def test_replaced_and_deleted_versions_lose_their_chunks(gc_setup):
    server, s3, bucket = gc_setup
    first = random_bytes(6 * MIB)
    old = put_and_collect_chunks(server, s3, bucket, "replaced", first)
    assert len(old) == 12  # two segments of six chunks
    second = random_bytes(5 * MIB)
    new = put_and_collect_chunks(server, s3, bucket, "replaced", second)
    doomed = put_and_collect_chunks(server, s3, bucket, "deleted",
                                    random_bytes(MIB))
    kept_body = random_bytes(2 * MIB)
    kept = put_and_collect_chunks(server, s3, bucket, "kept", kept_body)
    s3.delete_object(Bucket=bucket, Key="deleted")

    wait_until_gone(server, old | doomed)
    on_disk = {r.chunk_id for r in server.chunk_records()}
    assert new <= on_disk and kept <= on_disk
    assert s3.get_object(Bucket=bucket, Key="replaced")["Body"].read() == second
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == kept_body


def test_an_aborted_upload_loses_its_parts(gc_setup):
    server, s3, bucket = gc_setup
    before = {r.chunk_id for r in server.chunk_records()}
    upload = s3.create_multipart_upload(Bucket=bucket, Key="aborted")
    for n in (1, 2):
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId=upload["UploadId"],
                       PartNumber=n, Body=random_bytes(5 * MIB))
    parts = {r.chunk_id for r in server.chunk_records()} - before
    assert parts
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted",
                              UploadId=upload["UploadId"])
    wait_until_gone(server, parts)


def uuid7_hex(unix_ms):
    """A UUIDv7 (32 hex digits) of the time `unix_ms`, as chunk prefixes are."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((unix_ms & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
             | 0b10 << 62 | rand & (2**62 - 1))
    return f"{value:032x}"


def wait_gc(server, what, pred, timeout=GC_DEADLINE_S):
    return server.wait_status("gc", what, pred, timeout)


def test_idle_orphan_sweeps_are_skipped_until_a_node_takes_a_chunk(server_factory, request):
    """A due orphan sweep reads every layout; while no node took a chunk
    since the last sweep that left nothing behind, it is skipped. A chunk
    written to a node behind the gateway's back (an upload that crashed
    before its commit) makes the next one sweep, and the orphan goes."""
    # Sweeps due every 2 s (a quarter of the orphan grace).
    server = server_factory.new(extra_args=[
        "--gc-interval-secs", "1", "--gc-orphan-grace-secs", "8"])
    s3 = server.client()
    bucket = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=bucket)
    body = random_bytes(MIB)
    s3.put_object(Bucket=bucket, Key="kept", Body=body)

    first = wait_gc(server, "a skipped sweep", lambda g: g["orphan_quiet"] >= 1)
    later = wait_gc(server, "three more skipped sweeps",
                    lambda g: g["orphan_quiet"] >= first["orphan_quiet"] + 3)
    assert later["orphan_sweeps"] == first["orphan_sweeps"], later

    # An orphan: a chunk no row names, started a minute ago (past the grace).
    node = next(n for n in server.admin_json("status")["nodes"] if n["id"] == 1)
    host, port = node["addr"].rsplit(":", 1)
    assert host == LOOPBACK
    secret = cluster_secret.signing_secret(server.data_dir / "cluster.secret")
    orphan = f"{uuid7_hex(int(time.time() * 1000) - 60_000)}.p1.s0.c0"
    status, _, answer = cluster_secret.request(
        secret, host, int(port), "PUT", f"/chunks/{orphan}", b"orphan bytes" * 100,
        tier="data")
    assert status == 201, answer
    assert orphan in {r.chunk_id for r in server.chunk_records(1)}

    # Seen once (a candidate), deleted at the second sighting.
    done = wait_gc(server, "the orphan deleted",
                   lambda g: g["orphans_deleted"] >= later["orphans_deleted"] + 1)
    assert done["orphan_sweeps"] >= later["orphan_sweeps"] + 2, done
    assert orphan not in {r.chunk_id for r in server.chunk_records(1)}
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == body
    # Skipped again: the delete took no chunk in.
    settled = wait_gc(server, "skipped again",
                      lambda g: g["orphan_quiet"] >= done["orphan_quiet"] + 3)
    assert settled["orphan_candidates"] == 0, settled
    assert settled["orphan_sweeps"] <= done["orphan_sweeps"] + 1, settled
