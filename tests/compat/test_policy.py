"""Bucket policies in IAM's language and public access blocks (issue 16).

Every refusal is 403 AccessDenied with nothing changed: after each one the
test reads back what the request would have changed.
"""

import http.client
import json
import time
import urllib.parse
import uuid

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import (LOOPBACK, assert_client_error, raw_request,
                      unique_bucket_name)

ACCOUNT = "000000000000"


def user_arn(key_id):
    return f"arn:aws:iam::{ACCOUNT}:user/{key_id}"


def new_key(server, s3, grant_on=None):
    """A key that holds no grant on the test's buckets (a grant on a bucket
    of its own, so it is not a root key), and its client."""
    own = grant_on or unique_bucket_name("own")
    if grant_on is None:
        s3.create_bucket(Bucket=own)
    key = server.admin_json("key", "create", "--name",
                f"policy-{uuid.uuid4().hex[:8]}", "--grant", f"{own}:read")
    client = server.client(access_key=key["access_key"],
                           secret_key=key["secret_key"])
    return key["access_key"], client


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def denied(call, *args, **kwargs):
    with pytest.raises(ClientError) as exc:
        call(*args, **kwargs)
    assert_client_error(exc, 403, "AccessDenied")


def absent(s3, bucket, key):
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert_client_error(exc, 404)


def anonymous(server, method, path, body=None, source=None):
    """An unsigned request; from `source` (a loopback address) if given."""
    if source is None:
        return raw_request(server.endpoint, method, path, body=body,
                           cafile=server.cafile)
    url = urllib.parse.urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(LOOPBACK, url.port, timeout=60,
                                      source_address=(source, 0))
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_a_public_policy_waits_for_the_block_to_go_then_serves_anonymous_reads(
        server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="public/logo.png", Body=b"logo")
    s3.put_object(Bucket=bucket, Key="private/plan.txt", Body=b"the plan itself")
    # A new bucket blocks public access, as S3's do.
    block = s3.get_public_access_block(Bucket=bucket)
    assert block["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    public = policy({"Sid": "Site", "Effect": "Allow", "Principal": "*",
                     "Action": "s3:GetObject",
                     "Resource": f"arn:aws:s3:::{bucket}/public/*"})
    denied(s3.put_bucket_policy, Bucket=bucket, Policy=public)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert_client_error(exc, 404, "NoSuchBucketPolicy")
    status, _, _ = anonymous(server, "GET", f"/{bucket}/public/logo.png")
    assert status == 403

    s3.delete_public_access_block(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_public_access_block(Bucket=bucket)
    assert_client_error(exc, 404, "NoSuchPublicAccessBlockConfiguration")
    s3.put_bucket_policy(Bucket=bucket, Policy=public)
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == public
    status = s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]
    assert status == {"IsPublic": True}

    status, _, body = anonymous(server, "GET", f"/{bucket}/public/logo.png")
    assert (status, body) == (200, b"logo")
    for method, path in (("GET", f"/{bucket}/private/plan.txt"),
                         ("GET", f"/{bucket}"),
                         ("PUT", f"/{bucket}/public/defaced.png"),
                         ("DELETE", f"/{bucket}/public/logo.png"),
                         ("GET", "/")):
        status, _, body = anonymous(server, method, path,
                                    body=b"x" if method == "PUT" else None)
        assert status == 403, (method, path, body)
        assert b"<Code>AccessDenied</Code>" in body
        assert b"the plan itself" not in body
    absent(s3, bucket, "public/defaced.png")
    assert s3.get_object(Bucket=bucket, Key="public/logo.png")["Body"].read() == b"logo"

    # RestrictPublicBuckets: the public statement no longer lets anyone in.
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "RestrictPublicBuckets": True})
    status, _, _ = anonymous(server, "GET", f"/{bucket}/public/logo.png")
    assert status == 403
    s3.delete_public_access_block(Bucket=bucket)
    status, _, _ = anonymous(server, "GET", f"/{bucket}/public/logo.png")
    assert status == 200
    s3.delete_bucket_policy(Bucket=bucket)
    status, _, _ = anonymous(server, "GET", f"/{bucket}/public/logo.png")
    assert status == 403


def test_what_an_anonymous_writer_puts_is_the_bucket_owners(server, s3,
                                                            bucket):
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy({
        "Sid": "Dropbox", "Effect": "Allow", "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/incoming/*"}))
    status, _, body = anonymous(server, "PUT", f"/{bucket}/incoming/note.txt",
                                body=b"hello")
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="incoming/note.txt")[
        "Body"].read() == b"hello"
    owner = s3.get_object_acl(Bucket=bucket, Key="incoming/note.txt")["Owner"]
    assert owner["ID"] == s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    status, _, _ = anonymous(server, "PUT", f"/{bucket}/elsewhere.txt",
                             body=b"no")
    assert status == 403
    absent(s3, bucket, "elsewhere.txt")


def test_an_anonymous_browser_upload_a_public_policy_lets_in(server, s3,
                                                              bucket):
    """A form without signature or policy (an HTML form anyone may post)
    uploads where the bucket's policy lets everyone PutObject, as the
    bucket owner's; elsewhere, or once the bucket restricts public access
    again, it is 403 with nothing written."""
    def form_post(key, data):
        resp = requests.post(f"{server.endpoint}/{bucket}",
                             data={"key": key},
                             files={"file": ("f.txt", data)},
                             timeout=60, verify=server.cafile or True)
        return resp.status_code, resp.content

    status, _ = form_post("incoming/early.txt", b"no")
    assert status == 403
    absent(s3, bucket, "incoming/early.txt")
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy({
        "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/incoming/*"}))
    status, body = form_post("incoming/note.txt", b"hello")
    assert status == 204, body
    assert s3.get_object(Bucket=bucket, Key="incoming/note.txt")[
        "Body"].read() == b"hello"
    owner = s3.get_object_acl(Bucket=bucket, Key="incoming/note.txt")["Owner"]
    assert owner["ID"] == s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    status, _ = form_post("other.txt", b"no")
    assert status == 403
    absent(s3, bucket, "other.txt")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False,
        "BlockPublicPolicy": False, "RestrictPublicBuckets": True})
    deadline = time.monotonic() + 15
    while True:
        status, _ = form_post("incoming/late.txt", b"no")
        if status == 403:
            break
        assert time.monotonic() < deadline, status
        s3.delete_object(Bucket=bucket, Key="incoming/late.txt")
        time.sleep(0.2)
    absent(s3, bucket, "incoming/late.txt")


def test_a_writer_limited_to_a_prefix(server, s3, bucket):
    key_id, writer = new_key(server, s3)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy({
        "Effect": "Allow", "Principal": {"AWS": user_arn(key_id)},
        "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
        "Resource": f"arn:aws:s3:::{bucket}/uploads/*"}))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"] == {
        "IsPublic": False}
    writer.put_object(Bucket=bucket, Key="uploads/a.txt", Body=b"a")
    up = writer.create_multipart_upload(Bucket=bucket, Key="uploads/big")
    part = writer.upload_part(Bucket=bucket, Key="uploads/big", PartNumber=1,
                              UploadId=up["UploadId"], Body=b"p" * 100)
    writer.complete_multipart_upload(
        Bucket=bucket, Key="uploads/big", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="uploads/big")["Body"].read() == b"p" * 100
    denied(writer.put_object, Bucket=bucket, Key="elsewhere/a.txt", Body=b"a")
    absent(s3, bucket, "elsewhere/a.txt")
    denied(writer.get_object, Bucket=bucket, Key="uploads/a.txt")
    denied(writer.list_objects_v2, Bucket=bucket)
    denied(writer.delete_object, Bucket=bucket, Key="uploads/a.txt")
    denied(writer.delete_bucket_policy, Bucket=bucket)
    denied(writer.put_bucket_policy, Bucket=bucket, Policy=policy({
        "Effect": "Allow", "Principal": "*", "Action": "s3:*",
        "Resource": f"arn:aws:s3:::{bucket}/*"}))
    assert s3.get_object(Bucket=bucket, Key="uploads/a.txt")["Body"].read() == b"a"
    assert user_arn(key_id) in s3.get_bucket_policy(Bucket=bucket)["Policy"]


def test_deny_wins_over_a_grant_and_the_root_key(server, s3, bucket):
    writer_grant = server.admin_json("key", "create", "--name",
                         f"policy-w-{uuid.uuid4().hex[:8]}", "--grant",
                         f"{bucket}:write")
    writer = server.client(access_key=writer_grant["access_key"],
                           secret_key=writer_grant["secret_key"])
    for key in ("keep/a", "keep/b", "tmp/c"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    s3.put_bucket_policy(Bucket=bucket, Policy=policy({
        "Sid": "KeepIsKept", "Effect": "Deny", "Principal": "*",
        "Action": ["s3:DeleteObject", "s3:PutObject"],
        "Resource": f"arn:aws:s3:::{bucket}/keep/*"}))
    for client in (writer, s3):
        denied(client.delete_object, Bucket=bucket, Key="keep/a")
        denied(client.put_object, Bucket=bucket, Key="keep/a", Body=b"new")
    resp = writer.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "keep/b"}, {"Key": "tmp/c"}]})
    assert [(e["Key"], e["Code"]) for e in resp.get("Errors", [])] == [
        ("keep/b", "AccessDenied")]
    assert [d["Key"] for d in resp.get("Deleted", [])] == ["tmp/c"]
    for key in ("keep/a", "keep/b"):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    absent(s3, bucket, "tmp/c")
    # Outside the denied prefix the grant still works.
    writer.put_object(Bucket=bucket, Key="tmp/d", Body=b"d")
    # A policy that denies everything to everyone still lets the root key
    # read, replace and delete it.
    everything = policy({"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                         "Resource": [f"arn:aws:s3:::{bucket}",
                                      f"arn:aws:s3:::{bucket}/*"]})
    s3.put_bucket_policy(Bucket=bucket, Policy=everything)
    denied(s3.get_object, Bucket=bucket, Key="keep/a")
    denied(s3.list_objects_v2, Bucket=bucket)
    denied(writer.delete_bucket_policy, Bucket=bucket)
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == everything
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="keep/a")["Body"].read() == b"keep/a"


def test_without_a_policy_delete_objects_needs_the_grant(server, s3, bucket):
    _, stranger = new_key(server, s3)
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    with pytest.raises(ClientError) as exc:
        stranger.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}]})
    assert_client_error(exc, 403, "AccessDenied")
    status, _, body = anonymous(server, "POST", f"/{bucket}?delete",
                                body=b"<Delete><Object><Key>a</Key></Object></Delete>")
    assert status == 403, body
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"a"


def test_a_bucket_readable_only_from_one_address(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="report", Body=b"figures")
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Sid": "Office", "Effect": "Allow", "Principal": "*",
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.2/32"}}},
        {"Sid": "NoOneElse", "Effect": "Deny", "Principal": "*",
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": "127.0.0.2/32"}}}))
    # A fixed address range: not public.
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"] == {
        "IsPublic": False}
    status, _, body = anonymous(server, "GET", f"/{bucket}/report",
                                source="127.0.0.2")
    assert (status, body) == (200, b"figures")
    status, _, body = anonymous(server, "GET", f"/{bucket}/report",
                                source="127.0.0.1")
    assert status == 403 and b"figures" not in body
    # The Deny reaches signed requests from elsewhere too, the root key's.
    denied(s3.get_object, Bucket=bucket, Key="report")


def test_a_bucket_that_only_speaks_tls(server, s3, bucket, tls_server):
    only_tls = lambda name: policy({
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=only_tls(bucket))
    denied(s3.get_object, Bucket=bucket, Key="k")
    denied(s3.put_object, Bucket=bucket, Key="k", Body=b"changed")
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"

    secure = tls_server.client()
    name = unique_bucket_name("tls-only")
    secure.create_bucket(Bucket=name)
    secure.put_bucket_policy(Bucket=name, Policy=only_tls(name))
    secure.put_object(Bucket=name, Key="k", Body=b"over tls")
    assert secure.get_object(Bucket=name, Key="k")["Body"].read() == b"over tls"


def test_tag_conditions_limit_what_a_writer_may_tag(server, s3, bucket):
    key_id, writer = new_key(server, s3)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy({
        "Effect": "Allow", "Principal": {"AWS": user_arn(key_id)},
        "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringEquals": {"s3:RequestObjectTag/team": "blue"},
                      "ForAllValues:StringEquals": {
                          "s3:RequestObjectTagKeys": ["team", "stage"]}}}))
    writer.put_object(Bucket=bucket, Key="blue", Body=b"b",
                      Tagging="team=blue&stage=dev")
    denied(writer.put_object, Bucket=bucket, Key="red", Body=b"r",
           Tagging="team=red")
    denied(writer.put_object, Bucket=bucket, Key="untagged", Body=b"u")
    denied(writer.put_object, Bucket=bucket, Key="extra", Body=b"e",
           Tagging="team=blue&owner=me")
    for key in ("red", "untagged", "extra"):
        absent(s3, bucket, key)
    tags = s3.get_object_tagging(Bucket=bucket, Key="blue")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [
        ("stage", "dev"), ("team", "blue")]


def test_a_reader_limited_to_objects_tagged_public(server, s3, bucket):
    key_id, reader = new_key(server, s3)
    s3.put_object(Bucket=bucket, Key="open", Body=b"o", Tagging="share=yes")
    s3.put_object(Bucket=bucket, Key="closed", Body=b"c", Tagging="share=no")
    s3.put_object(Bucket=bucket, Key="untagged", Body=b"u")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy({
        "Effect": "Allow", "Principal": {"AWS": user_arn(key_id)},
        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringEquals": {"s3:ExistingObjectTag/share": "yes"}}}))
    assert reader.get_object(Bucket=bucket, Key="open")["Body"].read() == b"o"
    denied(reader.get_object, Bucket=bucket, Key="closed")
    denied(reader.get_object, Bucket=bucket, Key="untagged")
    denied(reader.get_object, Bucket=bucket, Key="missing")
    # Retagging moves the object in or out, at once.
    s3.put_object_tagging(Bucket=bucket, Key="closed", Tagging={
        "TagSet": [{"Key": "share", "Value": "yes"}]})
    assert reader.get_object(Bucket=bucket, Key="closed")["Body"].read() == b"c"


@pytest.mark.parametrize("document, message", [
    ("not json", "Policies must be valid JSON and the first byte must be '{'"),
    (policy({"Effect": "Allow", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::{bucket}/*"}),
     "Missing required field Principal"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:Fly",
             "Resource": "arn:aws:s3:::{bucket}/*"}),
     "Policy has invalid action"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::someone-elses-bucket/*"}),
     "Policy has invalid resource"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::{bucket}"}),
     "Action does not apply to any resource(s) in statement"),
    (policy({"Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/nobody-here"},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{bucket}/*"}),
     "Invalid principal in policy"),
    (policy(*[{"Sid": f"S{i}", "Effect": "Allow", "Principal": "*",
               "Action": "s3:GetObject",
               "Resource": f"arn:aws:s3:::{{bucket}}/{'x' * 200}{i}"}
              for i in range(80)]),
     "Normalized policy document exceeds the maximum allowed size of 20480 bytes"),
], ids=["not-json", "no-principal", "bad-action", "other-bucket",
        "wrong-resource-kind", "unknown-user", "too-large"])
def test_malformed_policies_are_refused_with_s3s_words(s3, bucket, document,
                                                       message):
    document = document.replace("{bucket}", bucket)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy=document)
    assert_client_error(exc, 400, "MalformedPolicy")
    assert exc.value.response["Error"]["Message"] == message
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert_client_error(exc, 404, "NoSuchBucketPolicy")


def test_the_aws_cli_sets_and_reads_a_policy(server, s3, bucket):
    key_id, reader = new_key(server, s3)
    document = policy({"Effect": "Allow", "Principal": {"AWS": user_arn(key_id)},
                       "Action": ["s3:ListBucket"],
                       "Resource": f"arn:aws:s3:::{bucket}",
                       "Condition": {"StringLike": {"s3:prefix": "shared/*"}}})
    server.aws("s3api", "put-bucket-policy", "--bucket", bucket,
               "--policy", document)
    got = server.aws_json("s3api", "get-bucket-policy", "--bucket", bucket)
    assert json.loads(got["Policy"]) == json.loads(document)
    status = server.aws_json("s3api", "get-bucket-policy-status", "--bucket",
                             bucket)
    assert status == {"PolicyStatus": {"IsPublic": False}}
    s3.put_object(Bucket=bucket, Key="shared/a", Body=b"a")
    listed = reader.list_objects_v2(Bucket=bucket, Prefix="shared/")
    assert [o["Key"] for o in listed["Contents"]] == ["shared/a"]
    denied(reader.list_objects_v2, Bucket=bucket, Prefix="private/")
    denied(reader.list_objects_v2, Bucket=bucket)
    server.aws("s3api", "delete-bucket-policy", "--bucket", bucket)
    denied(reader.list_objects_v2, Bucket=bucket, Prefix="shared/")


def test_the_accounts_public_access_block_holds_over_every_buckets(
        server_factory):
    """`[gateway.public_access_block]` (here `shale dev
    --account-public-access-block`), S3's account-level block: a bucket
    that lifted its own block still refuses a public policy
    (BlockPublicPolicy), and a public policy serves no anonymous caller
    (RestrictPublicBuckets)."""
    blocked = server_factory.new(extra_args=[
        "--account-public-access-block", "block-public-policy"])
    s3 = blocked.client()
    name = unique_bucket_name("account-block")
    s3.create_bucket(Bucket=name)
    s3.delete_public_access_block(Bucket=name)
    public = policy({"Effect": "Allow", "Principal": "*",
                     "Action": "s3:GetObject",
                     "Resource": f"arn:aws:s3:::{name}/*"})
    denied(s3.put_bucket_policy, Bucket=name, Policy=public)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=name)
    assert_client_error(exc, 404, "NoSuchBucketPolicy")
    blocked.stop()

    # A deployment whose block restricts public buckets takes a public
    # policy, which lets no anonymous caller in.
    restricted = server_factory.new(extra_args=[
        "--account-public-access-block", "restrict-public-buckets"])
    s3 = restricted.client()
    s3.create_bucket(Bucket=name)
    s3.delete_public_access_block(Bucket=name)
    s3.put_bucket_policy(Bucket=name, Policy=public)
    s3.put_object(Bucket=name, Key="a.txt", Body=b"a")
    status, _, _ = anonymous(restricted, "GET", f"/{name}/a.txt")
    assert status == 403
    assert s3.get_bucket_policy_status(Bucket=name)["PolicyStatus"][
        "IsPublic"] is True
