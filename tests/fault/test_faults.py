"""Fault injection: real processes killed, paused, wiped, rotted and filled
while a verifying workload runs; afterwards every acknowledged write must be
readable byte for byte, every deleted key gone, and the healer's backlog
back to 0.
"""

import json
import os
import random
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

import volumes
from workload import (LIFECYCLE, MIB, VersionWorkload, Workload, lifecycle_rules, report,
                      sha256)

SEED = int(os.environ.get("SHALE_FAULT_SEED", "0")) or random.randrange(1 << 30)


@pytest.fixture
def seed(request):
    s = SEED + sum(map(ord, request.node.name))
    print(f"\n[fault seed] {request.node.name}: SHALE_FAULT_SEED base {SEED}")
    return s


def new_bucket(cluster, name):
    cluster.client().create_bucket(Bucket=name)
    return name


def finish(name, cluster, work, faults, before, heal_s):
    """Checks everything and prints the scenario's figures."""
    objects, verified = work.verify()
    heal = cluster.status()["heal"]
    report(name, objects_written=work.written, write_errors=len(work.write_errors),
           reads_checked_midway=work.reads_checked, faults=faults,
           objects_verified=objects, bytes_verified=verified,
           objects_healed=heal["objects_healed"] - before["objects_healed"],
           chunks_healed=heal["healed"] - before["healed"],
           chunks_moved=heal["moved"] - before["moved"],
           marked_durable=heal["marked_durable"] - before["marked_durable"],
           time_to_heal_s=f"{heal_s:.1f}")
    assert heal["backlog"] == 0
    return heal


def test_1_storage_node_killed_mid_stream_and_restarted(make_cluster, seed):
    c = make_cluster()
    work = Workload(c, new_bucket(c, "kill-node"), seed)
    before = c.status()["heal"]
    work.start()
    work.wait_writes(20)
    c.nodes[2].kill9()  # mid-stream: the workload keeps writing
    work.wait_writes(25)
    c.restart_node(2)
    work.wait_writes(10)
    work.stop()
    assert not work.read_errors, work.read_errors
    assert not work.write_errors, work.write_errors
    heal_s = c.wait_healed()
    heal = finish("1 kill -9 storage node", c, work, 1, before, heal_s)
    # Writes while it was down were acknowledged with 5 of 6 chunks; the
    # healer wrote the missing ones once it was back.
    assert heal["healed"] + heal["marked_durable"] > before["healed"]


def test_2_gateway_killed_mid_upload(make_cluster, seed):
    c = make_cluster(gc_grace=2, orphan_grace=16)
    bucket = new_bucket(c, "kill-gateway")
    work = Workload(c, bucket, seed)
    work.run(10)
    before = c.status()["heal"]

    # A multipart upload with one part in when the gateway dies.
    s3 = c.client(retries=1)
    up = s3.create_multipart_upload(Bucket=bucket, Key="crashed-mp")
    part1 = os.urandom(5 * MIB)
    s3.upload_part(Bucket=bucket, Key="crashed-mp", PartNumber=1,
                   UploadId=up["UploadId"], Body=part1)

    # A PUT (presigned, on a raw socket) that sends half its body and
    # waits: the gateway dies in the middle of it.
    data = os.urandom(12 * MIB)
    url = urllib.parse.urlsplit(s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "crashed"}, ExpiresIn=600))

    def records():
        return sum(len(c.records(n)) for n in c.node_ids)

    base = records()
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    try:
        sock.sendall((f"PUT {url.path}?{url.query} HTTP/1.1\r\n"
                      f"Host: {url.netloc}\r\nContent-Length: {len(data)}\r\n\r\n"
                      ).encode())
        sock.sendall(data[:9 * MIB])
        # Until the first segments' chunks are on the nodes: they will be
        # orphans, written but never committed.
        deadline = time.monotonic() + 60
        while records() < base + 6:
            assert time.monotonic() < deadline, "the crashed upload wrote no chunks"
            time.sleep(0.1)
        c.gateway.kill9()
        try:
            sock.sendall(data[9 * MIB:])
            answer = sock.recv(100)
        except OSError:
            answer = b""
        assert not answer.startswith(b"HTTP/1.1 200"), answer
    finally:
        sock.close()

    c.start_gateway()
    s3 = c.client()
    # The partial object is not visible: not readable, not listed.
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="crashed")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "crashed" not in listed and "crashed-mp" not in listed
    # The retried uploads succeed.
    s3.put_object(Bucket=bucket, Key="crashed", Body=data)
    assert sha256(s3.get_object(Bucket=bucket, Key="crashed")["Body"].read()) == sha256(data)
    work.states["crashed"] = {sha256(data)}
    s3.upload_part(Bucket=bucket, Key="crashed-mp", PartNumber=2,
                   UploadId=up["UploadId"], Body=b"tail")
    parts = s3.list_parts(Bucket=bucket, Key="crashed-mp", UploadId=up["UploadId"])
    s3.complete_multipart_upload(
        Bucket=bucket, Key="crashed-mp", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
                                   for p in parts["Parts"]]})
    work.states["crashed-mp"] = {sha256(part1 + b"tail")}
    work.run(10)
    heal_s = c.wait_healed()
    # The chunks the crashed PUT wrote are garbage: the orphan sweep removes
    # them after the orphan grace, and nothing referenced goes with them
    # (`finish` reads every object back afterwards).
    deadline = time.monotonic() + 120
    while c.status()["gc"]["orphans_deleted"] == 0:
        assert time.monotonic() < deadline, f"no orphan removed: {c.status()}"
        time.sleep(0.5)
    finish("2 kill -9 gateway mid-upload", c, work, 1, before, heal_s)
    report("2 kill -9 gateway mid-upload", orphans_deleted=c.status()["gc"]["orphans_deleted"])


def test_3_metadata_leader_killed_twice_mid_stream(make_cluster, seed):
    # Three metadata replicas; the storage nodes and the gateway know all
    # three and follow the leader themselves.
    # A short GC grace: the collector deletes overwritten data during the
    # elections too, and must never take anything still referenced.
    c = make_cluster(meta_replicas=3, gc_grace=2)
    bucket = new_bucket(c, "kill-meta-leader")
    work = Workload(c, bucket, seed)
    s3 = c.client()
    before = c.status()["heal"]
    work.start()
    work.wait_writes(15)
    unavailable = []
    killed = []
    for round_ in range(2):  # the first leader, then the one elected after it
        # A multipart upload begun under this leader, finished under the next.
        key = f"straddling-mp-{round_}"
        parts = [os.urandom(5 * MIB), os.urandom(300 * 1024)]
        up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        etag1 = s3.upload_part(Bucket=bucket, Key=key, PartNumber=1, UploadId=up,
                               Body=parts[0])["ETag"]
        leader = c.meta_leader()
        killed_at = time.monotonic()
        c.metas[leader].kill9()
        killed.append(leader)
        etag2 = s3.upload_part(Bucket=bucket, Key=key, PartNumber=2, UploadId=up,
                               Body=parts[1])["ETag"]
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=up,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag1},
                                       {"PartNumber": 2, "ETag": etag2}]})
        work._settle(key, sha256(b"".join(parts)), True)
        # Writes go on through a new leader (elected among the other two).
        work.wait_writes(15)
        unavailable.append(work.unavailable_after(killed_at))
        assert c.meta_leader(exclude=(leader,)) != leader
        c.restart_meta(leader)
        c.wait_meta_caught_up(leader)
        work.wait_writes(5)
    work.stop()
    assert not work.read_errors, work.read_errors
    assert not work.write_errors, work.write_errors
    heal_s = c.wait_healed()
    # The collector has freed overwritten and deleted data by now (the
    # verification below shows it took nothing still referenced).
    deadline = time.monotonic() + 60
    while c.status()["gc"]["chunks_deleted"] == 0:
        assert time.monotonic() < deadline, f"the collector freed nothing: {c.status()}"
        time.sleep(0.3)
    finish("3 kill -9 metadata leader (twice)", c, work, len(killed), before, heal_s)
    report("3 kill -9 metadata leader (twice)", leaders_killed=killed,
           writes_unavailable_s="/".join(f"{u:.1f}" for u in unavailable),
           gc_chunks_deleted=c.status()["gc"]["chunks_deleted"])
    # The gateway's workers and cluster-map follower lived through both
    # elections (a panic would have killed a worker task silently).
    assert c.gateway.alive()
    assert "panicked" not in c.gateway.log_text()
    for p in c.metas.values():
        assert "panicked" not in p.log_text(), p.log_tail()


def test_3b_metadata_leader_paused_mid_stream(make_cluster, seed):
    # SIGSTOP: the leader hangs rather than dies, as when its host is cut off
    # (connections are not refused; they wait). The other two elect a new
    # leader, and the clients must notice and go there instead of waiting
    # out their RPC timeout (30 s) on every call.
    c = make_cluster(meta_replicas=3)
    work = Workload(c, new_bucket(c, "pause-meta-leader"), seed)
    before = c.status()["heal"]
    work.start()
    work.wait_writes(15)
    leader = c.meta_leader()
    paused_at = time.monotonic()
    c.metas[leader].pause()
    try:
        # Below the 30 s a call waits for an unanswering replica: writes go
        # on through the new leader without waiting for that.
        work.wait_writes(15, timeout=25)
        unavailable = work.unavailable_after(paused_at)
        new_leader = c.meta_leader(exclude=(leader,))
    finally:
        c.metas[leader].resume()
    # Back, it learns of the newer term and follows.
    c.wait_meta_caught_up(leader)
    work.wait_writes(5)
    work.stop()
    assert not work.read_errors, work.read_errors
    assert not work.write_errors, work.write_errors
    heal_s = c.wait_healed()
    finish("3b SIGSTOP metadata leader", c, work, 1, before, heal_s)
    report("3b SIGSTOP metadata leader", paused=leader, new_leader=new_leader,
           writes_unavailable_s=f"{unavailable:.1f}")


def test_4_bitrot_on_two_nodes(make_cluster, seed):
    c = make_cluster()
    work = Workload(c, new_bucket(c, "bitrot"), seed)
    work.run(60)
    before = c.status()["heal"]
    rng = random.Random(seed)
    flipped = 0
    for n in rng.sample(c.node_ids, 2):  # m = 2 nodes: every segment survives
        records = [r for r in c.records(n) if r.chunk_len > 400]
        for r in rng.sample(records, max(1, len(records) // 3)):
            fractions = tuple(rng.uniform(0.05, 0.95) for _ in range(3))
            volumes.corrupt(r, fractions)
            flipped += 1
    # Reads right away: rot is never served, parity answers.
    for _ in range(20):
        work.read_one()
    assert not work.read_errors, work.read_errors
    heal_s = c.wait_healed()
    heal = finish("4 bitrot on 2 nodes", c, work, flipped, before, heal_s)
    assert heal["healed"] > before["healed"]


def test_5_disk_loss_is_rebuilt_in_place(make_cluster, seed):
    c = make_cluster()
    work = Workload(c, new_bucket(c, "disk-loss"), seed)
    work.run(60)
    before = c.status()["heal"]
    lost = len(c.records(4))
    c.nodes[4].kill9()
    subprocess.run(["rm", "-rf", str(c.disks[4])], check=True)
    c.disks[4].mkdir()
    c.restart_node(4)
    work.run(5)
    heal_s = c.wait_healed()
    heal = finish("5 disk loss", c, work, 1, before, heal_s)
    # Backlog 0: every chunk a layout places on node 4 is back there (the
    # lost records also held garbage not collected yet, so fewer came back).
    assert heal["healed"] > before["healed"]
    assert 0 < len(c.records(4)) and lost > 0


def test_5b_node_lost_for_good_is_rebuilt_elsewhere(make_cluster, seed):
    # Seven nodes: every segment has one node without a chunk of it.
    c = make_cluster(nodes=7, lost_after=3)
    work = Workload(c, new_bucket(c, "node-lost"), seed)
    work.run(50)
    before = c.status()["heal"]
    c.nodes[7].kill9()  # never comes back
    work.run(10)
    heal_s = c.wait_healed()
    heal = finish("5b node lost for good", c, work, 1, before, heal_s)
    assert heal["moved"] > before["moved"]


def tmpfs(path, size):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True)
    return r.returncode == 0


def test_6_disk_fills_to_enospc(make_cluster, seed, tmp_path):
    small = tmp_path / "small-disk"
    small.mkdir()
    if not tmpfs(small, "8m"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    c = make_cluster(node_disk={3: small}, node_reserve={3: 0})
    work = Workload(c, new_bucket(c, "enospc"), seed)
    before = c.status()["heal"]
    work.start()
    # Until node 3 has answered "disk full" (ENOSPC), then a while more.
    deadline = time.monotonic() + 240
    while "full=true" not in c.gateway.log_text():
        assert time.monotonic() < deadline, "the small disk never filled"
        work.wait_writes(1)
    work.wait_writes(10)
    work.stop()
    assert not work.read_errors, work.read_errors
    assert not work.write_errors, work.write_errors
    # Room again (a bigger disk): the healer writes what was skipped.
    subprocess.run(["mount", "-o", "remount,size=2g", str(small)], check=True)
    heal_s = c.wait_healed()
    heal = finish("6 disk full (ENOSPC)", c, work, 1, before, heal_s)
    assert heal["healed"] > before["healed"]


@pytest.fixture(autouse=True)
def _unmount_tmpfs(tmp_path, make_cluster):
    # Requested after make_cluster, so it runs after the processes stopped.
    yield
    small = tmp_path / "small-disk"
    if small.exists() and os.path.ismount(small):
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_7_paused_node_slows_nothing(make_cluster, seed):
    c = make_cluster()
    work = Workload(c, new_bucket(c, "sigstop"), seed)
    work.run(50)
    before = c.status()["heal"]
    c.nodes[5].pause()
    try:
        # Reads and writes go on with node 5 stopped. A client whose read
        # timeout (8 s) is below what waiting for the stopped node costs
        # (GET 10 s, PUT 30 s without hedging) fails if any request waits
        # for it.
        work.s3 = c.client(retries=1, read_timeout=8)
        started = time.monotonic()
        for _ in range(15):
            work.read_one()
        work.run(15)
        spent = time.monotonic() - started
    finally:
        c.nodes[5].resume()
    work.s3 = c.client()
    assert not work.read_errors, work.read_errors
    assert not work.write_errors, work.write_errors
    heal_s = c.wait_healed()
    finish("7 SIGSTOP a storage node", c, work, 1, before, heal_s)
    report("7 SIGSTOP a storage node", ops_while_paused=30,
           seconds_while_paused=f"{spent:.1f}")


def second_gateway(c, request):
    """A second `shale gateway` of cluster `c` (same configuration, its own
    port), stopped by its PID at the end. Returns (Proc, endpoint)."""
    from conftest import LOOPBACK, Proc, free_port
    port = free_port()
    text = c.gateway.config.read_text().replace(
        f'listen = "{LOOPBACK}:{c.gateway_port}"', f'listen = "{LOOPBACK}:{port}"')
    assert str(port) in text
    gw = Proc(c, "gateway-b", "gateway", text)
    request.addfinalizer(gw.stop)
    gw.start()
    c.wait_port(port, gw)
    endpoint = f"http://{LOOPBACK}:{port}"
    probe = version_client(endpoint, read_timeout=5)
    deadline = time.monotonic() + 60
    while True:
        try:
            probe.list_buckets()
            return gw, endpoint
        except Exception:
            assert time.monotonic() < deadline and gw.alive(), (
                f"second gateway not ready\n{gw.log_tail()}")
            time.sleep(0.1)


def version_client(endpoint, read_timeout=30):
    """A client that sends each request once: every attempt is the
    workload's to count."""
    import boto3
    from botocore.config import Config
    from conftest import ACCESS_KEY, SECRET_KEY
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, connect_timeout=5,
                      read_timeout=read_timeout,
                      retries={"max_attempts": 1, "mode": "standard"}))


def test_8_versions_under_faults(make_cluster, seed, request):
    # A versioned bucket, three metadata replicas (as scenario 3), two
    # gateways; writers PUT versions, add delete markers and remove older
    # versions by id while the metadata leader is killed twice and one
    # gateway once (mid-upload). Afterwards ListObjectVersions must hold
    # every acknowledged version and marker not acknowledged-removed, in
    # the order they were acknowledged, each reading back by its id.
    c = make_cluster(meta_replicas=3, gc_grace=2)
    gw_b, endpoint_b = second_gateway(c, request)
    bucket = new_bucket(c, "versions-faults")
    s3 = c.client()
    s3.put_bucket_versioning(Bucket=bucket,
                             VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
    endpoints = [c.endpoint, endpoint_b]
    work = VersionWorkload(lambda g: version_client(endpoints[g]), len(endpoints),
                           bucket, seed)
    started = time.monotonic()
    work.start()
    work.wait_acks(60, min_seconds=4)
    faults = []  # (what, when)

    def kill_leader():
        leader = c.meta_leader()
        faults.append((f"meta-leader-{leader}", time.monotonic()))
        c.metas[leader].kill9()
        # Writes go on through a leader elected among the other two.
        work.wait_acks(60, min_seconds=4)
        assert c.meta_leader(exclude=(leader,)) != leader
        c.restart_meta(leader)
        c.wait_meta_caught_up(leader)
        work.wait_acks(30, min_seconds=2)
        return leader

    killed = [kill_leader()]
    # The first gateway, while a PUT of 1 MiB or more goes through it.
    mid_upload = work.wait_inflight(gw=0, min_size=MIB)
    faults.append(("gateway", time.monotonic()))
    c.gateway.kill9()
    work.wait_acks(40, min_seconds=3)
    c.start_gateway()
    work.wait_acks(40, min_seconds=3)
    killed.append(kill_leader())  # the leader elected after the first
    work.wait_acks(40, min_seconds=3)
    stopped = time.monotonic()
    work.stop()
    ran = time.monotonic() - started

    # Every process is up again.
    for p in [*c.procs(), gw_b]:
        assert p.alive(), f"{p.name} is down\n{p.log_tail()}"
    heal_s = c.wait_healed()
    ends = [t for _, t in faults[1:]] + [stopped]
    unavailable = [work.unavailable(t, end) for (_, t), end in zip(faults, ends)]
    figures, problems = work.verify(c.client(), version_client(endpoint_b))
    report("8 versions under faults", **figures, faults=len(faults),
           leaders_killed=killed, gateway_killed_mid_upload=mid_upload,
           seconds_unavailable="/".join(f"{u:.1f}" for u in unavailable),
           workload_s=f"{ran:.1f}", time_to_heal_s=f"{heal_s:.1f}")
    assert not problems, "\n".join(problems)
    assert figures["markers"] > 0 and figures["removals"] > 0
    for p in [c.gateway, gw_b, *c.metas.values()]:
        assert "panicked" not in p.log_text(), p.log_tail()


def gateway_lifecycle(endpoint):
    """The `lifecycle` figures of one gateway's `/_shale/status` (None when
    it does not answer)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_shale/status", timeout=5) as r:
            return json.loads(r.read())["lifecycle"]
    except OSError:
        return None


def wait_lifecycle(endpoints, done, what, timeout):
    """Until `done(figures)` holds for one gateway's lifecycle figures;
    returns (its index, seconds taken)."""
    start = time.monotonic()
    while True:
        figs = [gateway_lifecycle(e) for e in endpoints]
        for i, f in enumerate(figs):
            if f is not None and done(i, f):
                return i, time.monotonic() - start
        assert time.monotonic() - start < timeout, (
            f"lifecycle: {what} not seen within {timeout}s: {figs}")
        time.sleep(0.2)


def test_9_lifecycle_under_faults(make_cluster, seed, request):
    # Scenario 8 with a lifecycle rule on part of the bucket (keys `lc/`:
    # NoncurrentVersionExpiration after 1 day keeping the 2 newest
    # noncurrent versions; ExpiredObjectDeleteMarker) and days of 2 s: while
    # versions, markers and removals go on, the metadata leader is killed
    # (lifecycle at work), then the gateway running the lifecycle worker
    # (mid-upload when one is under way; another takes over once its lease
    # lapses, from the stored cursor), then the new leader. Lifecycle must
    # remove no version and no marker early (`VersionWorkload.
    # lifecycle_veto`), and nothing else may be lost; afterwards every `lc/`
    # key is trimmed to 2 noncurrent versions.
    lc = dict(LIFECYCLE)
    c = make_cluster(meta_replicas=3, gc_grace=2,
                     lifecycle={"day_secs": lc["day_secs"], "interval_secs": 1})
    gw_b, endpoint_b = second_gateway(c, request)
    bucket = new_bucket(c, "lifecycle-faults")
    s3 = c.client()
    s3.put_bucket_versioning(Bucket=bucket,
                             VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket,
                                          LifecycleConfiguration=lifecycle_rules(lc))
    rule = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
    assert rule["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": lc["noncurrent_days"],
        "NewerNoncurrentVersions": lc["keep"]}, rule
    endpoints = [c.endpoint, endpoint_b]
    gateways = [c.gateway, gw_b]
    work = VersionWorkload(lambda g: version_client(endpoints[g]), len(endpoints),
                           bucket, seed, lifecycle=lc)
    started = time.monotonic()
    work.start()
    work.wait_acks(60, min_seconds=4)
    # Lifecycle at work before the first fault.
    wait_lifecycle(endpoints, lambda i, f: f["noncurrent_removed"] > 0,
                   "a noncurrent version removed", timeout=30)
    faults = []  # (what, when)

    def kill_leader():
        leader = c.meta_leader()
        faults.append((f"meta-leader-{leader}", time.monotonic()))
        c.metas[leader].kill9()
        work.wait_acks(60, min_seconds=4)
        assert c.meta_leader(exclude=(leader,)) != leader
        c.restart_meta(leader)
        c.wait_meta_caught_up(leader)
        work.wait_acks(30, min_seconds=2)
        return leader

    killed = [kill_leader()]
    # The gateway running the worker (its rounds go up; the other's do not:
    # it has not the lease).
    base = [gateway_lifecycle(e) for e in endpoints]
    worker, _ = wait_lifecycle(
        endpoints, lambda i, f: base[i] is not None and f["rounds"] > base[i]["rounds"],
        "rounds going on", timeout=30)
    mid_upload = work.wait_inflight(gw=worker, min_size=MIB)
    before_kill = gateway_lifecycle(endpoints[worker])
    faults.append((f"gateway-{worker}", time.monotonic()))
    gateways[worker].kill9()
    killed_at = time.monotonic()
    other = 1 - worker
    other_rounds = (gateway_lifecycle(endpoints[other]) or {"rounds": 0})["rounds"]
    work.wait_acks(40, min_seconds=3)
    if worker == 0:
        c.start_gateway()
    else:
        gw_b.start()
        c.wait_port(int(endpoint_b.rsplit(":", 1)[1]), gw_b)
        probe = version_client(endpoint_b, read_timeout=5)
        deadline = time.monotonic() + 60
        while True:
            try:
                probe.list_buckets()
                break
            except Exception:
                assert time.monotonic() < deadline and gw_b.alive(), gw_b.log_tail()
                time.sleep(0.1)
    # A worker takes over (the restarted gateway is a new lease holder):
    # once the dead one's lease (30 s) has lapsed.
    resumed_by, _ = wait_lifecycle(
        endpoints, lambda i, f: f["rounds"] > (other_rounds if i == other else 0),
        "a round after the worker's gateway was killed", timeout=60)
    takeover_s = time.monotonic() - killed_at
    work.wait_acks(20, min_seconds=2)
    rounds_before = sum((gateway_lifecycle(e) or {"rounds": 0})["rounds"] for e in endpoints)
    killed.append(kill_leader())  # the leader elected after the first
    work.wait_acks(40, min_seconds=3)
    stopped = time.monotonic()
    work.stop()
    ran = time.monotonic() - started

    for p in [*c.procs(), gw_b]:
        assert p.alive(), f"{p.name} is down\n{p.log_tail()}"
    # The worker goes on after the last fault and trims every lc/ key.
    trim_s = work.wait_trimmed(c.client(), timeout=30)
    rounds_after = sum((gateway_lifecycle(e) or {"rounds": 0})["rounds"] for e in endpoints)
    heal_s = c.wait_healed()
    ends = [t for _, t in faults[1:]] + [stopped]
    unavailable = [work.unavailable(t, end) for (_, t), end in zip(faults, ends)]
    figures, problems = work.verify(c.client(), version_client(endpoint_b))
    figs = [gateway_lifecycle(e) for e in endpoints]
    assert all(f is not None for f in figs), figs

    def per_gw(name):
        return "/".join(str(f[name]) for f in figs)

    report("9 lifecycle under faults", **figures, faults=len(faults),
           leaders_killed=killed, worker_gateway_killed=worker,
           worker_killed_mid_upload=mid_upload,
           # The killed worker's figures (noncurrent/markers removed) as
           # last read before the kill: its counters died with it.
           worker_removed_before_kill=(f"{before_kill['noncurrent_removed']}/"
                                       f"{before_kill['markers_removed']}"),
           resumed_on_gw=resumed_by, lease_takeover_s=f"{takeover_s:.1f}",
           lc_rounds=per_gw("rounds"), lc_scanned=per_gw("scanned"),
           lc_noncurrent_removed=per_gw("noncurrent_removed"),
           lc_markers_removed=per_gw("markers_removed"), lc_expired=per_gw("expired"),
           lc_rounds_after_last_fault=rounds_after - rounds_before,
           seconds_unavailable="/".join(f"{u:.1f}" for u in unavailable),
           workload_s=f"{ran:.1f}", time_to_trim_s=f"{trim_s:.1f}",
           time_to_heal_s=f"{heal_s:.1f}")
    assert not problems, "\n".join(problems)
    assert figures["markers"] > 0 and figures["removals"] > 0
    assert any(f["rounds"] > 0 and f["noncurrent_removed"] > 0 for f in figs), figs
    assert rounds_after > rounds_before, "no lifecycle round after the last fault"
    assert figures["lc_versions_gone"] > 0
    for f in figs:  # nothing outside the rule's actions
        assert f["expired"] == 0 and f["uploads_aborted"] == 0, figs
    for p in [c.gateway, gw_b, *c.metas.values()]:
        assert "panicked" not in p.log_text(), p.log_tail()
