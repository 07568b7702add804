"""Browser uploads: POST Object with a signed policy document, made by
boto3's `generate_presigned_post` (SigV4, and SigV2 which boto3 uses by
default with an endpoint URL) and sent as multipart/form-data by
`requests`. Conditions, success_action_status / _redirect, `${filename}`,
expiry, tampering, and the errors S3 gives."""

import base64
import datetime
import json
import urllib.parse
import xml.etree.ElementTree as ET

import botocore.auth
import botocore.signers
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (assert_client_error, assert_s3_error, md5_hex,
                      random_bytes)

TIMEOUT = 60
V4 = Config(signature_version="s3v4", s3={"addressing_style": "path"})
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@pytest.fixture(scope="module", params=["sigv4", "sigv2"])
def signer(request, server):
    """A client that signs POST policies with SigV4, or with SigV2."""
    if request.param == "sigv4":
        return server.client(config=V4)
    return server.client()


def presigned_post(signer, bucket, key, fields=None, conditions=None,
                   expires=600):
    fields = dict(fields or {})
    conditions = list(conditions or [])
    for name, value in fields.items():
        if {name: value} not in conditions:
            conditions.append({name: value})
    return signer.generate_presigned_post(
        bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires)


def post(form, data=b"hello", filename="hello.txt", extra=None,
         content_type="application/octet-stream", url=None):
    fields = {**form["fields"], **(extra or {})}
    resp = requests.post(url or form["url"], data=fields,
                         files={"file": (filename, data, content_type)},
                         allow_redirects=False, timeout=TIMEOUT)
    return resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, \
        resp.content


def assert_absent(s3, bucket, key):
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert_client_error(exc, 404)


def test_upload_with_conditions(s3, signer, bucket):
    form = presigned_post(
        signer, bucket, "docs/report.txt",
        fields={"Content-Type": "text/plain", "x-amz-meta-owner": "ana"},
        conditions=[["content-length-range", 1, 1000]])
    assert form["url"].endswith(f"/{bucket}")
    body = b"the report"
    status, headers, data = post(form, body)
    assert status == 204, data
    assert data == b""
    assert headers["etag"] == f'"{md5_hex(body)}"'
    assert headers["x-amz-request-id"]
    got = s3.get_object(Bucket=bucket, Key="docs/report.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"owner": "ana"}


def test_success_action_status(server, s3, signer, bucket):
    form = presigned_post(signer, bucket, "s200",
                          fields={"success_action_status": "200"})
    status, _, data = post(form, b"two hundred")
    assert (status, data) == (200, b"")

    form = presigned_post(signer, bucket, "dir/s 201",
                          fields={"success_action_status": "201"})
    status, headers, data = post(form, b"created")
    assert status == 201, data
    doc = ET.fromstring(data)
    assert doc.tag.endswith("PostResponse"), data
    values = {child.tag.replace(S3_NS, ""): child.text for child in doc}
    location = f"{server.endpoint}/{bucket}/dir/s%20201"
    assert values == {"Location": location, "Bucket": bucket,
                      "Key": "dir/s 201", "ETag": f'"{md5_hex(b"created")}"'}
    assert headers["location"] == location
    assert s3.get_object(Bucket=bucket, Key="dir/s 201")[
        "Body"].read() == b"created"

    # Anything else is the default, 204.
    form = presigned_post(signer, bucket, "s999",
                          fields={"success_action_status": "999"})
    assert post(form)[0] == 204


def test_success_action_redirect(s3, signer, bucket):
    target = "https://app.example/uploaded?from=shale"
    form = presigned_post(signer, bucket, "up/${filename}",
                          fields={"success_action_redirect": target},
                          conditions=[["starts-with", "$key", "up/"]])
    status, headers, data = post(form, b"redirected", filename="r 1.txt")
    assert status == 303, data
    location = urllib.parse.urlsplit(headers["location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https", "app.example", "/uploaded")
    query = dict(urllib.parse.parse_qsl(location.query))
    assert query == {"from": "shale", "bucket": bucket, "key": "up/r 1.txt",
                     "etag": f'"{md5_hex(b"redirected")}"'}
    assert s3.get_object(Bucket=bucket, Key="up/r 1.txt")[
        "Body"].read() == b"redirected"


def test_filename_variable(s3, signer, bucket):
    form = presigned_post(signer, bucket, "uploads/${filename}",
                          conditions=[["starts-with", "$key", "uploads/"]])
    status, _, data = post(form, b"png bytes", filename="photo 1.png")
    assert status == 204, data
    assert s3.get_object(Bucket=bucket, Key="uploads/photo 1.png")[
        "Body"].read() == b"png bytes"
    assert_absent(s3, bucket, "uploads/${filename}")


def test_violated_conditions(s3, signer, bucket):
    form = presigned_post(
        signer, bucket, "uploads/${filename}",
        fields={"Content-Type": "image/png", "x-amz-meta-owner": "ana"},
        conditions=[["starts-with", "$key", "uploads/"],
                    ["content-length-range", 10, 100]])

    def refused(response, status, code, message=None):
        assert_s3_error(response, status, code, method="POST",
                        message=message)

    # The key outside the allowed prefix.
    refused(post(form, b"x" * 20, extra={"key": "elsewhere/a"}), 403,
            "AccessDenied",
            'Invalid according to Policy: Policy Condition failed: '
            '["starts-with", "$key", "uploads/"]')
    assert_absent(s3, bucket, "elsewhere/a")
    # Another Content-Type, another metadata value.
    refused(post(form, b"x" * 20, extra={"Content-Type": "text/html"}), 403,
            "AccessDenied")
    refused(post(form, b"x" * 20, extra={"x-amz-meta-owner": "eve"}), 403,
            "AccessDenied")
    # A field the policy does not mention.
    refused(post(form, b"x" * 20, extra={"x-amz-meta-extra": "1"}), 403,
            "AccessDenied",
            "Invalid according to Policy: Extra input fields: "
            "x-amz-meta-extra")
    # content-length-range.
    refused(post(form, b"x" * 101), 400, "EntityTooLarge")
    refused(post(form, b"x" * 9), 400, "EntityTooSmall")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # The same form at its limits is fine.
    assert post(form, b"x" * 100, filename="ok.png")[0] == 204
    assert post(form, b"x" * 10, filename="ok10.png")[0] == 204


def test_metadata_over_2_kib_is_metadata_too_large(s3, signer, bucket):
    # The limit of PutObject's x-amz-meta-* headers holds for form fields.
    fields = {"x-amz-meta-a": "x" * 1000, "x-amz-meta-b": "y" * 1047}
    form = presigned_post(signer, bucket, "big", fields=fields)
    assert_s3_error(
        post(form), 400, "MetadataTooLarge", method="POST",
        message="Your metadata headers exceed the maximum allowed metadata size.")
    assert_absent(s3, bucket, "big")
    fields["x-amz-meta-b"] = "y" * 1046  # 2048 bytes: the limit
    form = presigned_post(signer, bucket, "ok", fields=fields)
    assert post(form)[0] == 204
    assert s3.head_object(Bucket=bucket, Key="ok")["Metadata"] == {
        "a": "x" * 1000, "b": "y" * 1046}


def test_policy_is_for_one_bucket(s3, signer, bucket):
    other = bucket[:40] + "-other"
    s3.create_bucket(Bucket=other)
    form = presigned_post(signer, bucket, "k")
    url = form["url"].rsplit("/", 1)[0] + "/" + other
    assert_s3_error(post(form, url=url), 403, "AccessDenied", method="POST")
    assert_absent(s3, other, "k")


def test_tampered_or_wrongly_signed_forms(server, s3, signer, bucket):
    form = presigned_post(signer, bucket, "uploads/${filename}",
                          conditions=[["starts-with", "$key", "uploads/"]])
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    for cond in policy["conditions"]:
        if isinstance(cond, list) and cond[:2] == ["starts-with", "$key"]:
            cond[2] = ""
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    assert_s3_error(post(form, extra={"policy": forged, "key": "any/k"}),
                    403, "SignatureDoesNotMatch", method="POST")
    assert_absent(s3, bucket, "any/k")

    sig_field = "x-amz-signature" if "x-amz-signature" in form[
        "fields"] else "signature"
    bad_client_kwargs = {"secret_key": "w" * 40}
    if sig_field == "x-amz-signature":
        bad_client_kwargs["config"] = V4
    bad = server.client(**bad_client_kwargs)
    bad_form = presigned_post(bad, bucket, "uploads/${filename}",
                              conditions=[["starts-with", "$key",
                                           "uploads/"]])
    assert_s3_error(post(bad_form), 403, "SignatureDoesNotMatch",
                    method="POST")
    # No policy, no signature: an anonymous upload to a private bucket.
    resp = requests.post(form["url"], data={"key": "anon"},
                         files={"file": ("a", b"a")}, timeout=TIMEOUT)
    assert_s3_error((resp.status_code,
                     {k.lower(): v for k, v in resp.headers.items()},
                     resp.content), 403, "AccessDenied", method="POST")
    assert_absent(s3, bucket, "anon")


def test_expired_policy(s3, signer, bucket, monkeypatch):
    def signed_ago(hours, expires):
        real = datetime.datetime.now(datetime.timezone.utc).replace(
            tzinfo=None)
        then = real - datetime.timedelta(hours=hours)
        monkeypatch.setattr(botocore.auth, "get_current_datetime",
                            lambda: then)
        monkeypatch.setattr(botocore.signers, "get_current_datetime",
                            lambda: then)
        try:
            return presigned_post(signer, bucket, "late", expires=expires)
        finally:
            monkeypatch.undo()

    assert_s3_error(post(signed_ago(2, 3600)), 403, "AccessDenied",
                    method="POST",
                    message="Invalid according to Policy: Policy expired.")
    assert_absent(s3, bucket, "late")
    # A form signed two hours ago whose policy runs three hours is good:
    # S3 lets the policy's expiration alone decide.
    status, _, data = post(signed_ago(2, 3 * 3600), b"in time")
    assert status == 204, data
    assert s3.get_object(Bucket=bucket, Key="late")["Body"].read() == b"in time"


def test_large_upload_round_trips(s3, signer, bucket):
    body = random_bytes(3 * 1024 * 1024 + 17)
    form = presigned_post(signer, bucket, "big.bin")
    status, headers, data = post(form, body)
    assert status == 204, data
    assert headers["etag"] == f'"{md5_hex(body)}"'
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == body


def test_bodies_full_of_boundary_lookalikes_round_trip(s3, signer, bucket):
    # A `\r\n--` near the end of a piece of the body made s3s 0.14.1's form
    # parser buffer it, and fail if the next piece was over 64 KiB: binary
    # files broke at random. Many lookalikes make the old failure certain.
    for n in range(6):
        body = b"".join(b"\r\n--" + random_bytes(4) for _ in range(200_000 + n))
        form = presigned_post(signer, bucket, f"lookalike-{n}")
        status, _, data = post(form, body)
        assert status == 204, data
        got = s3.get_object(Bucket=bucket, Key=f"lookalike-{n}")["Body"].read()
        assert got == body
