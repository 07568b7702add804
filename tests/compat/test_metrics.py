"""Prometheus metrics and request ids across roles (issue 5's metrics bullet,
issue 6's scrub, heal and GC progress).

`shale dev --metrics-addr` serves one `/metrics` for every role of the
process: S3 requests and errors move the gateway's counters and histograms
with the operation, status and error code as labels; chunk I/O moves the
storage nodes' per-disk counters; capacity gauges, scrub progress, GC and
healing progress appear. In a cluster of separate processes each role
serves its own endpoint (`metrics_listen`), and the gateway's request id is
found in the logs of the metadata service and of the storage nodes that
served the request.
"""

import re
import time
import urllib.error
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (KIB, LOOPBACK, error_code, free_port, random_bytes,
                      unique_bucket_name)
from test_cluster import Cluster

DEADLINE_S = 60
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(port):
    """The samples of `/metrics` on loopback: [(name, labels, value)]."""
    url = f"http://{LOOPBACK}:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/plain")
        text = resp.read().decode()
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample: {line!r}"
        labels = dict(LABEL.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def total(samples, name, **labels):
    """Sum of `name` over the samples whose labels include `labels`."""
    return sum(v for n, ls, v in samples
               if n == name and all(ls.get(k) == w for k, w in labels.items()))


def series(samples, name, **labels):
    return [ls for n, ls, _ in samples
            if n == name and all(ls.get(k) == w for k, w in labels.items())]


def wait_for(port, check, what):
    """Scrapes until `check(samples)` holds; returns the samples."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        samples = scrape(port)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {DEADLINE_S} s")
        time.sleep(0.2)


@pytest.fixture
def metered(server_factory):
    port = free_port()
    server = server_factory.new(extra_args=[
        "--metrics-addr", f"{LOOPBACK}:{port}",
        "--scrub-pause-secs", "1", "--gc-grace-secs", "0",
        "--gc-interval-secs", "1", "--heal-interval-secs", "1"])
    return server, port


def test_dev_metrics_follow_requests_chunks_and_background_work(metered, request):
    server, port = metered
    s3 = server.client()
    bucket = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=bucket)
    before = scrape(port)
    big = random_bytes(300 * KIB)  # above the inline limit: 6 chunks
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    s3.put_object(Bucket=bucket, Key="small", Body=b"tiny")
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing")
    assert error_code(e.value) == "NoSuchKey"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="missing")
    bad = server.client(secret_key="not-the-secret",
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        bad.list_objects_v2(Bucket=bucket)
    assert error_code(e.value) == "SignatureDoesNotMatch"
    s3.delete_object(Bucket=bucket, Key="big")

    after = scrape(port)

    def moved(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    # Gateway: requests by operation and status, errors by code, bytes.
    assert moved("shale_gateway_requests_total", op="PutObject", status="200") == 2
    assert moved("shale_gateway_requests_total", op="GetObject", status="200") == 1
    assert moved("shale_gateway_requests_total", op="GetObject", status="404") == 1
    assert moved("shale_gateway_requests_total", op="HeadObject", status="404") == 1
    assert moved("shale_gateway_requests_total", op="DeleteObject", status="204") == 1
    assert moved("shale_gateway_errors_total", op="GetObject", code="NoSuchKey") == 1
    # A HEAD answer has no body, its code is counted all the same.
    assert moved("shale_gateway_errors_total", op="HeadObject", code="NoSuchKey") == 1
    # Refused before routing: the operation is not known.
    assert moved("shale_gateway_errors_total", op="Unknown",
                 code="SignatureDoesNotMatch") >= 1
    assert moved("shale_gateway_request_duration_seconds_count",
                 op="PutObject", status="200") == 2
    assert series(after, "shale_gateway_request_duration_seconds_bucket",
                  op="PutObject", status="200", le="+Inf")
    assert moved("shale_gateway_received_bytes_total", op="PutObject") >= len(big) + 4
    assert moved("shale_gateway_sent_bytes_total", op="GetObject") >= len(big)

    # Storage nodes: six chunk writes of the big object, on six nodes.
    writers = [ls["node"] for ls in series(after, "shale_storage_chunk_ops_total", op="write")
               if total(after, "shale_storage_chunk_ops_total", op="write", node=ls["node"])
               > total(before, "shale_storage_chunk_ops_total", op="write", node=ls["node"])]
    assert sorted(writers) == ["1", "2", "3", "4", "5", "6"], writers
    assert moved("shale_storage_chunk_ops_total", op="write") == 6
    assert moved("shale_storage_chunk_bytes_total", op="write") >= len(big)
    assert moved("shale_storage_chunk_ops_total", op="read") >= 4
    assert moved("shale_storage_chunk_bytes_total", op="read") >= len(big)
    assert moved("shale_storage_requests_total", op="put", status="201") == 6
    assert moved("shale_storage_chunk_op_duration_seconds_count", op="write") == 6
    for node in "123456":
        for gauge in ("capacity", "available", "used"):
            [labels] = series(after, f"shale_storage_disk_{gauge}_bytes", node=node)
            assert labels["disk"].endswith(f"node-{node}"), labels
        assert total(after, "shale_storage_disk_capacity_bytes", node=node) > 0
        assert series(after, "shale_storage_disk_chunks", node=node)

    # Metadata: RPCs by kind and result, synced commits, key counts.
    assert moved("shale_metadata_requests_total", kind="WriteObject", result="ok") == 2
    assert moved("shale_metadata_requests_total", kind="GetVersion",
                 result="NoSuchKey") >= 1
    assert moved("shale_metadata_commit_duration_seconds_count") >= 3
    # The GETs' reads, tried from memory first: the row just written is in
    # a memtable, so at least the GET that found it was answered there.
    assert moved("shale_metadata_memory_reads_total", result="answered") >= 1
    assert (moved("shale_metadata_memory_reads_total", result="answered")
            + moved("shale_metadata_memory_reads_total", result="gave_way")) >= 2
    assert series(after, "shale_metadata_request_duration_seconds_bucket",
                  kind="WriteObject", le="+Inf")
    assert series(after, "shale_metadata_keys", cf="objects")
    # Raft state of the one replica `shale dev` runs: it leads a group of
    # one, and has applied what it logged.
    assert total(after, "shale_metadata_raft_leader") == 1
    assert total(after, "shale_metadata_raft_term") >= 1
    assert total(after, "shale_metadata_raft_voters") == 1
    assert total(after, "shale_metadata_raft_applied_index") >= 3
    assert (total(after, "shale_metadata_raft_last_log_index")
            >= total(after, "shale_metadata_raft_applied_index"))

    # Background work: the deleted object's chunks are collected, the
    # scrubbers finish passes over what is left, the healer runs rounds.
    done = wait_for(port, lambda s: (
        total(s, "shale_gateway_gc_chunks_deleted_total") >= 6
        and total(s, "shale_storage_chunk_ops_total", op="delete") >= 6
        and all(total(s, "shale_storage_scrub_passes_total", node=n) >= 1
                for n in "123456")
        and total(s, "shale_gateway_heal_rounds_total") >= 1),
        "GC, scrub and heal progress")
    assert total(done, "shale_gateway_gc_entries_done_total") >= 1
    assert total(done, "shale_gateway_gc_rounds_total") >= 1
    assert series(done, "shale_gateway_gc_entries_due")
    assert series(done, "shale_gateway_heal_backlog")
    assert total(done, "shale_storage_scrub_corrupt_chunks") == 0
    assert series(done, "shale_storage_scrub_chunks_verified_total", node="1")
    assert series(done, "shale_storage_scrub_bytes_verified_total", node="1")


def test_the_metrics_endpoint_answers_only_metrics(metered):
    _, port = metered
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://{LOOPBACK}:{port}/nope", timeout=10)
    assert e.value.code == 404


def test_each_role_process_serves_metrics_and_logs_the_request_id(tmp_path, request):
    cluster = Cluster(tmp_path, metrics=True, env={
        "SHALE_LOG": "info,shale_storage_node=debug,shale_metadata=debug"})
    try:
        cluster.start()
        s3 = cluster.client()
        bucket = unique_bucket_name(request.node.name)
        s3.create_bucket(Bucket=bucket)
        body = random_bytes(200 * KIB)
        put = s3.put_object(Bucket=bucket, Key="traced", Body=body)
        put_id = put["ResponseMetadata"]["RequestId"]
        get = s3.get_object(Bucket=bucket, Key="traced")
        assert get["Body"].read() == body
        get_id = get["ResponseMetadata"]["RequestId"]
        assert put_id and get_id and put_id != get_id

        def logs_with(request_id):
            names = ["metadata"] + [f"node-{n}" for n in cluster.node_ports]
            return {name for name in names
                    if request_id in (tmp_path / f"{name}.log").read_text(errors="replace")}

        # The PUT wrote one chunk on every node and committed its row; the
        # GET read the row and the four data chunks.
        deadline = time.monotonic() + DEADLINE_S
        while True:
            put_logs, get_logs = logs_with(put_id), logs_with(get_id)
            if len(put_logs) == 7 and "metadata" in get_logs and len(get_logs) >= 5:
                break
            assert time.monotonic() < deadline, (put_logs, get_logs)
            time.sleep(0.2)
        text = ANSI.sub("", (tmp_path / "node-1.log").read_text())
        line = next(line for line in text.splitlines() if put_id in line)
        assert f'request_id="{put_id}"' in line, line
        assert "chunk request" in line and "status=201" in line, line

        # Every role has its own endpoint with its own metrics.
        gateway = scrape(cluster.metrics_ports["gateway"])
        assert total(gateway, "shale_gateway_requests_total", op="PutObject") >= 1
        assert not series(gateway, "shale_storage_chunk_ops_total")
        meta = scrape(cluster.metrics_ports["metadata"])
        assert total(meta, "shale_metadata_requests_total", kind="WriteObject") >= 1
        for n in cluster.node_ports:
            node = scrape(cluster.metrics_ports[f"node-{n}"])
            assert total(node, "shale_storage_chunk_ops_total", node=str(n), op="write") >= 1
            assert series(node, "shale_storage_disk_capacity_bytes", node=str(n))
            assert series(node, "shale_storage_scrub_passes_total", node=str(n))
            assert not series(node, "shale_metadata_requests_total")
    finally:
        cluster.stop()
