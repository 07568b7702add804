"""Presigned URLs (SigV4 query authentication) made by boto3 and used with
plain HTTP: every method, expiry (X-Amz-Expires), the one-week limit, and
tampering.

boto3 presigns with SigV2 by default when given an endpoint URL (botocore's
`_default_s3_presign_to_sigv2`); these tests ask for SigV4 (`s3v4`), and
test_sigv2.py covers the default."""

import datetime
import time
import urllib.parse

import botocore.auth
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (assert_client_error, assert_s3_error, fetch_url,
                      random_bytes)

WEEK = 604800
V4 = Config(signature_version="s3v4", s3={"addressing_style": "path"})


@pytest.fixture(scope="module")
def s3(server):
    """A client that presigns with SigV4."""
    return server.client(config=V4)


def presign(s3, method, bucket, key, expires=600, **params):
    return s3.generate_presigned_url(
        method, Params={"Bucket": bucket, "Key": key, **params},
        ExpiresIn=expires)


def test_presigned_put_get_head_delete(server, s3, bucket):
    body = random_bytes(200_000)
    url = presign(s3, "put_object", bucket, "dir/some file+é.bin")
    assert "X-Amz-Signature=" in url
    status, headers, data = fetch_url(url, "PUT", body=body)
    assert status == 200, data
    assert headers["etag"].strip('"') == s3.head_object(
        Bucket=bucket, Key="dir/some file+é.bin")["ETag"].strip('"')

    status, headers, data = fetch_url(
        presign(s3, "get_object", bucket, "dir/some file+é.bin"))
    assert (status, data) == (200, body)
    assert headers["x-amz-request-id"]

    status, headers, data = fetch_url(
        presign(s3, "head_object", bucket, "dir/some file+é.bin"), "HEAD")
    assert status == 200
    assert int(headers["content-length"]) == len(body)
    assert data == b""

    status, headers, data = fetch_url(
        presign(s3, "delete_object", bucket, "dir/some file+é.bin"), "DELETE")
    assert status == 204, data
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="dir/some file+é.bin")
    assert_client_error(exc, 404)

    # Errors of presigned requests are S3 errors; HEAD's have no body.
    assert_s3_error(fetch_url(presign(s3, "get_object", bucket,
                                      "dir/some file+é.bin")),
                    404, "NoSuchKey")
    assert_s3_error(fetch_url(presign(s3, "head_object", bucket,
                                      "dir/some file+é.bin"), "HEAD"),
                    404, "NoSuchKey", method="HEAD")


def test_presigned_url_expires(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"short-lived")
    url = presign(s3, "get_object", bucket, "k", expires=2)
    status, _, data = fetch_url(url)
    assert (status, data) == (200, b"short-lived")
    deadline = time.monotonic() + 30
    while True:
        response = fetch_url(url)
        if response[0] != 200:
            break
        assert time.monotonic() < deadline, "the URL never expired"
        time.sleep(0.2)
    assert_s3_error(response, 403, "AccessDenied",
                    message="Request has expired")


def presign_at(monkeypatch, offset, *args, **kwargs):
    """A presigned URL made as if botocore's clock said `now + offset`."""
    real = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda: real + offset)
    try:
        return presign(*args, **kwargs)
    finally:
        monkeypatch.undo()


def test_presigned_url_signed_in_the_past(server, s3, bucket, monkeypatch):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    ago = datetime.timedelta(hours=-2)
    # Signed two hours ago for one hour: expired, for all methods.
    for method, op in (("GET", "get_object"), ("PUT", "put_object"),
                       ("DELETE", "delete_object")):
        url = presign_at(monkeypatch, ago, s3, op, bucket, "k", expires=3600)
        response = fetch_url(url, method,
                             body=b"x" if method == "PUT" else None)
        assert_s3_error(response, 403, "AccessDenied",
                        message="Request has expired")
    url = presign_at(monkeypatch, ago, s3, "head_object", bucket, "k",
                     expires=3600)
    assert_s3_error(fetch_url(url, "HEAD"), 403, "AccessDenied",
                    method="HEAD")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"
    # Signed two hours ago for three: still good (the age alone is no error).
    url = presign_at(monkeypatch, ago, s3, "get_object", bucket, "k",
                     expires=3 * 3600)
    status, _, data = fetch_url(url)
    assert (status, data) == (200, b"old")


def test_presigned_url_from_the_future_is_refused(server, s3, bucket,
                                                  monkeypatch):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = presign_at(monkeypatch, datetime.timedelta(hours=1), s3,
                     "get_object", bucket, "k")
    assert_s3_error(fetch_url(url), 403, "AccessDenied",
                    message="Request is not yet valid")


def test_presigned_url_at_most_a_week(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"weekly")
    status, _, data = fetch_url(presign(s3, "get_object", bucket, "k",
                                        expires=WEEK))
    assert (status, data) == (200, b"weekly")
    for expires in (WEEK + 1, 10 * WEEK):
        url = presign(s3, "get_object", bucket, "k", expires=expires)
        assert f"X-Amz-Expires={expires}" in url
        assert_s3_error(
            fetch_url(url), 400, "AuthorizationQueryParametersError",
            message="X-Amz-Expires must be less than a week (in seconds) "
                    "that is 604800 seconds")
    # An incomplete presigned URL is refused the same way.
    url = presign(s3, "get_object", bucket, "k")
    partial = "&".join(p for p in url.split("&")
                       if not p.startswith("X-Amz-Date="))
    assert_s3_error(fetch_url(partial), 400,
                    "AuthorizationQueryParametersError")


def test_tampered_presigned_urls(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"keep me")
    s3.put_object(Bucket=bucket, Key="other", Body=b"other")
    get = presign(s3, "get_object", bucket, "k")
    tampered = {
        "other key": get.replace(f"/{bucket}/k?", f"/{bucket}/other?"),
        "longer expiry": get.replace("X-Amz-Expires=600",
                                     "X-Amz-Expires=601"),
        "added parameter": get + "&response-content-type=text%2Fhtml",
        "changed signature": get[:-1] + ("0" if get[-1] != "0" else "1"),
    }
    for what, url in tampered.items():
        assert url != get, what
        assert_s3_error(fetch_url(url), 403, "SignatureDoesNotMatch")
    # A URL signed for GET does not allow DELETE or PUT.
    assert_s3_error(fetch_url(get, "DELETE"), 403, "SignatureDoesNotMatch")
    assert_s3_error(fetch_url(get, "PUT", body=b"evil"), 403,
                    "SignatureDoesNotMatch")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"keep me"
    # A URL signed with another secret or key.
    bad = server.client(secret_key="z" * 40, config=V4)
    assert_s3_error(fetch_url(presign(bad, "get_object", bucket, "k")), 403,
                    "SignatureDoesNotMatch")
    stranger = server.client(access_key="AKSHNOSUCHKEY0000000",
                             secret_key="z" * 40, config=V4)
    assert_s3_error(fetch_url(presign(stranger, "get_object", bucket, "k")),
                    403, "InvalidAccessKeyId")


def test_presigned_url_keeps_response_overrides(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    url = presign(s3, "get_object", bucket, "k",
                  ResponseContentType="text/plain",
                  ResponseContentDisposition='attachment; filename="a.txt"')
    status, headers, data = fetch_url(url)
    assert (status, data) == (200, b"data")
    assert headers["content-type"] == "text/plain"
    assert headers["content-disposition"] == 'attachment; filename="a.txt"'
    assert urllib.parse.urlsplit(url).hostname == "127.0.0.1"
