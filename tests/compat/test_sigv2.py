"""Legacy Signature Version 2: in the Authorization header (`AWS AKID:sig`)
and in the query (`AWSAccessKeyId`, `Expires`, `Signature`), from boto3
(`signature_version='s3'`), from s3cmd (`--signature-v2`) and by hand."""

import base64
import email.utils
import hashlib
import hmac
import shutil
import subprocess
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (assert_client_error, assert_s3_error, fetch_url,
                      md5_hex, random_bytes, raw_request, unique_bucket_name)

V2 = Config(signature_version="s3", s3={"addressing_style": "path"})
S3CMD_TIMEOUT = 120


@pytest.fixture(scope="module")
def v2(server):
    return server.client(config=V2)


def test_boto3_v2_object_and_bucket_operations(server, v2):
    name = unique_bucket_name("sigv2")
    v2.create_bucket(Bucket=name)
    body = random_bytes(150_000)
    key = "dir/a key+with spaces é"
    v2.put_object(Bucket=name, Key=key, Body=body, ContentType="text/x-v2",
                  Metadata={"colour": "blue"})
    got = v2.get_object(Bucket=name, Key=key)
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/x-v2"
    assert got["Metadata"] == {"colour": "blue"}
    head = v2.head_object(Bucket=name, Key=key)
    assert head["ETag"].strip('"') == md5_hex(body)
    # Ranges, listings (bucket resource, query sub-resources), tagging.
    part = v2.get_object(Bucket=name, Key=key, Range="bytes=10-19")
    assert part["Body"].read() == body[10:20]
    assert [o["Key"] for o in v2.list_objects(Bucket=name)["Contents"]] == [key]
    listed = v2.list_objects_v2(Bucket=name, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in listed["Contents"]] == [key]
    v2.put_object_tagging(Bucket=name, Key=key,
                          Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    assert v2.get_object_tagging(Bucket=name, Key=key)["TagSet"] == [
        {"Key": "t", "Value": "1"}]
    v2.copy_object(Bucket=name, Key="copy", CopySource=f"{name}/{key}")
    assert v2.get_object(Bucket=name, Key="copy")["Body"].read() == body
    # Multipart: ?uploads, ?uploadId, ?partNumber are signed sub-resources.
    mpu = v2.create_multipart_upload(Bucket=name, Key="mpu")
    p1 = random_bytes(5 * 1024 * 1024)
    e1 = v2.upload_part(Bucket=name, Key="mpu", UploadId=mpu["UploadId"],
                        PartNumber=1, Body=p1)["ETag"]
    e2 = v2.upload_part(Bucket=name, Key="mpu", UploadId=mpu["UploadId"],
                        PartNumber=2, Body=b"tail")["ETag"]
    v2.complete_multipart_upload(
        Bucket=name, Key="mpu", UploadId=mpu["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                   {"PartNumber": 2, "ETag": e2}]})
    assert v2.get_object(Bucket=name, Key="mpu")["Body"].read() == p1 + b"tail"
    # ?delete with Content-MD5.
    deleted = v2.delete_objects(Bucket=name, Delete={"Objects": [
        {"Key": key}, {"Key": "copy"}, {"Key": "mpu"}]})
    assert len(deleted["Deleted"]) == 3
    assert v2.list_objects_v2(Bucket=name)["KeyCount"] == 0
    v2.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        v2.head_bucket(Bucket=name)
    assert_client_error(exc, 404)


def test_boto3_v2_wrong_secret_or_key(server, s3, bucket):
    bad = server.client(secret_key="q" * 40, config=V2)
    with pytest.raises(ClientError) as exc:
        bad.put_object(Bucket=bucket, Key="forged", Body=b"evil")
    assert_client_error(exc, 403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError) as exc:
        bad.list_objects(Bucket=bucket)
    assert_client_error(exc, 403, "SignatureDoesNotMatch")
    stranger = server.client(access_key="AKSHNOSUCHKEY0000000",
                             secret_key="q" * 40, config=V2)
    with pytest.raises(ClientError) as exc:
        stranger.list_buckets()
    assert_client_error(exc, 403, "InvalidAccessKeyId")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="forged")
    assert_client_error(exc, 404)


def test_v2_presigned_urls(server, v2, bucket):
    """boto3's default presigner with an endpoint URL is SigV2 (query)."""
    url = v2.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "p k"}, ExpiresIn=600)
    assert "AWSAccessKeyId=" in url and "Signature=" in url, url
    assert fetch_url(url, "PUT", body=b"v2 presigned")[0] == 200
    get = v2.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "p k"}, ExpiresIn=600)
    status, _, data = fetch_url(get)
    assert (status, data) == (200, b"v2 presigned")
    head = v2.generate_presigned_url(
        "head_object", Params={"Bucket": bucket, "Key": "p k"}, ExpiresIn=600)
    assert fetch_url(head, "HEAD")[0] == 200

    # Expired (Expires is a Unix time in the past), tampered, incomplete.
    expired = v2.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "p k"}, ExpiresIn=-5)
    assert_s3_error(fetch_url(expired), 403, "AccessDenied",
                    message="Request has expired")
    later = int(time.time()) + 1200
    tampered = get.split("&Expires=")[0] + f"&Expires={later}"
    assert_s3_error(fetch_url(tampered), 403, "SignatureDoesNotMatch")
    assert_s3_error(fetch_url(get.replace("/p%20k?", "/other?")), 403,
                    "SignatureDoesNotMatch")
    assert_s3_error(fetch_url(get, "DELETE"), 403, "SignatureDoesNotMatch")
    incomplete = get.split("&Signature=")[0]
    assert_s3_error(fetch_url(incomplete), 403, "AccessDenied")

    delete = v2.generate_presigned_url(
        "delete_object", Params={"Bucket": bucket, "Key": "p k"},
        ExpiresIn=600)
    assert fetch_url(delete, "DELETE")[0] == 204
    assert_s3_error(fetch_url(get), 404, "NoSuchKey")


def v2_headers(server, method, resource, date, content_type="", md5=""):
    """The Authorization and Date headers of a SigV2 request, by hand."""
    string_to_sign = f"{method}\n{md5}\n{content_type}\n{date}\n{resource}"
    sig = base64.b64encode(hmac.new(server.secret_key.encode(),
                                    string_to_sign.encode(),
                                    hashlib.sha1).digest()).decode()
    headers = {"Date": date,
               "Authorization": f"AWS {server.access_key}:{sig}"}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def test_v2_header_by_hand_and_clock_skew(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"by hand")
    now = email.utils.formatdate(usegmt=True)
    ok = raw_request(server.endpoint, "GET", f"/{bucket}/k",
                     headers=v2_headers(server, "GET", f"/{bucket}/k", now))
    assert ok[0] == 200 and ok[2] == b"by hand", ok
    # A bucket signed as /bucket/ (S3's canonical resource) but sent as /bucket.
    listing = raw_request(server.endpoint, "GET", f"/{bucket}",
                          headers=v2_headers(server, "GET", f"/{bucket}/",
                                             now))
    assert listing[0] == 200 and b"<Key>k</Key>" in listing[2], listing

    old = email.utils.formatdate(time.time() - 3600, usegmt=True)
    assert_s3_error(
        raw_request(server.endpoint, "GET", f"/{bucket}/k",
                    headers=v2_headers(server, "GET", f"/{bucket}/k", old)),
        403, "RequestTimeTooSkewed")
    headers = v2_headers(server, "GET", f"/{bucket}/k", now)
    del headers["Date"]
    assert_s3_error(raw_request(server.endpoint, "GET", f"/{bucket}/k",
                                headers=headers),
                    403, "AccessDenied")


# --------------------------------------------------------------------------
# s3cmd
# --------------------------------------------------------------------------


@pytest.fixture
def s3cmd(server, tmp_path):
    binary = shutil.which("s3cmd")
    if binary is None:
        pytest.skip("s3cmd is not installed (scripts/test.sh installs it)")
    cfg = tmp_path / "s3cfg"
    host = f"127.0.0.1:{server.port}"
    cfg.write_text(
        "[default]\n"
        f"access_key = {server.access_key}\n"
        f"secret_key = {server.secret_key}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        "use_https = False\n"
        "signature_v2 = True\n"
        "bucket_location = us-east-1\n"
        "proxy_host =\n")

    def run(*args, check=True):
        cmd = [binary, "-c", str(cfg), "--signature-v2", "--no-progress",
               *[str(a) for a in args]]
        result = subprocess.run(cmd, capture_output=True, text=True,
                                timeout=S3CMD_TIMEOUT, cwd=tmp_path)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{cmd} exited {result.returncode}\n{result.stdout}\n"
                f"{result.stderr}\nserver log:\n{server.log_tail(30)}")
        return result
    return run


def test_s3cmd_signature_v2(server, s3, s3cmd, tmp_path):
    name = unique_bucket_name("s3cmd-v2")
    s3cmd("mb", f"s3://{name}")
    src = tmp_path / "src.bin"
    body = random_bytes(300_000)
    src.write_bytes(body)
    s3cmd("put", src, f"s3://{name}/dir/file one.bin")
    assert s3.get_object(Bucket=name, Key="dir/file one.bin")[
        "Body"].read() == body
    listing = s3cmd("ls", f"s3://{name}/dir/").stdout
    assert "dir/file one.bin" in listing, listing
    dst = tmp_path / "dst.bin"
    s3cmd("get", f"s3://{name}/dir/file one.bin", dst)
    assert dst.read_bytes() == body
    url = s3cmd("signurl", f"s3://{name}/dir/file one.bin",
                f"+{600}").stdout.strip().splitlines()[-1]
    assert "Signature=" in url, url
    status, _, data = fetch_url(url)
    assert (status, data) == (200, body)
    s3cmd("del", f"s3://{name}/dir/file one.bin")
    s3cmd("rb", f"s3://{name}")
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert_client_error(exc, 404)
    # A wrong secret fails.
    result = s3cmd("--secret_key=not-the-secret", "ls", "s3://", check=False)
    assert result.returncode != 0
    assert "SignatureDoesNotMatch" in result.stdout + result.stderr, result
