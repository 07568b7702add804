"""Single objects with boto3: bodies, ETags, metadata, deletion."""

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from conftest import (KIB, LOOPBACK, MIB, assert_client_error, file_sha256,
                      http_status, md5_hex, parse_error, random_bytes,
                      sha256_hex, sigv4_headers)

SIZES = {"0B": 0, "1B": 1, "64KiB-1": 64 * KIB - 1, "64KiB": 64 * KIB,
         "1MiB": MIB}


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_put_get_round_trip(s3, bucket, size):
    body = random_bytes(size)
    put = s3.put_object(Bucket=bucket, Key="obj", Body=body)
    assert put["ETag"] == f'"{md5_hex(body)}"'

    got = s3.get_object(Bucket=bucket, Key="obj")
    data = got["Body"].read()
    assert len(data) == size
    assert sha256_hex(data) == sha256_hex(body)
    assert got["ContentLength"] == size
    assert got["ETag"] == put["ETag"]

    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["ContentLength"] == size
    assert head["ETag"] == put["ETag"]
    assert head["LastModified"] is not None


@pytest.mark.slow
def test_put_get_100mib(s3, bucket, big_data, big_file):
    put = s3.put_object(Bucket=bucket, Key="big", Body=big_data)
    assert put["ETag"] == f'"{big_file.md5}"'
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["ContentLength"] == big_file.size
    assert sha256_hex(got["Body"].read()) == big_file.sha256


def test_overwrite_replaces_body(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=random_bytes(2 * MIB))
    second = b"short now"
    s3.put_object(Bucket=bucket, Key="k", Body=second)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == second


def test_keys_with_odd_characters(s3, bucket):
    keys = ["dir/sub dir/file name.txt", "ünïcødé/ключ/鍵", "a+b=c&d?e#f",
            "trailing/", "%2F-literal-percent", "x" * 1024]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())
    for i, key in enumerate(keys):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == \
            str(i).encode()
    listed = [o["Key"] for o in
              s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())


@pytest.mark.slow
def test_upload_file_download_file_multipart(s3, bucket, big_file, tmp_path):
    # The managed transfer switches to multipart above 8 MiB.
    s3.upload_file(str(big_file.path), bucket, "managed")
    head = s3.head_object(Bucket=bucket, Key="managed")
    assert head["ContentLength"] == big_file.size
    etag = head["ETag"].strip('"')
    assert "-" in etag and int(etag.rsplit("-", 1)[1]) > 1, etag

    out = tmp_path / "down.bin"
    s3.download_file(bucket, "managed", str(out))
    assert out.stat().st_size == big_file.size
    assert file_sha256(out) == big_file.sha256


def test_upload_file_download_file_small(s3, bucket, tmp_path):
    src = tmp_path / "small.bin"
    body = random_bytes(MIB + 3)
    src.write_bytes(body)
    s3.upload_file(str(src), bucket, "small")
    assert s3.head_object(Bucket=bucket, Key="small")["ETag"] == \
        f'"{md5_hex(body)}"'
    out = tmp_path / "small.out"
    s3.download_file(bucket, "small", str(out))
    assert out.read_bytes() == body


def test_download_file_with_ranged_parallel_gets(s3, bucket, tmp_path):
    # download_file of a big object issues concurrent ranged GETs.
    body = random_bytes(12 * MIB + 5)
    s3.put_object(Bucket=bucket, Key="ranged", Body=body)
    out = tmp_path / "ranged.bin"
    s3.download_file(bucket, "ranged", str(out), Config=TransferConfig(
        multipart_threshold=MIB, multipart_chunksize=MIB))
    assert sha256_hex(out.read_bytes()) == sha256_hex(body)


METADATA = dict(
    ContentType="application/x-shale-test",
    Metadata={"a": "1", "b": "two"},
    CacheControl="max-age=3600, must-revalidate",
    ContentDisposition='attachment; filename="report.txt"',
    ContentEncoding="gzip",
    ContentLanguage="en-US",
)


def assert_metadata(resp):
    for field, value in METADATA.items():
        assert resp.get(field) == value, (field, resp.get(field))
    assert "aws-chunked" not in resp.get("ContentEncoding", "")


@pytest.mark.parametrize("size", [100, 2 * MIB], ids=["inline", "coded"])
def test_metadata_round_trip(s3, bucket, size):
    body = random_bytes(size)
    s3.put_object(Bucket=bucket, Key="meta", Body=body, **METADATA)
    assert_metadata(s3.head_object(Bucket=bucket, Key="meta"))
    got = s3.get_object(Bucket=bucket, Key="meta")
    assert_metadata(got)
    assert got["Body"].read() == body


def test_default_content_type(s3, bucket):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    head = s3.head_object(Bucket=bucket, Key="plain")
    assert head["ContentType"] in ("binary/octet-stream",
                                   "application/octet-stream")
    assert head.get("Metadata") == {}


def test_copy_object_keeps_body_and_metadata(s3, bucket):
    body = random_bytes(300 * KIB)
    s3.put_object(Bucket=bucket, Key="src", Body=body, **METADATA)
    s3.copy_object(Bucket=bucket, Key="dst",
                   CopySource={"Bucket": bucket, "Key": "src"})
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == body
    assert got["Metadata"] == METADATA["Metadata"]
    assert got["ContentType"] == METADATA["ContentType"]


def test_delete_object_then_get_is_no_such_key(s3, bucket):
    s3.put_object(Bucket=bucket, Key="gone", Body=random_bytes(200 * KIB))
    assert http_status(s3.delete_object(Bucket=bucket, Key="gone")) == 204
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="gone")
    assert_client_error(exc, 404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="gone")
    assert_client_error(exc, 404)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_get_missing_key_is_no_such_key(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="never-written")
    assert_client_error(exc, 404, "NoSuchKey")


def test_delete_missing_key_succeeds(s3, bucket):
    # S3 deletes are idempotent: deleting a missing key is a 204.
    assert http_status(s3.delete_object(Bucket=bucket, Key="nope")) == 204


def test_delete_objects_reports_every_key(s3, bucket):
    keys = [f"batch/{i}" for i in range(5)]
    for i, key in enumerate(keys):
        size = 100 if i % 2 else 100 * KIB  # inline and erasure-coded
        s3.put_object(Bucket=bucket, Key=key, Body=random_bytes(size))
    s3.put_object(Bucket=bucket, Key="survivor", Body=b"stay")

    resp = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": k} for k in keys], "Quiet": False})
    assert sorted(d["Key"] for d in resp.get("Deleted", [])) == sorted(keys)
    assert not resp.get("Errors")

    listed = [o["Key"] for o in
              s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert listed == ["survivor"]
    for key in keys:
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key=key)
        assert_client_error(exc, 404, "NoSuchKey")


def test_an_empty_put_leaves_the_connection_usable(server, bucket):
    # boto3 sends `Expect: 100-continue` on every PutObject. An empty body
    # used to get its answer without a `100 Continue` first, after which
    # botocore's next request on that connection hung until its read timeout.
    # botocore re-sends after the timeout, so the hang shows only as time:
    # this bounds a stall (each would take the full 10 s), not a speed.
    import time
    from botocore.config import Config
    s3 = server.client(config=Config(retries={"max_attempts": 1},
                                     read_timeout=10))
    started = time.monotonic()
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"empty-{i}", Body=b"")
        s3.put_object(Bucket=bucket, Key=f"one-{i}", Body=b"x")
        assert s3.get_object(Bucket=bucket, Key=f"one-{i}")["Body"].read() == b"x"
    assert time.monotonic() - started < 9, "a request stalled until its read timeout"


# --------------------------------------------------------------------------
# S3's size limits: user metadata (2 KiB) and one PUT's body (5 GiB).
# --------------------------------------------------------------------------

METADATA_TOO_LARGE = \
    "Your metadata headers exceed the maximum allowed metadata size."


def test_metadata_over_2_kib_is_metadata_too_large(s3, bucket):
    # S3 counts the UTF-8 bytes of every key (without x-amz-meta-) and
    # value: 2048 is allowed, one more is not.
    at_limit = {"a": "x" * 1000, "b": "y" * 1046}
    over = {"a": "x" * 1000, "b": "y" * 1047}
    s3.put_object(Bucket=bucket, Key="ok", Body=b"x", Metadata=at_limit)
    assert s3.head_object(Bucket=bucket, Key="ok")["Metadata"] == at_limit
    calls = {
        "put": lambda: s3.put_object(Bucket=bucket, Key="big", Body=b"x",
                                     Metadata=over),
        "copy": lambda: s3.copy_object(
            Bucket=bucket, Key="big", CopySource={"Bucket": bucket, "Key": "ok"},
            MetadataDirective="REPLACE", Metadata=over),
        "create upload": lambda: s3.create_multipart_upload(
            Bucket=bucket, Key="big", Metadata=over),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as exc:
            call()
        assert_client_error(exc, 400, "MetadataTooLarge")
        assert exc.value.response["Error"]["Message"] == METADATA_TOO_LARGE, name
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="big")
    assert_client_error(exc, 404)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    # A copy that keeps the source's metadata is fine.
    s3.copy_object(Bucket=bucket, Key="copy",
                   CopySource={"Bucket": bucket, "Key": "ok"})


def _send_headers_only(server, method, path, length):
    """Sends a signed request's headers announcing a body of `length`
    bytes with `Expect: 100-continue`, never the body; returns everything
    the server sent until it closed the connection or went quiet."""
    import socket
    headers = sigv4_headers(server, method, path)
    headers.update({"Host": f"{LOOPBACK}:{server.port}",
                    "Content-Length": str(length),
                    "Expect": "100-continue"})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    received = b""
    with socket.create_connection((LOOPBACK, server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        try:
            while chunk := sock.recv(65536):
                received += chunk
                sock.settimeout(1)  # the rest follows at once, if any
        except socket.timeout:
            pass
    return received


@pytest.mark.parametrize("operation", ["PutObject", "UploadPart"])
def test_over_5_gib_is_refused_before_the_body(server, s3, bucket, operation):
    # S3 decides from Content-Length: a client that waits for
    # `100 Continue` gets the 400 instead and never sends 5 GiB.
    path = f"/{bucket}/huge"
    if operation == "UploadPart":
        uid = s3.create_multipart_upload(Bucket=bucket, Key="huge")["UploadId"]
        path += f"?partNumber=1&uploadId={uid}"
    got = _send_headers_only(server, "PUT", path, 5 * 1024**3 + 1)
    assert not got.startswith(b"HTTP/1.1 100"), got
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), got
    fields = parse_error(body)
    assert fields["Code"] == "EntityTooLarge", body
    assert fields["Message"] == \
        "Your proposed upload exceeds the maximum allowed size", body
    assert fields["ProposedSize"] == str(5 * 1024**3 + 1), body
    assert fields["MaxSizeAllowed"] == str(5 * 1024**3), body
    assert fields["RequestId"], body
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="huge")
    assert_client_error(exc, 404)
    # Exactly 5 GiB is allowed: the server asks for the body.
    got = _send_headers_only(server, "PUT", f"/{bucket}/five", 5 * 1024**3)
    assert got.startswith(b"HTTP/1.1 100"), got
