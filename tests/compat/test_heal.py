"""Self-healing: rot found by the scrubbers is rebuilt by the healer.

The server scrubs every second at full speed and heals every second. Chunks
of two nodes are corrupted on disk; the scrubbers must find them and the
healer must rebuild them in place, which is proven by then corrupting two
*other* nodes' chunks of the same object and still reading it exactly
(4+2 coding survives two bad chunks per segment, not four).
"""

import time

import pytest

from conftest import MIB, random_bytes, unique_bucket_name
from test_degraded import put_and_find_chunks, try_read
from volumes import corrupt

HEAL_DEADLINE_S = 60


@pytest.fixture
def healing_setup(server_factory, request):
    server = server_factory.new(extra_args=[
        "--scrub-pause-secs", "1", "--scrub-bytes-per-sec", str(1 << 30),
        "--heal-interval-secs", "1"])
    s3 = server.client()
    bucket = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=bucket)
    return server, s3, bucket


def test_rot_on_two_nodes_is_found_and_rebuilt(healing_setup):
    server, s3, bucket = healing_setup
    body = random_bytes(10 * MIB)
    chunks = put_and_find_chunks(server, s3, bucket, "obj", body)

    damaged = {}
    for node in (1, 2):
        for record in chunks[node]:
            corrupt(record)
            damaged[record.chunk_id] = (record.volume, record.offset)

    # Healed: every damaged chunk is a fresh record somewhere else.
    deadline = time.monotonic() + HEAL_DEADLINE_S
    while True:
        now = {r.chunk_id: (r.volume, r.offset) for r in server.chunk_records()}
        left = [c for c, at in damaged.items() if now.get(c) == at]
        if not left:
            break
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(left)} of {len(damaged)} corrupt chunks not rebuilt "
                f"after {HEAL_DEADLINE_S} s\n{server.log_tail()}")
        time.sleep(0.5)
    assert set(damaged) <= set(now), "a rebuilt chunk went missing"

    # Two more nodes rot: with 1 and 2 healed, every segment still has four
    # good chunks.
    for node in (3, 4):
        for record in chunks[node]:
            corrupt(record)
    got, err = try_read(s3, bucket, "obj")
    assert err is None, f"{err!r}\n{server.log_tail()}"
    assert got == body
