"""Erasure coding 4+2 on disk: lose or corrupt chunks, read the object.

Each test gets its own server, because it damages the data directory.
Chunks are records in DIR/node-N/volumes/*.vol (volumes.py reads and damages
them); a chunk is a header, data blocks each followed by a CRC32, and a
BLAKE3 trailer. Every segment has one chunk on each of the six nodes.
"""

import http.client

import pytest
import urllib3.exceptions
from botocore.exceptions import BotoCoreError, ClientError

from conftest import KIB, MIB, http_status, random_bytes, unique_bucket_name
from volumes import corrupt, lose

OBJECT_SIZE = 10 * MIB


def put_and_find_chunks(server, s3, bucket, key, body):
    """Put an object; return {node: [its new chunk records]}."""
    before = server.chunk_records()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    new = server.chunk_records() - before
    per_node = {n: sorted(r for r in new if r.node == n) for n in range(1, 7)}
    counts = {n: len(records) for n, records in per_node.items()}
    assert all(c >= 1 for c in counts.values()), counts
    assert len(set(counts.values())) == 1, \
        f"every segment should have one chunk per node: {counts}"
    return per_node


READ_FAILURES = (ClientError, BotoCoreError, urllib3.exceptions.HTTPError,
                 http.client.HTTPException, ConnectionError, OSError)


def try_read(s3, bucket, key, **kwargs):
    """Returns (body, None) on success or (None, exception) on failure."""
    try:
        resp = s3.get_object(Bucket=bucket, Key=key, **kwargs)
        body = resp["Body"].read()
        if len(body) != resp["ContentLength"]:
            return None, AssertionError("truncated body")
        return body, None
    except READ_FAILURES as exc:
        return None, exc


@pytest.fixture
def damaged_setup(server_factory, request):
    server = server_factory.new()
    s3 = server.client()
    bucket = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=bucket)
    return server, s3, bucket


def test_small_objects_have_no_chunks(damaged_setup):
    server, s3, bucket = damaged_setup
    before = server.chunk_records()
    s3.put_object(Bucket=bucket, Key="inline", Body=random_bytes(64 * KIB - 1))
    assert server.chunk_records() == before


def test_two_corrupt_nodes_still_read_exactly(damaged_setup):
    server, s3, bucket = damaged_setup
    body = random_bytes(OBJECT_SIZE)
    chunks = put_and_find_chunks(server, s3, bucket, "obj", body)

    for node in (1, 2):
        for record in chunks[node]:
            corrupt(record)
    got, err = try_read(s3, bucket, "obj")
    assert err is None, f"read failed with two corrupt chunks: {err!r}\n" \
        f"{server.log_tail()}"
    assert got == body
    # Ranged reads through the damaged segments too.
    resp = s3.get_object(Bucket=bucket, Key="obj",
                         Range=f"bytes={MIB - 5}-{7 * MIB + 5}")
    assert resp["Body"].read() == body[MIB - 5:7 * MIB + 6]


def test_three_corrupt_nodes_fail_and_never_return_wrong_bytes(damaged_setup):
    server, s3, bucket = damaged_setup
    body = random_bytes(OBJECT_SIZE)
    chunks = put_and_find_chunks(server, s3, bucket, "obj", body)
    # All three at once, so that no healer can repair in between: beyond
    # what 4+2 can rebuild, the read must fail, never hand out wrong bytes.
    for node in (1, 2, 3):
        for record in chunks[node]:
            corrupt(record)
    got, err = try_read(s3, bucket, "obj")
    if got is not None:
        assert got == body, "corrupt data was returned as the object"
    assert err is not None, "three corrupt chunks per segment went unnoticed"
    if isinstance(err, ClientError):
        assert http_status(err) >= 500, err.response

    # The server is still alive and serves other objects.
    s3.put_object(Bucket=bucket, Key="after", Body=b"still here")
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == \
        b"still here"


def test_missing_chunks_of_one_node_are_rebuilt_from_parity(damaged_setup):
    server, s3, bucket = damaged_setup
    body = random_bytes(OBJECT_SIZE)
    chunks = put_and_find_chunks(server, s3, bucket, "obj", body)
    for record in chunks[4]:
        lose(record)
    got, err = try_read(s3, bucket, "obj")
    assert err is None, f"{err!r}\n{server.log_tail()}"
    assert got == body


def test_missing_and_corrupt_chunks_together(damaged_setup):
    server, s3, bucket = damaged_setup
    body = random_bytes(OBJECT_SIZE)
    chunks = put_and_find_chunks(server, s3, bucket, "obj", body)
    for record in chunks[6]:
        lose(record)
    for record in chunks[5]:
        corrupt(record)
    got, err = try_read(s3, bucket, "obj")
    assert err is None, f"{err!r}\n{server.log_tail()}"
    assert got == body
