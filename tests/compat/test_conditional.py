"""Conditional reads and writes: If-Match, If-None-Match, If-Modified-Since,
If-Unmodified-Since on GET/HEAD (412 / 304 as S3), and If-None-Match: * on PUT."""

import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import assert_client_error, md5_hex


@pytest.mark.parametrize("size", [10, 200 * 1024], ids=["inline", "coded"])
def test_conditional_get_and_head(s3, bucket, size):
    body = b"x" * size
    etag = s3.put_object(Bucket=bucket, Key="c", Body=body)["ETag"]
    assert etag == f'"{md5_hex(body)}"'
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)

    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == body
    s3.head_object(Bucket=bucket, Key="c", IfNoneMatch='"other"', IfUnmodifiedSince=future)

    for call in (s3.get_object, s3.head_object):
        with pytest.raises(ClientError) as exc:
            call(Bucket=bucket, Key="c", IfMatch='"not-the-etag"')
        assert_client_error(exc, 412)
        with pytest.raises(ClientError) as exc:
            call(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
        assert_client_error(exc, 412)
        with pytest.raises(ClientError) as exc:
            call(Bucket=bucket, Key="c", IfNoneMatch=etag)
        assert_client_error(exc, 304)
        with pytest.raises(ClientError) as exc:
            call(Bucket=bucket, Key="c", IfModifiedSince=future)
        assert_client_error(exc, 304)


def test_put_if_none_match_star(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert_client_error(exc, 412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


@pytest.mark.parametrize("size", [10, 200 * 1024], ids=["inline", "coded"])
def test_put_if_match(s3, bucket, size):
    body = b"v" * size
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="cas", Body=body, IfMatch='"abc"')
    # S3: If-Match on a key that does not exist is 404 NoSuchKey.
    assert_client_error(exc, 404, "NoSuchKey")
    first = s3.put_object(Bucket=bucket, Key="cas", Body=body)["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="cas", Body=b"x", IfMatch='"0123"')
    assert_client_error(exc, 412, "PreconditionFailed")
    second = s3.put_object(Bucket=bucket, Key="cas", Body=body + b"2",
                           IfMatch=first)["ETag"]
    assert second == f'"{md5_hex(body + b"2")}"'
    # The ETag it matched is gone now: a second writer with it loses.
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="cas", Body=b"late", IfMatch=first)
    assert_client_error(exc, 412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == body + b"2"


def test_racing_conditional_puts_have_one_winner(s3, bucket):
    from concurrent.futures import ThreadPoolExecutor

    def put(i, **kw):
        try:
            s3.put_object(Bucket=bucket, Key="race", Body=f"w{i}".encode(), **kw)
            return i
        except ClientError as e:
            assert e.response["Error"]["Code"] == "PreconditionFailed"
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        wins = [w for w in pool.map(lambda i: put(i, IfNoneMatch="*"), range(8))
                if w is not None]
    assert len(wins) == 1
    assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == f"w{wins[0]}".encode()
    base = s3.head_object(Bucket=bucket, Key="race")["ETag"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        wins = [w for w in pool.map(lambda i: put(i + 10, IfMatch=base), range(8))
                if w is not None]
    assert len(wins) == 1


def _upload(s3, bucket, key, body):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1,
                          Body=body)["ETag"]
    return up, {"Parts": [{"PartNumber": 1, "ETag": etag}]}


def test_complete_multipart_conditions(s3, bucket):
    up, parts = _upload(s3, bucket, "mpu", b"one")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=up,
                                     MultipartUpload=parts, IfMatch='"abc"')
    assert_client_error(exc, 404, "NoSuchKey")
    s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=up,
                                 MultipartUpload=parts, IfNoneMatch="*")
    etag = s3.head_object(Bucket=bucket, Key="mpu")["ETag"]

    up2, parts2 = _upload(s3, bucket, "mpu", b"two")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=up2,
                                     MultipartUpload=parts2, IfNoneMatch="*")
    assert_client_error(exc, 412, "PreconditionFailed")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=up2,
                                     MultipartUpload=parts2, IfMatch='"0123"')
    assert_client_error(exc, 412, "PreconditionFailed")
    # The failed completions left the upload as it was.
    s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=up2,
                                 MultipartUpload=parts2, IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="mpu")["Body"].read() == b"two"


def test_cli_put_object_conditions(server, bucket, tmp_path):
    f = tmp_path / "b"
    f.write_bytes(b"cli")
    server.aws("s3api", "put-object", "--bucket", bucket, "--key", "c",
               "--body", f, "--if-none-match", "*")
    again = server.aws("s3api", "put-object", "--bucket", bucket, "--key", "c",
                       "--body", f, "--if-none-match", "*", check=False)
    assert again.returncode != 0 and "PreconditionFailed" in again.stderr
