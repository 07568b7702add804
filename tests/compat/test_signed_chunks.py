"""aws-chunked bodies with signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD).

SDKs that sign every chunk (the Java and Go SDKs over plain HTTP, s3cmd-like
tools) send this framing: each chunk carries a signature chained from the
seed signature of the request. The gateway must check every one of them, and
store only the decoded bytes.
"""

import datetime
import hashlib
import hmac

import pytest
from botocore.exceptions import ClientError

from conftest import (KIB, assert_client_error, md5_hex, random_bytes,
                      raw_request)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret, date, region="us-east-1", service="s3"):
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def chunk_frames(key, amz_date, scope, seed, data, chunk_size, corrupt_at=None):
    """Frames `data` as signed aws-chunked; `corrupt_at` spoils one signature."""
    out = bytearray()
    previous = seed
    pieces = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]
    for n, chunk in enumerate(pieces + [b""]):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope,
                             previous, EMPTY_SHA256,
                             hashlib.sha256(chunk).hexdigest()])
        sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        sent = sig if n != corrupt_at else ("0" if sig[0] != "0" else "1") + sig[1:]
        out += f"{len(chunk):x};chunk-signature={sent}\r\n".encode()
        out += chunk + b"\r\n"
        previous = sig
    return bytes(out)


def signed_chunked_put(server, bucket, obj, data, chunk_size=64 * KIB,
                       corrupt_at=None, content_encoding="aws-chunked"):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    scope = f"{date}/us-east-1/s3/aws4_request"
    key = signing_key(server.secret_key, date)
    host = server.endpoint.split("://", 1)[1]
    framed_len = len(chunk_frames(key, amz_date, scope, "0" * 64, data,
                                  chunk_size))
    headers = {
        "host": host,
        "content-encoding": content_encoding,
        "content-length": str(framed_len),
        "x-amz-content-sha256": STREAMING,
        "x-amz-date": amz_date,
        "x-amz-decoded-content-length": str(len(data)),
    }
    signed = sorted(headers)
    canonical = "\n".join([
        "PUT", f"/{bucket}/{obj}", "",
        "".join(f"{h}:{headers[h]}\n" for h in signed),
        ";".join(signed), STREAMING])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    seed = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    body = chunk_frames(key, amz_date, scope, seed, data, chunk_size,
                        corrupt_at)
    assert len(body) == framed_len
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={server.access_key}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={seed}")
    return raw_request(server.endpoint, "PUT", f"/{bucket}/{obj}",
                       headers=headers, body=body)


@pytest.mark.parametrize("size", [0, 1000, 5 * 1024 * KIB + 3],
                         ids=["empty", "inline", "coded"])
def test_signed_chunks_are_decoded(server, s3, bucket, size):
    data = random_bytes(size)
    status, headers, body = signed_chunked_put(server, bucket, "obj", data)
    assert status == 200, body
    assert headers["etag"] == f'"{md5_hex(data)}"'
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["ContentLength"] == size
    assert got["Body"].read() == data
    assert "aws-chunked" not in got.get("ContentEncoding", "")


@pytest.mark.parametrize("encoding,stored", [
    ("gzip,aws-chunked", "gzip"), ("aws-chunked,br", "br"),
    ("aws-chunked", None)])
def test_aws_chunked_is_stripped_from_content_encoding(server, s3, bucket,
                                                       encoding, stored):
    # S3 treats aws-chunked as framing only: it stores the other codings and
    # answers the decoded length.
    data = random_bytes(200 * KIB + 5)
    status, _, body = signed_chunked_put(server, bucket, "enc", data,
                                         content_encoding=encoding)
    assert status == 200, body
    for got in (s3.head_object(Bucket=bucket, Key="enc"),
                s3.get_object(Bucket=bucket, Key="enc")):
        assert got["ContentLength"] == len(data)
        assert got.get("ContentEncoding") == stored
    assert s3.get_object(Bucket=bucket, Key="enc")["Body"].read() == data


@pytest.mark.parametrize("corrupt_at", [0, 2, 5], ids=["first", "middle", "final"])
def test_a_bad_chunk_signature_is_rejected(server, s3, bucket, corrupt_at):
    # 5 data chunks of 64 KiB + the final empty one (index 5).
    data = random_bytes(320 * KIB)
    status, _, body = signed_chunked_put(server, bucket, "bad", data,
                                         corrupt_at=corrupt_at)
    assert status == 403, body
    assert b"<Code>SignatureDoesNotMatch</Code>" in body, body
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="bad")
    assert_client_error(exc, 404)
