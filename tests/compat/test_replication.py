"""Bucket replication across two regions (`shale dev --regions`), with
boto3 and the AWS CLI: new versions and delete markers arrive at the
destination with their version id, time, ETag, metadata, tags, checksum and
lock; statuses (PENDING/COMPLETED/FAILED on the source, REPLICA on the
destination); a DELETE of a version id stays home; two-way rules never
loop; FAILED versions come back with `shale admin replication retry`, and
the status screen and the Prometheus metrics (per source and destination
bucket) show them; the replica headers are refused from ordinary keys.

One deployment is shared by the module's tests; each owns its buckets."""

import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, unique_bucket_name
from regions import REGIONS, eventually, start
from test_metrics import scrape, total

US, EU = REGIONS


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    factory, d = start(tmp_path_factory, "replication")
    yield d
    factory.close()


def versioned_bucket(client, region, hint):
    name = unique_bucket_name(hint)
    if region == US:
        client.create_bucket(Bucket=name)
    else:
        client.create_bucket(Bucket=name, CreateBucketConfiguration={
            "LocationConstraint": region})
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={
        "Status": "Enabled"})
    return name


def rule(dest, prefix="", priority=1, markers=True, rule_id="r", tags=None):
    flt = {"Prefix": prefix}
    if tags:
        flt = {"And": {"Prefix": prefix, "Tags": [
            {"Key": k, "Value": v} for k, v in tags.items()]}}
    return {"ID": rule_id, "Priority": priority, "Status": "Enabled",
            "Filter": flt,
            "DeleteMarkerReplication": {
                "Status": "Enabled" if markers else "Disabled"},
            "Destination": {"Bucket": f"arn:aws:s3:::{dest}"}}


def replicate(client, bucket, *rules):
    client.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={
        "Role": "", "Rules": list(rules)})


@pytest.fixture
def pair(deployment):
    """A versioned source in us-east-1, a versioned destination in
    eu-west-1, a rule between them (delete markers replicated)."""
    us, eu = deployment.client(US), deployment.client(EU)
    src = versioned_bucket(us, US, "src")
    dst = versioned_bucket(eu, EU, "dst")
    replicate(us, src, rule(dst))
    return us, eu, src, dst


def status(client, bucket, key, version=None):
    kwargs = {"VersionId": version} if version else {}
    return client.head_object(Bucket=bucket, Key=key, **kwargs).get(
        "ReplicationStatus")


def test_a_new_version_arrives_with_everything_it_carries(pair):
    us, eu, src, dst = pair
    body = b"replicate me " * 1000
    put = us.put_object(
        Bucket=src, Key="dir/a.txt", Body=body, ContentType="text/plain",
        CacheControl="max-age=60", ContentDisposition="inline",
        Metadata={"colour": "blue", "word": "=?UTF-8?Q?caf=C3=A9?="}, Tagging="team=a&n=1",
        ChecksumAlgorithm="SHA256")
    vid = put["VersionId"]
    replica = eventually(lambda: eu.head_object(
        Bucket=dst, Key="dir/a.txt", ChecksumMode="ENABLED"))
    source = us.head_object(Bucket=src, Key="dir/a.txt",
                            ChecksumMode="ENABLED")
    assert replica["VersionId"] == vid
    assert replica["ReplicationStatus"] == "REPLICA"
    for field in ("ETag", "LastModified", "ContentLength", "ContentType",
                  "CacheControl", "ContentDisposition", "Metadata",
                  "ChecksumSHA256"):
        assert replica[field] == source[field], field
    assert eu.get_object(Bucket=dst, Key="dir/a.txt")["Body"].read() == body
    tags = eu.get_object_tagging(Bucket=dst, Key="dir/a.txt", VersionId=vid)
    assert sorted((t["Key"], t["Value"]) for t in tags["TagSet"]) == [
        ("n", "1"), ("team", "a")]
    eventually(lambda: assert_status(us, src, "dir/a.txt", "COMPLETED"))


def assert_status(client, bucket, key, want, version=None):
    assert status(client, bucket, key, version) == want


def test_large_objects_stream_across_and_keep_their_etag(pair):
    us, eu, src, dst = pair
    data = bytes(range(256)) * (9 * 4096 + 17)  # > 8 MiB: the large lane
    put = us.put_object(Bucket=src, Key="big", Body=data)
    got = eventually(lambda: eu.get_object(Bucket=dst, Key="big"))
    assert got["ETag"] == put["ETag"]
    assert got["VersionId"] == put["VersionId"]
    assert got["Body"].read() == data


def test_multipart_objects_keep_their_parts_and_etag(pair):
    us, eu, src, dst = pair
    mib = 1024 * 1024
    sizes = [5 * mib, 5 * mib + 7, 123]
    mpu = us.create_multipart_upload(Bucket=src, Key="mp", ContentType="a/b",
                                     Metadata={"m": "1"},
                                     ChecksumAlgorithm="CRC32")
    parts, blobs = [], []
    for n, size in zip((1, 3, 4), sizes):
        blob = bytes([n]) * size
        blobs.append(blob)
        r = us.upload_part(Bucket=src, Key="mp", PartNumber=n,
                           UploadId=mpu["UploadId"], Body=blob,
                           ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": n, "ETag": r["ETag"],
                      "ChecksumCRC32": r["ChecksumCRC32"]})
    done = us.complete_multipart_upload(
        Bucket=src, Key="mp", UploadId=mpu["UploadId"],
        MultipartUpload={"Parts": parts})
    replica = eventually(lambda: eu.head_object(
        Bucket=dst, Key="mp", ChecksumMode="ENABLED"))
    source = us.head_object(Bucket=src, Key="mp", ChecksumMode="ENABLED")
    assert replica["ETag"] == done["ETag"] == source["ETag"]
    assert replica["VersionId"] == done["VersionId"]
    for field in ("LastModified", "ContentLength", "ContentType", "Metadata",
                  "ChecksumCRC32"):
        assert replica[field] == source[field], field
    # The same part boundaries: part 2 of the replica is the source's.
    p2 = eu.head_object(Bucket=dst, Key="mp", PartNumber=2)
    assert p2["PartsCount"] == 3
    assert p2["ContentLength"] == sizes[1]
    assert eu.get_object(Bucket=dst, Key="mp")["Body"].read() == b"".join(
        blobs)
    assert eu.list_multipart_uploads(Bucket=dst).get("Uploads") is None
    eventually(lambda: assert_status(us, src, "mp", "COMPLETED"))
    # Without a checksum named at creation (the default CRC64NVME).
    mpu = us.create_multipart_upload(Bucket=src, Key="plain")
    parts = []
    for n in (1, 2):
        r = us.upload_part(Bucket=src, Key="plain", PartNumber=n,
                           UploadId=mpu["UploadId"], Body=b"z" * (5 * mib))
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    done = us.complete_multipart_upload(
        Bucket=src, Key="plain", UploadId=mpu["UploadId"],
        MultipartUpload={"Parts": parts})
    replica = eventually(lambda: eu.head_object(Bucket=dst, Key="plain"))
    assert (replica["ETag"], replica["VersionId"]) == (done["ETag"],
                                                      done["VersionId"])


def test_encrypted_objects_arrive_encrypted_under_the_destinations_key(pair):
    us, eu, src, dst = pair
    small = b"sealed " * 100
    big = bytes(range(256)) * (4096 * 5 + 3)
    us.put_object(Bucket=src, Key="sealed-small", Body=small, ServerSideEncryption="AES256")
    us.put_object(Bucket=src, Key="sealed-big", Body=big, ServerSideEncryption="AES256")
    mib = 1024 * 1024
    up = us.create_multipart_upload(Bucket=src, Key="sealed-mp", ServerSideEncryption="AES256")
    parts = [b"a" * (5 * mib), b"b" * 1000]
    done = [{"PartNumber": n, "ETag": us.upload_part(
        Bucket=src, Key="sealed-mp", UploadId=up["UploadId"], PartNumber=n, Body=p)["ETag"]}
        for n, p in enumerate(parts, 1)]
    us.complete_multipart_upload(Bucket=src, Key="sealed-mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": done})
    for key, body in [("sealed-small", small), ("sealed-big", big),
                      ("sealed-mp", b"".join(parts))]:
        got = eventually(lambda k=key: eu.get_object(Bucket=dst, Key=k))
        assert got["ServerSideEncryption"] == "AES256", key
        assert got["Body"].read() == body, key
        assert got["ETag"] == us.head_object(Bucket=src, Key=key)["ETag"], key
        eventually(lambda k=key: assert_status(us, src, k, "COMPLETED"))
    # SSE-KMS: KMS keys are each region's own; the replica is sealed under
    # the destination's default key.
    us.put_object(Bucket=src, Key="kms", Body=big, ServerSideEncryption="aws:kms")
    got = eventually(lambda: eu.get_object(Bucket=dst, Key="kms"))
    assert got["ServerSideEncryption"] == "aws:kms"
    assert got["SSEKMSKeyId"].startswith("arn:aws:kms:eu-west-1:")
    assert got["Body"].read() == big
    eventually(lambda: assert_status(us, src, "kms", "COMPLETED"))


def test_versions_keep_their_order_and_ids(pair):
    us, eu, src, dst = pair
    ids = [us.put_object(Bucket=src, Key="k", Body=f"v{i}".encode())[
        "VersionId"] for i in range(5)]

    def all_there():
        listed = eu.list_object_versions(Bucket=dst, Prefix="k")
        assert [v["VersionId"] for v in listed.get("Versions", [])] == \
            ids[::-1]
    eventually(all_there)
    assert eu.get_object(Bucket=dst, Key="k")["Body"].read() == b"v4"


def test_delete_markers_replicate_when_the_rule_says_so(deployment, pair):
    us, eu, src, dst = pair
    us.put_object(Bucket=src, Key="gone", Body=b"x")
    eventually(lambda: eu.head_object(Bucket=dst, Key="gone"))
    marker = us.delete_object(Bucket=src, Key="gone")
    assert marker["DeleteMarker"]

    def marked():
        listed = eu.list_object_versions(Bucket=dst, Prefix="gone")
        markers = listed.get("DeleteMarkers", [])
        assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [
            (marker["VersionId"], True)]
    eventually(marked)
    with pytest.raises(ClientError) as e:
        eu.get_object(Bucket=dst, Key="gone")
    assert error_code(e.value) == "NoSuchKey"

    # Without DeleteMarkerReplication: the marker stays home.
    src2 = versioned_bucket(us, US, "src")
    dst2 = versioned_bucket(eu, EU, "dst")
    replicate(us, src2, rule(dst2, markers=False))
    us.put_object(Bucket=src2, Key="k", Body=b"x")
    eventually(lambda: eu.head_object(Bucket=dst2, Key="k"))
    us.delete_object(Bucket=src2, Key="k")
    us.put_object(Bucket=src2, Key="after", Body=b"y")
    eventually(lambda: eu.head_object(Bucket=dst2, Key="after"))
    assert eu.head_object(Bucket=dst2, Key="k")["ContentLength"] == 1


def test_a_delete_of_a_version_id_is_never_replicated(pair):
    us, eu, src, dst = pair
    v = us.put_object(Bucket=src, Key="keep", Body=b"x")["VersionId"]
    eventually(lambda: eu.head_object(Bucket=dst, Key="keep"))
    us.delete_object(Bucket=src, Key="keep", VersionId=v)
    us.put_object(Bucket=src, Key="after", Body=b"y")
    eventually(lambda: eu.head_object(Bucket=dst, Key="after"))
    assert eu.head_object(Bucket=dst, Key="keep")["VersionId"] == v


def test_only_what_the_filter_selects_is_replicated(deployment):
    us, eu = deployment.client(US), deployment.client(EU)
    src = versioned_bucket(us, US, "src")
    dst = versioned_bucket(eu, EU, "dst")
    replicate(us, src, rule(dst, prefix="logs/", tags={"copy": "yes"},
                            markers=False))
    us.put_object(Bucket=src, Key="logs/a", Body=b"a", Tagging="copy=yes")
    us.put_object(Bucket=src, Key="logs/b", Body=b"b", Tagging="copy=no")
    us.put_object(Bucket=src, Key="other", Body=b"c", Tagging="copy=yes")
    eventually(lambda: eu.head_object(Bucket=dst, Key="logs/a"))
    assert status(us, src, "logs/a") in ("PENDING", "COMPLETED")
    assert status(us, src, "logs/b") is None
    assert status(us, src, "other") is None
    listed = eu.list_object_versions(Bucket=dst)
    assert [v["Key"] for v in listed.get("Versions", [])] == ["logs/a"]


def test_same_region_destination(deployment):
    us = deployment.client(US)
    src = versioned_bucket(us, US, "src")
    dst = versioned_bucket(us, US, "dst")
    replicate(us, src, rule(dst))
    v = us.put_object(Bucket=src, Key="k", Body=b"local")["VersionId"]
    got = eventually(lambda: us.get_object(Bucket=dst, Key="k"))
    assert (got["VersionId"], got["Body"].read()) == (v, b"local")
    assert got["ReplicationStatus"] == "REPLICA"


def test_two_way_replication_never_loops(deployment):
    us, eu = deployment.client(US), deployment.client(EU)
    a = versioned_bucket(us, US, "two-a")
    b = versioned_bucket(eu, EU, "two-b")
    replicate(us, a, rule(b))
    replicate(eu, b, rule(a))
    va = us.put_object(Bucket=a, Key="from-a", Body=b"1")["VersionId"]
    vb = eu.put_object(Bucket=b, Key="from-b", Body=b"2")["VersionId"]
    eventually(lambda: eu.head_object(Bucket=b, Key="from-a"))
    eventually(lambda: us.head_object(Bucket=a, Key="from-b"))
    # A marker written after: each side's last write is seen everywhere,
    # and each key has exactly its one version on both sides.
    us.put_object(Bucket=a, Key="fence", Body=b"f")
    eventually(lambda: eu.head_object(Bucket=b, Key="fence"))
    time.sleep(1.0)
    for client, bucket in ((us, a), (eu, b)):
        listed = client.list_object_versions(Bucket=bucket)
        ids = sorted((v["Key"], v["VersionId"]) for v in listed["Versions"])
        assert [i for i in ids if i[0] != "fence"] == sorted(
            [("from-a", va), ("from-b", vb)])
    assert status(us, a, "from-b") == "REPLICA"
    assert status(eu, b, "from-a") == "REPLICA"
    assert status(us, a, "from-a") == "COMPLETED"


def test_failed_versions_come_back_with_retry(deployment):
    us, eu = deployment.client(US), deployment.client(EU)
    src = versioned_bucket(us, US, "src")
    dst = versioned_bucket(eu, EU, "dst")
    replicate(us, src, rule(dst))
    # The destination goes away: a permanent failure.
    eu.delete_bucket(Bucket=dst)
    v = us.put_object(Bucket=src, Key="k", Body=b"x")["VersionId"]
    eventually(lambda: assert_status(us, src, "k", "FAILED"))
    shown = deployment.admin(US, "--json", "replication", "status", src)
    pairs = json.loads(shown)["pairs"]
    assert pairs and pairs[0]["destination"] == dst
    assert "NoSuchBucket" in (pairs[0]["last_error"] or "")
    assert pairs[0]["rules"] == ["r"]
    text = deployment.admin(US, "replication", "status")
    assert src in text and "last error" in text and "rules: r\n" in text
    pair = {"bucket": src, "destination": dst}

    def failed_gauge(value):
        samples = scrape(deployment.metrics_port)
        assert total(samples, "shale_gateway_replication_failed_operations",
                     **pair) == value
        return samples
    samples = eventually(lambda: failed_gauge(1))
    assert total(samples, "shale_gateway_replication_failed_total",
                 **pair) >= 1
    assert total(samples, "shale_gateway_replication_pending_operations",
                 **pair) == 0
    # Back, and retried by hand: it arrives, COMPLETED.
    eu.create_bucket(Bucket=dst, CreateBucketConfiguration={
        "LocationConstraint": EU})
    eu.put_bucket_versioning(Bucket=dst, VersioningConfiguration={
        "Status": "Enabled"})
    out = deployment.admin(US, "replication", "retry", src)
    assert out.startswith("1 ")
    got = eventually(lambda: eu.head_object(Bucket=dst, Key="k"))
    assert got["VersionId"] == v
    eventually(lambda: assert_status(us, src, "k", "COMPLETED"))
    samples = eventually(lambda: failed_gauge(0))
    assert total(samples, "shale_gateway_replication_replicated_total",
                 **pair) == 1
    assert total(samples, "shale_gateway_replication_replicated_bytes_total",
                 **pair) == 1
    assert total(samples, "shale_gateway_replication_latency_seconds_count",
                 **pair) == 1
    assert total(samples, "shale_gateway_replication_oldest_pending_seconds",
                 **pair) == 0


def test_replica_headers_are_refused_from_ordinary_keys(deployment):
    us = deployment.client(US)
    bucket = versioned_bucket(us, US, "forge")
    key = json.loads(deployment.admin(
        US, "--json", "key", "create", "--name", "writer", "--grant",
        f"{bucket}:write"))
    writer = deployment.client(US, access_key=key["access_key"],
                               secret_key=key["secret_key"])
    eventually(lambda: writer.list_objects_v2(Bucket=bucket))

    def forge(request, **kwargs):
        request.headers["x-shale-replica-version"] = "0000000000100000"
        request.headers["x-shale-replica-last-modified"] = "1000"
    writer.meta.events.register_first("before-sign.s3.PutObject", forge)
    with pytest.raises(ClientError) as e:
        writer.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_code(e.value) == "AccessDenied"
    writer.meta.events.register_first("before-sign.s3.DeleteObject", forge)
    with pytest.raises(ClientError) as e:
        writer.delete_object(Bucket=bucket, Key="k")
    assert error_code(e.value) == "AccessDenied"
    listed = us.list_object_versions(Bucket=bucket)
    assert "Versions" not in listed and "DeleteMarkers" not in listed


def test_replica_writes_are_an_action_a_bucket_policy_may_allow(deployment):
    """s3:ReplicateObject (and s3:ReplicateDelete) are actions like any
    other: a key the destination bucket's policy allows them may write
    replicas there, under the keys the policy names; a grant alone never
    allows them."""
    us = deployment.client(US)
    bucket = versioned_bucket(us, US, "replicator")
    key = json.loads(deployment.admin(
        US, "--json", "key", "create", "--name", "replicator", "--grant",
        f"{bucket}:write"))
    writer = deployment.client(US, access_key=key["access_key"],
                               secret_key=key["secret_key"])
    eventually(lambda: writer.list_objects_v2(Bucket=bucket))
    us.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::000000000000:user/"
                          + key["access_key"]},
            "Action": ["s3:ReplicateObject", "s3:ReplicateDelete"],
            "Resource": f"arn:aws:s3:::{bucket}/replicas/*"}]}))

    def forge(request, **kwargs):
        request.headers["x-shale-replica-version"] = "0000000000100000"
        request.headers["x-shale-replica-last-modified"] = "1000"
    writer.meta.events.register_first("before-sign.s3.PutObject", forge)
    writer.put_object(Bucket=bucket, Key="replicas/k", Body=b"x")
    head = us.head_object(Bucket=bucket, Key="replicas/k")
    assert head["VersionId"] == "0000000000100000"
    assert head["ReplicationStatus"] == "REPLICA"
    with pytest.raises(ClientError) as e:
        writer.put_object(Bucket=bucket, Key="elsewhere", Body=b"x")
    assert error_code(e.value) == "AccessDenied"
    with pytest.raises(ClientError):
        us.head_object(Bucket=bucket, Key="elsewhere")


def test_the_aws_cli_sets_a_rule_and_reads_the_status(deployment, tmp_path):
    us, eu = deployment.client(US), deployment.client(EU)
    src = versioned_bucket(us, US, "cli-src")
    dst = versioned_bucket(eu, EU, "cli-dst")
    config = tmp_path / "replication.json"
    config.write_text(json.dumps({"Role": "", "Rules": [rule(dst)]}))
    deployment.aws(US, US, "s3api", "put-bucket-replication", "--bucket", src,
                   "--replication-configuration", f"file://{config}")
    f = tmp_path / "f.txt"
    f.write_text("via the cli")
    deployment.aws(US, US, "s3", "cp", f, f"s3://{src}/f.txt")
    eventually(lambda: eu.head_object(Bucket=dst, Key="f.txt"))
    out = deployment.aws(EU, EU, "s3", "cp", f"s3://{dst}/f.txt", "-").stdout
    assert out == "via the cli"
    head = json.loads(deployment.aws(EU, EU, "s3api", "head-object",
                                     "--bucket", dst, "--key", "f.txt").stdout)
    assert head["ReplicationStatus"] == "REPLICA"


def test_tag_and_lock_changes_follow_the_version(deployment):
    us, eu = deployment.client(US), deployment.client(EU)
    src = unique_bucket_name("lock-src")
    us.create_bucket(Bucket=src, ObjectLockEnabledForBucket=True)
    dst = unique_bucket_name("lock-dst")
    eu.create_bucket(Bucket=dst, ObjectLockEnabledForBucket=True,
                     CreateBucketConfiguration={"LocationConstraint": EU})
    replicate(us, src, rule(dst))
    v = us.put_object(Bucket=src, Key="k", Body=b"x", Tagging="a=1",
                      ChecksumAlgorithm="CRC32")["VersionId"]
    eventually(lambda: eu.head_object(Bucket=dst, Key="k", VersionId=v))
    us.put_object_tagging(Bucket=src, Key="k", VersionId=v, Tagging={
        "TagSet": [{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}]})

    def tagged():
        got = eu.get_object_tagging(Bucket=dst, Key="k", VersionId=v)
        assert sorted((t["Key"], t["Value"]) for t in got["TagSet"]) == [
            ("a", "2"), ("b", "3")]
    eventually(tagged)
    import datetime
    until = (datetime.datetime.now(datetime.timezone.utc)
             + datetime.timedelta(days=2)).replace(microsecond=0)
    us.put_object_retention(Bucket=src, Key="k", VersionId=v, Retention={
        "Mode": "GOVERNANCE", "RetainUntilDate": until})
    us.put_object_legal_hold(Bucket=src, Key="k", VersionId=v,
                             LegalHold={"Status": "ON"})

    def locked():
        r = eu.get_object_retention(Bucket=dst, Key="k", VersionId=v)
        assert r["Retention"]["Mode"] == "GOVERNANCE"
        assert r["Retention"]["RetainUntilDate"] == until
        h = eu.get_object_legal_hold(Bucket=dst, Key="k", VersionId=v)
        assert h["LegalHold"]["Status"] == "ON"
    eventually(locked)
    # The replica is locked at the destination as at the source.
    with pytest.raises(ClientError) as e:
        eu.delete_object(Bucket=dst, Key="k", VersionId=v)
    assert error_code(e.value) == "AccessDenied"
    us.put_object_legal_hold(Bucket=src, Key="k", VersionId=v,
                             LegalHold={"Status": "OFF"})
    us.put_object_retention(Bucket=src, Key="k", VersionId=v, Retention={},
                            BypassGovernanceRetention=True)

    def unlocked():
        h = eu.get_object_legal_hold(Bucket=dst, Key="k", VersionId=v)
        assert h["LegalHold"]["Status"] == "OFF"
        try:
            eu.get_object_retention(Bucket=dst, Key="k", VersionId=v)
        except ClientError as exc:
            assert error_code(exc) == "NoSuchObjectLockConfiguration"
        else:
            raise AssertionError("the retention is still there")
    eventually(unlocked)
    eu.delete_object(Bucket=dst, Key="k", VersionId=v)


def test_changes_made_on_a_replica_go_back_only_with_replica_modifications(
        deployment):
    us, eu = deployment.client(US), deployment.client(EU)
    a = versioned_bucket(us, US, "mod-a")
    b = versioned_bucket(eu, EU, "mod-b")
    replicate(us, a, rule(b))
    back = rule(a)
    replicate(eu, b, back)
    v = us.put_object(Bucket=a, Key="k", Body=b"x")["VersionId"]
    eventually(lambda: eu.head_object(Bucket=b, Key="k"))
    eu.put_object_tagging(Bucket=b, Key="k", VersionId=v, Tagging={
        "TagSet": [{"Key": "from", "Value": "replica"}]})
    # A fence: a later write in b arrives in a; the tag did not.
    f = eu.put_object(Bucket=b, Key="fence", Body=b"f")["VersionId"]
    eventually(lambda: us.head_object(Bucket=a, Key="fence", VersionId=f))
    time.sleep(0.5)
    assert us.get_object_tagging(Bucket=a, Key="k", VersionId=v)[
        "TagSet"] == []
    back["SourceSelectionCriteria"] = {
        "ReplicaModifications": {"Status": "Enabled"}}
    replicate(eu, b, back)
    eu.put_object_tagging(Bucket=b, Key="k", VersionId=v, Tagging={
        "TagSet": [{"Key": "from", "Value": "replica2"}]})

    def back_home():
        got = us.get_object_tagging(Bucket=a, Key="k", VersionId=v)
        assert got["TagSet"] == [{"Key": "from", "Value": "replica2"}]
    eventually(back_home)
    # And it does not bounce: a's tags stay, b's are the client's.
    time.sleep(0.5)
    assert eu.get_object_tagging(Bucket=b, Key="k", VersionId=v)[
        "TagSet"] == [{"Key": "from", "Value": "replica2"}]


def test_a_resync_replicates_what_was_there_before_the_rule(deployment):
    us, eu = deployment.client(US), deployment.client(EU)
    src = versioned_bucket(us, US, "resync-src")
    dst = versioned_bucket(eu, EU, "resync-dst")
    before = {}
    for i in range(25):
        key = f"old/{i:02d}"
        before[key] = us.put_object(Bucket=src, Key=key,
                                    Body=f"v{i}".encode())["VersionId"]
    marker = us.delete_object(Bucket=src, Key="old/00")["VersionId"]
    replicate(us, src, rule(dst))
    new = us.put_object(Bucket=src, Key="new", Body=b"n")["VersionId"]
    eventually(lambda: eu.head_object(Bucket=dst, Key="new"))
    # The rule copies new writes only; the older versions wait for a resync.
    assert status(us, src, "old/01") is None
    assert eu.list_object_versions(Bucket=dst, Prefix="old/").get(
        "Versions") is None
    out = deployment.admin(US, "replication", "resync", src, "--older-than",
                           "0s")
    assert out.startswith("26 versions of ")  # 25 versions and a marker

    def all_there():
        listed = eu.list_object_versions(Bucket=dst)
        ids = {(v["Key"], v["VersionId"]) for v in listed.get("Versions", [])}
        assert ids == {(k, v) for k, v in before.items()} | {("new", new)}
        assert [(m["Key"], m["VersionId"]) for m in listed.get(
            "DeleteMarkers", [])] == [("old/00", marker)]
    eventually(all_there)
    eventually(lambda: assert_status(us, src, "old/07", "COMPLETED"))
    # Again: nothing more to do.
    out = deployment.admin(US, "replication", "resync", src, "--restart")
    assert out.startswith("0 versions of ")
