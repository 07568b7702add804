"""Ranged GETs: 206 with Content-Range, 416 beyond the end."""

import random

import pytest
from botocore.exceptions import ClientError

from conftest import KIB, MIB, assert_client_error, http_status, random_bytes


@pytest.fixture(scope="module")
def objects(s3):
    """One inline (small) and one ~20 MiB erasure-coded object."""
    from conftest import unique_bucket_name
    bucket = unique_bucket_name("range")
    s3.create_bucket(Bucket=bucket)
    bodies = {"small": random_bytes(1000), "large": random_bytes(20 * MIB + 12345)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return bucket, bodies


def get_range(s3, bucket, key, spec):
    resp = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={spec}")
    return resp, resp["Body"].read()


def check_range(s3, bucket, key, body, spec, first, last):
    resp, data = get_range(s3, bucket, key, spec)
    assert http_status(resp) == 206, spec
    assert resp["ContentRange"] == f"bytes {first}-{last}/{len(body)}", spec
    assert resp["ContentLength"] == last - first + 1, spec
    assert data == body[first:last + 1], spec


@pytest.mark.parametrize("key", ["small", "large"])
def test_basic_ranges(s3, objects, key):
    bucket, bodies = objects
    body = bodies[key]
    n = len(body)
    check_range(s3, bucket, key, body, "0-0", 0, 0)
    check_range(s3, bucket, key, body, "10-99", 10, 99)
    check_range(s3, bucket, key, body, "-100", n - 100, n - 1)
    check_range(s3, bucket, key, body, "100-", 100, n - 1)
    check_range(s3, bucket, key, body, f"{n - 1}-", n - 1, n - 1)
    # An end past the last byte is clamped, as S3 does.
    check_range(s3, bucket, key, body, f"{n - 10}-{n + 1000}", n - 10, n - 1)
    # A suffix longer than the object is the whole object.
    check_range(s3, bucket, key, body, f"-{n + 5}", 0, n - 1)


def test_ranges_across_segment_boundaries(s3, objects):
    bucket, bodies = objects
    body = bodies["large"]
    n = len(body)
    # Segments are a few MiB and chunk blocks are smaller: straddle every
    # power-of-two-ish boundary from 64 KiB up to 16 MiB, and every MiB.
    boundaries = {64 * KIB * (2 ** i) for i in range(9)}
    boundaries |= {m * MIB for m in range(1, 21)}
    for b in sorted(x for x in boundaries if x < n):
        check_range(s3, bucket, "large", body, f"{b - 17}-{b + 16}",
                    b - 17, b + 16)
    # Long ranges that span several segments.
    check_range(s3, bucket, "large", body, f"{MIB - 3}-{17 * MIB + 2}",
                MIB - 3, 17 * MIB + 2)
    check_range(s3, bucket, "large", body, f"1-{n - 2}", 1, n - 2)
    rng = random.Random(20240611)
    for _ in range(10):
        first = rng.randrange(n)
        last = min(n - 1, first + rng.randrange(6 * MIB))
        check_range(s3, bucket, "large", body, f"{first}-{last}", first, last)


@pytest.mark.parametrize("key", ["small", "large"])
def test_range_beyond_size_is_416(s3, objects, key):
    bucket, bodies = objects
    n = len(bodies[key])
    for spec in (f"{n}-", f"{n}-{n + 10}", f"{n + 100}-{n + 200}"):
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={spec}")
        assert_client_error(exc, 416, "InvalidRange")


def test_range_on_empty_object_is_416(s3, objects):
    bucket, _ = objects
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0")
    assert_client_error(exc, 416, "InvalidRange")
