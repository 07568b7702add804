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


def wait_heal(server, what, pred, timeout=HEAL_DEADLINE_S):
    return server.wait_status("heal", what, pred, timeout)


def test_idle_rounds_read_no_layout_until_something_changes(healing_setup):
    """A healthy idle cluster's rounds are quiet (no layout read, no chunk
    list asked for); rot found by a scrubber changes the round's signature,
    so the next round sweeps and rebuilds the chunk."""
    server, s3, bucket = healing_setup
    body = random_bytes(2 * MIB)
    chunks = put_and_find_chunks(server, s3, bucket, "obj", body)
    # The write changed nothing the healer watches: once a sweep found
    # nothing to do, rounds stay quiet.
    first = wait_heal(server, "a quiet round", lambda h: h["quiet_rounds"] >= 1)
    later = wait_heal(server, "three more quiet rounds",
                      lambda h: h["quiet_rounds"] >= first["quiet_rounds"] + 3)
    assert later["sweeps"] == first["sweeps"], later
    assert later["backlog"] == 0 and later["unavailable"] == 0, later

    record = chunks[5][0]
    corrupt(record)
    wait_heal(server, "a sweep after the rot was found",
              lambda h: h["sweeps"] > later["sweeps"] and h["healed"] > later["healed"])
    now = {r.chunk_id: (r.volume, r.offset) for r in server.chunk_records()}
    assert now[record.chunk_id] != (record.volume, record.offset)
    got, err = try_read(s3, bucket, "obj")
    assert err is None and got == body
    # Quiet again afterwards.
    settled = wait_heal(server, "quiet again",
                        lambda h: h["quiet_rounds"] >= later["quiet_rounds"] + 2)
    assert settled["backlog"] == 0
