"""The shape of errors, whoever raises them (our handlers, or s3s while
routing and checking signatures): Code, Message, Resource and a RequestId
equal to the x-amz-request-id header; no body for HEAD; and an
x-amz-request-id on every response, errors or not."""

from botocore.config import Config

from conftest import assert_s3_error, fetch_url, raw_request, sigv4_headers

V4 = Config(signature_version="s3v4", s3={"addressing_style": "path"})


def test_errors_of_signed_requests(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"0123456789")
    signer = server.client(config=V4)

    def url(op, **params):
        return signer.generate_presigned_url(op, Params=params,
                                             ExpiresIn=600)

    get_k = url("get_object", Bucket=bucket, Key="k")
    cases = [
        ("GET", url("get_object", Bucket=bucket, Key="missing"), {}, 404,
         "NoSuchKey", f"/{bucket}/missing"),
        ("GET", url("list_objects_v2", Bucket=bucket + "-gone"), {}, 404,
         "NoSuchBucket", f"/{bucket}-gone"),
        ("DELETE", url("delete_bucket", Bucket=bucket), {}, 409,
         "BucketNotEmpty", f"/{bucket}"),
        # Headers a presigned URL does not sign may still be sent.
        ("GET", get_k, {"Range": "bytes=50-"}, 416, "InvalidRange",
         f"/{bucket}/k"),
        ("GET", get_k, {"If-Match": '"nope"'}, 412, "PreconditionFailed",
         f"/{bucket}/k"),
    ]
    for method, u, headers, status, code, resource in cases:
        fields = assert_s3_error(fetch_url(u, method, headers=headers),
                                 status, code)
        assert fields["Resource"] == resource, fields


def test_errors_s3s_raises(server, bucket):
    # Unsigned, bad bucket names, unknown operations, malformed signatures.
    cases = [
        ("GET", f"/{bucket}/k", {}, 403, "AccessDenied"),
        ("GET", "/A_Bad_Bucket/k", {}, 400, "InvalidBucketName"),
        ("GET", f"/{bucket}/k", {"Authorization": "AWS4-HMAC-SHA256 nonsense",
                                 "x-amz-date": "not a date"}, 403,
         "AccessDenied"),
        ("GET", f"/{bucket}/k?X-Amz-Algorithm=AWS4-HMAC-SHA256", {}, 400,
         "AuthorizationQueryParametersError"),
    ]
    for method, path, headers, status, code in cases:
        fields = assert_s3_error(
            raw_request(server.endpoint, method, path, headers=headers),
            status, code)
        assert fields["Resource"] == path.split("?")[0], fields


def test_head_errors_have_no_body(server, s3, bucket):
    signer = server.client(config=V4)
    for params, status in (({"Bucket": bucket, "Key": "missing"}, 404),
                           ({"Bucket": bucket + "-gone", "Key": "k"}, 404)):
        u = signer.generate_presigned_url("head_object", Params=params,
                                          ExpiresIn=600)
        assert_s3_error(fetch_url(u, "HEAD"), status, "NoSuchKey",
                        method="HEAD")
    assert_s3_error(raw_request(server.endpoint, "HEAD", f"/{bucket}/k"),
                    403, "AccessDenied", method="HEAD")
    u = signer.generate_presigned_url("head_bucket",
                                      Params={"Bucket": bucket + "-gone"},
                                      ExpiresIn=600)
    assert_s3_error(fetch_url(u, "HEAD"), 404, "NoSuchBucket", method="HEAD")


def test_every_response_has_a_request_id(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    signer = server.client(config=V4)
    ids = set()
    for op, params, method in (
            ("get_object", {"Bucket": bucket, "Key": "k"}, "GET"),
            ("head_object", {"Bucket": bucket, "Key": "k"}, "HEAD"),
            ("list_objects_v2", {"Bucket": bucket}, "GET"),
            ("list_buckets", {}, "GET")):
        u = signer.generate_presigned_url(op, Params=params, ExpiresIn=600)
        status, headers, _ = fetch_url(u, method)
        assert status == 200, (op, status)
        ids.add(headers["x-amz-request-id"])
    # 304 Not Modified, too.
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    u = signer.generate_presigned_url("get_object",
                                      Params={"Bucket": bucket, "Key": "k"},
                                      ExpiresIn=600)
    status, headers, body = fetch_url(u, headers={"If-None-Match": etag})
    assert (status, body) == (304, b"")
    ids.add(headers["x-amz-request-id"])
    assert len(ids) == 5, ids


def test_client_errors_are_not_logged_as_errors(server, bucket):
    # s3s logs the errors it raises itself (bad bucket names, missing or
    # bad signatures) at ERROR; a client's mistake is not the server's
    # fault, so the gateway's log keeps ERROR for 5xx. PyArrow probes with
    # `HEAD /$extremelyunlikelytoexist$` when it opens a filesystem.
    probe = "/$extremelyunlikelytoexist$"
    cases = [
        ("HEAD", probe, {}),
        ("HEAD", probe, sigv4_headers(server, "HEAD", probe)),
        ("GET", f"/{bucket}/k", {}),
        ("GET", f"/{bucket}/k", {"Authorization": "AWS4-HMAC-SHA256 nonsense",
                                 "x-amz-date": "not a date"}),
        ("GET", "/A_Bad_Bucket/k", {}),
        ("GET", f"/{bucket}/k?X-Amz-Algorithm=AWS4-HMAC-SHA256", {}),
    ]
    ids = []
    for method, path, headers in cases:
        status, got, _ = raw_request(server.endpoint, method, path,
                                     headers=headers)
        assert 400 <= status < 500, (method, path, status)
        ids.append(got["x-amz-request-id"])
    log = server.log_path.read_text(errors="replace").splitlines()
    for request_id in ids:
        lines = [line for line in log if request_id in line]
        errors = [line for line in lines if " ERROR " in line]
        assert not errors, errors
