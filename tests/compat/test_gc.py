"""Garbage collection: the chunks of replaced and deleted versions go away.

The server runs with no grace period and one-second rounds, so a replaced or
deleted version's chunk records must disappear from the nodes' volumes
within a bounded time, while every live object stays readable.
"""

import time

import pytest

from conftest import MIB, random_bytes, unique_bucket_name

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
