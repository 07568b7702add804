"""Names as S3 has them: bucket-name rules (InvalidBucketName), the key
length limit (KeyTooLongError), and odd keys that must round-trip through
PUT, GET, HEAD, LIST, COPY and DELETE, with boto3 and the AWS CLI."""

import pytest
from botocore.exceptions import ClientError

from conftest import assert_client_error, random_bytes, unique_bucket_name

# (`--x-s3` names are refused too, but boto3 takes them for S3 Express
# directory buckets and never sends a plain CreateBucket.)
BAD_BUCKETS = [
    "ab", "a" * 64, "Upper-case", "under_score", "-leading", "trailing-",
    ".leading", "trailing.", "192.168.5.4", "double..dot", "xn--punycode",
    "name-s3alias", "name--ol-s3", "sthree-name",
    "amzn-s3-demo-bucket", "sp ace",
]


@pytest.mark.parametrize("name", BAD_BUCKETS)
def test_invalid_bucket_names(s3, name):
    with pytest.raises((ClientError, Exception)) as exc:
        s3.create_bucket(Bucket=name)
    if isinstance(exc.value, ClientError):
        assert_client_error(exc, 400, "InvalidBucketName")
    else:
        # botocore refuses some names before sending (its own regex).
        assert "Invalid bucket name" in str(exc.value)


@pytest.mark.parametrize("name", ["abc", "a" * 63, "1-2.3", "a.b-c9"])
def test_valid_bucket_names(s3, name):
    name = name if len(name) == 63 else f"{name}-{unique_bucket_name('v')[-8:]}"
    s3.create_bucket(Bucket=name)
    try:
        s3.head_bucket(Bucket=name)
    finally:
        s3.delete_bucket(Bucket=name)


def test_key_too_long(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"ok")
    for call in (
        lambda: s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x"),
        lambda: s3.put_object(Bucket=bucket, Key="ü" * 513, Body=b"x"),
        lambda: s3.copy_object(Bucket=bucket, Key="k" * 1025,
                               CopySource={"Bucket": bucket, "Key": "k" * 1024}),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="k" * 1025),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert_client_error(exc, 400, "KeyTooLongError")


ODD = ["ünïcødé/ключ/文件", "with space", "plus+sign", "100%", "%41%20",
       "double//slash", "//leading", "trailing/", "dir/", "a?b#c&d=e",
       "tilde~star*", "quote\"'", "k" * 1024]


def test_odd_keys_round_trip(s3, bucket):
    bodies = {}
    for key in ODD:
        bodies[key] = random_bytes(64)
        s3.put_object(Bucket=bucket, Key=key, Body=bodies[key])
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        listed += [o["Key"] for o in page.get("Contents", [])]
    assert listed == sorted(ODD, key=lambda k: k.encode())
    v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert v1 == listed
    for key in ODD:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == bodies[key], key
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == 64
        s3.copy_object(Bucket=bucket, Key="copy/" + key[:1000],
                       CopySource={"Bucket": bucket, "Key": key})
        got = s3.get_object(Bucket=bucket, Key="copy/" + key[:1000])
        assert got["Body"].read() == bodies[key], key
    for key in ODD:
        s3.delete_object(Bucket=bucket, Key=key)
        with pytest.raises(ClientError) as exc:
            s3.head_object(Bucket=bucket, Key=key)
        assert_client_error(exc, 404)
    left = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert all(o["Key"].startswith("copy/") for o in left)


CLI_KEYS = ["ünï/ключ.txt", "with space/a b.txt", "plus+dir/c+d.txt",
            "pct%25/e%41.txt", "deep/x/y/z.txt"]


def test_cli_recursive_commands_with_odd_names(server, bucket, tmp_path):
    src = tmp_path / "src"
    for rel in CLI_KEYS:
        f = src / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(rel.encode() * 10)
    server.aws("s3", "cp", "--recursive", src, f"s3://{bucket}/up/")
    ls = server.aws("s3", "ls", "--recursive", f"s3://{bucket}/up/").stdout
    for rel in CLI_KEYS:
        assert f"up/{rel}" in ls, ls
    server.aws("s3", "sync", f"s3://{bucket}/up/", f"s3://{bucket}/synced/")
    server.aws("s3", "mv", "--recursive", f"s3://{bucket}/synced/",
               f"s3://{bucket}/moved/")
    down = tmp_path / "down"
    server.aws("s3", "sync", f"s3://{bucket}/moved/", down)
    for rel in CLI_KEYS:
        assert (down / rel).read_bytes() == rel.encode() * 10, rel
    server.aws("s3", "rm", "--recursive", f"s3://{bucket}/")
    listing = server.aws_json("s3api", "list-objects-v2", "--bucket", bucket)
    assert not listing.get("Contents")
