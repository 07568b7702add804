"""Server-side encryption with SSE-S3 (`x-amz-server-side-encryption:
AES256`) and bucket default encryption, through boto3, the AWS CLI and
rclone: round trips, ranges across the 64 KiB sealed blocks, multipart,
copies between encrypted and plain, S3's errors, and the raw volume files
and catalogue never holding a plaintext written through SSE."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import (KIB, MIB, _client_env, assert_client_error, md5_hex,
                      random_bytes)
from test_https import tls_bucket  # noqa: F401 - a fixture
from volumes import corrupt, node_records

BLOCK = 64 * KIB


def _head_sse(s3, bucket, key, **kw):
    return s3.head_object(Bucket=bucket, Key=key, **kw).get("ServerSideEncryption")


def _pattern(tag, n):
    """`n` bytes of a recognisable pattern (greppable in raw files)."""
    unit = f"<shale-sse-known-plaintext-{tag}>".encode()
    return (unit * (n // len(unit) + 1))[:n]


@pytest.mark.parametrize("size", [0, 1, 100, 4 * KIB, BLOCK - 1, BLOCK, BLOCK + 1,
                                  3 * BLOCK + 17, 2 * MIB + 5],
                         ids=lambda n: f"{n}B")
def test_sse_s3_round_trip(s3, bucket, size):
    body = random_bytes(size)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    # SSE-S3's ETag is the MD5 of the plaintext, as S3's.
    assert put["ETag"] == f'"{md5_hex(body)}"'
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["ServerSideEncryption"] == "AES256"
    assert got["ContentLength"] == size
    assert got["Body"].read() == body
    assert _head_sse(s3, bucket, "k") == "AES256"
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == size
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("k", size)]


def test_plain_objects_say_nothing_of_encryption(s3, bucket):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x" * 300)
    assert "ServerSideEncryption" not in s3.get_object(Bucket=bucket, Key="plain")
    assert _head_sse(s3, bucket, "plain") is None


def test_ranges_across_block_boundaries(s3, bucket):
    size = 3 * BLOCK + 1000
    body = random_bytes(size)
    s3.put_object(Bucket=bucket, Key="r", Body=body, ServerSideEncryption="AES256")
    cases = [(0, 0), (0, BLOCK - 1), (BLOCK - 1, BLOCK), (BLOCK - 10, 2 * BLOCK + 10),
             (BLOCK, BLOCK), (2 * BLOCK + 5, size - 1), (size - 1, size - 1),
             (17, 3 * BLOCK + 3)]
    for first, last in cases:
        got = s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={first}-{last}")
        assert got["ServerSideEncryption"] == "AES256"
        assert got["ContentRange"] == f"bytes {first}-{last}/{size}"
        assert got["Body"].read() == body[first:last + 1], (first, last)
    # Suffix and open ranges.
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=-70000")
    assert got["Body"].read() == body[-70000:]
    got = s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={BLOCK + 1}-")
    assert got["Body"].read() == body[BLOCK + 1:]
    # Small (inline) objects too.
    small = random_bytes(700)
    s3.put_object(Bucket=bucket, Key="s", Body=small, ServerSideEncryption="AES256")
    got = s3.get_object(Bucket=bucket, Key="s", Range="bytes=100-199")
    assert got["Body"].read() == small[100:200]


def test_multipart_sse_s3(s3, bucket):
    parts = [random_bytes(5 * MIB + 3), random_bytes(5 * MIB), random_bytes(BLOCK + 7)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="AES256")
    assert up["ServerSideEncryption"] == "AES256"
    done = []
    # Out of order, and part 2 sent twice (the second one counts).
    for number in [3, 1, 2, 2]:
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                           PartNumber=number, Body=parts[number - 1])
        assert r["ServerSideEncryption"] == "AES256"
        assert r["ETag"] == f'"{md5_hex(parts[number - 1])}"'
        done = [d for d in done if d["PartNumber"] != number]
        done.append({"PartNumber": number, "ETag": r["ETag"]})
    done.sort(key=lambda d: d["PartNumber"])
    c = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": done})
    assert c["ServerSideEncryption"] == "AES256"
    assert c["ETag"].endswith('-3"')
    body = b"".join(parts)
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["ServerSideEncryption"] == "AES256"
    assert got["Body"].read() == body
    # A range across both part boundaries, and a part by its number.
    a, b = 5 * MIB - 100, 10 * MIB + 3 + 200
    got = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={a}-{b}")
    assert got["Body"].read() == body[a:b + 1]
    got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert got["Body"].read() == parts[1]
    assert got["PartsCount"] == 3


def test_bucket_default_encryption(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert_client_error(e, 404, "ServerSideEncryptionConfigurationNotFoundError")
    s3.put_object(Bucket=bucket, Key="before", Body=b"b" * 200 * KIB)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                   "BucketKeyEnabled": True}]})
    rules = s3.get_bucket_encryption(Bucket=bucket)[
        "ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                      "BucketKeyEnabled": True}]
    # Objects written without headers follow the default; older ones stay
    # as they were.
    body = random_bytes(300 * KIB)
    put = s3.put_object(Bucket=bucket, Key="after", Body=body)
    assert put["ServerSideEncryption"] == "AES256"
    assert _head_sse(s3, bucket, "after") == "AES256"
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == body
    assert _head_sse(s3, bucket, "before") is None
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert up["ServerSideEncryption"] == "AES256"
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"])
    s3.delete_bucket_encryption(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert_client_error(e, 404, "ServerSideEncryptionConfigurationNotFoundError")
    s3.put_object(Bucket=bucket, Key="later", Body=b"l" * 10)
    assert _head_sse(s3, bucket, "later") is None
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == body


def test_bucket_encryption_is_checked_as_s3_checks_it(s3, bucket):
    def put(rules):
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": rules})

    with pytest.raises(ClientError) as e:
        put([{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "AES256", "KMSMasterKeyID": "k1"}}])
    assert_client_error(e, 400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        put([{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}] * 2)
    assert_client_error(e, 400, "MalformedXML")
    with pytest.raises(ClientError) as e:
        put([{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "DES"}}])
    assert_client_error(e, 400, "MalformedXML")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket="no-such-bucket-sse-xyz")
    assert_client_error(e, 404, "NoSuchBucket")


def test_write_headers_are_checked_as_s3_checks_them(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES128")
    assert_client_error(e, 400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256",
                      SSEKMSKeyId="some-key")
    assert_client_error(e, 400, "InvalidArgument")
    # Nothing was stored by the refused writes.
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_copies_between_encrypted_and_plain(s3, bucket):
    for size in (900, 2 * MIB + 1):
        plain = random_bytes(size)
        s3.put_object(Bucket=bucket, Key="plain", Body=plain)
        # plain → encrypted
        r = s3.copy_object(Bucket=bucket, Key="enc", CopySource={"Bucket": bucket, "Key": "plain"},
                           ServerSideEncryption="AES256")
        assert r["ServerSideEncryption"] == "AES256"
        assert _head_sse(s3, bucket, "enc") == "AES256"
        assert s3.get_object(Bucket=bucket, Key="enc")["Body"].read() == plain
        # encrypted → plain (a copy asks for its own encryption, not the source's)
        r = s3.copy_object(Bucket=bucket, Key="back", CopySource={"Bucket": bucket, "Key": "enc"})
        assert "ServerSideEncryption" not in r
        assert _head_sse(s3, bucket, "back") is None
        assert s3.get_object(Bucket=bucket, Key="back")["Body"].read() == plain
        # encrypted → encrypted, metadata copied with it
        s3.copy_object(Bucket=bucket, Key="enc2", CopySource={"Bucket": bucket, "Key": "enc"},
                       ServerSideEncryption="AES256")
        assert s3.get_object(Bucket=bucket, Key="enc2")["Body"].read() == plain
        # In place: changing only the encryption is a change S3 allows.
        s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": "plain"},
                       ServerSideEncryption="AES256")
        assert _head_sse(s3, bucket, "plain") == "AES256"
        assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == plain


def test_upload_part_copy_between_kinds(s3, bucket):
    src = random_bytes(6 * MIB + 11)
    s3.put_object(Bucket=bucket, Key="src", Body=src, ServerSideEncryption="AES256")
    for asked in ({"ServerSideEncryption": "AES256"}, {}):
        up = s3.create_multipart_upload(Bucket=bucket, Key="dst", **asked)
        uid = up["UploadId"]
        p1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                                 CopySource={"Bucket": bucket, "Key": "src"},
                                 CopySourceRange=f"bytes={BLOCK - 3}-{5 * MIB + BLOCK - 4}")
        assert p1.get("ServerSideEncryption") == asked.get("ServerSideEncryption")
        p2 = s3.upload_part(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2, Body=b"tail")
        s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
                      {"PartNumber": 2, "ETag": p2["ETag"]}]})
        got = s3.get_object(Bucket=bucket, Key="dst")
        assert got.get("ServerSideEncryption") == asked.get("ServerSideEncryption")
        assert got["Body"].read() == src[BLOCK - 3:5 * MIB + BLOCK - 3] + b"tail"


def test_presigned_get_of_an_encrypted_object(s3, bucket):
    import urllib.request
    body = random_bytes(200 * KIB)
    s3.put_object(Bucket=bucket, Key="p", Body=body, ServerSideEncryption="AES256")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"},
                                    ExpiresIn=300)
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.headers["x-amz-server-side-encryption"] == "AES256"
        assert r.read() == body


def _raw_files(data_dir):
    """Every file of a `shale dev` data directory but its keys."""
    for root, _, files in os.walk(data_dir):
        for name in files:
            path = Path(root) / name
            if name.endswith(".key") or name.endswith(".secret"):
                continue
            yield path


def _files_holding(data_dir, needle):
    found = []
    for path in _raw_files(data_dir):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if needle in data:
            found.append(str(path))
    return found


def test_raw_files_never_hold_a_plaintext_written_through_sse(server_factory, tmp_path):
    server = server_factory.new()
    s3 = server.client()
    s3.create_bucket(Bucket="grep")
    secret = _pattern("secret", 3 * MIB)
    s3.put_object(Bucket="grep", Key="inline", Body=secret[:900], ServerSideEncryption="AES256")
    s3.put_object(Bucket="grep", Key="coded", Body=secret, ServerSideEncryption="AES256")
    up = s3.create_multipart_upload(Bucket="grep", Key="mp", ServerSideEncryption="AES256")
    p = s3.upload_part(Bucket="grep", Key="mp", UploadId=up["UploadId"], PartNumber=1,
                       Body=secret)
    s3.complete_multipart_upload(Bucket="grep", Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    s3.put_bucket_encryption(Bucket="grep", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_object(Bucket="grep", Key="default", Body=secret[:2 * MIB])
    s3.copy_object(Bucket="grep", Key="copied", CopySource={"Bucket": "grep", "Key": "coded"})
    s3.put_object(Bucket="grep", Key="kms", Body=secret, ServerSideEncryption="aws:kms")
    s3.put_object(Bucket="grep", Key="kms-inline", Body=secret[:500],
                  ServerSideEncryption="aws:kms")
    # The control: a plaintext object's pattern is found, so the grep can
    # find one.
    s3.create_bucket(Bucket="control")
    s3.put_object(Bucket="control", Key="plain", Body=_pattern("control", 2 * MIB))
    for key in ["inline", "coded", "mp", "default", "copied"]:
        assert s3.head_object(Bucket="grep", Key=key)["ServerSideEncryption"] == "AES256"
    for key in ["kms", "kms-inline"]:
        assert s3.head_object(Bucket="grep", Key=key)["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket="grep", Key="coded")["Body"].read() == secret
    needle = b"<shale-sse-known-plaintext-secret>" * 2
    control = b"<shale-sse-known-plaintext-control>" * 2
    assert _files_holding(server.data_dir, control), "the control pattern must be found"
    assert _files_holding(server.data_dir, needle) == []
    # After a restart too (the metadata's logs and files flushed), and the
    # objects still read with the master key kept in the data directory.
    server.restart()
    s3 = server.client()
    assert s3.get_object(Bucket="grep", Key="mp")["Body"].read() == secret
    assert s3.get_object(Bucket="grep", Key="inline")["Body"].read() == secret[:900]
    assert _files_holding(server.data_dir, needle) == []


def test_rotten_ciphertext_is_rebuilt_from_parity(server_factory):
    server = server_factory.new()
    s3 = server.client()
    s3.create_bucket(Bucket="rot")
    body = random_bytes(3 * MIB)
    s3.put_object(Bucket="rot", Key="k", Body=body, ServerSideEncryption="AES256")
    records = [r for n in range(1, 7) for r in node_records(server.data_dir, n)]
    assert records
    # Rot one data chunk of each segment: the chunk's checksums catch it
    # and the segment is rebuilt from parity before any block is opened.
    # Chunk ids are `<prefix>.p<part>.s<segment>.<shard>`; shard 0 is data.
    seen = set()
    for r in records:
        seg, shard = r.chunk_id.rsplit(".", 1)
        if seg not in seen and shard == "0":
            seen.add(seg)
            corrupt(r)
    assert seen
    assert s3.get_object(Bucket="rot", Key="k")["Body"].read() == body
    got = s3.get_object(Bucket="rot", Key="k", Range=f"bytes={BLOCK}-{2 * BLOCK + 5}")
    assert got["Body"].read() == body[BLOCK:2 * BLOCK + 6]


def test_aws_cli_sse(server, tmp_path):
    name = "cli-sse-bucket"
    server.aws("s3", "mb", f"s3://{name}")
    src = tmp_path / "f.bin"
    body = random_bytes(9 * MIB + 3)
    src.write_bytes(body)
    # 9 MiB: the CLI uploads it in parts.
    server.aws("s3", "cp", str(src), f"s3://{name}/f.bin", "--sse", "AES256")
    head = server.aws_json("s3api", "head-object", "--bucket", name, "--key", "f.bin")
    assert head["ServerSideEncryption"] == "AES256"
    out = tmp_path / "out.bin"
    server.aws("s3", "cp", f"s3://{name}/f.bin", str(out))
    assert out.read_bytes() == body
    server.aws("s3api", "put-bucket-encryption", "--bucket", name,
               "--server-side-encryption-configuration",
               '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}')
    enc = server.aws_json("s3api", "get-bucket-encryption", "--bucket", name)
    assert enc["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


RCLONE = shutil.which("rclone")


def rclone_for(server, home, **settings):
    """rclone with the remote `shale` on `server` (its CA trusted over
    HTTPS) and the s3 backend's `settings` (e.g. server_side_encryption),
    as test_rclone.py sets it up: a callable that runs it and checks its
    exit."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "rclone.conf").write_text("")
    env = _client_env()
    env.update({
        "HOME": str(home),
        "RCLONE_CONFIG": str(home / "rclone.conf"),
        "RCLONE_CONFIG_SHALE_TYPE": "s3",
        "RCLONE_CONFIG_SHALE_PROVIDER": "Other",
        "RCLONE_CONFIG_SHALE_ENDPOINT": server.endpoint,
        "RCLONE_CONFIG_SHALE_ACCESS_KEY_ID": server.access_key,
        "RCLONE_CONFIG_SHALE_SECRET_ACCESS_KEY": server.secret_key,
        "RCLONE_CONFIG_SHALE_REGION": "us-east-1",
    })
    env.update({f"RCLONE_CONFIG_SHALE_{k.upper()}": v for k, v in settings.items()})
    trust = ["--ca-cert", str(server.cafile)] if server.cafile else []

    def rclone(*args):
        r = subprocess.run([RCLONE, "--retries", "1", "--low-level-retries", "1", *trust,
                            *[str(a) for a in args]],
                           env=env, capture_output=True, timeout=600)
        assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:], server.log_tail(30))
        return r
    return rclone


def rclone_round_trip(rclone, tmp_path, bucket, sizes):
    """Files of `sizes` copied into `bucket` by rclone and read back by it,
    byte for byte: their names and bodies."""
    src = tmp_path / "src"
    src.mkdir()
    files = {f"f{i}.bin": random_bytes(n) for i, n in enumerate(sizes)}
    for name, data in files.items():
        (src / name).write_bytes(data)
    rclone("mkdir", f"shale:{bucket}")
    rclone("copy", src, f"shale:{bucket}")
    for name, data in files.items():
        assert rclone("cat", f"shale:{bucket}/{name}").stdout == data
    rclone("check", src, f"shale:{bucket}")
    return files


@pytest.mark.skipif(RCLONE is None, reason="rclone not installed")
def test_rclone_sse_s3(server, tmp_path):
    rclone = rclone_for(server, tmp_path / "rclone-home", server_side_encryption="AES256")
    files = rclone_round_trip(rclone, tmp_path, "rclone-sse", [1000, 3 * MIB + 1])
    s3 = server.client()
    for name in files:
        assert _head_sse(s3, "rclone-sse", name) == "AES256"


# ---------------------------------------------------------------------------
# SSE-C: the client's own key, over HTTPS only.
# ---------------------------------------------------------------------------

KEY_A = os.urandom(32)
KEY_B = os.urandom(32)


def _ssec(key, prefix=""):
    """boto3's SSE-C parameters for `key` (it computes the MD5 itself)."""
    return {f"{prefix}SSECustomerAlgorithm": "AES256", f"{prefix}SSECustomerKey": key}


@pytest.mark.parametrize("size", [0, 700, 3 * BLOCK + 5, 2 * MIB + 1],
                         ids=lambda n: f"{n}B")
def test_sse_c_round_trip(tls_bucket, size):
    s3, bucket = tls_bucket
    body = random_bytes(size)
    put = s3.put_object(Bucket=bucket, Key="c", Body=body, **_ssec(KEY_A))
    assert put["SSECustomerAlgorithm"] == "AES256"
    assert "ServerSideEncryption" not in put
    # Not the MD5 of the data (which would tell what it is).
    assert put["ETag"] != f'"{md5_hex(body)}"'
    assert len(put["ETag"]) == 34
    got = s3.get_object(Bucket=bucket, Key="c", **_ssec(KEY_A))
    assert got["SSECustomerAlgorithm"] == "AES256"
    assert got["ETag"] == put["ETag"]
    assert got["Body"].read() == body
    head = s3.head_object(Bucket=bucket, Key="c", **_ssec(KEY_A))
    assert head["ContentLength"] == size and head["SSECustomerAlgorithm"] == "AES256"
    if size > 10:
        got = s3.get_object(Bucket=bucket, Key="c", Range=f"bytes=3-{size - 2}", **_ssec(KEY_A))
        assert got["Body"].read() == body[3:size - 1]


def test_sse_c_refuses_missing_and_wrong_keys(tls_bucket):
    s3, bucket = tls_bucket
    s3.put_object(Bucket=bucket, Key="c", Body=b"secret" * 1000, **_ssec(KEY_A))
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c")
    assert_client_error(e, 400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c")
    assert_client_error(e, 400)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", **_ssec(KEY_B))
    assert_client_error(e, 403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c", **_ssec(KEY_B))
    assert_client_error(e, 403)
    # A key on an object that has none.
    s3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="plain", **_ssec(KEY_A))
    assert_client_error(e, 400, "InvalidRequest")
    # Malformed keys, wrong MD5s, SSE-C with SSE-S3.
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x", SSECustomerAlgorithm="AES256",
                      SSECustomerKey=os.urandom(16))
    assert_client_error(e, 400, "InvalidArgument")
    import base64

    def wrong_md5(params, **_):
        # After boto3's own handler computed the right one.
        params["SSECustomerKeyMD5"] = base64.b64encode(b"0" * 16).decode()

    s3.meta.events.register_last("before-parameter-build.s3.PutObject", wrong_md5)
    try:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="x", Body=b"x", **_ssec(KEY_A))
        assert_client_error(e, 400, "InvalidArgument")
    finally:
        s3.meta.events.unregister("before-parameter-build.s3.PutObject", wrong_md5)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x", ServerSideEncryption="AES256",
                      **_ssec(KEY_A))
    assert_client_error(e, 400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x", SSECustomerAlgorithm="AES128",
                      SSECustomerKey=KEY_A)
    assert_client_error(e, 400, "InvalidEncryptionAlgorithmError")


def test_sse_c_is_refused_over_plain_http(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x", **_ssec(KEY_A))
    assert_client_error(e, 400, "InvalidRequest")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_sse_c_multipart_and_copies(tls_bucket):
    s3, bucket = tls_bucket
    parts = [random_bytes(5 * MIB + 1), random_bytes(BLOCK * 2 + 9)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", **_ssec(KEY_A))
    assert up["SSECustomerAlgorithm"] == "AES256"
    done = []
    for n, body in enumerate(parts, 1):
        # A part sent with another key is refused.
        if n == 2:
            with pytest.raises(ClientError) as e:
                s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                               PartNumber=n, Body=body, **_ssec(KEY_B))
            assert_client_error(e, 403, "AccessDenied")
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n,
                           Body=body, **_ssec(KEY_A))
        assert r["ETag"] != f'"{md5_hex(body)}"'
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": done})
    whole = b"".join(parts)
    got = s3.get_object(Bucket=bucket, Key="mp", **_ssec(KEY_A))
    assert got["Body"].read() == whole
    a, b = 5 * MIB - 7, 5 * MIB + BLOCK + 3
    got = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={a}-{b}", **_ssec(KEY_A))
    assert got["Body"].read() == whole[a:b + 1]

    src = {"Bucket": bucket, "Key": "mp"}
    # SSE-C → SSE-C under another key (a key rotation, done by the client).
    r = s3.copy_object(Bucket=bucket, Key="rekeyed", CopySource=src,
                       **_ssec(KEY_A, "CopySource"), **_ssec(KEY_B))
    assert r["SSECustomerAlgorithm"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="rekeyed", **_ssec(KEY_B))["Body"].read() == whole
    # SSE-C → SSE-S3, and → plain.
    s3.copy_object(Bucket=bucket, Key="s3", CopySource=src, ServerSideEncryption="AES256",
                   **_ssec(KEY_A, "CopySource"))
    assert s3.get_object(Bucket=bucket, Key="s3")["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="s3")["Body"].read() == whole
    s3.copy_object(Bucket=bucket, Key="plain", CopySource=src, **_ssec(KEY_A, "CopySource"))
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == whole
    # The source's key is needed, and must be right.
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="nope", CopySource=src)
    assert_client_error(e, 400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="nope", CopySource=src, **_ssec(KEY_B, "CopySource"))
    assert_client_error(e, 403, "AccessDenied")
    # plain → SSE-C, and UploadPartCopy from SSE-C into an SSE-C upload.
    s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "plain"},
                   **_ssec(KEY_B))
    assert s3.get_object(Bucket=bucket, Key="c2", **_ssec(KEY_B))["Body"].read() == whole
    up = s3.create_multipart_upload(Bucket=bucket, Key="upc", **_ssec(KEY_B))
    p = s3.upload_part_copy(Bucket=bucket, Key="upc", UploadId=up["UploadId"], PartNumber=1,
                            CopySource=src, CopySourceRange=f"bytes=10-{BLOCK * 3}",
                            **_ssec(KEY_A, "CopySource"), **_ssec(KEY_B))
    s3.complete_multipart_upload(Bucket=bucket, Key="upc", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [
                                     {"PartNumber": 1, "ETag": p["CopyPartResult"]["ETag"]}]})
    got = s3.get_object(Bucket=bucket, Key="upc", **_ssec(KEY_B))
    assert got["Body"].read() == whole[10:BLOCK * 3 + 1]


def test_sse_c_presigned_get(tls_server, tls_bucket):
    import base64
    import hashlib
    import ssl
    import urllib.request
    from botocore.config import Config
    s3, bucket = tls_bucket
    body = random_bytes(100 * KIB)
    s3.put_object(Bucket=bucket, Key="p", Body=body, **_ssec(KEY_A))
    # SigV4: the key's headers, sent with the URL, are not part of what
    # was signed (SigV2 signs every x-amz-* header a request has).
    s3 = tls_server.client(config=Config(signature_version="s3v4",
                                         s3={"addressing_style": "path"}))
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "p", "SSECustomerAlgorithm": "AES256"}, ExpiresIn=300)
    assert url.startswith("https://127.0.0.1:") or url.startswith("https://localhost:")
    headers = {
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
        "x-amz-server-side-encryption-customer-key": base64.b64encode(KEY_A).decode(),
        "x-amz-server-side-encryption-customer-key-MD5":
            base64.b64encode(hashlib.md5(KEY_A).digest()).decode(),
    }
    ctx = ssl.create_default_context(cafile=tls_server.cafile)
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            assert r.read() == body
    except urllib.error.HTTPError as e:
        raise AssertionError((url, e.read())) from e


def test_aws_cli_sse_c(tls_server, tmp_path):
    name = "cli-ssec-bucket"
    server = tls_server
    server.aws("s3", "mb", f"s3://{name}")
    src = tmp_path / "f.bin"
    body = random_bytes(9 * MIB + 3)
    src.write_bytes(body)
    key_file = tmp_path / "key.bin"
    key_file.write_bytes(KEY_A)
    server.aws("s3", "cp", str(src), f"s3://{name}/f.bin", "--sse-c", "AES256",
               "--sse-c-key", f"fileb://{key_file}")
    out = tmp_path / "out.bin"
    server.aws("s3", "cp", f"s3://{name}/f.bin", str(out), "--sse-c", "AES256",
               "--sse-c-key", f"fileb://{key_file}")
    assert out.read_bytes() == body
    head = server.aws_json("s3api", "head-object", "--bucket", name, "--key", "f.bin",
                           "--sse-customer-algorithm", "AES256",
                           "--sse-customer-key", f"fileb://{key_file}")
    assert head["SSECustomerAlgorithm"] == "AES256"


@pytest.mark.skipif(RCLONE is None, reason="rclone not installed")
def test_rclone_sse_c(tls_server, tmp_path):
    import base64
    import hashlib
    rclone = rclone_for(
        tls_server, tmp_path / "rclone-home", sse_customer_algorithm="AES256",
        sse_customer_key_base64=base64.b64encode(KEY_A).decode(),
        sse_customer_key_md5=base64.b64encode(hashlib.md5(KEY_A).digest()).decode())
    files = rclone_round_trip(rclone, tmp_path, "rclone-ssec", [1500, 3 * MIB + 7])
    # Without the key, boto3 is refused the data.
    s3 = tls_server.client()
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="rclone-ssec", Key="f1.bin")
    assert_client_error(e, 400, "InvalidRequest")
    got = s3.get_object(Bucket="rclone-ssec", Key="f1.bin", **_ssec(KEY_A))
    assert got["Body"].read() == files["f1.bin"]
