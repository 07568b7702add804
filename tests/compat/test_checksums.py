"""Flexible checksums: verified, stored, and reported as Amazon S3 does.

boto3 (default settings) sends a CRC32 with every PutObject and UploadPart:
in a header over HTTP, in an aws-chunked trailer over HTTPS. It computes
CRC32, SHA1 and SHA256 itself; CRC32C and CRC64NVME need awscrt, which the
suite does not install, so those values are computed here and passed as
parameters (boto3 then sends them as headers). With ChecksumMode='ENABLED'
boto3 validates a GET body against a CRC32, SHA1 or SHA256 full-object
checksum in the response, so a wrong or stale stored checksum fails the read.
"""

import base64
import hashlib
import zlib

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import KIB, MIB, assert_client_error, random_bytes

ALGORITHMS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]
# The ones boto3 computes without awscrt.
BOTO_COMPUTES = {"CRC32", "SHA1", "SHA256"}


# --------------------------------------------------------------------------
# Checksums computed here, independently of the server.
# --------------------------------------------------------------------------

def _reflected_table(poly):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


class _Crc:
    """A reflected CRC with all-ones init and xorout (CRC32C, CRC64NVME)."""

    def __init__(self, poly, width):
        self.table = _reflected_table(poly)
        self.mask = (1 << width) - 1
        self.width = width

    def update(self, state, data):
        table = self.table
        for b in data:
            state = table[(state ^ b) & 0xFF] ^ (state >> 8)
        return state

    def init(self):
        return self.mask

    def digest(self, state):
        return (state ^ self.mask).to_bytes(self.width // 8, "big")


CRC32C = _Crc(0x82F63B78, 32)
CRC64NVME = _Crc(0x9A6C9329AC4BC9B5, 64)
assert CRC64NVME.digest(CRC64NVME.update(CRC64NVME.init(), b"123456789")) \
    == bytes.fromhex("ae8b14860a799888")
assert CRC32C.digest(CRC32C.update(CRC32C.init(), b"123456789")) \
    == bytes.fromhex("e3069283")


def digest(algorithm, data):
    """The binary digest of data."""
    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "CRC32C":
        return CRC32C.digest(CRC32C.update(CRC32C.init(), data))
    if algorithm == "CRC64NVME":
        return CRC64NVME.digest(CRC64NVME.update(CRC64NVME.init(), data))
    return hashlib.new(algorithm.lower(), data).digest()


def digests_of_parts(algorithm, parts):
    """(digest of each part, digest of their concatenation), reading each
    byte once where the algorithm allows it (CRCs continue across parts)."""
    if algorithm in ("CRC32C", "CRC64NVME"):
        crc = CRC32C if algorithm == "CRC32C" else CRC64NVME
        whole, each = crc.init(), []
        for p in parts:
            each.append(crc.digest(crc.update(crc.init(), p)))
            whole = crc.update(whole, p)
        return each, crc.digest(whole)
    return [digest(algorithm, p) for p in parts], digest(algorithm, b"".join(parts))


def b64(raw):
    return base64.b64encode(raw).decode()


def member(algorithm):
    """The boto3 member of a checksum: ChecksumCRC32, …"""
    return f"Checksum{algorithm}"


def checksum_params(algorithm, data):
    """Upload parameters that send a checksum of `algorithm`: boto3 computes
    the ones it can; the others are passed precomputed."""
    if algorithm in BOTO_COMPUTES:
        return {"ChecksumAlgorithm": algorithm}
    return {member(algorithm): b64(digest(algorithm, data))}


def reported(resp):
    """The Checksum* members of a response."""
    return {k: v for k, v in resp.items()
            if k.startswith("Checksum") and k not in ("ChecksumType",)}


def no_checksum_client(server):
    """A client that sends no flexible checksum (so S3 picks its default)
    and asks for none on GET."""
    return server.client(config=Config(
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required"))


def no_retry_client(server):
    """boto3 retries a 400 BadDigest (it is in botocore's legacy retry
    rules) with back-off; the tests of digest errors do not wait for that."""
    return server.client(config=Config(s3={"addressing_style": "path"},
                                       retries={"max_attempts": 1}))


# --------------------------------------------------------------------------
# Single-part objects
# --------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_put_object_stores_the_checksum(server, s3, bucket, algorithm):
    body = random_bytes(100 * KIB + 3)
    expected = b64(digest(algorithm, body))
    put = s3.put_object(Bucket=bucket, Key="k", Body=body,
                        **checksum_params(algorithm, body))
    assert put[member(algorithm)] == expected
    assert put["ChecksumType"] == "FULL_OBJECT"

    # Without checksum mode: no checksum, as S3. (boto3's get_object asks
    # for it by default; this client does not.)
    assert reported(s3.head_object(Bucket=bucket, Key="k")) == {}
    plain = no_checksum_client(server).get_object(Bucket=bucket, Key="k")
    assert reported(plain) == {} and "ChecksumType" not in plain
    assert plain["Body"].read() == body

    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert reported(head) == {member(algorithm): expected}
    assert head["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert reported(got) == {member(algorithm): expected}
    assert got["ChecksumType"] == "FULL_OBJECT"
    # boto3 validates the body against CRC32, SHA1 and SHA256 here.
    assert got["Body"].read() == body


@pytest.mark.parametrize("size", [0, 5, 300 * KIB], ids=["0B", "5B", "300KiB"])
def test_default_checksum_is_crc64nvme(server, bucket, size):
    s3 = no_checksum_client(server)
    body = random_bytes(size)
    put = s3.put_object(Bucket=bucket, Key="d", Body=body)
    expected = b64(digest("CRC64NVME", body))
    assert put.get("ChecksumCRC64NVME") == expected
    head = s3.head_object(Bucket=bucket, Key="d", ChecksumMode="ENABLED")
    assert reported(head) == {"ChecksumCRC64NVME": expected}
    assert head["ChecksumType"] == "FULL_OBJECT"


def test_boto3_default_crc32_is_stored(s3, bucket):
    body = random_bytes(70 * KIB)
    s3.put_object(Bucket=bucket, Key="c", Body=body)
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert reported(head) == {"ChecksumCRC32": b64(digest("CRC32", body))}


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA256"])
def test_trailer_checksums_are_stored_over_https(tls_server, request, algorithm):
    s3 = tls_server.client()
    name = f"ck-tls-{algorithm.lower()}-{abs(hash(request.node.name)) % 10**8}"
    s3.create_bucket(Bucket=name)
    body = random_bytes(MIB + 17)
    kwargs = {} if algorithm == "CRC32" else {"ChecksumAlgorithm": algorithm}
    put = s3.put_object(Bucket=name, Key="t", Body=body, **kwargs)
    expected = b64(digest(algorithm, body))
    assert put[member(algorithm)] == expected
    got = s3.get_object(Bucket=name, Key="t", ChecksumMode="ENABLED")
    assert reported(got) == {member(algorithm): expected}
    assert got["Body"].read() == body


def test_ranged_get_has_no_checksum(s3, bucket):
    body = random_bytes(200 * KIB)
    s3.put_object(Bucket=bucket, Key="r", Body=body, ChecksumAlgorithm="SHA256")
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-99",
                        ChecksumMode="ENABLED")
    assert got["Body"].read() == body[10:100]
    assert reported(got) == {}
    assert "x-amz-checksum-type" not in got["ResponseMetadata"]["HTTPHeaders"]
    head = s3.head_object(Bucket=bucket, Key="r", Range="bytes=0-0",
                          ChecksumMode="ENABLED")
    assert reported(head) == {}


def test_overwrite_replaces_the_checksum(server, s3, bucket):
    first = random_bytes(1000)
    s3.put_object(Bucket=bucket, Key="o", Body=first, ChecksumAlgorithm="SHA256")
    second = random_bytes(2000)
    s3.put_object(Bucket=bucket, Key="o", Body=second)  # boto3's CRC32
    got = s3.get_object(Bucket=bucket, Key="o", ChecksumMode="ENABLED")
    assert reported(got) == {"ChecksumCRC32": b64(digest("CRC32", second))}
    # A stale SHA256 would make this validated read fail.
    assert got["Body"].read() == second

    third = random_bytes(3000)
    no_checksum_client(server).put_object(Bucket=bucket, Key="o", Body=third)
    got = s3.get_object(Bucket=bucket, Key="o", ChecksumMode="ENABLED")
    assert reported(got) == {"ChecksumCRC64NVME": b64(digest("CRC64NVME", third))}
    assert got["Body"].read() == third

    # A copy gets a checksum of its own bytes.
    copy = s3.copy_object(Bucket=bucket, Key="o2",
                          CopySource={"Bucket": bucket, "Key": "o"})
    assert copy["CopyObjectResult"]["ChecksumCRC64NVME"] == \
        b64(digest("CRC64NVME", third))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_wrong_checksum_is_bad_digest_and_stores_nothing(server, bucket, algorithm):
    s3 = no_retry_client(server)
    body = random_bytes(4 * KIB)
    wrong = b64(digest(algorithm, body + b"!"))
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="w", Body=body, **{member(algorithm): wrong})
    assert_client_error(exc, 400, "BadDigest")
    # S3's words, the algorithm in capitals (not InvalidRequest).
    assert exc.value.response["Error"]["Message"] == \
        f"The {algorithm} you specified did not match the calculated checksum."
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="w")
    assert_client_error(exc, 404)

    # An existing object is left as it was, checksum included.
    s3.put_object(Bucket=bucket, Key="w", Body=body)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="w", Body=b"other",
                      **{member(algorithm): wrong})
    assert_client_error(exc, 400, "BadDigest")
    got = s3.get_object(Bucket=bucket, Key="w", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert reported(got) == {"ChecksumCRC32": b64(digest("CRC32", body))}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("upload_algorithm", ["none", "same"])
def test_wrong_part_checksum_is_bad_digest(server, bucket, algorithm,
                                           upload_algorithm):
    s3 = no_retry_client(server)
    body = random_bytes(4 * KIB)
    extra = {"ChecksumAlgorithm": algorithm} if upload_algorithm == "same" else {}
    uid = s3.create_multipart_upload(Bucket=bucket, Key="p", **extra)["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="p", UploadId=uid, PartNumber=1,
                       Body=body,
                       **{member(algorithm): b64(digest(algorithm, body + b"!"))})
    assert_client_error(exc, 400, "BadDigest")
    assert exc.value.response["Error"]["Message"] == \
        f"The {algorithm} you specified did not match the calculated checksum."
    assert s3.list_parts(Bucket=bucket, Key="p", UploadId=uid).get("Parts", []) == []


def test_malformed_checksum_is_invalid_request(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="m", Body=b"x",
                      ChecksumSHA256="not base64 of 32 bytes")
    assert_client_error(exc, 400, "InvalidRequest")


def test_wrong_content_md5_is_bad_digest(server, bucket):
    s3 = no_retry_client(server)
    body = random_bytes(1000)
    wrong = base64.b64encode(hashlib.md5(b"else").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="small", Body=body, ContentMD5=wrong)
    assert_client_error(exc, 400, "BadDigest")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="small")
    assert_client_error(exc, 404)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="part")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="part", UploadId=uid, PartNumber=1,
                       Body=body, ContentMD5=wrong)
    assert_client_error(exc, 400, "BadDigest")
    assert s3.list_parts(Bucket=bucket, Key="part", UploadId=uid).get("Parts", []) == []
    right = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="small", Body=body, ContentMD5=right)


# --------------------------------------------------------------------------
# Multipart uploads
# --------------------------------------------------------------------------

def two_parts():
    return [random_bytes(5 * MIB), random_bytes(100 * KIB + 1)]


def upload_parts(s3, bucket, key, uid, algorithm, parts):
    """Uploads parts with checksums of `algorithm`; returns the Parts list
    for CompleteMultipartUpload (ETag and checksum of each)."""
    listed = []
    for number, body in enumerate(parts, start=1):
        resp = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid,
                              PartNumber=number, Body=body,
                              **checksum_params(algorithm, body))
        listed.append({"PartNumber": number, "ETag": resp["ETag"],
                       member(algorithm): resp[member(algorithm)]})
    return listed


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_multipart_composite(s3, bucket, algorithm):
    parts = two_parts()
    each, _ = digests_of_parts(algorithm, parts)
    create = s3.create_multipart_upload(Bucket=bucket, Key="mp",
                                        ChecksumAlgorithm=algorithm)
    assert create["ChecksumAlgorithm"] == algorithm
    assert create["ChecksumType"] == "COMPOSITE"
    uid = create["UploadId"]
    listed = upload_parts(s3, bucket, "mp", uid, algorithm, parts)
    assert [p[member(algorithm)] for p in listed] == [b64(d) for d in each]

    lp = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert lp["ChecksumAlgorithm"] == algorithm
    assert lp["ChecksumType"] == "COMPOSITE"
    assert [p[member(algorithm)] for p in lp["Parts"]] == [b64(d) for d in each]

    expected = f"{b64(digest(algorithm, b''.join(each)))}-2"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                        MultipartUpload={"Parts": listed})
    assert done[member(algorithm)] == expected
    assert done["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert reported(head) == {member(algorithm): expected}
    assert head["ChecksumType"] == "COMPOSITE"
    got = s3.get_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert got["ChecksumType"] == "COMPOSITE"
    assert got["Body"].read() == b"".join(parts)


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_multipart_full_object(s3, bucket, algorithm):
    parts = two_parts()
    each, whole = digests_of_parts(algorithm, parts)
    create = s3.create_multipart_upload(Bucket=bucket, Key="fo",
                                        ChecksumAlgorithm=algorithm,
                                        ChecksumType="FULL_OBJECT")
    assert create["ChecksumType"] == "FULL_OBJECT"
    uid = create["UploadId"]
    listed = upload_parts(s3, bucket, "fo", uid, algorithm, parts)
    assert [p[member(algorithm)] for p in listed] == [b64(d) for d in each]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="fo", UploadId=uid, ChecksumType="FULL_OBJECT",
        MpuObjectSize=sum(len(p) for p in parts),
        MultipartUpload={"Parts": listed}, **{member(algorithm): b64(whole)})
    assert done[member(algorithm)] == b64(whole)
    assert done["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="fo", ChecksumMode="ENABLED")
    assert reported(got) == {member(algorithm): b64(whole)}
    assert got["ChecksumType"] == "FULL_OBJECT"
    # For CRC32 boto3 checks the combined CRC against the body it reads.
    assert got["Body"].read() == b"".join(parts)
    # A full-object checksum does not cover one part: none is sent for it.
    part = s3.head_object(Bucket=bucket, Key="fo", PartNumber=1,
                          ChecksumMode="ENABLED")
    assert reported(part) == {} and "ChecksumType" not in part


@pytest.mark.parametrize("list_part_checksums", [False, True],
                         ids=["etags-only", "js-sdk-v3"])
def test_multipart_without_algorithm_gets_crc64nvme(s3, bucket,
                                                    list_part_checksums):
    """An upload created without an algorithm whose parts carry CRC32s
    (boto3's default; the AWS SDK for JavaScript v3 also lists them in the
    Complete body): each part's CRC32 is checked and echoed, and the object
    gets S3's default, a FULL_OBJECT CRC64NVME of its bytes."""
    parts = two_parts()
    each, whole = digests_of_parts("CRC64NVME", parts)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dflt")["UploadId"]
    listed = []
    for number, body in enumerate(parts, start=1):
        # boto3 sends its default CRC32 with each part.
        resp = s3.upload_part(Bucket=bucket, Key="dflt", UploadId=uid,
                              PartNumber=number, Body=body)
        assert resp["ChecksumCRC32"] == b64(digest("CRC32", body))
        listed.append({"PartNumber": number, "ETag": resp["ETag"]})
        if list_part_checksums:
            listed[-1]["ChecksumCRC32"] = resp["ChecksumCRC32"]
    # S3 lists no part checksums for an upload without an algorithm.
    lp = s3.list_parts(Bucket=bucket, Key="dflt", UploadId=uid)
    assert "ChecksumAlgorithm" not in lp
    assert [reported(p) for p in lp["Parts"]] == [{}, {}]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="dflt", UploadId=uid,
                                        MultipartUpload={"Parts": listed})
    assert reported(done) == {"ChecksumCRC64NVME": b64(whole)}
    assert done["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="dflt", ChecksumMode="ENABLED")
    assert reported(head) == {"ChecksumCRC64NVME": b64(whole)}
    assert head["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="dflt", ChecksumMode="ENABLED")
    assert reported(got) == {"ChecksumCRC64NVME": b64(whole)}
    assert got["ChecksumType"] == "FULL_OBJECT"
    assert got["Body"].read() == b"".join(parts)


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA256"])
def test_composite_reports_the_part_count(s3, bucket, algorithm):
    """A COMPOSITE checksum carries `-N` in Complete, HEAD and GET (`-1`
    for one part), not in GetObjectAttributes; a part read gets the part's
    own digest, typed COMPOSITE."""
    body = random_bytes(100 * KIB)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="one",
                                     ChecksumAlgorithm=algorithm)["UploadId"]
    listed = upload_parts(s3, bucket, "one", uid, algorithm, [body])
    value = b64(digest(algorithm, digest(algorithm, body)))
    done = s3.complete_multipart_upload(Bucket=bucket, Key="one", UploadId=uid,
                                        MultipartUpload={"Parts": listed})
    assert reported(done) == {member(algorithm): f"{value}-1"}
    assert done["ChecksumType"] == "COMPOSITE"
    for resp in [s3.head_object(Bucket=bucket, Key="one", ChecksumMode="ENABLED"),
                 s3.get_object(Bucket=bucket, Key="one", ChecksumMode="ENABLED")]:
        assert reported(resp) == {member(algorithm): f"{value}-1"}
        assert resp["ChecksumType"] == "COMPOSITE"
    part = s3.head_object(Bucket=bucket, Key="one", PartNumber=1,
                          ChecksumMode="ENABLED")
    assert reported(part) == {member(algorithm): b64(digest(algorithm, body))}
    assert part["ChecksumType"] == "COMPOSITE"
    attrs = s3.get_object_attributes(Bucket=bucket, Key="one",
                                     ObjectAttributes=["Checksum"])
    assert attrs["Checksum"] == {member(algorithm): value,
                                 "ChecksumType": "COMPOSITE"}


def test_transfer_manager_multipart(s3, bucket, tmp_path):
    """upload_file's default: CRC32 named on CreateMultipartUpload, a CRC32
    with every part, and the part checksums listed on completion."""
    body = random_bytes(11 * MIB)
    src = tmp_path / "f.bin"
    src.write_bytes(body)
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    s3.upload_file(str(src), bucket, "tm", Config=config)
    chunks = [body[i:i + 5 * MIB] for i in range(0, len(body), 5 * MIB)]
    expected = b"".join(digest("CRC32", c) for c in chunks)
    head = s3.head_object(Bucket=bucket, Key="tm", ChecksumMode="ENABLED")
    assert reported(head) == {"ChecksumCRC32": f"{b64(digest('CRC32', expected))}-3"}
    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "tm", str(dst))
    assert dst.read_bytes() == body


def test_multipart_checksum_errors(server, bucket):
    s3 = no_retry_client(server)
    parts = two_parts()
    uid = s3.create_multipart_upload(Bucket=bucket, Key="bad",
                                     ChecksumAlgorithm="SHA256")["UploadId"]
    # A part checksummed with another algorithm than the upload's.
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="bad", UploadId=uid, PartNumber=1,
                       Body=parts[0])  # boto3's default CRC32
    assert_client_error(exc, 400, "InvalidRequest")
    # A part whose checksum is wrong is not stored.
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="bad", UploadId=uid, PartNumber=1,
                       Body=parts[0], ChecksumSHA256=b64(digest("SHA256", b"x")))
    assert_client_error(exc, 400, "BadDigest")
    assert s3.list_parts(Bucket=bucket, Key="bad", UploadId=uid).get("Parts", []) == []

    listed = upload_parts(s3, bucket, "bad", uid, "SHA256", parts)
    # A listed part checksum that is not the part's.
    wrong = [dict(listed[0]), listed[1]]
    wrong[0]["ChecksumSHA256"] = b64(digest("SHA256", b"not the part"))
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="bad", UploadId=uid,
                                     MultipartUpload={"Parts": wrong})
    assert_client_error(exc, 400, "InvalidPart")
    # A composite upload must list every part's checksum.
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in listed]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="bad", UploadId=uid,
                                     MultipartUpload={"Parts": bare})
    assert_client_error(exc, 400, "InvalidRequest")
    # An expected object checksum that does not match.
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="bad", UploadId=uid,
            MultipartUpload={"Parts": listed},
            ChecksumSHA256=f"{b64(digest('SHA256', b'nope'))}-2")
    assert_client_error(exc, 400, "BadDigest")
    # Nothing was stored; the upload is still there and completes.
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="bad")
    assert_client_error(exc, 404)
    assert len(s3.list_parts(Bucket=bucket, Key="bad", UploadId=uid)["Parts"]) == 2
    s3.complete_multipart_upload(Bucket=bucket, Key="bad", UploadId=uid,
                                 MultipartUpload={"Parts": listed})


@pytest.mark.parametrize("algorithm,kind", [("SHA256", "FULL_OBJECT"),
                                            ("CRC64NVME", "COMPOSITE")])
def test_unsupported_checksum_type(s3, bucket, algorithm, kind):
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="u", ChecksumAlgorithm=algorithm,
                                   ChecksumType=kind)
    assert_client_error(exc, 400, "InvalidRequest")


# --------------------------------------------------------------------------
# AWS CLI
# --------------------------------------------------------------------------

def test_awscli_put_object_sha256(server, bucket, tmp_path):
    body = random_bytes(50 * KIB)
    src = tmp_path / "cli.bin"
    src.write_bytes(body)
    expected = b64(digest("SHA256", body))
    put = server.aws_json("s3api", "put-object", "--bucket", bucket, "--key", "cli",
                          "--body", src, "--checksum-algorithm", "SHA256")
    assert put["ChecksumSHA256"] == expected
    head = server.aws_json("s3api", "head-object", "--bucket", bucket, "--key", "cli",
                           "--checksum-mode", "ENABLED")
    assert head["ChecksumSHA256"] == expected
    assert head["ChecksumType"] == "FULL_OBJECT"
    out = tmp_path / "out.bin"
    server.aws("s3api", "get-object", "--bucket", bucket, "--key", "cli",
               "--checksum-mode", "ENABLED", out)
    assert out.read_bytes() == body


# --------------------------------------------------------------------------
# GetObjectAttributes
# --------------------------------------------------------------------------

ALL_ATTRIBUTES = ["ETag", "Checksum", "ObjectParts", "ObjectSize", "StorageClass"]


def test_get_object_attributes_single_part(s3, bucket):
    body = random_bytes(1000)
    s3.put_object(Bucket=bucket, Key="a", Body=body, ChecksumAlgorithm="SHA256")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="a",
                                     ObjectAttributes=ALL_ATTRIBUTES)
    # Bare, as S3 answers GetObjectAttributes (HEAD and GET quote it).
    assert attrs["ETag"] == hashlib.md5(body).hexdigest()
    assert attrs["Checksum"] == {"ChecksumSHA256": b64(digest("SHA256", body)),
                                 "ChecksumType": "FULL_OBJECT"}
    assert attrs["ObjectSize"] == 1000
    assert attrs["StorageClass"] == "STANDARD"
    assert "ObjectParts" not in attrs
    assert attrs["LastModified"] is not None

    only = s3.get_object_attributes(Bucket=bucket, Key="a",
                                    ObjectAttributes=["ObjectSize"])
    assert only["ObjectSize"] == 1000
    assert "Checksum" not in only and "ETag" not in only

    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="missing",
                                 ObjectAttributes=["ETag"])
    assert_client_error(exc, 404, "NoSuchKey")


def test_get_object_attributes_multipart(s3, bucket):
    parts = two_parts()
    each, _ = digests_of_parts("SHA256", parts)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mpa",
                                     ChecksumAlgorithm="SHA256")["UploadId"]
    listed = upload_parts(s3, bucket, "mpa", uid, "SHA256", parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="mpa", UploadId=uid,
                                 MultipartUpload={"Parts": listed})
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mpa",
                                     ObjectAttributes=ALL_ATTRIBUTES)
    head = s3.head_object(Bucket=bucket, Key="mpa")
    assert head["ETag"].startswith('"') and head["ETag"].endswith('-2"')
    assert attrs["ETag"] == head["ETag"].strip('"')
    assert attrs["ObjectSize"] == sum(len(p) for p in parts)
    assert attrs["Checksum"]["ChecksumType"] == "COMPOSITE"
    assert attrs["Checksum"]["ChecksumSHA256"].startswith(
        b64(digest("SHA256", b"".join(each))))
    op = attrs["ObjectParts"]
    assert op["TotalPartsCount"] == 2 and op["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in op["Parts"]] \
        == [(i + 1, len(parts[i]), b64(each[i])) for i in range(2)]

    first = s3.get_object_attributes(Bucket=bucket, Key="mpa", MaxParts=1,
                                     ObjectAttributes=["ObjectParts"])["ObjectParts"]
    assert first["IsTruncated"] is True and first["NextPartNumberMarker"] == 1
    assert [p["PartNumber"] for p in first["Parts"]] == [1]
    rest = s3.get_object_attributes(Bucket=bucket, Key="mpa", MaxParts=1,
                                    PartNumberMarker=1,
                                    ObjectAttributes=["ObjectParts"])["ObjectParts"]
    assert [p["PartNumber"] for p in rest["Parts"]] == [2]
    assert rest["IsTruncated"] is False


# --------------------------------------------------------------------------
# Copies: CopyObject and UploadPartCopy with x-amz-checksum-algorithm.
# --------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("size", [3000, 5 * MIB + 1], ids=["inline", "coded"])
def test_copy_object_with_checksum_algorithm(s3, bucket, algorithm, size):
    body = random_bytes(size)
    s3.put_object(Bucket=bucket, Key="src", Body=body)  # boto3's CRC32
    copy = s3.copy_object(Bucket=bucket, Key="dst", ChecksumAlgorithm=algorithm,
                          CopySource={"Bucket": bucket, "Key": "src"})
    result = copy["CopyObjectResult"]
    assert reported(result) == {member(algorithm): b64(digest(algorithm, body))}
    assert result.get("ChecksumType") == "FULL_OBJECT"
    got = s3.head_object(Bucket=bucket, Key="dst", ChecksumMode="ENABLED")
    assert reported(got) == {member(algorithm): b64(digest(algorithm, body))}
    # Without an algorithm, the copy keeps the source's (CRC32 here).
    again = s3.copy_object(Bucket=bucket, Key="dst2",
                           CopySource={"Bucket": bucket, "Key": "dst"})
    assert reported(again["CopyObjectResult"]) == {
        member(algorithm): b64(digest(algorithm, body))}
    got = s3.get_object(Bucket=bucket, Key="dst2", ChecksumMode="ENABLED")
    assert got["Body"].read() == body


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA256", "CRC64NVME"])
def test_upload_part_copy_checksums(server, s3, bucket, algorithm):
    source = random_bytes(6 * MIB + 100)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp",
                                    ChecksumAlgorithm=algorithm)
    ranges = [(0, 5 * MIB - 1), (5 * MIB, len(source) - 1)]
    parts = []
    for n, (a, b) in enumerate(ranges, start=1):
        r = s3.upload_part_copy(Bucket=bucket, Key="mp",
                                UploadId=up["UploadId"], PartNumber=n,
                                CopySource={"Bucket": bucket, "Key": "src"},
                                CopySourceRange=f"bytes={a}-{b}")
        result = r["CopyPartResult"]
        want = b64(digest(algorithm, source[a:b + 1]))
        assert reported(result) == {member(algorithm): want}
        parts.append({"PartNumber": n, "ETag": result["ETag"],
                      member(algorithm): want})
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=up["UploadId"])
    assert [p[member(algorithm)] for p in listed["Parts"]] == [
        p[member(algorithm)] for p in parts]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp",
                                 UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": parts})
    got = s3.get_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert got["Body"].read() == source


def test_upload_part_copy_checksum_algorithm_header(server, s3, bucket):
    # An upload created without an algorithm: the header of UploadPartCopy
    # names the one to compute and answer; one unlike the upload's is refused.
    source = random_bytes(10_000)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")

    def with_header(value):
        def add(request, **_):
            request.headers["x-amz-checksum-algorithm"] = value
        return add

    s3h = server.client()
    s3h.meta.events.register("before-sign.s3.UploadPartCopy",
                             with_header("SHA1"))
    r = s3h.upload_part_copy(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                             PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyPartResult"]["ChecksumSHA1"] == b64(digest("SHA1", source))

    up2 = s3.create_multipart_upload(Bucket=bucket, Key="mp2",
                                     ChecksumAlgorithm="CRC32")
    with pytest.raises(ClientError) as exc:
        s3h.upload_part_copy(Bucket=bucket, Key="mp2",
                             UploadId=up2["UploadId"], PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"})
    assert_client_error(exc, 400, "InvalidRequest")
