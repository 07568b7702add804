"""What tools read about a bucket and its objects besides the data: ACLs
(disabled, as on new S3 buckets), policy, lifecycle, versioning, request
payment, Object Lock, and ListObjectVersions on a bucket that has never had
versioning. boto3, the AWS CLI and raw requests, checked for S3's codes."""

import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import (assert_client_error, assert_s3_error, canonical_id,
                      random_bytes, raw_request, unique_bucket_name)


def test_acls_are_the_owners_full_control(server, s3, bucket):
    # Bucket and object were made with the root key: it owns them.
    owner_id = canonical_id(server.access_key)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for acl in (s3.get_bucket_acl(Bucket=bucket),
                s3.get_object_acl(Bucket=bucket, Key="k")):
        assert acl["Owner"]["ID"] == owner_id
        assert acl["Grants"] == [{
            "Grantee": {"DisplayName": server.access_key, "ID": owner_id,
                        "Type": "CanonicalUser"},
            "Permission": "FULL_CONTROL"}]
    # Setting what is already there succeeds, in every form.
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="bucket-owner-full-control")
    s3.put_object_acl(Bucket=bucket, Key="k", GrantFullControl=f'id="{owner_id}"')
    policy = s3.get_object_acl(Bucket=bucket, Key="k")
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy={
        "Grants": policy["Grants"], "Owner": policy["Owner"]})
    s3.put_object(Bucket=bucket, Key="p", Body=b"y", ACL="private")

    # Anything else: ACLs are disabled (S3's "bucket owner enforced").
    attempts = [
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read"),
        lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read"),
        lambda: s3.put_object_acl(
            Bucket=bucket, Key="k",
            GrantRead="uri=http://acs.amazonaws.com/groups/global/AllUsers"),
        lambda: s3.put_object(Bucket=bucket, Key="q", Body=b"z",
                              ACL="public-read"),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="q",
                                           ACL="authenticated-read"),
        lambda: s3.copy_object(Bucket=bucket, Key="q", ACL="public-read",
                               CopySource={"Bucket": bucket, "Key": "k"}),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as e:
            attempt()
        assert_client_error(e, 400, "AccessControlListNotSupported")
    assert "q" not in [o["Key"] for o in s3.list_objects_v2(
        Bucket=bucket).get("Contents", [])]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    with pytest.raises(ClientError) as e:
        s3.get_object_acl(Bucket=bucket, Key="missing")
    assert_client_error(e, 404, "NoSuchKey")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_acl(Bucket=unique_bucket_name("nobucket"))
    assert_client_error(e, 404, "NoSuchBucket")


def test_absent_configurations_answer_s3s_404s(server, s3, bucket):
    cases = [
        ("policy", 404, "NoSuchBucketPolicy"),
        ("lifecycle", 404, "NoSuchLifecycleConfiguration"),
        ("object-lock", 404, "ObjectLockConfigurationNotFoundError"),
        ("cors", 404, "NoSuchCORSConfiguration"),
    ]
    for sub, status, code in cases:
        resp = signed_raw(server, s3, "GET", f"/{bucket}?{sub}")
        assert_s3_error(resp, status, code)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert_client_error(e, 404, "NoSuchBucketPolicy")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert_client_error(e, 404, "NoSuchLifecycleConfiguration")
    # Deleting what is not there succeeds, as in S3.
    assert s3.delete_bucket_policy(Bucket=bucket)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_bucket_lifecycle(Bucket=bucket)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == \
        "BucketOwner"
    # The settings S3 gives a bucket it creates today.
    assert s3.get_bucket_ownership_controls(Bucket=bucket)[
        "OwnershipControls"] == {
            "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert s3.get_public_access_block(Bucket=bucket)[
        "PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "IgnorePublicAcls": True,
            "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
    assert "Status" not in s3.get_bucket_accelerate_configuration(
        Bucket=bucket)
    notif = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert not any(k.endswith("Configurations") for k in notif), notif
    for call, code in [
            (s3.get_bucket_website, "NoSuchWebsiteConfiguration"),
            (s3.get_bucket_replication,
             "ReplicationConfigurationNotFoundError"),
            (s3.get_bucket_encryption,
             "ServerSideEncryptionConfigurationNotFoundError"),
            (s3.get_bucket_policy_status, "NoSuchBucketPolicy")]:
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket)
        assert_client_error(e, 404, code)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for call in (s3.get_object_retention, s3.get_object_legal_hold):
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k")
        assert_client_error(e, 400, "InvalidRequest")
    # STANDARD objects have nothing to restore.
    with pytest.raises(ClientError) as e:
        s3.restore_object(Bucket=bucket, Key="k", RestoreRequest={"Days": 1})
    assert_client_error(e, 403, "InvalidObjectState")
    # The owner pays, always; Requester Pays is refused.
    s3.put_bucket_request_payment(Bucket=bucket, RequestPaymentConfiguration={
        "Payer": "BucketOwner"})
    with pytest.raises(ClientError) as e:
        s3.put_bucket_request_payment(
            Bucket=bucket, RequestPaymentConfiguration={"Payer": "Requester"})
    assert_client_error(e, 501, "NotImplemented")
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == \
        "BucketOwner"
    # On a bucket that does not exist, each says so first.
    missing = unique_bucket_name("nobucket")
    for call in (s3.get_bucket_policy, s3.get_bucket_lifecycle_configuration,
                 s3.get_bucket_versioning, s3.get_bucket_request_payment,
                 s3.list_object_versions):
        with pytest.raises(ClientError) as e:
            call(Bucket=missing)
        assert_client_error(e, 404, "NoSuchBucket")


def signed_raw(server, s3, method, path):
    """A SigV4-signed raw request (botocore's signer), for answers boto3
    would parse away."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    url = server.endpoint + path
    request = AWSRequest(method=method, url=url, headers={
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    creds = s3._request_signer._credentials
    SigV4Auth(creds, "s3", "us-east-1").add_auth(request)
    return raw_request(server.endpoint, method, path,
                       headers=dict(request.headers.items()))


def test_versioning_never_enabled(server, s3, bucket):
    got = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in got and "MFADelete" not in got, got
    status, _, body = signed_raw(server, s3, "GET", f"/{bucket}?versioning")
    assert status == 200
    assert b"<VersioningConfiguration" in body and b"<Status>" not in body
    # Turning it on works (test_versioning.py has the rest).
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={
        "Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_list_object_versions_of_an_unversioned_bucket(server, s3, bucket):
    names = ["a", "b/1", "b/2", "c d", "e+f", "z/é"]
    bodies = {k: random_bytes(i * 10 + 1) for i, k in enumerate(names)}
    for k, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=k, Body=body)
    out = s3.list_object_versions(Bucket=bucket)
    versions = out["Versions"]
    assert [v["Key"] for v in versions] == names
    for v in versions:
        assert v["VersionId"] == "null" and v["IsLatest"] is True
        assert v["Size"] == len(bodies[v["Key"]])
        assert v["StorageClass"] == "STANDARD"
        assert v["Owner"]["ID"] == canonical_id(server.access_key)
    assert "DeleteMarkers" not in out
    assert out["IsTruncated"] is False
    assert out["KeyMarker"] == "" and out["VersionIdMarker"] == ""

    # Paging by key-marker / version-id-marker.
    seen = []
    kwargs = {"MaxKeys": 2}
    for _ in range(10):
        page = s3.list_object_versions(Bucket=bucket, **kwargs)
        seen += [v["Key"] for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        assert page["NextVersionIdMarker"] == "null"
        kwargs = {"MaxKeys": 2, "KeyMarker": page["NextKeyMarker"],
                  "VersionIdMarker": page["NextVersionIdMarker"]}
    assert seen == names

    # Prefix and delimiter.
    out = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [v["Key"] for v in out["Versions"]] == ["a", "c d", "e+f"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/", "z/"]
    out = s3.list_object_versions(Bucket=bucket, Prefix="b/")
    assert [v["Key"] for v in out["Versions"]] == ["b/1", "b/2"]
    # The paginator (which follows both markers) sees every version.
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 1})
    assert [v["Key"] for p in pages for v in p.get("Versions", [])] == names


def test_list_object_versions_url_encoding_and_bad_markers(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/c d+é", Body=b"1")
    status, _, body = signed_raw(
        server, s3, "GET", f"/{bucket}?versions&encoding-type=url")
    assert status == 200, body
    assert b"<Key>dir/c+d%2B%C3%A9</Key>" in body, body
    assert b"<EncodingType>url</EncodingType>" in body
    assert b"<VersionId>null</VersionId>" in body
    # boto3 asks for url encoding by itself and decodes the answer.
    out = s3.list_object_versions(Bucket=bucket)
    assert [v["Key"] for v in out["Versions"]] == ["dir/c d+é"]

    resp = signed_raw(server, s3, "GET",
                      f"/{bucket}?versions&version-id-marker=null")
    fields = assert_s3_error(resp, 400, "InvalidArgument")
    assert "key marker" in fields["Message"]
    resp = signed_raw(server, s3, "GET",
                      f"/{bucket}?versions&key-marker=a&version-id-marker="
                      + urllib.parse.quote("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"))
    assert_s3_error(resp, 400, "InvalidArgument")


def test_aws_cli_s3api_subresources(server, bucket, tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    server.aws("s3api", "put-object", "--bucket", bucket, "--key", "k",
               "--body", empty)
    versions = server.aws_json("s3api", "list-object-versions", "--bucket",
                               bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"])
            for v in versions["Versions"]] == [("k", "null", True)]
    assert server.aws("s3api", "get-bucket-versioning", "--bucket",
                      bucket).stdout.strip() in ("", "{}")
    acl = server.aws_json("s3api", "get-bucket-acl", "--bucket", bucket)
    assert acl["Grants"][0]["Permission"] == "FULL_CONTROL"
    policy = server.aws("s3api", "get-bucket-policy", "--bucket", bucket,
                        check=False)
    assert policy.returncode != 0 and "NoSuchBucketPolicy" in policy.stderr
    server.aws("s3api", "put-bucket-versioning", "--bucket", bucket,
               "--versioning-configuration", "Status=Enabled")
    assert server.aws_json("s3api", "get-bucket-versioning", "--bucket",
                           bucket)["Status"] == "Enabled"


def test_version_null_reads_and_deletes(server, s3, bucket):
    for k in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    assert s3.get_object(Bucket=bucket, Key="a", VersionId="null")[
        "Body"].read() == b"a"
    assert s3.head_object(Bucket=bucket, Key="a", VersionId="null")[
        "ContentLength"] == 1
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="a", VersionId="3HL4kqtJlcpXroDT")
    assert_client_error(e, 400, "InvalidArgument")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a", "VersionId": "null"},
        {"Key": "b", "VersionId": "3HL4kqtJlcpXroDT"}]})
    assert out["Deleted"] == [{"Key": "a", "VersionId": "null"}]
    assert [(x["Key"], x["Code"]) for x in out["Errors"]] == [
        ("b", "NoSuchVersion")]
    s3.delete_object(Bucket=bucket, Key="b", VersionId="null")
    # boto3's resource API empties a bucket through its versions.
    import boto3
    resource = boto3.session.Session().resource(
        "s3", endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key, region_name="us-east-1")
    resource.Bucket(bucket).object_versions.delete()
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.delete_bucket(Bucket=bucket)
