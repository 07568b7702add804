"""GET and HEAD with `partNumber`: one part of a multipart object as a
206 with its Content-Range and `x-amz-mp-parts-count`, the whole object as
part 1 of a single-part one, and S3's errors around them."""

import pytest
from botocore.exceptions import ClientError

from conftest import (MIB, assert_client_error, assert_s3_error, fetch_url,
                      md5_hex, random_bytes)

PART = 5 * MIB


@pytest.fixture
def multipart_object(s3, bucket):
    """Three parts (5 MiB, 5 MiB, 1 MiB + 7) with CRC32 checksums."""
    parts = [random_bytes(PART), random_bytes(PART), random_bytes(MIB + 7)]
    key = "mp.bin"
    up = s3.create_multipart_upload(Bucket=bucket, Key=key,
                                    ChecksumAlgorithm="CRC32")
    done = []
    for i, body in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                           PartNumber=i, Body=body, ChecksumAlgorithm="CRC32")
        done.append({"PartNumber": i, "ETag": r["ETag"],
                     "ChecksumCRC32": r["ChecksumCRC32"]})
    s3.complete_multipart_upload(Bucket=bucket, Key=key,
                                 UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": done})
    return key, parts, done


def test_get_and_head_each_part(s3, bucket, multipart_object):
    key, parts, done = multipart_object
    total = sum(len(p) for p in parts)
    whole_etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    start = 0
    for n, body in enumerate(parts, start=1):
        end = start + len(body) - 1
        got = s3.get_object(Bucket=bucket, Key=key, PartNumber=n,
                            ChecksumMode="ENABLED")
        meta = got["ResponseMetadata"]
        assert meta["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes {start}-{end}/{total}"
        assert got["ContentLength"] == len(body)
        assert got["PartsCount"] == 3
        assert got["ETag"] == whole_etag
        # The part's own checksum (boto3 validates the body against it).
        assert got["ChecksumCRC32"] == done[n - 1]["ChecksumCRC32"]
        assert got["Body"].read() == body

        head = s3.head_object(Bucket=bucket, Key=key, PartNumber=n)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert head["ContentLength"] == len(body)
        assert head["ContentRange"] == f"bytes {start}-{end}/{total}"
        assert head["PartsCount"] == 3
        start = end + 1

    # Without partNumber, S3 sends no parts count.
    assert "PartsCount" not in s3.head_object(Bucket=bucket, Key=key)
    whole = s3.get_object(Bucket=bucket, Key=key)
    assert "PartsCount" not in whole
    assert whole["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_part_number_errors(s3, bucket, multipart_object):
    key, _, _ = multipart_object
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key, PartNumber=4)
    # S3: 416 InvalidPartNumber naming the part asked for and the parts
    # there are (not 400 InvalidPartNumber, nor InvalidRange).
    assert_client_error(e, 416, "InvalidPartNumber")
    error = e.value.response["Error"]
    assert error["Message"] == "The requested partnumber is not satisfiable"
    assert (error["PartNumberRequested"], error["ActualPartCount"]) == ("4", "3")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key, PartNumber=4)
    assert_client_error(e, 416)  # HEAD: no body, so no code
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key, PartNumber=1, Range="bytes=0-1")
    assert_client_error(e, 400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key, PartNumber=10001)
    assert_client_error(e, 400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing", PartNumber=1)
    assert_client_error(e, 404, "NoSuchKey")


@pytest.mark.parametrize("size", [10, 200_000])
def test_single_part_object(s3, bucket, size):
    body = random_bytes(size)
    s3.put_object(Bucket=bucket, Key="one", Body=body)
    got = s3.get_object(Bucket=bucket, Key="one", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes 0-{size - 1}/{size}"
    assert "PartsCount" not in got
    assert got["ETag"] == f'"{md5_hex(body)}"'
    assert got["Body"].read() == body
    head = s3.head_object(Bucket=bucket, Key="one", PartNumber=1)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentLength"] == size
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="one", PartNumber=2)
    assert_client_error(e, 416, "InvalidPartNumber")
    error = e.value.response["Error"]
    assert (error["PartNumberRequested"], error["ActualPartCount"]) == ("2", "1")


def test_part_past_the_last_on_the_wire(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"0123456789")
    for method, op in (("GET", "get_object"), ("HEAD", "head_object")):
        url = s3.generate_presigned_url(
            op, Params={"Bucket": bucket, "Key": "one", "PartNumber": 3},
            ExpiresIn=600)
        status, headers, body = got = fetch_url(url, method)
        fields = assert_s3_error(got, 416, "InvalidPartNumber", method=method)
        if method == "GET":
            assert list(fields)[:4] == ["Code", "Message", "PartNumberRequested",
                                        "ActualPartCount"], body
            assert (fields["PartNumberRequested"], fields["ActualPartCount"]) \
                == ("3", "1")
        # The elements travel inside the gateway in a header, never sent.
        assert not any(h.startswith("x-shale") for h in headers), headers


def test_head_with_range_is_206(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    head = s3.head_object(Bucket=bucket, Key="r", Range="bytes=2-4")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentRange"] == "bytes 2-4/10"
    assert head["ContentLength"] == 3


def test_aws_cli_get_object_part_number(server, s3, bucket, multipart_object,
                                        tmp_path):
    key, parts, _ = multipart_object
    out = tmp_path / "part2"
    meta = server.aws_json("s3api", "get-object", "--bucket", bucket,
                           "--key", key, "--part-number", "2", out)
    assert meta["PartsCount"] == 3
    assert meta["ContentLength"] == len(parts[1])
    assert out.read_bytes() == parts[1]
