"""CopyObject and UploadPartCopy: copy-source conditionals (412 as S3),
copying onto itself, metadata directives, copy-source ranges."""

import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import KIB, MIB, assert_client_error, md5_hex, random_bytes

HOUR = datetime.timedelta(hours=1)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


@pytest.fixture(params=[100, 300 * KIB], ids=["inline", "coded"])
def source(s3, bucket, request):
    body = random_bytes(request.param)
    etag = s3.put_object(Bucket=bucket, Key="src", Body=body,
                         ContentType="text/plain", Metadata={"a": "1"})["ETag"]
    return bucket, body, etag


def _copy(s3, bucket, **kw):
    return s3.copy_object(Bucket=bucket, Key="dst",
                          CopySource={"Bucket": bucket, "Key": "src"}, **kw)


def test_copy_conditions_follow_s3_precedence(s3, source):
    bucket, body, etag = source
    past, future = _now() - HOUR, _now() + HOUR
    failing = [
        {"CopySourceIfMatch": '"0123"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfUnmodifiedSince": past},
        {"CopySourceIfModifiedSince": future},
        # if-none-match false wins over if-modified-since true.
        {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": past},
    ]
    for kw in failing:
        with pytest.raises(ClientError) as exc:
            _copy(s3, bucket, **kw)
        assert_client_error(exc, 412, "PreconditionFailed")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="dst")
    passing = [
        {"CopySourceIfMatch": etag},
        {"CopySourceIfNoneMatch": '"0123"'},
        {"CopySourceIfUnmodifiedSince": future},
        {"CopySourceIfModifiedSince": past},
        # if-match true wins over if-unmodified-since false.
        {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": past},
        # if-none-match true wins over if-modified-since false.
        {"CopySourceIfNoneMatch": '"0123"', "CopySourceIfModifiedSince": future},
    ]
    for kw in passing:
        out = _copy(s3, bucket, **kw)
        assert out["CopyObjectResult"]["ETag"] == etag, kw
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body


def test_copy_onto_itself(s3, source):
    bucket, body, etag = source
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="src",
                       CopySource={"Bucket": bucket, "Key": "src"})
    assert_client_error(exc, 400, "InvalidRequest")
    assert "copy an object to itself" in exc.value.response["Error"]["Message"]
    # COPY said explicitly changes nothing either.
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="src", MetadataDirective="COPY",
                       CopySource={"Bucket": bucket, "Key": "src"})
    assert_client_error(exc, 400, "InvalidRequest")
    s3.copy_object(Bucket=bucket, Key="src", MetadataDirective="REPLACE",
                   CopySource={"Bucket": bucket, "Key": "src"},
                   Metadata={"b": "2"}, ContentType="application/json",
                   CacheControl="no-cache")
    head = s3.head_object(Bucket=bucket, Key="src")
    assert head["Metadata"] == {"b": "2"}
    assert head["ContentType"] == "application/json"
    assert head["CacheControl"] == "no-cache"
    assert head["ETag"] == etag
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == body
    # A storage class counts as a change.
    s3.copy_object(Bucket=bucket, Key="src", StorageClass="STANDARD",
                   CopySource={"Bucket": bucket, "Key": "src"})


def test_metadata_directives(s3, source):
    bucket, body, _ = source
    # COPY (default) keeps the source's headers and ignores the request's.
    _copy(s3, bucket, Metadata={"ignored": "x"}, ContentType="image/png")
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"a": "1"}
    assert head["ContentType"] == "text/plain"
    # REPLACE takes only the request's: no type given means the default.
    _copy(s3, bucket, MetadataDirective="REPLACE", Metadata={"n": "v"},
          ContentDisposition="attachment", ContentLanguage="fr")
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"n": "v"}
    assert head["ContentDisposition"] == "attachment"
    assert head["ContentLanguage"] == "fr"
    assert head["ContentType"] == "binary/octet-stream"
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body
    with pytest.raises(ClientError) as exc:
        _copy(s3, bucket, MetadataDirective="BOGUS")
    assert_client_error(exc, 400, "InvalidArgument")


def test_copy_missing_source(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="dst",
                       CopySource={"Bucket": bucket, "Key": "nope"})
    assert_client_error(exc, 404, "NoSuchKey")


def test_upload_part_copy_ranges(s3, bucket):
    src = random_bytes(6 * MIB + 123)
    s3.put_object(Bucket=bucket, Key="big", Body=src)
    small = random_bytes(1000)
    s3.put_object(Bucket=bucket, Key="small", Body=small)
    up = s3.create_multipart_upload(Bucket=bucket, Key="joined")["UploadId"]
    cs = {"Bucket": bucket, "Key": "big"}
    p1 = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up,
                             PartNumber=1, CopySource=cs,
                             CopySourceRange=f"bytes=0-{5 * MIB}")
    first = src[:5 * MIB + 1]
    assert p1["CopyPartResult"]["ETag"] == f'"{md5_hex(first)}"'
    p2 = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up,
                             PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "small"})
    assert p2["CopyPartResult"]["ETag"] == f'"{md5_hex(small)}"'

    for bad in ["0-10", "bytes=5", "bytes=-5", "bytes=5-", "bytes=a-b",
                "bytes=9-3", "bytes=0-1,3-4"]:
        with pytest.raises(ClientError) as exc:
            s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up,
                                PartNumber=3, CopySource=cs,
                                CopySourceRange=bad)
        assert_client_error(exc, 400, "InvalidArgument")
    # Outside the source, S3 answers 400 (never 416): a range that ends past
    # the end is InvalidArgument, one that starts past it InvalidRequest.
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up,
                            PartNumber=3, CopySource=cs,
                            CopySourceRange=f"bytes=0-{len(src)}")
    assert_client_error(exc, 400, "InvalidArgument")
    assert exc.value.response["Error"]["Message"] == \
        f"Range specified is not valid for source object of size: {len(src)}"
    for start in [len(src), len(src) + 10]:
        with pytest.raises(ClientError) as exc:
            s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up,
                                PartNumber=3, CopySource=cs,
                                CopySourceRange=f"bytes={start}-{start + 5}")
        assert_client_error(exc, 400, "InvalidRequest")
        assert exc.value.response["Error"]["Message"] == \
            "The specified copy range is invalid for the source object size"

    etag = s3.head_object(Bucket=bucket, Key="big")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up,
                            PartNumber=3, CopySource=cs,
                            CopySourceIfNoneMatch=etag)
    assert_client_error(exc, 412, "PreconditionFailed")
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up,
                            PartNumber=3, CopySource=cs,
                            CopySourceIfUnmodifiedSince=_now() - HOUR)
    assert_client_error(exc, 412, "PreconditionFailed")

    parts = s3.list_parts(Bucket=bucket, Key="joined", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == \
        [(1, 5 * MIB + 1), (2, 1000)]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="joined", UploadId=up,
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
            {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]})
    got = s3.get_object(Bucket=bucket, Key="joined")
    assert got["Body"].read() == first + small
    assert got["ETag"].endswith('-2"')


def test_upload_part_copy_unknown_upload(s3, bucket):
    s3.put_object(Bucket=bucket, Key="s", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="k", UploadId="nope",
                            PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "s"})
    assert_client_error(exc, 404, "NoSuchUpload")


def test_cli_cp_and_mv_within_the_store(server, bucket, tmp_path):
    body = random_bytes(20 * KIB)
    f = tmp_path / "f.bin"
    f.write_bytes(body)
    server.aws("s3", "cp", f, f"s3://{bucket}/a/f.bin")
    server.aws("s3", "cp", f"s3://{bucket}/a/f.bin", f"s3://{bucket}/b/f.bin")
    server.aws("s3", "mv", f"s3://{bucket}/b/f.bin", f"s3://{bucket}/c/g.bin")
    out = server.aws("s3", "ls", "--recursive", f"s3://{bucket}/").stdout
    assert "a/f.bin" in out and "c/g.bin" in out and "b/f.bin" not in out
    server.aws("s3", "cp", f"s3://{bucket}/c/g.bin", tmp_path / "g.bin")
    assert (tmp_path / "g.bin").read_bytes() == body


def test_copy_destination_conditions(s3, source):
    bucket, body, etag = source
    _copy(s3, bucket, IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        _copy(s3, bucket, IfNoneMatch="*")
    assert_client_error(exc, 412, "PreconditionFailed")
    with pytest.raises(ClientError) as exc:
        _copy(s3, bucket, IfMatch='"0123"')
    assert_client_error(exc, 412, "PreconditionFailed")
    _copy(s3, bucket, IfMatch=etag)
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="absent", IfMatch=etag,
                       CopySource={"Bucket": bucket, "Key": "src"})
    assert_client_error(exc, 404, "NoSuchKey")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body
