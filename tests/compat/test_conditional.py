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
