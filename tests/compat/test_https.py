"""HTTPS: boto3 streams aws-chunked bodies with an unsigned CRC32 trailer.

Over TLS boto3 (default settings) sends PutObject/UploadPart bodies as
`Content-Encoding: aws-chunked`, `Transfer-Encoding: chunked`,
`x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER` and an
`x-amz-checksum-crc32` trailer, without Content-Length. The raw tests below
build that framing by hand to check the trailer is verified.
"""

import base64
import io
import zlib

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import (KIB, MIB, assert_client_error, file_sha256,
                      http_status, md5_hex, random_bytes, raw_request, sha256_hex,
                      unique_bucket_name)
from test_objects import METADATA, assert_metadata


@pytest.fixture
def tls_bucket(tls_server, request):
    client = tls_server.client()
    name = unique_bucket_name(request.node.name)
    client.create_bucket(Bucket=name)
    return client, name


SIZES = {"0B": 0, "1MiB": MIB, "20MiB": 20 * MIB}


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_put_get_over_https(tls_bucket, size):
    s3, bucket = tls_bucket
    body = random_bytes(size)
    put = s3.put_object(Bucket=bucket, Key="obj", Body=body)
    assert put["ETag"] == f'"{md5_hex(body)}"'
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["ContentLength"] == size
    assert "aws-chunked" not in head.get("ContentEncoding", "")
    got = s3.get_object(Bucket=bucket, Key="obj")["Body"].read()
    assert sha256_hex(got) == sha256_hex(body)


class NonSeekable(io.RawIOBase):
    """A stream of unknown length: boto3 cannot compute a Content-Length."""

    def __init__(self, data):
        self._buf = io.BytesIO(data)

    def readable(self):
        return True

    def read(self, n=-1):
        return self._buf.read(n)


def test_put_non_seekable_stream_with_content_length(tls_bucket):
    # boto3 sends Transfer-Encoding: chunked and x-amz-decoded-content-length,
    # no Content-Length at all.
    s3, bucket = tls_bucket
    body = random_bytes(3 * MIB + 17)
    s3.put_object(Bucket=bucket, Key="stream", Body=NonSeekable(body),
                  ContentLength=len(body))
    got = s3.get_object(Bucket=bucket, Key="stream")
    assert got["ContentLength"] == len(body)
    assert got["Body"].read() == body


def test_put_stream_of_unknown_length_is_refused_or_exact(tls_bucket):
    # No length at all: S3 answers 411 MissingContentLength. Accepting it is
    # fine too, as long as the stored bytes are exact.
    s3, bucket = tls_bucket
    body = random_bytes(MIB + 5)
    try:
        s3.put_object(Bucket=bucket, Key="unknown", Body=NonSeekable(body))
    except ClientError as exc:
        assert 400 <= http_status(exc) < 500, exc.response
        with pytest.raises(ClientError) as missing:
            s3.head_object(Bucket=bucket, Key="unknown")
        assert_client_error(missing, 404)
    else:
        assert s3.get_object(Bucket=bucket, Key="unknown")["Body"].read() \
            == body


@pytest.mark.parametrize("size", [100, MIB], ids=["inline", "coded"])
def test_metadata_round_trip_over_https(tls_bucket, size):
    # boto3 sends "Content-Encoding: gzip,aws-chunked"; only gzip is stored.
    s3, bucket = tls_bucket
    body = random_bytes(size)
    s3.put_object(Bucket=bucket, Key="meta", Body=body, **METADATA)
    assert_metadata(s3.head_object(Bucket=bucket, Key="meta"))
    got = s3.get_object(Bucket=bucket, Key="meta")
    assert_metadata(got)
    assert got["Body"].read() == body


def test_managed_multipart_over_https(tls_bucket, tmp_path):
    s3, bucket = tls_bucket
    src = tmp_path / "20MiB.bin"
    src.write_bytes(random_bytes(20 * MIB))
    s3.upload_file(str(src), bucket, "managed")
    assert s3.head_object(Bucket=bucket, Key="managed")["ETag"].endswith('-3"')
    out = tmp_path / "out.bin"
    s3.download_file(bucket, "managed", str(out))
    assert file_sha256(out) == file_sha256(src)


@pytest.mark.slow
def test_aws_cli_cp_100mib_over_https(tls_server, big_file, tmp_path):
    bucket = unique_bucket_name("cli-tls")
    tls_server.aws("s3", "mb", f"s3://{bucket}")
    tls_server.aws("s3", "cp", big_file.path, f"s3://{bucket}/big")
    out = tmp_path / "big.out"
    tls_server.aws("s3", "cp", f"s3://{bucket}/big", out)
    assert file_sha256(out) == big_file.sha256


# -- hand-built aws-chunked requests ----------------------------------------


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def aws_chunked(data, chunk_size, trailer_value):
    out = bytearray()
    for i in range(0, len(data), chunk_size):
        chunk = data[i:i + chunk_size]
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    out += b"0\r\n"
    out += f"x-amz-checksum-crc32:{trailer_value}\r\n\r\n".encode()
    return bytes(out)


def send_chunked_put(server, bucket, key, data, trailer_value,
                     chunk_size=64 * KIB):
    body = aws_chunked(data, chunk_size, trailer_value)
    url = f"{server.endpoint}/{bucket}/{key}"
    request = AWSRequest(method="PUT", url=url, data=body, headers={
        "Content-Encoding": "aws-chunked",
        "Content-Length": str(len(body)),
        "X-Amz-Decoded-Content-Length": str(len(data)),
        "X-Amz-Trailer": "x-amz-checksum-crc32",
    })
    # Tell the signer the checksum travels in a trailer: it then signs
    # x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER.
    request.context["checksum"] = {"request_algorithm": {
        "in": "trailer", "algorithm": "crc32",
        "name": "x-amz-checksum-crc32"}}
    S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3",
                "us-east-1").add_auth(request)
    prepared = request.prepare()
    assert prepared.headers["X-Amz-Content-SHA256"] == \
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    return raw_request(server.endpoint, "PUT", f"/{bucket}/{key}",
                       headers=dict(prepared.headers.items()), body=body,
                       cafile=server.cafile)


@pytest.mark.parametrize("size", [1000, 300 * KIB], ids=["inline", "coded"])
def test_raw_chunked_put_with_correct_crc(tls_bucket, tls_server, size):
    s3, bucket = tls_bucket
    data = random_bytes(size)
    status, _, body = send_chunked_put(tls_server, bucket, "good", data,
                                       crc32_b64(data))
    assert status == 200, body
    got = s3.get_object(Bucket=bucket, Key="good")
    assert got["Body"].read() == data  # decoded: no chunk framing stored
    assert got["ContentLength"] == size
    assert got["ETag"] == f'"{md5_hex(data)}"'
    assert "aws-chunked" not in got.get("ContentEncoding", "")


@pytest.mark.parametrize("size", [1000, 300 * KIB], ids=["inline", "coded"])
def test_raw_chunked_put_with_wrong_crc_is_bad_digest(tls_bucket, tls_server,
                                                      size):
    s3, bucket = tls_bucket
    data = random_bytes(size)
    wrong = crc32_b64(data + b"!")
    assert wrong != crc32_b64(data)
    status, _, body = send_chunked_put(tls_server, bucket, "bad", data, wrong)
    assert status == 400, body
    assert (b"<Code>BadDigest</Code>" in body
            or b"<Code>XAmzContentChecksumMismatch</Code>" in body), body
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="bad")
    assert_client_error(exc, 404)


def test_wrong_crc_does_not_replace_existing_object(tls_bucket, tls_server):
    s3, bucket = tls_bucket
    s3.put_object(Bucket=bucket, Key="keep", Body=b"original")
    data = random_bytes(200 * KIB)
    status, _, body = send_chunked_put(tls_server, bucket, "keep", data,
                                       crc32_b64(b"not the data"))
    assert status == 400, body
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == \
        b"original"
