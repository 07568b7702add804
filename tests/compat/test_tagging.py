"""Object and bucket tagging, with boto3 and the AWS CLI, as Amazon S3 does it.

Put/Get/DeleteObjectTagging, `x-amz-tagging` on PutObject,
CreateMultipartUpload and CopyObject (`x-amz-tagging-directive`),
`x-amz-tagging-count` on GET and HEAD, Put/Get/DeleteBucketTagging, and the
errors S3 answers for tags it refuses.
"""

import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import (KIB, MIB, assert_client_error, http_status, md5_hex,
                      random_bytes, unique_bucket_name)


def tag_set(pairs):
    return [{"Key": k, "Value": v} for k, v in pairs]


def tags_of(s3, bucket, key):
    return [(t["Key"], t["Value"]) for t in
            s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]]


def count_header(resp):
    return resp["ResponseMetadata"]["HTTPHeaders"].get("x-amz-tagging-count")


# Every allowed kind of character, the longest key and value (in Unicode
# characters, not bytes) and an empty value: ten tags, the most an object takes.
FULL = [(f"key-{i}", f"value-{i}") for i in range(7)] + [
    ("b c+d-e=f.g_h:i/j@k", "2 + 2 = 4"),
    ("empty", ""),
    ("𝒜" * 128, "文" * 256),
]


@pytest.mark.parametrize("size", [100, 300 * KIB], ids=["inline", "coded"])
def test_object_tagging_round_trip(s3, bucket, size):
    body = random_bytes(size)
    put = s3.put_object(Bucket=bucket, Key="obj", Body=body)
    before = s3.head_object(Bucket=bucket, Key="obj")
    assert tags_of(s3, bucket, "obj") == []
    assert count_header(before) is None
    # Last-Modified has a resolution of one second: make a change visible.
    time.sleep(1.1)

    resp = s3.put_object_tagging(Bucket=bucket, Key="obj",
                                 Tagging={"TagSet": tag_set(FULL)})
    assert http_status(resp) == 200
    assert tags_of(s3, bucket, "obj") == FULL

    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == body
    assert got["TagCount"] == 10 and count_header(got) == "10"
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert count_header(head) == "10"
    assert head.get("TagCount") == 10
    # Tags are not part of the version: same ETag, same Last-Modified.
    for resp in (got, head):
        assert resp["ETag"] == put["ETag"] == f'"{md5_hex(body)}"'
        assert resp["LastModified"] == before["LastModified"]

    # A put replaces the whole set.
    s3.put_object_tagging(Bucket=bucket, Key="obj",
                          Tagging={"TagSet": tag_set([("only", "one")])})
    assert tags_of(s3, bucket, "obj") == [("only", "one")]
    assert count_header(s3.head_object(Bucket=bucket, Key="obj")) == "1"

    resp = s3.delete_object_tagging(Bucket=bucket, Key="obj")
    assert http_status(resp) == 204
    assert tags_of(s3, bucket, "obj") == []
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == body
    assert count_header(got) is None and "TagCount" not in got
    assert got["LastModified"] == before["LastModified"]
    # An empty set is accepted too.
    s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging={"TagSet": []})
    assert tags_of(s3, bucket, "obj") == []


def test_put_object_with_tagging_header(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"hello",
                  Tagging="a=1&b%20c=d%2Be&e+f=g=h&empty&%C3%BC=%E6%96%87")
    assert tags_of(s3, bucket, "t") == [
        ("a", "1"), ("b c", "d+e"), ("e f", "g=h"), ("empty", ""),
        ("ü", "文")]
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 5

    # A new version of the key has the tags it was written with: none here.
    s3.put_object(Bucket=bucket, Key="t", Body=b"again")
    assert tags_of(s3, bucket, "t") == []
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="t")


def test_multipart_upload_tags_apply_at_completion(s3, bucket):
    parts = [random_bytes(5 * MIB), random_bytes(KIB)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp",
                                     Tagging="project=shale&tier=cold")["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid,
                            PartNumber=n, Body=p)["ETag"]
             for n, p in enumerate(parts, start=1)]
    # Not an object yet.
    with pytest.raises(ClientError) as exc:
        s3.get_object_tagging(Bucket=bucket, Key="mp")
    assert_client_error(exc, 404, "NoSuchKey")
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                   for n, e in enumerate(etags, start=1)]})
    assert tags_of(s3, bucket, "mp") == [("project", "shale"), ("tier", "cold")]
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["TagCount"] == 2
    assert got["Body"].read() == b"".join(parts)


def test_copy_object_tagging_directive(s3, bucket):
    body = random_bytes(200 * KIB)
    s3.put_object(Bucket=bucket, Key="src", Body=body, Tagging="a=1&b=2")
    src = {"Bucket": bucket, "Key": "src"}

    # COPY is the default, and it ignores x-amz-tagging.
    s3.copy_object(Bucket=bucket, Key="default", CopySource=src)
    assert tags_of(s3, bucket, "default") == [("a", "1"), ("b", "2")]
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=src,
                   TaggingDirective="COPY", Tagging="ignored=yes")
    assert tags_of(s3, bucket, "copy") == [("a", "1"), ("b", "2")]

    s3.copy_object(Bucket=bucket, Key="replace", CopySource=src,
                   TaggingDirective="REPLACE", Tagging="c=3")
    assert tags_of(s3, bucket, "replace") == [("c", "3")]
    s3.copy_object(Bucket=bucket, Key="cleared", CopySource=src,
                   TaggingDirective="REPLACE")
    assert tags_of(s3, bucket, "cleared") == []
    assert "TagCount" not in s3.head_object(Bucket=bucket, Key="cleared")
    for key in ("default", "copy", "replace", "cleared"):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    # The source keeps its own.
    assert tags_of(s3, bucket, "src") == [("a", "1"), ("b", "2")]

    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="bad", CopySource=src,
                       TaggingDirective="MERGE")
    assert_client_error(exc, 400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="bad", CopySource=src,
                       TaggingDirective="REPLACE", Tagging="x=1&x=2")
    assert_client_error(exc, 400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="bad")
    assert_client_error(exc, 404, "NoSuchKey")


ELEVEN = [(f"k{i}", "") for i in range(11)]

REFUSED_TAG_SETS = {
    # S3 answers BadRequest, not InvalidTag, for more than 10 object tags.
    "11-tags": (ELEVEN, "BadRequest"),
    "key-129-chars": ([("k" * 129, "")], "InvalidTag"),
    "value-257-chars": ([("k", "v" * 257)], "InvalidTag"),
    "same-key-twice": ([("a", "1"), ("a", "2")], "InvalidTag"),
    "aws-prefix": ([("aws:cost", "1")], "InvalidTag"),
    "comma-in-key": ([("a,b", "1")], "InvalidTag"),
    "emoji-in-value": ([("k", "\N{GRINNING FACE}")], "InvalidTag"),
}


@pytest.mark.parametrize("case", REFUSED_TAG_SETS.values(),
                         ids=REFUSED_TAG_SETS.keys())
def test_put_object_tagging_refuses_what_s3_refuses(s3, bucket, case):
    pairs, code = case
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=me")
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(Bucket=bucket, Key="k",
                              Tagging={"TagSet": tag_set(pairs)})
    assert_client_error(exc, 400, code)
    # Nothing changed.
    assert tags_of(s3, bucket, "k") == [("keep", "me")]


REFUSED_HEADERS = {
    "same-key-twice": ("a=1&a=2", "InvalidArgument"),
    "no-key": ("=1", "InvalidArgument"),
    "not-utf8": ("a=%FF", "InvalidArgument"),
    "11-tags": ("&".join(f"k{i}=" for i in range(11)), "BadRequest"),
    "bad-character": ("a%2Cb=1", "InvalidTag"),
    "aws-prefix": ("aws:cost=1", "InvalidTag"),
}


@pytest.mark.parametrize("case", REFUSED_HEADERS.values(),
                         ids=REFUSED_HEADERS.keys())
def test_writes_with_a_bad_tagging_header_store_nothing(s3, bucket, case):
    header, code = case
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="new", Body=random_bytes(100 * KIB),
                      Tagging=header)
    assert_client_error(exc, 400, code)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="new")
    assert_client_error(exc, 404)
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="new", Tagging=header)
    assert_client_error(exc, 400, code)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_tagging_a_missing_key_or_bucket(s3, bucket):
    calls = {
        "put": lambda b: s3.put_object_tagging(
            Bucket=b, Key="missing", Tagging={"TagSet": tag_set([("a", "1")])}),
        "get": lambda b: s3.get_object_tagging(Bucket=b, Key="missing"),
        "delete": lambda b: s3.delete_object_tagging(Bucket=b, Key="missing"),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as exc:
            call(bucket)
        assert_client_error(exc, 404, "NoSuchKey")
        with pytest.raises(ClientError) as exc:
            call(unique_bucket_name("no-such"))
        assert_client_error(exc, 404, "NoSuchBucket")
    # Tagging never creates the key.
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_bucket_tagging(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=bucket)
    assert_client_error(exc, 404, "NoSuchTagSet")

    fifty = [(f"tag-{i:02}", f"v{i}") for i in range(50)]
    resp = s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set(fifty)})
    assert http_status(resp) == 204
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert [(t["Key"], t["Value"]) for t in got] == fifty

    for pairs in ([*fifty, ("one-more", "")], [("a", "1"), ("a", "2")],
                  [("aws:x", "1")], [("k" * 129, "")]):
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set(pairs)})
        assert_client_error(exc, 400, "InvalidTag")
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50

    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set([("team", "storage")])})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == \
        [{"Key": "team", "Value": "storage"}]
    # Bucket tags are not object tags.
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    assert tags_of(s3, bucket, "o") == []

    assert http_status(s3.delete_bucket_tagging(Bucket=bucket)) == 204
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=bucket)
    assert_client_error(exc, 404, "NoSuchTagSet")

    missing = unique_bucket_name("no-such")
    for call in (lambda: s3.get_bucket_tagging(Bucket=missing),
                 lambda: s3.delete_bucket_tagging(Bucket=missing),
                 lambda: s3.put_bucket_tagging(
                     Bucket=missing, Tagging={"TagSet": tag_set([("a", "1")])})):
        with pytest.raises(ClientError) as exc:
            call()
        assert_client_error(exc, 404, "NoSuchBucket")


# -- the AWS CLI --------------------------------------------------------------


def test_awscli_object_tagging(server, bucket, tmp_path):
    src = tmp_path / "f.bin"
    body = random_bytes(70 * KIB)
    src.write_bytes(body)
    server.aws("s3api", "put-object", "--bucket", bucket, "--key", "f",
               "--body", src, "--tagging", "made=by%20cli")
    assert server.aws_json("s3api", "get-object-tagging", "--bucket", bucket,
                           "--key", "f")["TagSet"] == \
        [{"Key": "made", "Value": "by cli"}]
    etag = server.aws_json("s3api", "head-object", "--bucket", bucket,
                           "--key", "f")["ETag"]

    server.aws("s3api", "put-object-tagging", "--bucket", bucket, "--key", "f",
               "--tagging", json.dumps({"TagSet": tag_set([("x", "1"), ("y", "")])}))
    assert server.aws_json("s3api", "get-object-tagging", "--bucket", bucket,
                           "--key", "f")["TagSet"] == \
        [{"Key": "x", "Value": "1"}, {"Key": "y", "Value": ""}]
    head = server.aws_json("s3api", "head-object", "--bucket", bucket, "--key", "f")
    assert head["ETag"] == etag == f'"{md5_hex(body)}"'
    assert head["TagCount"] == 2
    out = tmp_path / "out.bin"
    got = server.aws_json("s3api", "get-object", "--bucket", bucket,
                          "--key", "f", out)
    assert got["TagCount"] == 2
    assert out.read_bytes() == body

    server.aws("s3api", "delete-object-tagging", "--bucket", bucket, "--key", "f")
    assert server.aws_json("s3api", "get-object-tagging", "--bucket", bucket,
                           "--key", "f")["TagSet"] == []
    assert "TagCount" not in server.aws_json("s3api", "head-object", "--bucket",
                                             bucket, "--key", "f")

    eleven = json.dumps({"TagSet": tag_set(ELEVEN)})
    refused = server.aws("s3api", "put-object-tagging", "--bucket", bucket,
                         "--key", "f", "--tagging", eleven, check=False)
    assert refused.returncode != 0 and "BadRequest" in refused.stderr
    missing = server.aws("s3api", "get-object-tagging", "--bucket", bucket,
                         "--key", "nope", check=False)
    assert missing.returncode != 0 and "NoSuchKey" in missing.stderr


def test_awscli_bucket_tagging(server, bucket):
    none = server.aws("s3api", "get-bucket-tagging", "--bucket", bucket,
                      check=False)
    assert none.returncode != 0 and "NoSuchTagSet" in none.stderr
    server.aws("s3api", "put-bucket-tagging", "--bucket", bucket, "--tagging",
               "TagSet=[{Key=env,Value=dev},{Key=owner,Value=ops}]")
    assert server.aws_json("s3api", "get-bucket-tagging", "--bucket",
                           bucket)["TagSet"] == \
        [{"Key": "env", "Value": "dev"}, {"Key": "owner", "Value": "ops"}]
    dup = server.aws("s3api", "put-bucket-tagging", "--bucket", bucket,
                     "--tagging", "TagSet=[{Key=a,Value=1},{Key=a,Value=2}]",
                     check=False)
    assert dup.returncode != 0 and "InvalidTag" in dup.stderr
    server.aws("s3api", "delete-bucket-tagging", "--bucket", bucket)
    gone = server.aws("s3api", "get-bucket-tagging", "--bucket", bucket,
                      check=False)
    assert gone.returncode != 0 and "NoSuchTagSet" in gone.stderr
