"""Every access key is its own owner: ListBuckets answers the caller's
canonical id; GetBucketAcl the id of the key that created the bucket;
GetObjectAcl and every listing the id of the key that wrote the version (a
copy is its copier's; a completed multipart upload its initiator's);
ListMultipartUploads and ListParts the initiator's id as Initiator and
Owner. Ids are 64 lowercase hex characters; DisplayName is the key id."""

import re

import pytest
from botocore.exceptions import ClientError

from conftest import assert_client_error, canonical_id, unique_bucket_name


def as_key(server, key):
    return server.client(access_key=key["access_key"],
                         secret_key=key["secret_key"])


def who(owner):
    """(ID, DisplayName) of an Owner, Initiator or Grantee."""
    return owner["ID"], owner.get("DisplayName")


@pytest.fixture(scope="module")
def two_keys(server):
    a = server.admin_json("key", "create", "--name", "owner-a")
    b = server.admin_json("key", "create", "--name", "owner-b")
    return a, b


def me(key):
    return canonical_id(key["access_key"]), key["access_key"]


def test_canonical_ids_are_s3_shaped_and_per_key(server, two_keys):
    a, b = two_keys
    ids = {canonical_id(k) for k in (a["access_key"], b["access_key"],
                                     server.access_key)}
    assert len(ids) == 3
    assert all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids)


def test_a_new_bucket_is_listed_at_once_to_its_creator(server, two_keys):
    """Read-after-write for ListBuckets: a key with grants lists the bucket
    it just made, although the gateway caches keys and their grants."""
    a, _ = two_keys
    s3a = as_key(server, a)
    bucket = unique_bucket_name("listed-at-once")
    s3a.list_buckets()  # the key and its grants are now cached
    s3a.create_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in s3a.list_buckets()["Buckets"]]


def test_each_key_owns_what_it_makes(server, s3, two_keys):
    a, b = two_keys
    s3a, s3b = as_key(server, a), as_key(server, b)
    bucket = unique_bucket_name("owned-by-a")
    s3a.create_bucket(Bucket=bucket)
    server.admin_json("key", "grant", b["access_key"], bucket, "write")

    # ListBuckets: the caller, whoever owns the buckets listed.
    assert who(s3a.list_buckets()["Owner"]) == me(a)
    assert who(s3b.list_buckets()["Owner"]) == me(b)
    assert who(s3.list_buckets()["Owner"]) == (
        canonical_id(server.access_key), server.access_key)

    # GetBucketAcl: the bucket's creator, whoever asks.
    for client in (s3a, s3b, s3):
        acl = client.get_bucket_acl(Bucket=bucket)
        assert who(acl["Owner"]) == me(a)
        assert [(who(g["Grantee"]), g["Permission"]) for g in acl["Grants"]] \
            == [(me(a), "FULL_CONTROL")]

    # Objects: the writer's; a copy is the copier's.
    s3a.put_object(Bucket=bucket, Key="by-a", Body=b"a")
    s3b.put_object(Bucket=bucket, Key="by-b", Body=b"b")
    s3b.copy_object(Bucket=bucket, Key="copy-by-b",
                    CopySource={"Bucket": bucket, "Key": "by-a"})
    expected = {"by-a": me(a), "by-b": me(b), "copy-by-b": me(b)}
    for key, owner in expected.items():
        acl = s3.get_object_acl(Bucket=bucket, Key=key)
        assert who(acl["Owner"]) == owner, key
        assert who(acl["Grants"][0]["Grantee"]) == owner, key
    v2 = s3b.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"]
    assert {o["Key"]: who(o["Owner"]) for o in v2} == expected
    v1 = s3b.list_objects(Bucket=bucket)["Contents"]
    assert {o["Key"]: who(o["Owner"]) for o in v1} == expected
    versions = s3a.list_object_versions(Bucket=bucket)["Versions"]
    assert {o["Key"]: who(o["Owner"]) for o in versions} == expected

    # An object ACL names its own owner, not the bucket's.
    s3a.put_object_acl(Bucket=bucket, Key="by-b",
                       GrantFullControl=f'id="{canonical_id(b["access_key"])}"')
    with pytest.raises(ClientError) as e:
        s3a.put_object_acl(
            Bucket=bucket, Key="by-b",
            GrantFullControl=f'id="{canonical_id(a["access_key"])}"')
    assert_client_error(e, 400, "AccessControlListNotSupported")
    acl = s3a.get_object_acl(Bucket=bucket, Key="by-b")
    s3a.put_object_acl(Bucket=bucket, Key="by-b", AccessControlPolicy={
        "Grants": acl["Grants"], "Owner": acl["Owner"]})


def test_uploads_answer_their_initiator(server, two_keys):
    a, b = two_keys
    s3a, s3b = as_key(server, a), as_key(server, b)
    bucket = unique_bucket_name("uploads")
    s3a.create_bucket(Bucket=bucket)
    server.admin_json("key", "grant", b["access_key"], bucket, "write")
    up_a = s3a.create_multipart_upload(Bucket=bucket, Key="mp-a")["UploadId"]
    up_b = s3b.create_multipart_upload(Bucket=bucket, Key="mp-b")["UploadId"]

    listed = s3a.list_multipart_uploads(Bucket=bucket)["Uploads"]
    got = {u["Key"]: (who(u["Initiator"]), who(u["Owner"])) for u in listed}
    assert got == {"mp-a": (me(a), me(a)), "mp-b": (me(b), me(b))}

    etag = s3b.upload_part(Bucket=bucket, Key="mp-a", UploadId=up_a,
                           PartNumber=1, Body=b"x" * 10)["ETag"]
    parts = s3b.list_parts(Bucket=bucket, Key="mp-a", UploadId=up_a)
    assert who(parts["Initiator"]) == me(a)
    assert who(parts["Owner"]) == me(a)
    parts = s3a.list_parts(Bucket=bucket, Key="mp-b", UploadId=up_b)
    assert (who(parts["Initiator"]), who(parts["Owner"])) == (me(b), me(b))

    # B completes A's upload: the object is A's, its initiator's.
    s3b.complete_multipart_upload(
        Bucket=bucket, Key="mp-a", UploadId=up_a,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert who(s3b.get_object_acl(Bucket=bucket, Key="mp-a")["Owner"]) == me(a)
    s3b.abort_multipart_upload(Bucket=bucket, Key="mp-b", UploadId=up_b)
