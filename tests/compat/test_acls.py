"""ACLs where Object Ownership allows them (issue 16), as Amazon S3 has
them: a bucket's Object Ownership (Get/Put/DeleteBucketOwnershipControls,
CreateBucket's ObjectOwnership), bucket and object ACLs (canned ACLs,
x-amz-grant-* headers, AccessControlPolicy documents) on PutBucketAcl,
PutObjectAcl and every write (PutObject, CopyObject, multipart uploads,
browser uploads), what they let other users and anonymous callers do, how
public access blocks hold them back, and who owns what another user writes
under BucketOwnerPreferred.

A new bucket enforces bucket ownership (ACLs disabled) and blocks public
access, as S3's do. Users A (bucket owner) and B are made with
`shale admin user create` and `key create --user`. Every refusal is 403
AccessDenied (or the 400 S3 gives for a refused input) with nothing
changed: after each one the test reads back what the request would have
changed. Changes are made through the one gateway of the shared server,
so they apply at once; nothing sleeps a fixed time.
"""

import json
import subprocess
import uuid

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import (_client_env, assert_client_error, aws_cli_command,
                      raw_request, unique_bucket_name)

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
NO_BLOCK = {"BlockPublicAcls": False, "IgnorePublicAcls": False,
            "BlockPublicPolicy": False, "RestrictPublicBuckets": False}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


class User:
    """A user with one key: its name, canonical id, key and boto3 client."""

    def __init__(self, server, hint):
        self.name = f"{hint}-{uuid.uuid4().hex[:10]}"
        made = server.admin_json("user", "create", self.name)
        assert made["name"] == self.name, made
        self.id = made["canonical_id"]
        self.key = server.admin_json("key", "create", "--name",
                                     f"{self.name}-key", "--user", self.name)
        assert self.key["access_key"] and self.key["secret_key"], self.key
        self.s3 = server.client(access_key=self.key["access_key"],
                                secret_key=self.key["secret_key"])

    @property
    def grantee(self):
        """This user in a grant header."""
        return f'id="{self.id}"'


def user_grant(canonical_id, permission):
    """A grant of an AccessControlPolicy document to a user."""
    return {"Grantee": {"Type": "CanonicalUser", "ID": canonical_id},
            "Permission": permission}


def group_grant(uri, permission):
    return {"Grantee": {"Type": "Group", "URI": uri},
            "Permission": permission}


def grants(answer):
    """The grants of a Get*Acl answer as (grantee, permission) pairs, in
    the order answered: a user by canonical id, a group by URI."""
    out = []
    for g in answer["Grants"]:
        e = g["Grantee"]
        if e["Type"] == "CanonicalUser":
            out.append((e["ID"], g["Permission"]))
        else:
            assert e["Type"] == "Group", g
            out.append((e["URI"], g["Permission"]))
    return out


def object_grants(client, bucket, key):
    return grants(client.get_object_acl(Bucket=bucket, Key=key))


def bucket_grants(client, bucket):
    return grants(client.get_bucket_acl(Bucket=bucket))


def ownership(client, bucket):
    rules = client.get_bucket_ownership_controls(Bucket=bucket)[
        "OwnershipControls"]["Rules"]
    assert len(rules) == 1, rules
    return rules[0]["ObjectOwnership"]


def set_ownership(client, bucket, value):
    client.put_bucket_ownership_controls(
        Bucket=bucket,
        OwnershipControls={"Rules": [{"ObjectOwnership": value}]})


def refused(status, code, call, *args, **kwargs):
    with pytest.raises(ClientError) as exc:
        call(*args, **kwargs)
    assert_client_error(exc, status, code)


def denied(call, *args, **kwargs):
    refused(403, "AccessDenied", call, *args, **kwargs)


def absent(s3, bucket, key):
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert_client_error(exc, 404)


def body_of(client, bucket, key):
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def anonymous(server, method, path, body=None):
    """An unsigned request: (status, headers, body)."""
    return raw_request(server.endpoint, method, path, body=body,
                       cafile=server.cafile)


def anonymous_status(server, method, path):
    return anonymous(server, method, path)[0]


def assert_anonymous_denied(server, method, path):
    status, _, body = anonymous(server, method, path)
    assert status == 403, (method, path, status, body)
    if method != "HEAD":
        assert b"<Code>AccessDenied</Code>" in body, body


def aws_as(server, key, *args, check=True):
    """The AWS CLI with `key`'s credentials (None: the server's root key)."""
    env = _client_env()
    env["AWS_ACCESS_KEY_ID"] = key["access_key"] if key else server.access_key
    env["AWS_SECRET_ACCESS_KEY"] = (key["secret_key"] if key
                                    else server.secret_key)
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    env["AWS_PAGER"] = ""
    if server.tls:
        env["AWS_CA_BUNDLE"] = server.cafile
    cmd = [*aws_cli_command(), "--endpoint-url", server.endpoint,
           *[str(a) for a in args]]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                       timeout=300)
    if check:
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    return r


def new_acl_bucket(s3, hint, ownership_value="ObjectWriter", public=False):
    """A bucket with ACLs enabled; with `public`, no public access block."""
    name = unique_bucket_name(hint)
    s3.create_bucket(Bucket=name, ObjectOwnership=ownership_value)
    if public:
        s3.delete_public_access_block(Bucket=name)
    return name


# --------------------------------------------------------------------------
# 1. Object Ownership
# --------------------------------------------------------------------------


def test_ownership_controls_round_trip(server, s3):
    b_user = User(server, "acl-other")
    bucket = unique_bucket_name("acl-ownership")
    s3.create_bucket(Bucket=bucket)
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    # A new bucket enforces bucket ownership: ACLs are disabled.
    assert ownership(s3, bucket) == "BucketOwnerEnforced"
    assert bucket_grants(s3, bucket) == [(owner, "FULL_CONTROL")]
    refused(400, "AccessControlListNotSupported", s3.put_bucket_acl,
            Bucket=bucket, GrantRead=b_user.grantee)
    assert bucket_grants(s3, bucket) == [(owner, "FULL_CONTROL")]

    for value in ("BucketOwnerPreferred", "ObjectWriter",
                  "BucketOwnerEnforced", "ObjectWriter"):
        set_ownership(s3, bucket, value)
        assert ownership(s3, bucket) == value

    # Only one rule, one of the three values.
    refused(400, "MalformedXML", set_ownership, s3, bucket, "Nonsense")
    assert ownership(s3, bucket) == "ObjectWriter"
    # Only who may configure the bucket sets or removes it.
    denied(set_ownership, b_user.s3, bucket, "BucketOwnerEnforced")
    denied(b_user.s3.delete_bucket_ownership_controls, Bucket=bucket)
    denied(b_user.s3.get_bucket_ownership_controls, Bucket=bucket)
    assert ownership(s3, bucket) == "ObjectWriter"

    # Deleted: no controls any more, and ACLs enabled (as ObjectWriter).
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    refused(404, "OwnershipControlsNotFoundError",
            s3.get_bucket_ownership_controls, Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, GrantRead=b_user.grantee)
    assert bucket_grants(s3, bucket) == [(b_user.id, "READ")]
    s3.put_object(Bucket=bucket, Key="shared", Body=b"shared",
                  GrantRead=b_user.grantee)
    assert object_grants(s3, bucket, "shared") == [(b_user.id, "READ")]
    assert body_of(b_user.s3, bucket, "shared") == b"shared"
    assert [o["Key"] for o in b_user.s3.list_objects_v2(
        Bucket=bucket)["Contents"]] == ["shared"]

    # ACLs cannot be disabled while the bucket's ACL grants someone else.
    refused(400, "InvalidBucketAclWithObjectOwnership", set_ownership, s3,
            bucket, "BucketOwnerEnforced")
    refused(404, "OwnershipControlsNotFoundError",
            s3.get_bucket_ownership_controls, Bucket=bucket)
    assert bucket_grants(s3, bucket) == [(b_user.id, "READ")]
    # Other values need no such check.
    set_ownership(s3, bucket, "BucketOwnerPreferred")
    assert ownership(s3, bucket) == "BucketOwnerPreferred"
    refused(400, "InvalidBucketAclWithObjectOwnership", set_ownership, s3,
            bucket, "BucketOwnerEnforced")
    assert ownership(s3, bucket) == "BucketOwnerPreferred"
    # Back to private, they can: and then the other user's grants are gone.
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert bucket_grants(s3, bucket) == [(owner, "FULL_CONTROL")]
    set_ownership(s3, bucket, "BucketOwnerEnforced")
    assert ownership(s3, bucket) == "BucketOwnerEnforced"
    assert bucket_grants(s3, bucket) == [(owner, "FULL_CONTROL")]
    # The objects' ACLs no longer count either.
    assert object_grants(s3, bucket, "shared") == [(owner, "FULL_CONTROL")]
    denied(b_user.s3.get_object, Bucket=bucket, Key="shared")
    denied(b_user.s3.list_objects_v2, Bucket=bucket)

    # CreateBucket sets Object Ownership.
    for value in ("ObjectWriter", "BucketOwnerPreferred",
                  "BucketOwnerEnforced"):
        name = unique_bucket_name(f"acl-create-{value}")
        s3.create_bucket(Bucket=name, ObjectOwnership=value)
        assert ownership(s3, name) == value

    # A bucket created enforcing bucket ownership takes no ACL but the
    # owner's full control; a refused CreateBucket makes no bucket.
    for acl in ({"ACL": "public-read"}, {"ACL": "authenticated-read"},
                {"GrantRead": b_user.grantee}):
        name = unique_bucket_name("acl-create-refused")
        refused(400, "InvalidBucketAclWithObjectOwnership", s3.create_bucket,
                Bucket=name, **acl)
        absent_bucket(s3, name)
    name = unique_bucket_name("acl-create-private")
    s3.create_bucket(Bucket=name, ACL="private")
    assert ownership(s3, name) == "BucketOwnerEnforced"
    assert bucket_grants(s3, name) == [(owner, "FULL_CONTROL")]

    # With ACLs enabled, CreateBucket takes an ACL too.
    name = unique_bucket_name("acl-create-granted")
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter",
                     GrantRead=b_user.grantee)
    assert bucket_grants(s3, name) == [(b_user.id, "READ")]
    b_user.s3.list_objects_v2(Bucket=name)
    # ... but not a public one: a new bucket blocks public access (S3
    # answers 400 InvalidBucketAclWithBlockPublicAccessError here, Shale
    # 403 AccessDenied: either way no bucket is made).
    name = unique_bucket_name("acl-create-public")
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter",
                         ACL="public-read")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] in (
        400, 403), exc.value.response
    absent_bucket(s3, name)


def absent_bucket(s3, name):
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert_client_error(exc, 404)


# --------------------------------------------------------------------------
# 2. Grants between two users
# --------------------------------------------------------------------------


def test_acl_grants_between_two_users(server):
    a, b = User(server, "acl-owner"), User(server, "acl-reader")
    bucket = unique_bucket_name("acl-two-users")
    a.s3.create_bucket(Bucket=bucket, ObjectOwnership="ObjectWriter")
    assert a.s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"] == a.id
    a.s3.put_object(Bucket=bucket, Key="before", Body=b"before")

    # Nothing granted yet: B is refused everything.
    denied(b.s3.list_objects_v2, Bucket=bucket)
    denied(b.s3.get_object, Bucket=bucket, Key="before")
    denied(b.s3.get_bucket_acl, Bucket=bucket)

    # A grants B READ on the bucket by canonical id: B lists, no more.
    a.s3.put_bucket_acl(Bucket=bucket, GrantFullControl=a.grantee,
                        GrantRead=b.grantee)
    assert sorted(bucket_grants(a.s3, bucket)) == sorted(
        [(a.id, "FULL_CONTROL"), (b.id, "READ")])
    listed = b.s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["before"]
    assert [o["Key"] for o in b.s3.list_objects(Bucket=bucket)[
        "Contents"]] == ["before"]
    # Listing is no read of the objects, nor a write, nor the ACL.
    denied(b.s3.get_object, Bucket=bucket, Key="before")
    denied(b.s3.put_object, Bucket=bucket, Key="by-b", Body=b"no")
    absent(a.s3, bucket, "by-b")
    denied(b.s3.delete_object, Bucket=bucket, Key="before")
    assert body_of(a.s3, bucket, "before") == b"before"
    denied(b.s3.get_bucket_acl, Bucket=bucket)
    denied(b.s3.put_bucket_acl, Bucket=bucket, GrantFullControl=b.grantee)
    assert sorted(bucket_grants(a.s3, bucket)) == sorted(
        [(a.id, "FULL_CONTROL"), (b.id, "READ")])

    # An object A writes with a READ grant for B: B reads it, only it.
    a.s3.put_object(Bucket=bucket, Key="doc", Body=b"for b",
                    GrantFullControl=a.grantee, GrantRead=b.grantee)
    acl = a.s3.get_object_acl(Bucket=bucket, Key="doc")
    assert acl["Owner"]["ID"] == a.id
    assert sorted(grants(acl)) == sorted([(a.id, "FULL_CONTROL"),
                                          (b.id, "READ")])
    assert body_of(b.s3, bucket, "doc") == b"for b"
    assert b.s3.head_object(Bucket=bucket, Key="doc")["ContentLength"] == 5
    denied(b.s3.get_object, Bucket=bucket, Key="before")
    # READ is not READ_ACP nor WRITE_ACP.
    denied(b.s3.get_object_acl, Bucket=bucket, Key="doc")
    denied(b.s3.put_object_acl, Bucket=bucket, Key="doc", ACL="private")
    denied(b.s3.put_object_acl, Bucket=bucket, Key="doc",
           GrantFullControl=b.grantee)
    assert sorted(object_grants(a.s3, bucket, "doc")) == sorted(
        [(a.id, "FULL_CONTROL"), (b.id, "READ")])
    denied(b.s3.put_object, Bucket=bucket, Key="doc", Body=b"overwritten")
    denied(b.s3.delete_object, Bucket=bucket, Key="doc")
    assert body_of(a.s3, bucket, "doc") == b"for b"

    # A adds READ_ACP with a document: B reads the ACL, still cannot write it.
    a.s3.put_object_acl(Bucket=bucket, Key="doc", AccessControlPolicy={
        "Owner": {"ID": a.id},
        "Grants": [user_grant(a.id, "FULL_CONTROL"),
                   user_grant(b.id, "READ"),
                   user_grant(b.id, "READ_ACP")]})
    expected = [(a.id, "FULL_CONTROL"), (b.id, "READ"), (b.id, "READ_ACP")]
    seen = b.s3.get_object_acl(Bucket=bucket, Key="doc")
    assert seen["Owner"]["ID"] == a.id
    assert grants(seen) == expected
    denied(b.s3.put_object_acl, Bucket=bucket, Key="doc", ACL="private")
    assert object_grants(a.s3, bucket, "doc") == expected
    assert body_of(b.s3, bucket, "doc") == b"for b"

    # WRITE_ACP on the object: B may rewrite its ACL (here, dropping READ).
    a.s3.put_object_acl(Bucket=bucket, Key="doc", AccessControlPolicy={
        "Owner": {"ID": a.id},
        "Grants": [user_grant(a.id, "FULL_CONTROL"),
                   user_grant(b.id, "READ"),
                   user_grant(b.id, "WRITE_ACP")]})
    denied(b.s3.get_object_acl, Bucket=bucket, Key="doc")
    b.s3.put_object_acl(Bucket=bucket, Key="doc", GrantFullControl=a.grantee)
    assert object_grants(a.s3, bucket, "doc") == [(a.id, "FULL_CONTROL")]
    denied(b.s3.get_object, Bucket=bucket, Key="doc")

    # The bucket's READ_ACP and WRITE_ACP, and WRITE.
    a.s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Owner": {"ID": a.id},
        "Grants": [user_grant(a.id, "FULL_CONTROL"),
                   user_grant(b.id, "READ_ACP")]})
    assert grants(b.s3.get_bucket_acl(Bucket=bucket)) == [
        (a.id, "FULL_CONTROL"), (b.id, "READ_ACP")]
    denied(b.s3.list_objects_v2, Bucket=bucket)
    denied(b.s3.put_bucket_acl, Bucket=bucket, ACL="private")
    a.s3.put_bucket_acl(Bucket=bucket, GrantFullControl=a.grantee,
                        GrantWrite=b.grantee, GrantWriteACP=b.grantee)
    denied(b.s3.get_bucket_acl, Bucket=bucket)
    b.s3.put_object(Bucket=bucket, Key="by-b", Body=b"from b")
    assert body_of(a.s3, bucket, "by-b") == b"from b"
    b.s3.delete_object(Bucket=bucket, Key="by-b")
    absent(a.s3, bucket, "by-b")
    b.s3.put_bucket_acl(Bucket=bucket, GrantFullControl=a.grantee)
    assert bucket_grants(a.s3, bucket) == [(a.id, "FULL_CONTROL")]
    denied(b.s3.put_object, Bucket=bucket, Key="by-b", Body=b"again")
    absent(a.s3, bucket, "by-b")


# --------------------------------------------------------------------------
# 3. Public ACLs and public access blocks
# --------------------------------------------------------------------------


def test_public_acls_wait_for_the_block_to_go(server, s3):
    reader = User(server, "acl-signed")
    bucket = new_acl_bucket(s3, "acl-public")
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    s3.put_object(Bucket=bucket, Key="pic.png", Body=b"picture")
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"secret stuff")
    path = f"/{bucket}/pic.png"

    # A new bucket blocks public ACLs: refused, nothing changed.
    denied(s3.put_object_acl, Bucket=bucket, Key="pic.png", ACL="public-read")
    denied(s3.put_object_acl, Bucket=bucket, Key="pic.png",
           GrantRead=f'uri="{ALL_USERS}"')
    denied(s3.put_object_acl, Bucket=bucket, Key="pic.png",
           AccessControlPolicy={"Owner": {"ID": owner}, "Grants": [
               group_grant(AUTHENTICATED_USERS, "READ")]})
    assert object_grants(s3, bucket, "pic.png") == [(owner, "FULL_CONTROL")]
    denied(s3.put_object, Bucket=bucket, Key="public.png", Body=b"x",
           ACL="public-read")
    absent(s3, bucket, "public.png")
    denied(s3.put_bucket_acl, Bucket=bucket, ACL="public-read")
    assert bucket_grants(s3, bucket) == [(owner, "FULL_CONTROL")]
    assert_anonymous_denied(server, "GET", path)

    # Lifted, the public ACL is taken and lets anonymous readers in.
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_object_acl(Bucket=bucket, Key="pic.png", ACL="public-read")
    assert object_grants(s3, bucket, "pic.png") == [
        (owner, "FULL_CONTROL"), (ALL_USERS, "READ")]
    status, _, body = anonymous(server, "GET", path)
    assert (status, body) == (200, b"picture")
    assert anonymous_status(server, "HEAD", path) == 200
    # Reading is all it allows.
    assert_anonymous_denied(server, "GET", f"{path}?acl")
    assert_anonymous_denied(server, "GET", f"/{bucket}/private.txt")
    assert_anonymous_denied(server, "GET", f"/{bucket}")
    status, _, _ = anonymous(server, "PUT", path, body=b"defaced")
    assert status == 403
    status, _, _ = anonymous(server, "DELETE", path)
    assert status == 403
    assert body_of(s3, bucket, "pic.png") == b"picture"

    # authenticated-read: any signed caller, no anonymous one.
    s3.put_object(Bucket=bucket, Key="members.txt", Body=b"members",
                  ACL="authenticated-read")
    assert object_grants(s3, bucket, "members.txt") == [
        (owner, "FULL_CONTROL"), (AUTHENTICATED_USERS, "READ")]
    assert body_of(reader.s3, bucket, "members.txt") == b"members"
    assert_anonymous_denied(server, "GET", f"/{bucket}/members.txt")
    denied(reader.s3.get_object, Bucket=bucket, Key="private.txt")

    # A public-read bucket ACL: anonymous listing.
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert bucket_grants(s3, bucket) == [(owner, "FULL_CONTROL"),
                                         (ALL_USERS, "READ")]
    status, _, body = anonymous(server, "GET", f"/{bucket}")
    assert status == 200, body
    assert b"<Key>pic.png</Key>" in body and b"<Key>private.txt</Key>" in body
    assert_anonymous_denied(server, "GET", f"/{bucket}/private.txt")

    # IgnorePublicAcls: public grants are taken but grant nothing.
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        **NO_BLOCK, "IgnorePublicAcls": True})
    assert_anonymous_denied(server, "GET", path)
    assert_anonymous_denied(server, "GET", f"/{bucket}")
    denied(reader.s3.get_object, Bucket=bucket, Key="members.txt")
    s3.put_object(Bucket=bucket, Key="late.png", Body=b"late",
                  ACL="public-read")
    assert object_grants(s3, bucket, "late.png") == [
        (owner, "FULL_CONTROL"), (ALL_USERS, "READ")]
    assert_anonymous_denied(server, "GET", f"/{bucket}/late.png")
    # BlockPublicAcls alone refuses new public ACLs but honours the old.
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        **NO_BLOCK, "BlockPublicAcls": True})
    status, _, body = anonymous(server, "GET", path)
    assert (status, body) == (200, b"picture")
    denied(s3.put_object_acl, Bucket=bucket, Key="private.txt",
           ACL="public-read")
    assert object_grants(s3, bucket, "private.txt") == [
        (owner, "FULL_CONTROL")]
    s3.delete_public_access_block(Bucket=bucket)
    for key, data in (("pic.png", b"picture"), ("late.png", b"late")):
        status, _, body = anonymous(server, "GET", f"/{bucket}/{key}")
        assert (status, body) == (200, data)
    assert body_of(reader.s3, bucket, "members.txt") == b"members"

    # An explicit Deny in the bucket policy wins over the ACL, for anyone.
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "NoReads", "Effect": "Deny", "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    assert_anonymous_denied(server, "GET", path)
    denied(reader.s3.get_object, Bucket=bucket, Key="members.txt")
    denied(s3.get_object, Bucket=bucket, Key="pic.png")
    # Not what it does not deny: the listing stays public.
    assert anonymous_status(server, "GET", f"/{bucket}") == 200
    s3.delete_bucket_policy(Bucket=bucket)
    status, _, body = anonymous(server, "GET", path)
    assert (status, body) == (200, b"picture")

    # Private again: the object is closed.
    s3.put_object_acl(Bucket=bucket, Key="pic.png", ACL="private")
    assert object_grants(s3, bucket, "pic.png") == [(owner, "FULL_CONTROL")]
    assert_anonymous_denied(server, "GET", path)


# --------------------------------------------------------------------------
# 4. Who owns what another user writes
# --------------------------------------------------------------------------


def test_bucket_owner_preferred_takes_what_comes_with_full_control(server):
    a, b = User(server, "acl-bucket-owner"), User(server, "acl-writer")
    bucket = unique_bucket_name("acl-preferred")
    a.s3.create_bucket(Bucket=bucket, ObjectOwnership="BucketOwnerPreferred")
    # B may write through the bucket's ACL.
    a.s3.put_bucket_acl(Bucket=bucket, GrantFullControl=a.grantee,
                        GrantWrite=b.grantee)

    b.s3.put_object(Bucket=bucket, Key="handed-over", Body=b"yours",
                    ACL="bucket-owner-full-control")
    acl = a.s3.get_object_acl(Bucket=bucket, Key="handed-over")
    assert acl["Owner"]["ID"] == a.id
    assert grants(acl) == [(a.id, "FULL_CONTROL")]
    # What is A's is not B's to read.
    denied(b.s3.get_object, Bucket=bucket, Key="handed-over")

    b.s3.put_object(Bucket=bucket, Key="kept", Body=b"mine")
    acl = a.s3.get_object_acl(Bucket=bucket, Key="kept")
    assert acl["Owner"]["ID"] == b.id
    assert grants(acl) == [(b.id, "FULL_CONTROL")]
    assert body_of(b.s3, bucket, "kept") == b"mine"
    assert grants(b.s3.get_object_acl(Bucket=bucket, Key="kept")) == [
        (b.id, "FULL_CONTROL")]

    b.s3.put_object(Bucket=bucket, Key="shown", Body=b"look",
                    ACL="bucket-owner-read")
    acl = a.s3.get_object_acl(Bucket=bucket, Key="shown")
    assert acl["Owner"]["ID"] == b.id
    assert grants(acl) == [(b.id, "FULL_CONTROL"), (a.id, "READ")]

    owners = {o["Key"]: o["Owner"]["ID"] for o in a.s3.list_objects_v2(
        Bucket=bucket, FetchOwner=True)["Contents"]}
    assert owners == {"handed-over": a.id, "kept": b.id, "shown": b.id}

    # A multipart upload with the canned ACL is handed over too.
    up = b.s3.create_multipart_upload(Bucket=bucket, Key="multi",
                                      ACL="bucket-owner-full-control")
    part = b.s3.upload_part(Bucket=bucket, Key="multi", PartNumber=1,
                            UploadId=up["UploadId"], Body=b"m" * 1000)
    b.s3.complete_multipart_upload(
        Bucket=bucket, Key="multi", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert a.s3.get_object_acl(Bucket=bucket, Key="multi")["Owner"][
        "ID"] == a.id

    # ObjectWriter: the writer owns it whatever it asks for.
    set_ownership(a.s3, bucket, "ObjectWriter")
    b.s3.put_object(Bucket=bucket, Key="written", Body=b"still mine",
                    ACL="bucket-owner-full-control")
    acl = a.s3.get_object_acl(Bucket=bucket, Key="written")
    assert acl["Owner"]["ID"] == b.id
    assert grants(acl) == [(b.id, "FULL_CONTROL"), (a.id, "FULL_CONTROL")]
    assert body_of(b.s3, bucket, "written") == b"still mine"

    # Write access by an admin grant instead of the bucket's ACL.
    other = unique_bucket_name("acl-preferred-grant")
    a.s3.create_bucket(Bucket=other, ObjectOwnership="BucketOwnerPreferred")
    denied(b.s3.put_object, Bucket=other, Key="x", Body=b"x")
    absent(a.s3, other, "x")
    server.admin_json("user", "grant", b.name, other, "write")
    b.s3.put_object(Bucket=other, Key="handed-over", Body=b"h",
                    ACL="bucket-owner-full-control")
    b.s3.put_object(Bucket=other, Key="kept", Body=b"k")
    assert a.s3.get_object_acl(Bucket=other, Key="handed-over")["Owner"][
        "ID"] == a.id
    assert a.s3.get_object_acl(Bucket=other, Key="kept")["Owner"][
        "ID"] == b.id


# --------------------------------------------------------------------------
# 5. Copies, multipart and browser uploads
# --------------------------------------------------------------------------


def test_copy_multipart_and_post_take_the_acl_they_ask_for(server, s3):
    b = User(server, "acl-copy-reader")
    bucket = new_acl_bucket(s3, "acl-copy", public=True)
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    private = [(owner, "FULL_CONTROL")]
    public = [(owner, "FULL_CONTROL"), (ALL_USERS, "READ")]
    s3.put_object(Bucket=bucket, Key="src", Body=b"source", ACL="public-read")
    assert object_grants(s3, bucket, "src") == public
    status, _, body = anonymous(server, "GET", f"/{bucket}/src")
    assert (status, body) == (200, b"source")

    # A copy does not inherit the source's ACL...
    source = {"Bucket": bucket, "Key": "src"}
    s3.copy_object(Bucket=bucket, Key="copy-plain", CopySource=source)
    assert object_grants(s3, bucket, "copy-plain") == private
    assert_anonymous_denied(server, "GET", f"/{bucket}/copy-plain")
    s3.copy_object(Bucket=bucket, Key="copy-replaced", CopySource=source,
                   MetadataDirective="REPLACE", ContentType="text/plain")
    assert object_grants(s3, bucket, "copy-replaced") == private
    # ... it takes the one it asks for.
    s3.copy_object(Bucket=bucket, Key="copy-public", CopySource=source,
                   ACL="public-read")
    assert object_grants(s3, bucket, "copy-public") == public
    status, _, body = anonymous(server, "GET", f"/{bucket}/copy-public")
    assert (status, body) == (200, b"source")
    s3.copy_object(Bucket=bucket, Key="copy-for-b", CopySource=source,
                   GrantRead=b.grantee)
    assert object_grants(s3, bucket, "copy-for-b") == [(b.id, "READ")]
    assert body_of(b.s3, bucket, "copy-for-b") == b"source"
    denied(b.s3.get_object, Bucket=bucket, Key="copy-plain")
    assert_anonymous_denied(server, "GET", f"/{bucket}/copy-for-b")
    # A private object copied public.
    s3.put_object(Bucket=bucket, Key="closed", Body=b"closed")
    s3.copy_object(Bucket=bucket, Key="opened", ACL="public-read",
                   CopySource={"Bucket": bucket, "Key": "closed"})
    assert object_grants(s3, bucket, "closed") == private
    assert object_grants(s3, bucket, "opened") == public
    assert anonymous_status(server, "GET", f"/{bucket}/opened") == 200
    assert_anonymous_denied(server, "GET", f"/{bucket}/closed")

    # Multipart: the ACL given at CreateMultipartUpload is the object's.
    def multipart(key, **acl):
        up = s3.create_multipart_upload(Bucket=bucket, Key=key, **acl)
        etags = []
        for number, data in ((1, b"a" * (5 * 1024 * 1024)), (2, b"tail")):
            etags.append(s3.upload_part(
                Bucket=bucket, Key=key, PartNumber=number,
                UploadId=up["UploadId"], Body=data)["ETag"])
        absent(s3, bucket, key)
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e}
                                       for n, e in enumerate(etags)]})
        return b"a" * (5 * 1024 * 1024) + b"tail"

    data = multipart("mp-public", ACL="public-read")
    assert object_grants(s3, bucket, "mp-public") == public
    status, _, body = anonymous(server, "GET", f"/{bucket}/mp-public")
    assert (status, body) == (200, data)
    data = multipart("mp-for-b", GrantRead=b.grantee)
    assert object_grants(s3, bucket, "mp-for-b") == [(b.id, "READ")]
    assert body_of(b.s3, bucket, "mp-for-b") == data
    assert_anonymous_denied(server, "GET", f"/{bucket}/mp-for-b")
    multipart("mp-plain")
    assert object_grants(s3, bucket, "mp-plain") == private
    denied(b.s3.get_object, Bucket=bucket, Key="mp-plain")

    # A browser upload's `acl` field.
    form = s3.generate_presigned_post(
        bucket, "posted", Fields={"acl": "public-read"},
        Conditions=[{"acl": "public-read"}], ExpiresIn=600)
    resp = requests.post(form["url"], data=form["fields"],
                         files={"file": ("f.txt", b"posted")}, timeout=60)
    assert resp.status_code == 204, resp.content
    assert object_grants(s3, bucket, "posted") == public
    status, _, body = anonymous(server, "GET", f"/{bucket}/posted")
    assert (status, body) == (200, b"posted")
    # ... refused, with nothing written, where public ACLs are blocked.
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        **NO_BLOCK, "BlockPublicAcls": True})
    form = s3.generate_presigned_post(
        bucket, "posted-blocked", Fields={"acl": "public-read"},
        Conditions=[{"acl": "public-read"}], ExpiresIn=600)
    resp = requests.post(form["url"], data=form["fields"],
                         files={"file": ("f.txt", b"no")}, timeout=60)
    assert resp.status_code == 403, resp.content
    assert b"<Code>AccessDenied</Code>" in resp.content
    absent(s3, bucket, "posted-blocked")
    # The same for a copy and a multipart upload.
    denied(s3.copy_object, Bucket=bucket, Key="copy-blocked",
           CopySource=source, ACL="public-read")
    absent(s3, bucket, "copy-blocked")
    denied(s3.create_multipart_upload, Bucket=bucket, Key="mp-blocked",
           ACL="public-read")
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


# --------------------------------------------------------------------------
# 6. The AWS CLI
# --------------------------------------------------------------------------


def test_the_aws_cli_sets_and_reads_acls(server, s3, tmp_path):
    b = User(server, "acl-cli")
    bucket = unique_bucket_name("acl-cli")
    aws_as(server, None, "s3api", "create-bucket", "--bucket", bucket,
           "--object-ownership", "ObjectWriter")
    got = json.loads(aws_as(server, None, "s3api",
                            "get-bucket-ownership-controls", "--bucket",
                            bucket, "--output", "json").stdout)
    assert got["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "ObjectWriter"}]
    src = tmp_path / "page.html"
    src.write_bytes(b"<p>hello</p>")
    aws_as(server, None, "s3api", "put-object", "--bucket", bucket,
           "--key", "page.html", "--body", src)
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]

    # Blocked at first, as S3's new buckets are.
    r = aws_as(server, None, "s3api", "put-object-acl", "--bucket", bucket,
               "--key", "page.html", "--acl", "public-read", check=False)
    assert r.returncode != 0 and "AccessDenied" in r.stderr, r.stderr
    aws_as(server, None, "s3api", "delete-public-access-block", "--bucket",
           bucket)
    aws_as(server, None, "s3api", "put-object-acl", "--bucket", bucket,
           "--key", "page.html", "--acl", "public-read")
    got = json.loads(aws_as(server, None, "s3api", "get-object-acl",
                            "--bucket", bucket, "--key", "page.html",
                            "--output", "json").stdout)
    assert got["Owner"]["ID"] == owner
    assert grants(got) == [(owner, "FULL_CONTROL"), (ALL_USERS, "READ")]
    status, _, body = anonymous(server, "GET", f"/{bucket}/page.html")
    assert (status, body) == (200, b"<p>hello</p>")

    # Grants by header, and `aws s3 cp --acl`.
    aws_as(server, None, "s3api", "put-object-acl", "--bucket", bucket,
           "--key", "page.html", "--grant-read", b.grantee)
    got = json.loads(aws_as(server, None, "s3api", "get-object-acl",
                            "--bucket", bucket, "--key", "page.html",
                            "--output", "json").stdout)
    assert grants(got) == [(b.id, "READ")]
    assert_anonymous_denied(server, "GET", f"/{bucket}/page.html")
    assert body_of(b.s3, bucket, "page.html") == b"<p>hello</p>"
    aws_as(server, None, "s3", "cp", src, f"s3://{bucket}/copied.html",
           "--acl", "public-read")
    assert object_grants(s3, bucket, "copied.html") == [
        (owner, "FULL_CONTROL"), (ALL_USERS, "READ")]
    assert anonymous_status(server, "GET", f"/{bucket}/copied.html") == 200

    # The other user, through the CLI, reads what the ACL lets it read.
    r = aws_as(server, b.key, "s3api", "get-object-acl", "--bucket", bucket,
               "--key", "page.html", check=False)
    assert r.returncode != 0 and "AccessDenied" in r.stderr, r.stderr
    out = tmp_path / "got.html"
    aws_as(server, b.key, "s3", "cp", f"s3://{bucket}/page.html", out)
    assert out.read_bytes() == b"<p>hello</p>"

    # A bucket enforcing bucket ownership refuses the CLI's ACL.
    aws_as(server, None, "s3api", "put-bucket-ownership-controls",
           "--bucket", bucket, "--ownership-controls",
           "Rules=[{ObjectOwnership=BucketOwnerEnforced}]")
    assert ownership(s3, bucket) == "BucketOwnerEnforced"
    r = aws_as(server, None, "s3api", "put-object-acl", "--bucket", bucket,
               "--key", "page.html", "--acl", "public-read", check=False)
    assert r.returncode != 0, r.stdout
    assert "AccessControlListNotSupported" in r.stderr, r.stderr
    assert_anonymous_denied(server, "GET", f"/{bucket}/page.html")
    aws_as(server, None, "s3api", "delete-bucket-ownership-controls",
           "--bucket", bucket)
    r = aws_as(server, None, "s3api", "get-bucket-ownership-controls",
               "--bucket", bucket, check=False)
    assert r.returncode != 0, r.stdout
    assert "OwnershipControlsNotFoundError" in r.stderr, r.stderr


# --------------------------------------------------------------------------
# 7. Refused inputs
# --------------------------------------------------------------------------


def test_refused_acl_inputs(server, s3):
    b = User(server, "acl-refused")
    nobody = 'id="' + "0" * 64 + '"'
    email = 'emailAddress="someone@example.com"'
    bucket = new_acl_bucket(s3, "acl-refused", public=True)
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    private = [(owner, "FULL_CONTROL")]
    s3.put_object(Bucket=bucket, Key="obj", Body=b"obj")

    # A canned ACL and grant headers together.
    both = {"ACL": "private", "GrantRead": b.grantee}
    refused(400, "InvalidRequest", s3.put_object, Bucket=bucket,
            Key="both", Body=b"x", **both)
    absent(s3, bucket, "both")
    refused(400, "InvalidRequest", s3.put_object_acl, Bucket=bucket,
            Key="obj", **both)
    refused(400, "InvalidRequest", s3.put_bucket_acl, Bucket=bucket,
            **both)
    refused(400, "InvalidRequest", s3.copy_object, Bucket=bucket,
            Key="both", CopySource={"Bucket": bucket, "Key": "obj"}, **both)
    absent(s3, bucket, "both")
    refused(400, "InvalidRequest", s3.create_multipart_upload,
            Bucket=bucket, Key="both", **both)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")

    # A grantee by e-mail address: no account is found by one.
    refused(400, "UnresolvableGrantByEmailAddress", s3.put_object,
            Bucket=bucket, Key="mailed", Body=b"x", GrantRead=email)
    absent(s3, bucket, "mailed")
    refused(400, "UnresolvableGrantByEmailAddress", s3.put_object_acl,
            Bucket=bucket, Key="obj", GrantRead=email)
    refused(400, "UnresolvableGrantByEmailAddress", s3.put_bucket_acl,
            Bucket=bucket, AccessControlPolicy={
                "Owner": {"ID": owner},
                "Grants": [user_grant(b.id, "READ_ACP"), {
                    "Grantee": {"Type": "AmazonCustomerByEmail",
                                "EmailAddress": "someone@example.com"},
                    "Permission": "READ"}]})

    # A canonical id no user has.
    refused(400, "InvalidArgument", s3.put_object, Bucket=bucket,
            Key="unknown", Body=b"x", GrantRead=nobody)
    absent(s3, bucket, "unknown")
    refused(400, "InvalidArgument", s3.put_object_acl, Bucket=bucket,
            Key="obj", GrantFullControl=nobody)
    refused(400, "InvalidArgument", s3.put_bucket_acl, Bucket=bucket,
            GrantWrite=nobody)
    refused(400, "InvalidArgument", s3.put_object_acl, Bucket=bucket,
            Key="obj", AccessControlPolicy={
                "Owner": {"ID": owner},
                "Grants": [user_grant(b.id, "READ_ACP"),
                           user_grant("0" * 64, "READ")]})

    # Nothing was changed by any of them.
    assert object_grants(s3, bucket, "obj") == private
    assert bucket_grants(s3, bucket) == private
    assert body_of(s3, bucket, "obj") == b"obj"
    denied(b.s3.get_object, Bucket=bucket, Key="obj")
    denied(b.s3.list_objects_v2, Bucket=bucket)

    # A bucket enforcing bucket ownership takes only the owner's full
    # control (its public access block lifted: the ACL is what is refused).
    enforced = unique_bucket_name("acl-refused-enforced")
    s3.create_bucket(Bucket=enforced)
    s3.delete_public_access_block(Bucket=enforced)
    s3.put_object(Bucket=enforced, Key="obj", Body=b"obj")
    for acl in ({"ACL": "public-read"}, {"ACL": "authenticated-read"},
                {"GrantRead": b.grantee}):
        refused(400, "AccessControlListNotSupported", s3.put_object,
                Bucket=enforced, Key="new", Body=b"x", **acl)
        absent(s3, enforced, "new")
        refused(400, "AccessControlListNotSupported", s3.put_object_acl,
                Bucket=enforced, Key="obj", **acl)
        refused(400, "AccessControlListNotSupported", s3.put_bucket_acl,
                Bucket=enforced, **acl)
        refused(400, "AccessControlListNotSupported", s3.copy_object,
                Bucket=enforced, Key="new",
                CopySource={"Bucket": enforced, "Key": "obj"}, **acl)
        absent(s3, enforced, "new")
        refused(400, "AccessControlListNotSupported",
                s3.create_multipart_upload, Bucket=enforced, Key="new", **acl)
    assert not s3.list_multipart_uploads(Bucket=enforced).get("Uploads")
    assert_anonymous_denied(server, "GET", f"/{enforced}/obj")
    assert object_grants(s3, enforced, "obj") == private
    assert bucket_grants(s3, enforced) == private
    # The owner's full control is accepted (and changes nothing).
    s3.put_object(Bucket=enforced, Key="owned", Body=b"o",
                  ACL="bucket-owner-full-control")
    s3.put_object_acl(Bucket=enforced, Key="obj", ACL="private")
    assert object_grants(s3, enforced, "owned") == private
    assert object_grants(s3, enforced, "obj") == private


# --------------------------------------------------------------------------
# The owner's own canonical id as a grantee
# --------------------------------------------------------------------------


def test_the_root_owners_id_can_be_granted(server, s3):
    b = User(server, "acl-root-grant")
    bucket = new_acl_bucket(s3, "acl-root-grant")
    acl = s3.get_bucket_acl(Bucket=bucket)
    owner = acl["Owner"]["ID"]
    # Read-modify-write of the ACL, as tools do it.
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Owner": acl["Owner"],
        "Grants": acl["Grants"] + [user_grant(b.id, "READ")]})
    assert bucket_grants(s3, bucket) == [(owner, "FULL_CONTROL"),
                                         (b.id, "READ")]
    s3.put_object(Bucket=bucket, Key="obj", Body=b"obj",
                  GrantFullControl=f'id="{owner}"', GrantRead=b.grantee)
    assert sorted(object_grants(s3, bucket, "obj")) == sorted(
        [(owner, "FULL_CONTROL"), (b.id, "READ")])


def test_a_copy_reads_its_source_through_the_objects_acl(server):
    a, b = User(server, "acl-copy-owner"), User(server, "acl-copier")
    bucket = unique_bucket_name("acl-copy-source")
    a.s3.create_bucket(Bucket=bucket, ObjectOwnership="ObjectWriter")
    a.s3.put_bucket_acl(Bucket=bucket, GrantFullControl=a.grantee,
                        GrantWrite=b.grantee)
    a.s3.put_object(Bucket=bucket, Key="src", Body=b"readable by b",
                    GrantFullControl=a.grantee, GrantRead=b.grantee)
    a.s3.put_object(Bucket=bucket, Key="closed", Body=b"not for b")
    assert body_of(b.s3, bucket, "src") == b"readable by b"
    # Without READ on the source: refused, nothing written.
    denied(b.s3.copy_object, Bucket=bucket, Key="stolen",
           CopySource={"Bucket": bucket, "Key": "closed"})
    absent(a.s3, bucket, "stolen")
    # With it (and WRITE on the bucket), as S3 lets it.
    b.s3.copy_object(Bucket=bucket, Key="copy",
                     CopySource={"Bucket": bucket, "Key": "src"})
    assert body_of(b.s3, bucket, "copy") == b"readable by b"
    assert a.s3.get_object_acl(Bucket=bucket, Key="copy")["Owner"][
        "ID"] == b.id
    up = b.s3.create_multipart_upload(Bucket=bucket, Key="part-copy")
    part = b.s3.upload_part_copy(
        Bucket=bucket, Key="part-copy", PartNumber=1, UploadId=up["UploadId"],
        CopySource={"Bucket": bucket, "Key": "src"})
    b.s3.complete_multipart_upload(
        Bucket=bucket, Key="part-copy", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1,
                                    "ETag": part["CopyPartResult"]["ETag"]}]})
    assert body_of(b.s3, bucket, "part-copy") == b"readable by b"


def test_delete_objects_with_the_bucket_acls_write(server):
    a, b = User(server, "acl-del-owner"), User(server, "acl-deleter")
    bucket = unique_bucket_name("acl-delete-objects")
    a.s3.create_bucket(Bucket=bucket, ObjectOwnership="ObjectWriter")
    for key in ("one", "two", "three"):
        a.s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    denied(b.s3.delete_objects, Bucket=bucket,
           Delete={"Objects": [{"Key": "one"}]})
    assert body_of(a.s3, bucket, "one") == b"one"
    a.s3.put_bucket_acl(Bucket=bucket, GrantFullControl=a.grantee,
                        GrantWrite=b.grantee)
    # DeleteObject is let in by the WRITE grant...
    b.s3.delete_object(Bucket=bucket, Key="three")
    absent(a.s3, bucket, "three")
    # ... and so, as S3 has it, is DeleteObjects.
    resp = b.s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "one"}, {"Key": "two"}]})
    assert not resp.get("Errors"), resp
    assert sorted(d["Key"] for d in resp["Deleted"]) == ["one", "two"]
    absent(a.s3, bucket, "one")
    absent(a.s3, bucket, "two")
