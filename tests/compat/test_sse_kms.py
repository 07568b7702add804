"""SSE-KMS with the built-in key service (`shale admin kms key ...`):
objects sealed under a KMS key by id or ARN, or the default key; bucket
default encryption with a key; a disabled key makes its objects unreadable
until it is enabled again; rotation keeps old objects readable; the AWS
CLI and rclone's SSE-KMS flags."""

import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import KIB, MIB, _client_env, assert_client_error, md5_hex, random_bytes
from regions import eventually
from test_sse import RCLONE, rclone_for, rclone_round_trip

BLOCK = 64 * KIB


@pytest.fixture
def kms_key(server):
    return server.admin_json("kms", "key", "create", "--description", "test")


def _eventually(check, deadline=15):
    """`check()` once it stops raising (a gateway believes what it read of
    the KMS keys for 5 s; its own changes hold at once)."""
    return eventually(check, deadline)


@pytest.mark.parametrize("size", [0, 900, 3 * BLOCK + 1, 2 * MIB + 7], ids=lambda n: f"{n}B")
def test_sse_kms_round_trip(s3, bucket, kms_key, size):
    body = random_bytes(size)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=kms_key["id"])
    assert put["ServerSideEncryption"] == "aws:kms"
    assert put["SSEKMSKeyId"] == kms_key["arn"]
    assert put["ETag"] != f'"{md5_hex(body)}"'
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["ServerSideEncryption"] == "aws:kms"
    assert got["SSEKMSKeyId"] == kms_key["arn"]
    assert got["Body"].read() == body
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["SSEKMSKeyId"] == kms_key["arn"] and head["ContentLength"] == size
    # By ARN too.
    s3.put_object(Bucket=bucket, Key="arn", Body=body, ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=kms_key["arn"])
    assert s3.get_object(Bucket=bucket, Key="arn")["Body"].read() == body


def test_the_default_key_and_unknown_keys(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="d", Body=b"d" * 5000, ServerSideEncryption="aws:kms")
    assert put["SSEKMSKeyId"].endswith(":key/default")
    assert s3.get_object(Bucket=bucket, Key="d")["Body"].read() == b"d" * 5000
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId="0b5c1d9e-0000-4000-8000-000000000000")
    assert_client_error(e, 400, "KMS.NotFoundException")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId="alias/nope")
    assert_client_error(e, 400, "KMS.NotFoundException")


def test_a_disabled_key_makes_its_objects_unreadable_until_enabled(server, s3, bucket, kms_key):
    body = random_bytes(300 * KIB)
    s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=kms_key["id"])
    off = server.admin_json("kms", "key", "disable", kms_key["id"])
    assert off["enabled"] is False
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert_client_error(e, 400, "KMS.DisabledException")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="new", Body=b"n", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=kms_key["id"])
    assert_client_error(e, 400, "KMS.DisabledException")
    # A copy cannot read it either.
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"})
    assert_client_error(e, 400, "KMS.DisabledException")
    # HEAD reads no data: it still answers.
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == len(body)
    server.admin_json("kms", "key", "enable", kms_key["id"])
    got = _eventually(lambda: s3.get_object(Bucket=bucket, Key="k"))
    assert got["Body"].read() == body


def test_rotation_keeps_old_objects_readable(server, s3, bucket, kms_key):
    old = random_bytes(200 * KIB)
    s3.put_object(Bucket=bucket, Key="old", Body=old, ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=kms_key["id"])
    rotated = server.admin_json("kms", "key", "rotate", kms_key["id"])
    assert rotated["versions"] == 2
    new = random_bytes(200 * KIB)
    s3.put_object(Bucket=bucket, Key="new", Body=new, ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=kms_key["id"])
    assert s3.get_object(Bucket=bucket, Key="old")["Body"].read() == old
    assert s3.get_object(Bucket=bucket, Key="new")["Body"].read() == new
    listed = {k["id"]: k for k in server.admin_json("kms", "key", "list")}
    assert listed[kms_key["id"]]["versions"] == 2


def test_bucket_default_kms_and_copies(s3, bucket, kms_key):
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key["arn"]},
            "BucketKeyEnabled": True}]})
    rule = s3.get_bucket_encryption(Bucket=bucket)[
        "ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key["arn"]}
    body = random_bytes(6 * MIB + 5)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body)
    assert put["ServerSideEncryption"] == "aws:kms"
    assert put["SSEKMSKeyId"] == kms_key["arn"]
    # Multipart under the default, a range across the parts.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert up["SSEKMSKeyId"] == kms_key["arn"]
    parts = [body[:5 * MIB], body[5 * MIB:]]
    done = [{"PartNumber": n, "ETag": s3.upload_part(
        Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=p)["ETag"]}
        for n, p in enumerate(parts, 1)]
    c = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": done})
    assert c["ServerSideEncryption"] == "aws:kms"
    got = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MIB - 3}-{5 * MIB + 3}")
    assert got["Body"].read() == body[5 * MIB - 3:5 * MIB + 4]
    # KMS → SSE-S3 and → plain in a bucket without a default.
    s3.delete_bucket_encryption(Bucket=bucket)
    s3.copy_object(Bucket=bucket, Key="s3", CopySource={"Bucket": bucket, "Key": "k"},
                   ServerSideEncryption="AES256")
    got = s3.get_object(Bucket=bucket, Key="s3")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == body
    s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": "k"})
    got = s3.get_object(Bucket=bucket, Key="plain")
    assert "ServerSideEncryption" not in got and got["Body"].read() == body
    # And back: plain → KMS.
    s3.copy_object(Bucket=bucket, Key="again", CopySource={"Bucket": bucket, "Key": "plain"},
                   ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key["id"])
    assert s3.get_object(Bucket=bucket, Key="again")["SSEKMSKeyId"] == kms_key["arn"]


def test_admin_cli_lists_keys(server, kms_key):
    keys = server.admin_json("kms", "key", "list")
    mine = [k for k in keys if k["id"] == kms_key["id"]]
    assert mine and mine[0]["enabled"] is True and mine[0]["description"] == "test"
    assert mine[0]["arn"].startswith("arn:aws:kms:us-east-1:000000000000:key/")


def test_aws_cli_sse_kms(server, kms_key, tmp_path):
    name = "cli-ssekms-bucket"
    server.aws("s3", "mb", f"s3://{name}")
    src = tmp_path / "f.bin"
    body = random_bytes(9 * MIB + 1)
    src.write_bytes(body)
    server.aws("s3", "cp", str(src), f"s3://{name}/f.bin", "--sse", "aws:kms",
               "--sse-kms-key-id", kms_key["id"])
    head = server.aws_json("s3api", "head-object", "--bucket", name, "--key", "f.bin")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == kms_key["arn"]
    out = tmp_path / "out.bin"
    server.aws("s3", "cp", f"s3://{name}/f.bin", str(out))
    assert out.read_bytes() == body


@pytest.mark.skipif(RCLONE is None, reason="rclone not installed")
def test_rclone_sse_kms(server, kms_key, tmp_path):
    rclone = rclone_for(server, tmp_path / "rclone-home", server_side_encryption="aws:kms",
                        sse_kms_key_id=kms_key["arn"])
    files = rclone_round_trip(rclone, tmp_path, "rclone-ssekms", [2000, 2 * MIB + 3])
    s3 = server.client()
    for name in files:
        head = s3.head_object(Bucket="rclone-ssekms", Key=name)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == kms_key["arn"]


def _master_key(server, *args):
    from conftest import shale_bin
    r = subprocess.run([str(shale_bin()), "admin", "master-key", "--file",
                        str(server.data_dir / "master.key"), *args],
                       env=_client_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def _resealed(server, passes_after):
    """The re-sealing status once a pass after `passes_after` left nothing
    stale."""
    def check():
        e = server.admin_json("sse", "status")["encryption"]
        r = e["rekey"]
        assert r["passes"] > passes_after and not r["running"], r
        assert r["stale_left"] == 0, r
        return e
    # A restarted gateway waits out its predecessor's lease (15 s) and
    # tries again at its next pass (30 s).
    return _eventually(check, deadline=120)


def test_rotating_the_master_key_reseals_every_object_key_under_load(server_factory):
    import threading
    server = server_factory.new()
    s3 = server.client()
    s3.create_bucket(Bucket="rot")
    s3.put_bucket_versioning(Bucket="rot", VersioningConfiguration={"Status": "Enabled"})
    key = server.admin_json("kms", "key", "create")
    bodies = {}
    for i, size in enumerate([100, 300 * KIB, 2 * MIB + 1]):
        bodies[f"s3-{i}"] = random_bytes(size)
        s3.put_object(Bucket="rot", Key=f"s3-{i}", Body=bodies[f"s3-{i}"],
                      ServerSideEncryption="AES256")
        bodies[f"kms-{i}"] = random_bytes(size)
        s3.put_object(Bucket="rot", Key=f"kms-{i}", Body=bodies[f"kms-{i}"],
                      ServerSideEncryption="aws:kms", SSEKMSKeyId=key["id"])
    # A noncurrent version, and an upload in progress.
    old_version = s3.list_object_versions(Bucket="rot", Prefix="s3-1")["Versions"][0]["VersionId"]
    s3.put_object(Bucket="rot", Key="s3-1", Body=b"newer", ServerSideEncryption="AES256")
    up = s3.create_multipart_upload(Bucket="rot", Key="mp", ServerSideEncryption="AES256")
    p1 = s3.upload_part(Bucket="rot", Key="mp", UploadId=up["UploadId"], PartNumber=1,
                        Body=b"m" * (5 * MIB))

    first = server.admin_json("sse", "status")["encryption"]["master_keys"]
    assert len(first) == 1
    _master_key(server, "add")
    ids = [line.split()[0] for line in _master_key(server, "list").splitlines()]
    new_id = [i for i in ids if i not in first][0]
    _master_key(server, "use", new_id)
    server.restart()
    s3 = server.client()
    assert server.admin_json("sse", "status")["encryption"]["sealing_master_key"] == new_id

    # Writes and reads go on while the pass runs.
    stop, errors, written = threading.Event(), [], {}

    def load():
        c = server.client()
        n = 0
        while not stop.is_set():
            body = random_bytes(70 * KIB)
            try:
                c.put_object(Bucket="rot", Key=f"load-{n}", Body=body, ServerSideEncryption="AES256")
                written[f"load-{n}"] = body
                assert c.get_object(Bucket="rot", Key="s3-2")["Body"].read() == bodies["s3-2"]
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
            n += 1

    before = server.admin_json("sse", "status")["encryption"]["rekey"]["passes"]
    t = threading.Thread(target=load)
    t.start()
    try:
        server.admin_json("sse", "reseal")
        status = _resealed(server, before)
    finally:
        stop.set()
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert status["rekey"]["resealed"] >= 4, status
    assert status["rekey"]["kms_resealed"] >= 1, status

    # The old master key can go: every object still reads.
    _master_key(server, "retire")
    assert _master_key(server, "list").split()[0] == new_id
    server.restart()
    s3 = server.client()
    for k, body in {**bodies, **written}.items():
        if k == "s3-1":
            continue
        assert s3.get_object(Bucket="rot", Key=k)["Body"].read() == body, k
    assert s3.get_object(Bucket="rot", Key="s3-1")["Body"].read() == b"newer"
    got = s3.get_object(Bucket="rot", Key="s3-1", VersionId=old_version)
    assert got["Body"].read() == bodies["s3-1"]
    p2 = s3.upload_part(Bucket="rot", Key="mp", UploadId=up["UploadId"], PartNumber=2,
                        Body=b"tail")
    s3.complete_multipart_upload(Bucket="rot", Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [
                                     {"PartNumber": 1, "ETag": p1["ETag"]},
                                     {"PartNumber": 2, "ETag": p2["ETag"]}]})
    assert s3.get_object(Bucket="rot", Key="mp")["Body"].read() == b"m" * (5 * MIB) + b"tail"


def test_rotating_a_kms_key_reseals_its_objects(server, s3, bucket, kms_key):
    bodies = {f"k{i}": random_bytes(1000 + i) for i in range(5)}
    for k, b in bodies.items():
        s3.put_object(Bucket=bucket, Key=k, Body=b, ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=kms_key["id"])
    before = server.admin_json("sse", "status")["encryption"]["rekey"]
    server.admin_json("kms", "key", "rotate", kms_key["id"])
    after = _resealed(server, before["passes"])
    assert after["rekey"]["resealed"] >= before["resealed"] + len(bodies)
    for k, b in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == b
