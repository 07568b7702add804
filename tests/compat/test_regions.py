"""Linked regions: `shale dev --regions us-east-1,eu-west-1`, one bucket
namespace across them, S3's answers for a bucket of another region (301
PermanentRedirect with `x-amz-bucket-region`, followed on their own by boto3
and the AWS CLI configured for the wrong region), GetBucketLocation from
anywhere, and access keys that work in every region.

One deployment (two full clusters in one process) is shared by the tests of
this module; each test owns its bucket names."""

import json
import subprocess
import threading

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, parse_error, unique_bucket_name
from regions import REGIONS, eventually, start


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    factory, d = start(tmp_path_factory, "regions")
    yield d
    factory.close()


def test_dev_prints_every_region_and_links_them(deployment):
    log = deployment.server.log_path.read_text()
    for region in REGIONS:
        assert f"region {region}" in log
        assert deployment.endpoint(region) in log
    assert "(namespace region)" in log
    listing = deployment.admin("eu-west-1", "region", "list")
    assert "this region: eu-west-1" in listing
    for region in REGIONS:
        assert f"{region}\t{deployment.endpoint(region)}" in listing
    assert "us-east-1\t" in listing and "namespace" in listing


def test_location_constraint_creates_the_bucket_in_that_region(deployment):
    us, eu = deployment.client("us-east-1"), deployment.client("eu-west-1")
    name = unique_bucket_name("loc")
    us.create_bucket(Bucket=name, CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1"})
    assert name in [b["Name"] for b in eu.list_buckets()["Buckets"]]
    assert name not in [b["Name"] for b in us.list_buckets()["Buckets"]]
    # GetBucketLocation from any region, no redirect.
    for c in (us, eu):
        assert c.get_bucket_location(Bucket=name)["LocationConstraint"] \
            == "eu-west-1"
    here = unique_bucket_name("loc-us")
    eu.create_bucket(Bucket=here, CreateBucketConfiguration={
        "LocationConstraint": "us-east-1"})
    # S3 answers an empty LocationConstraint for us-east-1.
    assert eu.get_bucket_location(Bucket=here).get("LocationConstraint") \
        in (None, "")
    with pytest.raises(ClientError) as e:
        us.create_bucket(Bucket=unique_bucket_name("bad"),
                         CreateBucketConfiguration={
                             "LocationConstraint": "ap-south-1"})
    assert error_code(e.value) == "IllegalLocationConstraintException"
    with pytest.raises(ClientError) as e:
        us.get_bucket_location(Bucket=unique_bucket_name("none"))
    assert error_code(e.value) == "NoSuchBucket"


def test_a_name_is_taken_once_across_regions(deployment):
    us, eu = deployment.client("us-east-1"), deployment.client("eu-west-1")
    in_eu, in_us = unique_bucket_name("eu"), unique_bucket_name("us")
    eu.create_bucket(Bucket=in_eu, CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1"})
    us.create_bucket(Bucket=in_us)
    for client, name in ((us, in_eu), (eu, in_us)):
        with pytest.raises(ClientError) as e:
            client.create_bucket(Bucket=name)
        assert error_code(e.value) in ("BucketAlreadyOwnedByYou",
                                       "BucketAlreadyExists")
    # Another key's bucket is someone else's.
    keys = deployment.admin("us-east-1", "--json", "key", "create",
                            "--name", "other")
    key = json.loads(keys)
    other = deployment.client("eu-west-1", access_key=key["access_key"],
                              secret_key=key["secret_key"])
    eventually(lambda: other.list_buckets())
    with pytest.raises(ClientError) as e:
        other.create_bucket(Bucket=in_us)
    assert error_code(e.value) == "BucketAlreadyExists"
    # Deleted, the name is free again, in any region.
    eu.delete_bucket(Bucket=in_eu)
    us.create_bucket(Bucket=in_eu)
    assert us.get_bucket_location(Bucket=in_eu).get("LocationConstraint") \
        in (None, "")


def test_two_regions_creating_one_name_at_once_have_one_winner(deployment):
    clients = {r: deployment.client(r) for r in REGIONS}
    for _ in range(8):
        name = unique_bucket_name("race")
        barrier = threading.Barrier(len(REGIONS))
        results = {}

        def create(region):
            barrier.wait()
            try:
                clients[region].create_bucket(Bucket=name)
                results[region] = "created"
            except ClientError as exc:
                results[region] = error_code(exc)

        threads = [threading.Thread(target=create, args=(r,))
                   for r in REGIONS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(results.values()).count("created") == 1, results
        winner = next(r for r, v in results.items() if v == "created")
        for r in REGIONS:
            got = clients[r].get_bucket_location(Bucket=name)
            assert (got.get("LocationConstraint") or "us-east-1") == winner
        assert [b["Name"] for b in clients[winner].list_buckets()["Buckets"]
                ].count(name) == 1
        loser = next(r for r in REGIONS if r != winner)
        assert name not in [b["Name"] for b in
                            clients[loser].list_buckets()["Buckets"]]


def test_a_request_for_a_bucket_of_another_region_is_redirected(deployment):
    eu = deployment.client("eu-west-1")
    name = unique_bucket_name("redir")
    eu.create_bucket(Bucket=name, CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1"})
    eu.put_object(Bucket=name, Key="k", Body=b"v")
    for method in ("GET", "PUT", "DELETE"):
        status, headers, body = deployment.signed(
            "us-east-1", "us-east-1", method, f"/{name}/k")
        assert status == 301, (method, body)
        assert headers["x-amz-bucket-region"] == "eu-west-1"
        err = parse_error(body)
        assert err["Code"] == "PermanentRedirect"
        assert err["Bucket"] == name
        assert err["Endpoint"] == deployment.endpoint("eu-west-1")[7:]
    # HEAD of the bucket and of an object: 301, the region, no body.
    for path in (f"/{name}", f"/{name}/k"):
        status, headers, body = deployment.signed(
            "us-east-1", "us-east-1", "HEAD", path)
        assert (status, body) == (301, b"")
        assert headers["x-amz-bucket-region"] == "eu-west-1"
    # Bucket subresources too; a name no region has is NoSuchBucket.
    status, headers, _ = deployment.signed(
        "us-east-1", "us-east-1", "GET", f"/{name}?versioning")
    assert status == 301 and headers["x-amz-bucket-region"] == "eu-west-1"
    status, _, body = deployment.signed(
        "us-east-1", "us-east-1", "GET", f"/{unique_bucket_name('no')}/k")
    assert status == 404 and parse_error(body)["Code"] == "NoSuchBucket"
    # Nothing was done by the redirected PUT and DELETE.
    assert eu.get_object(Bucket=name, Key="k")["Body"].read() == b"v"


def test_boto3_configured_for_the_wrong_region_finds_the_bucket(deployment):
    eu = deployment.client("eu-west-1")
    name = unique_bucket_name("boto")
    eu.create_bucket(Bucket=name, CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1"})
    # Endpoint and region of us-east-1: the 301 tells boto3 the bucket's
    # region, it signs for it and sends again, and us-east-1 passes the
    # request on to eu-west-1.
    wrong = deployment.client("us-east-1")
    data = b"x" * (3 * 1024 * 1024 + 17)
    wrong.put_object(Bucket=name, Key="big", Body=data)
    assert wrong.get_object(Bucket=name, Key="big")["Body"].read() == data
    assert wrong.head_bucket(Bucket=name)["ResponseMetadata"][
        "HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"
    assert [o["Key"] for o in wrong.list_objects_v2(Bucket=name)["Contents"]
            ] == ["big"]
    # It is in eu-west-1, and only there.
    assert eu.head_object(Bucket=name, Key="big")["ContentLength"] == len(data)
    assert name not in [b["Name"] for b in wrong.list_buckets()["Buckets"]]
    # A multipart upload through the wrong region.
    mpu = wrong.create_multipart_upload(Bucket=name, Key="mp")
    part = wrong.upload_part(Bucket=name, Key="mp", PartNumber=1,
                             UploadId=mpu["UploadId"], Body=b"p" * 100)
    wrong.complete_multipart_upload(
        Bucket=name, Key="mp", UploadId=mpu["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert eu.get_object(Bucket=name, Key="mp")["Body"].read() == b"p" * 100
    wrong.delete_object(Bucket=name, Key="big")
    with pytest.raises(ClientError) as e:
        eu.head_object(Bucket=name, Key="big")
    assert e.value.response["Error"]["Code"] == "404"


def test_the_aws_cli_configured_for_the_wrong_region_finds_the_bucket(
        deployment, tmp_path):
    eu = deployment.client("eu-west-1")
    name = unique_bucket_name("cli")
    eu.create_bucket(Bucket=name, CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1"})
    src = tmp_path / "f.txt"
    src.write_bytes(b"from the cli")
    deployment.aws("us-east-1", "us-east-1", "s3", "cp", src,
                   f"s3://{name}/f.txt")
    listing = deployment.aws("us-east-1", "us-east-1", "s3", "ls",
                             f"s3://{name}").stdout
    assert "f.txt" in listing
    out = deployment.aws("us-east-1", "us-east-1", "s3", "cp",
                         f"s3://{name}/f.txt", "-").stdout
    assert out == "from the cli"
    assert eu.get_object(Bucket=name, Key="f.txt")["Body"].read() \
        == b"from the cli"


def test_an_access_key_works_in_every_region(deployment):
    us, eu = deployment.client("us-east-1"), deployment.client("eu-west-1")
    name = unique_bucket_name("keys")
    eu.create_bucket(Bucket=name, CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1"})
    # Made in the region that is not the namespace region: made there,
    # mirrored here.
    key = json.loads(deployment.admin(
        "eu-west-1", "--json", "key", "create", "--name", "reader",
        "--grant", f"{name}:write"))
    for region in REGIONS:
        c = deployment.client(region, access_key=key["access_key"],
                              secret_key=key["secret_key"])
        eventually(lambda c=c: c.list_buckets())
    writer = deployment.client("eu-west-1", access_key=key["access_key"],
                               secret_key=key["secret_key"])
    writer.put_object(Bucket=name, Key="k", Body=b"by key")
    # The key creates a bucket in us-east-1 from eu-west-1: it owns it in
    # both regions.
    own = unique_bucket_name("own")
    writer.create_bucket(Bucket=own, CreateBucketConfiguration={
        "LocationConstraint": "us-east-1"})
    in_us = deployment.client("us-east-1", access_key=key["access_key"],
                              secret_key=key["secret_key"])
    in_us.put_object(Bucket=own, Key="x", Body=b"mine")

    def owner_everywhere():
        for region in REGIONS:
            listed = json.loads(deployment.admin(region, "--json", "key",
                                                 "list"))
            grants = next(k for k in listed
                          if k["access_key"] == key["access_key"])["grants"]
            assert {"bucket": own, "permission": "owner"} in grants, grants
            assert {"bucket": name, "permission": "write"} in grants, grants
    eventually(owner_everywhere)
    # Deleted in the namespace region: gone from every region.
    deployment.admin("us-east-1", "key", "delete", key["access_key"])

    def refused_everywhere():
        for region in REGIONS:
            c = deployment.client(region, access_key=key["access_key"],
                                  secret_key=key["secret_key"])
            try:
                c.list_buckets()
            except ClientError as exc:
                assert error_code(exc) == "InvalidAccessKeyId"
            else:
                raise AssertionError(f"the key still works in {region}")
    eventually(refused_everywhere)
    assert us.get_object(Bucket=own, Key="x")["Body"].read() == b"mine"


def test_admin_links_and_unlinks_a_region(deployment):
    deployment.admin("us-east-1", "region", "add", "ap-south-1",
                     "http://127.0.0.1:9")
    listing = deployment.admin("us-east-1", "region", "list")
    assert "ap-south-1\thttp://127.0.0.1:9" in listing
    with pytest.raises(subprocess.CalledProcessError) as e:
        deployment.admin("us-east-1", "region", "add", "ap-south-1",
                         "http://127.0.0.1:9", "--namespace")
    assert "namespace region already" in e.value.stderr
    with pytest.raises(subprocess.CalledProcessError):
        deployment.admin("us-east-1", "region", "add", "bad", "ftp://x")
    deployment.admin("us-east-1", "region", "remove", "ap-south-1")
    assert "ap-south-1" not in deployment.admin("us-east-1", "region",
                                                "list")
