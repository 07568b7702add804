"""Authentication: bad signatures, unknown keys, anonymous and presigned."""

import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import (assert_client_error, fetch_url, random_bytes,
                      raw_request)


def test_wrong_secret_is_signature_does_not_match(server, s3, bucket):
    bad = server.client(secret_key=server.secret_key[::-1] + "x")
    with pytest.raises(ClientError) as exc:
        bad.list_buckets()
    assert_client_error(exc, 403, "SignatureDoesNotMatch")

    with pytest.raises(ClientError) as exc:
        bad.put_object(Bucket=bucket, Key="forged", Body=b"evil")
    assert_client_error(exc, 403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="forged")
    assert_client_error(exc, 404)


def test_unknown_access_key(server, bucket):
    stranger = server.client(access_key="AKSHNOSUCHKEY0000000",
                             secret_key="x" * 40)
    with pytest.raises(ClientError) as exc:
        stranger.list_buckets()
    assert_client_error(exc, 403, "InvalidAccessKeyId")
    with pytest.raises(ClientError) as exc:
        stranger.get_object(Bucket=bucket, Key="anything")
    assert_client_error(exc, 403, "InvalidAccessKeyId")


def test_unsigned_requests_are_denied(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"top secret")
    for method, path in (("GET", "/"), ("GET", f"/{bucket}"),
                         ("GET", f"/{bucket}/secret"),
                         ("PUT", f"/{bucket}/anon")):
        status, _, body = raw_request(server.endpoint, method, path,
                                      body=b"x" if method == "PUT" else None,
                                      cafile=server.cafile)
        assert status == 403, (method, path, status, body)
        assert b"<Code>AccessDenied</Code>" in body, body
        assert b"top secret" not in body
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="anon")
    assert_client_error(exc, 404)


def test_presigned_get(server, s3, bucket):
    body = random_bytes(300_000)
    s3.put_object(Bucket=bucket, Key="shared file.bin", Body=body)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared file.bin"},
        ExpiresIn=600)
    assert urllib.parse.urlsplit(url).hostname == "127.0.0.1"
    status, headers, data = fetch_url(url, cafile=server.cafile)
    assert status == 200
    assert data == body

    # Any change to the signed URL invalidates it.
    tampered = url.replace("shared%20file.bin", "other.bin")
    assert tampered != url
    status, _, data = fetch_url(tampered, cafile=server.cafile)
    assert status == 403, data
    assert b"SignatureDoesNotMatch" in data


def test_presigned_url_with_wrong_key_is_refused(server, bucket):
    bad = server.client(secret_key="y" * 40)
    url = bad.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=600)
    status, _, data = fetch_url(url, cafile=server.cafile)
    assert status == 403, data


def test_presigned_put(server, s3, bucket):
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded"},
        ExpiresIn=600)
    body = random_bytes(100_000)
    status, _, data = fetch_url(url, method="PUT", body=body,
                                cafile=server.cafile)
    assert status == 200, data
    assert s3.get_object(Bucket=bucket, Key="uploaded")["Body"].read() == body
