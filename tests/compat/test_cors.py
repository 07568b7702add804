"""Bucket CORS: Put/Get/DeleteBucketCors with boto3, and browsers'
preflights (OPTIONS, unauthenticated) and actual cross-origin requests over
raw HTTP, as Amazon S3 answers them."""

import pytest
from botocore.exceptions import ClientError

from conftest import (assert_client_error, assert_s3_error, raw_request,
                      unique_bucket_name)

NOT_ALLOWED = (
    "This CORS request is not allowed. This is usually because the evalution "
    "of Origin, request method / Access-Control-Request-Method or "
    "Access-Control-Request-Headers are not whitelisted by the resource's "
    "CORS spec.")

RULES = [
    {
        "ID": "app",
        "AllowedOrigins": ["https://app.example.com"],
        "AllowedMethods": ["PUT", "POST", "DELETE"],
        "AllowedHeaders": ["content-type", "x-amz-*"],
        "ExposeHeaders": ["ETag", "x-amz-request-id"],
        "MaxAgeSeconds": 600,
    },
    {
        "AllowedOrigins": ["*"],
        "AllowedMethods": ["GET", "HEAD"],
    },
]


def preflight(server, path, origin=None, method=None, headers=None):
    h = {}
    if origin is not None:
        h["Origin"] = origin
    if method is not None:
        h["Access-Control-Request-Method"] = method
    if headers is not None:
        h["Access-Control-Request-Headers"] = headers
    return raw_request(server.endpoint, "OPTIONS", path, headers=h)


def test_put_get_delete_cors(s3, bucket):
    with pytest.raises(ClientError) as err:
        s3.get_bucket_cors(Bucket=bucket)
    assert_client_error(err, 404, "NoSuchCORSConfiguration")

    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got == RULES

    # Replacing the configuration.
    s3.put_bucket_cors(Bucket=bucket,
                       CORSConfiguration={"CORSRules": RULES[1:]})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES[1:]

    resp = s3.delete_bucket_cors(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as err:
        s3.get_bucket_cors(Bucket=bucket)
    assert_client_error(err, 404, "NoSuchCORSConfiguration")
    # Deleting what is not there is no error, as in S3.
    s3.delete_bucket_cors(Bucket=bucket)


def test_cors_on_missing_bucket(s3):
    name = unique_bucket_name("nocors")
    for call in (lambda: s3.get_bucket_cors(Bucket=name),
                 lambda: s3.delete_bucket_cors(Bucket=name),
                 lambda: s3.put_bucket_cors(
                     Bucket=name, CORSConfiguration={"CORSRules": RULES})):
        with pytest.raises(ClientError) as err:
            call()
        assert_client_error(err, 404, "NoSuchBucket")


@pytest.mark.parametrize("rule,code,message", [
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]},
     "InvalidRequest",
     "Found unsupported HTTP method in CORS config. "
     "Unsupported method is PATCH"),
    ({"AllowedOrigins": ["http://*.*.example.com"],
      "AllowedMethods": ["GET"]},
     "InvalidRequest",
     'AllowedOrigin "http://*.*.example.com" can not have more than one '
     'wildcard.'),
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"],
      "AllowedHeaders": ["x-*-*"]},
     "InvalidRequest",
     'AllowedHeader "x-*-*" can not have more than one wildcard.'),
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"],
      "ExposeHeaders": ["x-amz-*"]},
     "InvalidRequest", None),
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"],
      "MaxAgeSeconds": -1},
     "MalformedXML", None),
])
def test_invalid_rules(s3, bucket, rule, code, message):
    with pytest.raises(ClientError) as err:
        s3.put_bucket_cors(Bucket=bucket,
                           CORSConfiguration={"CORSRules": [rule]})
    assert_client_error(err, 400, code)
    if message:
        assert err.value.response["Error"]["Message"] == message
    # Nothing was stored.
    with pytest.raises(ClientError) as err:
        s3.get_bucket_cors(Bucket=bucket)
    assert_client_error(err, 404, "NoSuchCORSConfiguration")


def test_rule_count_limit(s3, bucket):
    rule = {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}
    s3.put_bucket_cors(Bucket=bucket,
                       CORSConfiguration={"CORSRules": [rule] * 100})
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 100
    with pytest.raises(ClientError) as err:
        s3.put_bucket_cors(Bucket=bucket,
                           CORSConfiguration={"CORSRules": [rule] * 101})
    assert_client_error(err, 400, "MalformedXML")
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 100


def test_preflight(server, s3, bucket):
    path = f"/{bucket}/some/key.txt"
    # No CORS configuration: 403.
    fields = assert_s3_error(
        preflight(server, path, "https://app.example.com", "PUT"), 403,
        "CORSResponse", method="OPTIONS")
    assert fields["Message"] == "CORS is not enabled for this bucket."

    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    # Takes effect at once in this gateway (no stale cache).
    status, headers, body = preflight(
        server, path, "https://app.example.com", "PUT",
        "Content-Type, X-Amz-Date")
    assert status == 200, body
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-methods"] == "PUT, POST, DELETE"
    assert headers["access-control-allow-headers"] == \
        "content-type, x-amz-date"
    assert headers["access-control-expose-headers"] == \
        "ETag, x-amz-request-id"
    assert headers["access-control-max-age"] == "600"
    assert headers["access-control-allow-credentials"] == "true"
    assert "Origin" in headers["vary"]
    assert headers.get("x-amz-request-id")

    # On the bucket URL too; the wildcard rule answers `*`.
    status, headers, _ = preflight(server, f"/{bucket}",
                                   "http://anywhere.test", "GET")
    assert status == 200
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "GET, HEAD"
    assert "access-control-allow-credentials" not in headers
    assert "access-control-max-age" not in headers

    # Not allowed: a header the rule lacks, a method, an origin.
    for origin, method, hdrs in [
            ("https://app.example.com", "PUT", "x-custom"),
            ("http://anywhere.test", "PUT", None),
            ("https://app.example.com.evil", "DELETE", None),
            ("http://anywhere.test", "GET", "x-custom")]:
        fields = assert_s3_error(
            preflight(server, path, origin, method, hdrs),
            403, "CORSResponse", method="OPTIONS")
        assert fields["Message"] == NOT_ALLOWED

    # Malformed preflights.
    fields = assert_s3_error(preflight(server, path, None, "GET"), 400,
                             "BadRequest", method="OPTIONS")
    assert "Origin" in fields["Message"]
    assert_s3_error(preflight(server, path, "http://a.test", "PATCH"), 400,
                    "BadRequest", method="OPTIONS")
    assert_s3_error(preflight(server, path, "http://a.test", None), 400,
                    "BadRequest", method="OPTIONS")

    # Deleting the configuration takes effect at once as well.
    s3.delete_bucket_cors(Bucket=bucket)
    assert_s3_error(preflight(server, path, "http://anywhere.test", "GET"),
                    403, "CORSResponse", method="OPTIONS")


def test_preflight_on_missing_bucket(server):
    name = unique_bucket_name("gone")
    assert_s3_error(preflight(server, f"/{name}/k", "http://a.test", "GET"),
                    403, "CORSResponse", method="OPTIONS")


def test_actual_requests_get_cors_headers(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    # Before any configuration: no CORS headers.
    presigned = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"})
    path = presigned[len(server.endpoint):]
    status, headers, body = raw_request(server.endpoint, "GET", path,
                                        headers={"Origin": "http://x.test"})
    assert status == 200 and body == b"hello"
    assert "access-control-allow-origin" not in headers

    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    status, headers, body = raw_request(server.endpoint, "GET", path,
                                        headers={"Origin": "http://x.test"})
    assert status == 200 and body == b"hello"
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "GET, HEAD"

    # Without Origin: none.
    status, headers, _ = raw_request(server.endpoint, "GET", path)
    assert status == 200
    assert "access-control-allow-origin" not in headers

    # Errors carry them too (an unsigned GET: 403 AccessDenied).
    status, headers, _ = raw_request(
        server.endpoint, "GET", f"/{bucket}/k",
        headers={"Origin": "http://x.test"})
    assert status == 403
    assert headers["access-control-allow-origin"] == "*"

    # A method no rule allows for that origin: no CORS headers.
    status, headers, _ = raw_request(
        server.endpoint, "DELETE", f"/{bucket}/k",
        headers={"Origin": "http://x.test"})
    assert status == 403
    assert "access-control-allow-origin" not in headers

    # An authenticated PUT from the app's origin.
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "up"})
    status, headers, _ = raw_request(
        server.endpoint, "PUT", url[len(server.endpoint):], body=b"data",
        headers={"Origin": "https://app.example.com"})
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-expose-headers"] == \
        "ETag, x-amz-request-id"


def test_config_removed_with_bucket(s3, server):
    name = unique_bucket_name("cors-gone")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": RULES})
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as err:
        s3.get_bucket_cors(Bucket=name)
    assert_client_error(err, 404, "NoSuchCORSConfiguration")
    assert_s3_error(preflight(server, f"/{name}/k", "http://a.test", "GET"),
                    403, "CORSResponse", method="OPTIONS")
