"""The headers stored with an object and the `response-*` overrides of GET/HEAD.

Cache-Control, Content-Disposition, Content-Encoding, Content-Language,
Expires and Content-Type are stored by PutObject, CreateMultipartUpload and
CopyObject with `x-amz-metadata-directive: REPLACE` (COPY keeps the
source's), and returned by GET and HEAD. The query parameters
response-cache-control, response-content-disposition,
response-content-encoding, response-content-language, response-content-type
and response-expires replace them in one answer without changing them.
"""

import base64
import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import KIB, MIB, assert_client_error, fetch_url, random_bytes

EXPIRES = datetime.datetime(2037, 1, 1, tzinfo=datetime.timezone.utc)
EXPIRES_HTTP = "Thu, 01 Jan 2037 00:00:00 GMT"

STORED = dict(
    ContentType="application/x-shale-test",
    CacheControl="max-age=3600, must-revalidate",
    ContentDisposition='attachment; filename="report.txt"',
    ContentEncoding="gzip",
    ContentLanguage="en-US",
    Expires=EXPIRES,
)

# Lower-case header name -> value, as on the wire, for STORED.
STORED_WIRE = {
    "content-type": "application/x-shale-test",
    "cache-control": "max-age=3600, must-revalidate",
    "content-disposition": 'attachment; filename="report.txt"',
    "content-encoding": "gzip",
    "content-language": "en-US",
    "expires": EXPIRES_HTTP,
}

OPTIONAL = ("cache-control", "content-disposition", "content-encoding",
            "content-language", "expires")


def wire(resp):
    return resp["ResponseMetadata"]["HTTPHeaders"]


def assert_wire(resp, expected):
    headers = wire(resp)
    for name, value in expected.items():
        assert headers.get(name) == value, (name, headers.get(name))


def assert_stored(s3, bucket, key, expected, body=None):
    got = s3.get_object(Bucket=bucket, Key=key)
    data = got["Body"].read()
    if body is not None:
        assert data == body
    assert_wire(got, expected)
    assert_wire(s3.head_object(Bucket=bucket, Key=key), expected)


@pytest.mark.parametrize("size", [100, 2 * MIB], ids=["inline", "coded"])
def test_put_stores_every_header(s3, bucket, size):
    body = random_bytes(size)
    s3.put_object(Bucket=bucket, Key="h", Body=body, **STORED)
    assert_stored(s3, bucket, "h", STORED_WIRE, body)
    head = s3.head_object(Bucket=bucket, Key="h")
    assert head["CacheControl"] == STORED["CacheControl"]
    assert head["ContentLanguage"] == STORED["ContentLanguage"]


def test_headers_not_given_are_not_answered(s3, bucket):
    s3.put_object(Bucket=bucket, Key="bare", Body=b"x")
    for resp in (s3.get_object(Bucket=bucket, Key="bare"),
                 s3.head_object(Bucket=bucket, Key="bare")):
        for name in OPTIONAL:
            assert name not in wire(resp), name


def test_multipart_upload_stores_every_header(s3, bucket):
    parts = [random_bytes(5 * MIB), random_bytes(3 * KIB)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", **STORED)["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid,
                            PartNumber=n, Body=p)["ETag"]
             for n, p in enumerate(parts, start=1)]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                   for n, e in enumerate(etags, start=1)]})
    assert_stored(s3, bucket, "mp", STORED_WIRE, b"".join(parts))


def test_copy_object_copies_or_replaces_headers(s3, bucket):
    body = random_bytes(150 * KIB)
    s3.put_object(Bucket=bucket, Key="src", Body=body, Metadata={"m": "1"},
                  **STORED)
    src = {"Bucket": bucket, "Key": "src"}

    s3.copy_object(Bucket=bucket, Key="copied", CopySource=src)
    assert_stored(s3, bucket, "copied", STORED_WIRE, body)

    s3.copy_object(Bucket=bucket, Key="replaced", CopySource=src,
                   MetadataDirective="REPLACE", ContentType="text/plain",
                   CacheControl="no-store", ContentLanguage="de",
                   Expires=datetime.datetime(2030, 6, 15, 12, 30, 5,
                                             tzinfo=datetime.timezone.utc))
    assert_stored(s3, bucket, "replaced", {
        "content-type": "text/plain", "cache-control": "no-store",
        "content-language": "de", "expires": "Sat, 15 Jun 2030 12:30:05 GMT",
    }, body)
    # REPLACE replaces everything: what the request does not name is gone.
    got = s3.head_object(Bucket=bucket, Key="replaced")
    assert "content-disposition" not in wire(got)
    assert "content-encoding" not in wire(got)
    assert got["Metadata"] == {}

    # Copying an object onto itself is allowed with REPLACE.
    s3.copy_object(Bucket=bucket, Key="src", CopySource=src,
                   MetadataDirective="REPLACE", ContentDisposition="inline")
    assert_stored(s3, bucket, "src", {"content-disposition": "inline"}, body)

    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="bad", CopySource=src,
                       MetadataDirective="MERGE")
    assert_client_error(exc, 400, "InvalidArgument")


OVERRIDES = dict(
    ResponseCacheControl="no-cache",
    ResponseContentDisposition='inline; filename="shown.txt"',
    ResponseContentEncoding="identity",
    ResponseContentLanguage="fr-CA",
    ResponseContentType="text/x-override",
    ResponseExpires=datetime.datetime(2031, 2, 3, 4, 5, 6,
                                      tzinfo=datetime.timezone.utc),
)

OVERRIDES_WIRE = {
    "cache-control": "no-cache",
    "content-disposition": 'inline; filename="shown.txt"',
    "content-encoding": "identity",
    "content-language": "fr-CA",
    "content-type": "text/x-override",
    "expires": "Mon, 03 Feb 2031 04:05:06 GMT",
}


@pytest.mark.parametrize("size", [100, 300 * KIB], ids=["inline", "coded"])
def test_response_overrides_on_get_and_head(s3, bucket, size):
    body = random_bytes(size)
    s3.put_object(Bucket=bucket, Key="o", Body=body, **STORED)

    got = s3.get_object(Bucket=bucket, Key="o", **OVERRIDES)
    assert got["Body"].read() == body
    assert_wire(got, OVERRIDES_WIRE)
    assert_wire(s3.head_object(Bucket=bucket, Key="o", **OVERRIDES),
                OVERRIDES_WIRE)

    # One override leaves the other stored headers as they are.
    got = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="image/png",
                        Range="bytes=0-9")
    assert got["Body"].read() == body[:10]
    assert_wire(got, {**STORED_WIRE, "content-type": "image/png"})

    # Overrides change one answer, never the object.
    assert_stored(s3, bucket, "o", STORED_WIRE, body)

    # An object stored without those headers gets them from the overrides.
    s3.put_object(Bucket=bucket, Key="bare", Body=b"plain")
    got = s3.get_object(Bucket=bucket, Key="bare", **OVERRIDES)
    assert got["Body"].read() == b"plain"
    assert_wire(got, OVERRIDES_WIRE)


def test_response_overrides_in_a_presigned_url(server, s3, bucket):
    body = random_bytes(90 * KIB)
    s3.put_object(Bucket=bucket, Key="dl", Body=body, ContentType="text/plain")
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "dl",
        "ResponseContentDisposition": 'attachment; filename="dl.bin"',
        "ResponseContentType": "application/octet-stream",
    }, ExpiresIn=300)
    status, headers, data = fetch_url(url)
    assert status == 200
    assert data == body
    assert headers["content-disposition"] == 'attachment; filename="dl.bin"'
    assert headers["content-type"] == "application/octet-stream"


def test_awscli_stored_headers_and_overrides(server, bucket, tmp_path):
    src = tmp_path / "page.html"
    body = random_bytes(80 * KIB)
    src.write_bytes(body)
    server.aws("s3", "cp", src, f"s3://{bucket}/page.html",
               "--content-type", "text/html",
               "--cache-control", "public, max-age=60",
               "--content-disposition", "inline",
               "--content-language", "en",
               "--content-encoding", "br",
               "--expires", "2037-01-01T00:00:00Z")
    head = server.aws_json("s3api", "head-object", "--bucket", bucket,
                           "--key", "page.html")
    assert head["ContentType"] == "text/html"
    assert head["CacheControl"] == "public, max-age=60"
    assert head["ContentDisposition"] == "inline"
    assert head["ContentLanguage"] == "en"
    assert head["ContentEncoding"] == "br"
    assert head["Expires"] == EXPIRES_HTTP

    out = tmp_path / "out.bin"
    got = server.aws_json("s3api", "get-object", "--bucket", bucket,
                          "--key", "page.html",
                          "--response-content-type", "text/plain",
                          "--response-cache-control", "no-store",
                          "--response-content-disposition",
                          'attachment; filename="page.html"', out)
    assert out.read_bytes() == body
    assert got["ContentType"] == "text/plain"
    assert got["CacheControl"] == "no-store"
    assert got["ContentDisposition"] == 'attachment; filename="page.html"'
    assert got["ContentLanguage"] == "en"


# --------------------------------------------------------------------------
# Non-ASCII user metadata: S3 decodes RFC 2047 values (and takes raw UTF-8)
# before storing, and answers every value that is not printable ASCII as an
# RFC 2047 Q-encoded word.
# --------------------------------------------------------------------------

def decoded(value):
    """A header value as a client decodes it (RFC 2047)."""
    import email.header
    return str(email.header.make_header(email.header.decode_header(value)))


def raw_put(server, bucket, key, meta, body=b"x"):
    """A PUT whose x-amz-meta-* values go on the wire as raw UTF-8 bytes
    (boto3 refuses non-ASCII metadata before sending)."""
    from conftest import raw_request, sigv4_headers
    path = f"/{bucket}/{key}"
    headers = sigv4_headers(server, "PUT", path,
                            {f"x-amz-meta-{k}": v for k, v in meta.items()})
    headers = {k: v.encode() for k, v in headers.items()}
    return raw_request(server.endpoint, "PUT", path, headers=headers,
                       body=body)


def test_raw_utf8_metadata_reads_back_rfc2047_encoded(server, s3, bucket):
    meta = {"city": "Zürich", "plain": "ascii only", "words": "ça va? oui_non"}
    status, _, body = raw_put(server, bucket, "u", meta)
    assert status == 200, body
    for resp in (s3.head_object(Bucket=bucket, Key="u"),
                 s3.get_object(Bucket=bucket, Key="u")):
        got = resp["Metadata"]
        assert got["city"] == "=?UTF-8?Q?Z=C3=BCrich?="
        assert got["plain"] == "ascii only"  # printable ASCII: as it is
        assert got["words"] == "=?UTF-8?Q?=C3=A7a_va=3F_oui=5Fnon?="
        assert {k: decoded(v) for k, v in got.items()} == meta


def test_rfc2047_metadata_is_decoded_then_stored(s3, bucket):
    # As some SDKs send it, in either encoding; S3 keeps the text, not
    # the encoding it came in.
    s3.put_object(Bucket=bucket, Key="b", Body=b"x", Metadata={
        "b": "=?UTF-8?B?Y2Fmw6k=?=", "q": "=?UTF-8?Q?caf=C3=A9_noir?="})
    got = s3.head_object(Bucket=bucket, Key="b")["Metadata"]
    assert got == {"b": "=?UTF-8?Q?caf=C3=A9?=",
                   "q": "=?UTF-8?Q?caf=C3=A9_noir?="}
    # A copy keeps the text.
    s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket,
                                                       "Key": "b"})
    assert s3.head_object(Bucket=bucket, Key="c")["Metadata"] == got


def test_non_ascii_metadata_size_is_counted_in_utf8_bytes(server, s3, bucket):
    # "é" is two bytes: key (1) + 1023 × 2 = 2047 fits, 1024 × 2 does not.
    status, _, body = raw_put(server, bucket, "fits", {"k": "é" * 1023})
    assert status == 200, body
    status, _, body = raw_put(server, bucket, "over", {"k": "é" * 1024})
    assert status == 400 and b"<Code>MetadataTooLarge</Code>" in body, body
    # Counted decoded: 2001 bytes of text, sent as 2700 bytes of RFC 2047.
    s3.put_object(Bucket=bucket, Key="enc", Body=b"x", Metadata={
        "k": "=?UTF-8?B?" + base64.b64encode(("é" * 1000).encode()).decode()
        + "?="})
    assert decoded(s3.head_object(Bucket=bucket, Key="enc")["Metadata"]["k"]) \
        == "é" * 1000


def test_metadata_that_is_not_utf8_is_a_client_error(server, s3, bucket):
    # Latin-1 bytes are not UTF-8: S3's signature check cannot cover them,
    # so the request is refused; never a 500, and the server carries on.
    from conftest import raw_request, sigv4_headers
    path = f"/{bucket}/latin1"
    headers = sigv4_headers(server, "PUT", path, {"x-amz-meta-k": "caf"})
    headers = {k: v.encode() for k, v in headers.items()}
    headers["x-amz-meta-k"] = "café".encode("latin-1")
    status, _, body = raw_request(server.endpoint, "PUT", path,
                                  headers=headers, body=b"x")
    assert 400 <= status < 500, (status, body)
    s3.put_object(Bucket=bucket, Key="after", Body=b"ok")
