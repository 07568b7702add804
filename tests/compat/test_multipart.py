"""Multipart uploads driven explicitly through the boto3 client."""

import hashlib

import pytest
from botocore.exceptions import ClientError

from conftest import MIB, assert_client_error, md5_hex, random_bytes


def multipart_etag(parts):
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def upload_ids(s3, bucket):
    return [u["UploadId"] for u in
            s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def test_complete_three_parts(s3, bucket):
    parts = [random_bytes(5 * MIB), random_bytes(5 * MIB), random_bytes(MIB)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp",
                                        ContentType="application/x-mp")
    uid = upload["UploadId"]
    assert upload["Key"] == "mp" and uid

    etags = []
    for number, body in enumerate(parts, start=1):
        resp = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid,
                              PartNumber=number, Body=body)
        assert resp["ETag"] == f'"{md5_hex(body)}"'
        etags.append(resp["ETag"])

    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3]
    assert [p["Size"] for p in listed["Parts"]] == [len(p) for p in parts]
    assert [p["ETag"] for p in listed["Parts"]] == etags

    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert {"mp": uid} == {u["Key"]: u["UploadId"] for u in uploads}

    # Not visible as an object before completion.
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="mp")
    assert_client_error(exc, 404)

    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e}
                                   for i, e in enumerate(etags)]})
    assert done["ETag"] == multipart_etag(parts)

    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["ETag"] == multipart_etag(parts)
    assert got["ContentLength"] == sum(map(len, parts))
    assert got["ContentType"] == "application/x-mp"
    assert got["Body"].read() == b"".join(parts)
    assert uid not in upload_ids(s3, bucket)

    # A range across the part 1 / part 2 seam.
    seam = 5 * MIB
    ranged = s3.get_object(Bucket=bucket, Key="mp",
                           Range=f"bytes={seam - 10}-{seam + 9}")
    assert ranged["Body"].read() == (parts[0] + parts[1])[seam - 10:seam + 10]


def test_parts_uploaded_out_of_order_and_replaced(s3, bucket):
    p1, p2_old, p2 = random_bytes(5 * MIB), random_bytes(MIB), random_bytes(7)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="ooo")["UploadId"]
    e2_old = s3.upload_part(Bucket=bucket, Key="ooo", UploadId=uid,
                            PartNumber=2, Body=p2_old)["ETag"]
    e1 = s3.upload_part(Bucket=bucket, Key="ooo", UploadId=uid, PartNumber=1,
                        Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="ooo", UploadId=uid, PartNumber=2,
                        Body=p2)["ETag"]
    assert e2 != e2_old
    s3.complete_multipart_upload(
        Bucket=bucket, Key="ooo", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                   {"PartNumber": 2, "ETag": e2}]})
    assert s3.get_object(Bucket=bucket, Key="ooo")["Body"].read() == p1 + p2


def test_abort(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="ab")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="ab", UploadId=uid, PartNumber=1,
                   Body=random_bytes(MIB))
    assert uid in upload_ids(s3, bucket)

    assert s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=uid)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    assert uid not in upload_ids(s3, bucket)

    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="ab", UploadId=uid, PartNumber=2,
                       Body=b"late")
    assert_client_error(exc, 404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="ab", UploadId=uid)
    assert_client_error(exc, 404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="ab")
    assert_client_error(exc, 404)


def test_unknown_upload_id(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="x", UploadId="no-such-upload-id",
                       PartNumber=1, Body=b"x")
    assert_client_error(exc, 404, "NoSuchUpload")


def test_too_small_non_last_part(s3, bucket):
    parts = [random_bytes(MIB), random_bytes(MIB)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="small", UploadId=uid,
                            PartNumber=i + 1, Body=p)["ETag"]
             for i, p in enumerate(parts)]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="small", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e}
                                       for i, e in enumerate(etags)]})
    assert_client_error(exc, 400, "EntityTooSmall")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="small")
    assert_client_error(exc, 404)


def test_wrong_part_etag(s3, bucket):
    part = random_bytes(MIB)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="bad")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="bad", UploadId=uid, PartNumber=1,
                   Body=part)
    wrong = f'"{md5_hex(b"something else")}"'
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="bad", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": wrong}]})
    assert_client_error(exc, 400, "InvalidPart")
    # Also a part number that was never uploaded.
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="bad", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 7,
                                        "ETag": f'"{md5_hex(part)}"'}]})
    assert_client_error(exc, 400, "InvalidPart")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="bad")
    assert_client_error(exc, 404)


def _complete(s3, bucket, key, uid, listed):
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                        MultipartUpload={"Parts": listed})


def _upload_two(s3, bucket, key, algorithm="SHA256"):
    """An upload of two parts with `algorithm` checksums; returns its id,
    the Parts list to complete it with, and the parts."""
    parts = [random_bytes(5 * MIB), random_bytes(MIB)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key,
                                     ChecksumAlgorithm=algorithm)["UploadId"]
    listed = []
    for number, body in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid,
                           PartNumber=number, Body=body,
                           ChecksumAlgorithm=algorithm)
        listed.append({"PartNumber": number, "ETag": r["ETag"],
                       f"Checksum{algorithm}": r[f"Checksum{algorithm}"]})
    return uid, listed, parts


def _answer(resp):
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def test_repeated_complete_answers_the_same_result(server_factory):
    """S3 answers a CompleteMultipartUpload of an upload that already
    completed with the completed object's result, so an SDK whose first
    answer was lost retries and succeeds; once the object at the key is no
    longer the one that upload made, it is NoSuchUpload again."""
    server = server_factory.new()
    s3 = server.client()
    bucket = "retry"
    s3.create_bucket(Bucket=bucket)
    uid, listed, parts = _upload_two(s3, bucket, "mp")
    first = _complete(s3, bucket, "mp", uid, listed)
    assert first["ETag"] == multipart_etag(parts)
    assert first["ChecksumType"] == "COMPOSITE"
    again = _complete(s3, bucket, "mp", uid, listed)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert _answer(again) == _answer(first)
    assert {"Bucket", "Key", "ETag", "Location", "ChecksumSHA256"} <= set(again)
    # Without the part checksums (a client that never sent them) too.
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in listed]
    assert _answer(_complete(s3, bucket, "mp", uid, bare)) == _answer(first)

    # Another parts list is not this completion.
    with pytest.raises(ClientError) as exc:
        _complete(s3, bucket, "mp", uid, bare[:1])
    assert_client_error(exc, 404, "NoSuchUpload")

    # The record survives a restart of the server.
    server.restart()
    s3 = server.client()
    assert _answer(_complete(s3, bucket, "mp", uid, listed)) == _answer(first)

    # Overwritten or deleted: the upload's object is gone, so is the answer.
    s3.put_object(Bucket=bucket, Key="mp", Body=b"new")
    with pytest.raises(ClientError) as exc:
        _complete(s3, bucket, "mp", uid, listed)
    assert_client_error(exc, 404, "NoSuchUpload")
    uid2, listed2, _ = _upload_two(s3, bucket, "mp", "CRC32")
    _complete(s3, bucket, "mp", uid2, listed2)
    s3.delete_object(Bucket=bucket, Key="mp")
    with pytest.raises(ClientError) as exc:
        _complete(s3, bucket, "mp", uid2, listed2)
    assert_client_error(exc, 404, "NoSuchUpload")
