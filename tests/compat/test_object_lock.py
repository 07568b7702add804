"""S3 Object Lock as Amazon S3 does it (boto3, raw requests, the AWS CLI):
lock configuration and default retention; lock headers of PutObject,
CopyObject and multipart uploads; what GOVERNANCE, COMPLIANCE and legal holds
refuse, with and without bypass (and the right to it); retention and holds of
one version. Locked buckets stay behind (COMPLIANCE at most a day ahead)."""

import base64
import contextlib
import hashlib
import json
import re
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from conftest import (LOOPBACK, assert_client_error, assert_s3_error,
                      http_status, raw_request, sigv4_headers,
                      unique_bucket_name)

DAY = 86400
NOT_PROTECTED = "NoSuchObjectLockConfiguration"
UNLOCKED = (None, None, None)
BYPASS = {"BypassGovernanceRetention": True}


@contextlib.contextmanager
def raises(status, *codes):
    with pytest.raises(ClientError) as info:
        yield info
    assert_client_error(info, status, *codes)


def ahead(seconds):
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).replace(
        microsecond=0)


def iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def header_date(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def lock(mode, until, **kw):
    return {"ObjectLockMode": mode, "ObjectLockRetainUntilDate": until, **kw}


def lock_of(resp):
    """(mode, retain-until, legal hold) of a GET / HEAD answer (boto3's and
    the raw headers' must agree)."""
    h = resp["ResponseMetadata"]["HTTPHeaders"]
    got = (resp.get("ObjectLockMode"), resp.get("ObjectLockRetainUntilDate"),
           resp.get("ObjectLockLegalHoldStatus"))
    assert h.get("x-amz-object-lock-mode") == got[0]
    assert h.get("x-amz-object-lock-legal-hold") == got[2]
    until = h.get("x-amz-object-lock-retain-until-date")
    assert (header_date(until) if until else None) == got[1]
    return got


def head_lock(s3, bucket, key, **kw):
    return lock_of(s3.head_object(Bucket=bucket, Key=key, **kw))


def retention(s3, bucket, key, **kw):
    r = s3.get_object_retention(Bucket=bucket, Key=key, **kw)["Retention"]
    return r["Mode"], r["RetainUntilDate"]


def hold(s3, bucket, key, **kw):
    return s3.get_object_legal_hold(Bucket=bucket, Key=key,
                                    **kw)["LegalHold"]["Status"]


def put_lock_config(s3, bucket, rule=None):
    conf = {"ObjectLockEnabled": "Enabled",
            **({"Rule": {"DefaultRetention": rule}} if rule else {})}
    assert http_status(s3.put_object_lock_configuration(
        Bucket=bucket, ObjectLockConfiguration=conf)) == 200


def put(s3, bucket, key, body=b"data", **kw):
    return s3.put_object(Bucket=bucket, Key=key, Body=body,
                         **kw).get("VersionId")


def delete(s3, bucket, key, vid, **kw):
    resp = s3.delete_object(Bucket=bucket, Key=key, VersionId=vid, **kw)
    assert http_status(resp) == 204 and resp["VersionId"] == vid


@pytest.fixture
def locked(s3, request):
    name = unique_bucket_name("lock-" + request.node.name)
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def versioning(s3, bucket, status=None):
    if status:
        s3.put_bucket_versioning(Bucket=bucket,
                                 VersioningConfiguration={"Status": status})
    return s3.get_bucket_versioning(Bucket=bucket).get("Status")


def assert_locked_for_good(s3, bucket):
    """Object Lock on, no default retention; versioning stays Enabled."""
    assert s3.get_object_lock_configuration(Bucket=bucket)[
        "ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}
    with raises(409, "InvalidBucketState"):
        versioning(s3, bucket, "Suspended")
    assert versioning(s3, bucket) == "Enabled"


def test_bucket_created_with_object_lock(s3, locked):
    assert versioning(s3, locked) == "Enabled"
    assert_locked_for_good(s3, locked)


def test_object_lock_on_an_existing_versioned_bucket(s3, bucket):
    for _ in range(2):
        with raises(404, "ObjectLockConfigurationNotFoundError"):
            s3.get_object_lock_configuration(Bucket=bucket)
        with raises(409, "InvalidBucketState"):  # not versioned (yet)
            put_lock_config(s3, bucket)
    versioning(s3, bucket, "Enabled")
    put_lock_config(s3, bucket)
    assert_locked_for_good(s3, bucket)


def test_default_retention(s3, locked):
    def config():
        return s3.get_object_lock_configuration(
            Bucket=locked)["ObjectLockConfiguration"]

    for rule, code in (({"Days": 1, "Years": 1}, "MalformedXML"),
                       ({"Days": 0}, "InvalidArgument"),
                       ({"Days": -1}, "InvalidArgument"),
                       ({"Years": 0}, "InvalidArgument")):
        with raises(400, code):
            put_lock_config(s3, locked, {"Mode": "GOVERNANCE", **rule})
    with raises(400, "MalformedXML"):  # no ObjectLockEnabled
        s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    assert config() == {"ObjectLockEnabled": "Enabled"}
    for rule, span in (({"Mode": "COMPLIANCE", "Days": 1}, (1, 1)),
                       ({"Mode": "GOVERNANCE", "Years": 1}, (365, 366))):
        put_lock_config(s3, locked, rule)
        assert config() == {"ObjectLockEnabled": "Enabled",
                            "Rule": {"DefaultRetention": rule}}
        key = f"default-{rule['Mode']}-{rule.get('Days', rule.get('Years'))}"
        before = ahead(-5)
        put(s3, locked, key)
        mode, until, held = head_lock(s3, locked, key)
        assert (mode, held) == (rule["Mode"], None)
        assert before + timedelta(days=span[0]) <= until \
            <= ahead(5) + timedelta(days=span[1]), (rule, until)
        assert retention(s3, locked, key) == (mode, until)
        assert lock_of(s3.get_object(Bucket=locked, Key=key)) == \
            (mode, until, None)
    # A write's own lock wins over the default.
    until = ahead(3600)
    put(s3, locked, "own", **lock("GOVERNANCE", until))
    assert retention(s3, locked, "own") == ("GOVERNANCE", until)
    # A configuration without a Rule clears the default.
    put_lock_config(s3, locked)
    assert config() == {"ObjectLockEnabled": "Enabled"}
    vid = put(s3, locked, "after")
    assert head_lock(s3, locked, "after") == UNLOCKED
    with raises(404, NOT_PROTECTED):
        s3.get_object_retention(Bucket=locked, Key="after")
    delete(s3, locked, "after", vid)


def test_put_object_lock_headers(s3, locked, bucket):
    until = ahead(DAY)
    vid = put(s3, locked, "k", **lock("COMPLIANCE", until,
                                      ObjectLockLegalHoldStatus="ON"))
    for resp in (s3.head_object(Bucket=locked, Key="k"),
                 s3.get_object(Bucket=locked, Key="k", VersionId=vid)):
        assert lock_of(resp) == ("COMPLIANCE", until, "ON")
    assert retention(s3, locked, "k") == ("COMPLIANCE", until)
    assert hold(s3, locked, "k") == "ON"
    put(s3, locked, "held", ObjectLockLegalHoldStatus="ON")
    assert head_lock(s3, locked, "held") == (None, None, "ON")
    for kw in ({"ObjectLockMode": "GOVERNANCE"},
               {"ObjectLockRetainUntilDate": ahead(DAY)},
               lock("GOVERNANCE", ahead(-60)),
               lock("FOREVER", ahead(DAY)),
               {"ObjectLockLegalHoldStatus": "MAYBE"}):
        with raises(400, "InvalidArgument"):
            put(s3, locked, "bad", **kw)
    for kw in (lock("GOVERNANCE", ahead(DAY)),
               {"ObjectLockLegalHoldStatus": "ON"}):
        with raises(400, "InvalidRequest"):
            put(s3, bucket, "bad", **kw)
    with raises(404):
        s3.head_object(Bucket=locked, Key="bad")


def test_lock_headers_need_content_md5_or_checksum(server, s3, locked):
    body, path, until = b"raw locked body", f"/{locked}/raw", iso(ahead(3600))
    headers = {"x-amz-object-lock-mode": "GOVERNANCE",
               "x-amz-object-lock-retain-until-date": until}
    assert_s3_error(raw_request(
        server.endpoint, "PUT", path, body=body,
        headers=sigv4_headers(server, "PUT", path, headers)),
        400, "InvalidRequest", method="PUT")
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    signed = sigv4_headers(server, "PUT", path, {**headers, "Content-MD5": md5})
    status, _, answer = raw_request(server.endpoint, "PUT", path, body=body,
                                    headers=signed)
    assert status == 200, answer  # and the failed PUT had written nothing:
    assert len(s3.list_object_versions(Bucket=locked)["Versions"]) == 1
    mode, got, _ = head_lock(s3, locked, "raw")
    assert (mode, iso(got)) == ("GOVERNANCE", until)


def read_answer(sock):
    """One whole HTTP answer; b"" if the server closed the connection."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
        data += chunk
    length = re.search(rb"(?i)content-length: *(\d+)", data)
    while length and len(data.partition(b"\r\n\r\n")[2]) < int(length[1]):
        data += sock.recv(65536)
    return data


def test_rejected_lock_put_leaves_the_connection_usable(server, locked):
    """boto3 sends PutObject with `Expect: 100-continue`; refused at once, it
    withholds the body and reuses the connection (as S3 lets it): the next
    request there must get an S3 answer, not a bare `400 Bad Request`."""
    path, md5 = f"/{locked}/bad", "jXd/OF09/siBXSD3SWAm3A=="  # md5(b"data")
    headers = {**sigv4_headers(server, "PUT", path, {
        "x-amz-object-lock-mode": "FOREVER", "Content-MD5": md5,
        "x-amz-object-lock-retain-until-date": iso(ahead(DAY))}),
        "Host": f"{LOOPBACK}:{server.port}", "Content-Length": "4"}
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items())

    def client(_):
        bare = []
        for _ in range(100):
            with socket.create_connection((LOOPBACK, server.port), 10) as sock:
                sock.sendall(f"{head}Expect: 100-continue\r\n\r\n".encode())
                first = read_answer(sock)
                assert b"InvalidArgument" in first, first
                if b"connection: close" in first.lower():
                    continue
                sock.sendall(f"{head}\r\n".encode() + b"data")
                with contextlib.suppress(ConnectionResetError):
                    second = read_answer(sock)
                    if second and b"x-amz-request-id" not in second.lower():
                        bare.append(second)
        return bare
    with ThreadPoolExecutor(16) as pool:
        bare = [a for answers in pool.map(client, range(16)) for a in answers]
    assert not bare, (len(bare), bare[0])


def test_delete_locked_versions(s3, locked):
    gov = put(s3, locked, "gov", **lock("GOVERNANCE", ahead(DAY)))
    comp = put(s3, locked, "comp", **lock("COMPLIANCE", ahead(DAY)))
    held = put(s3, locked, "held", ObjectLockLegalHoldStatus="ON")
    with raises(403, "AccessDenied"):
        s3.delete_object(Bucket=locked, Key="gov", VersionId=gov)
    for key, vid in (("comp", comp), ("held", held)):
        for bypass in ({}, BYPASS):
            with raises(403, "AccessDenied"):
                s3.delete_object(Bucket=locked, Key=key, VersionId=vid, **bypass)
    delete(s3, locked, "gov", gov, **BYPASS)
    # A delete without a version id only adds a marker: the version stays.
    marker = s3.delete_object(Bucket=locked, Key="comp")
    assert http_status(marker) == 204 and marker["DeleteMarker"] is True
    assert marker["VersionId"] != comp
    with raises(404):
        s3.head_object(Bucket=locked, Key="comp")
    got = s3.get_object(Bucket=locked, Key="comp", VersionId=comp)
    assert got["Body"].read() == b"data" and lock_of(got)[0] == "COMPLIANCE"
    delete(s3, locked, "comp", marker["VersionId"])
    s3.put_object_legal_hold(Bucket=locked, Key="held",
                             LegalHold={"Status": "OFF"})
    assert hold(s3, locked, "held") == "OFF"
    assert head_lock(s3, locked, "held")[2] != "ON"  # "OFF": see below
    delete(s3, locked, "held", held)
    listed = s3.list_object_versions(Bucket=locked)
    assert "DeleteMarkers" not in listed
    assert [(v["Key"], v["VersionId"]) for v in listed["Versions"]] == \
        [("comp", comp)]


def test_delete_objects_of_locked_versions(s3, locked):
    ids = {k: put(s3, locked, k, **lock(m, ahead(DAY)))
           for k, m in (("g1", "GOVERNANCE"), ("g2", "GOVERNANCE"),
                        ("c1", "COMPLIANCE"))}
    ids["h1"] = put(s3, locked, "h1", ObjectLockLegalHoldStatus="ON")
    objects = [{"Key": k, "VersionId": v} for k, v in ids.items()]
    resp = s3.delete_objects(Bucket=locked, Delete={"Objects": objects})
    assert "Deleted" not in resp
    assert sorted((e["Key"], e["VersionId"], e["Code"])
                  for e in resp["Errors"]) == \
        sorted((k, v, "AccessDenied") for k, v in ids.items())
    resp = s3.delete_objects(Bucket=locked, Delete={"Objects": objects},
                             **BYPASS)
    assert sorted((d["Key"], d["VersionId"]) for d in resp["Deleted"]) == \
        [("g1", ids["g1"]), ("g2", ids["g2"])]
    assert sorted((e["Key"], e["Code"]) for e in resp["Errors"]) == \
        [("c1", "AccessDenied"), ("h1", "AccessDenied")]
    assert sorted(v["Key"] for v in s3.list_object_versions(
        Bucket=locked)["Versions"]) == ["c1", "h1"]


def test_bypass_needs_permission(server, s3, locked):
    """A key with a Write grant (not Owner) may not bypass GOVERNANCE."""
    key = server.admin_json("key", "create", "--name",
                f"lock-writer-{uuid.uuid4().hex[:8]}", "--grant",
                f"{locked}:write")
    writer = server.client(access_key=key["access_key"],
                           secret_key=key["secret_key"])
    until = ahead(DAY)
    vid = put(writer, locked, "gov", **lock("GOVERNANCE", until))
    assert head_lock(writer, locked, "gov")[:2] == ("GOVERNANCE", until)
    for bypass in ({}, BYPASS):
        with raises(403, "AccessDenied"):
            writer.delete_object(Bucket=locked, Key="gov", VersionId=vid,
                                 **bypass)
        resp = writer.delete_objects(Bucket=locked, Delete={
            "Objects": [{"Key": "gov", "VersionId": vid}]}, **bypass)
        assert [e["Code"] for e in resp["Errors"]] == ["AccessDenied"]
    assert retention(s3, locked, "gov") == ("GOVERNANCE", until)
    delete(s3, locked, "gov", vid, **BYPASS)


def test_a_policy_grants_bypass_as_an_action_like_any_other(server, s3,
                                                            locked):
    """s3:BypassGovernanceRetention in the bucket's policy lets a writer
    bypass GOVERNANCE on the keys it names, and no others."""
    key = server.admin_json("key", "create", "--name",
                f"lock-bypass-{uuid.uuid4().hex[:8]}", "--grant",
                f"{locked}:write")
    writer = server.client(access_key=key["access_key"],
                           secret_key=key["secret_key"])
    arn = f"arn:aws:iam::000000000000:user/{key['access_key']}"
    s3.put_bucket_policy(Bucket=locked, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": arn},
            "Action": "s3:BypassGovernanceRetention",
            "Resource": f"arn:aws:s3:::{locked}/scratch/*"}]}))
    until = ahead(DAY)
    scratch = put(writer, locked, "scratch/a", **lock("GOVERNANCE", until))
    kept = put(writer, locked, "kept/a", **lock("GOVERNANCE", until))
    with raises(403, "AccessDenied"):
        writer.delete_object(Bucket=locked, Key="scratch/a", VersionId=scratch)
    with raises(403, "AccessDenied"):
        writer.delete_object(Bucket=locked, Key="kept/a", VersionId=kept,
                             **BYPASS)
    resp = writer.delete_objects(Bucket=locked, Delete={"Objects": [
        {"Key": "scratch/a", "VersionId": scratch},
        {"Key": "kept/a", "VersionId": kept}]}, **BYPASS)
    assert [d["Key"] for d in resp.get("Deleted", [])] == ["scratch/a"]
    assert [(e["Key"], e["Code"]) for e in resp["Errors"]] == \
        [("kept/a", "AccessDenied")]
    assert retention(s3, locked, "kept/a") == ("GOVERNANCE", until)
    assert [v["Key"] for v in s3.list_object_versions(
        Bucket=locked)["Versions"]] == ["kept/a"]
    s3.delete_bucket_policy(Bucket=locked)
    delete(s3, locked, "kept/a", kept, **BYPASS)


def test_put_object_retention_rules(s3, locked):
    def set_retention(key, mode, until, **kw):
        r = {} if mode is None else {"Mode": mode, "RetainUntilDate": until}
        resp = s3.put_object_retention(Bucket=locked, Key=key, Retention=r,
                                       **kw)
        assert http_status(resp) == 200

    put(s3, locked, "gov", **lock("GOVERNANCE", ahead(3600)))
    set_retention("gov", "GOVERNANCE", longer := ahead(7200))
    assert retention(s3, locked, "gov") == ("GOVERNANCE", longer)
    for mode, until in (("GOVERNANCE", ahead(600)), (None, None)):
        with raises(403, "AccessDenied"):
            set_retention("gov", mode, until)
    set_retention("gov", "GOVERNANCE", shorter := ahead(600), **BYPASS)
    assert retention(s3, locked, "gov") == ("GOVERNANCE", shorter)
    set_retention("gov", None, None, **BYPASS)
    with raises(404, NOT_PROTECTED):
        s3.get_object_retention(Bucket=locked, Key="gov")
    with raises(400, "InvalidArgument"):
        set_retention("gov", "GOVERNANCE", ahead(-60))
    put(s3, locked, "comp", **lock("COMPLIANCE", first := ahead(DAY - 600)))
    set_retention("comp", "COMPLIANCE", later := ahead(DAY))
    assert retention(s3, locked, "comp") == ("COMPLIANCE", later)
    for mode, until in (("COMPLIANCE", first), ("GOVERNANCE", later),
                        ("GOVERNANCE", later + timedelta(seconds=60)),
                        (None, None)):
        for bypass in ({}, BYPASS):
            with raises(403, "AccessDenied"):
                set_retention("comp", mode, until, **bypass)
    assert retention(s3, locked, "comp") == ("COMPLIANCE", later)
    # One version's retention and legal hold, by VersionId.
    v1, v2 = (put(s3, locked, "multi", body) for body in (b"one", b"two"))
    set_retention("multi", "GOVERNANCE", until := ahead(1800), VersionId=v1)
    s3.put_object_legal_hold(Bucket=locked, Key="multi", VersionId=v1,
                             LegalHold={"Status": "ON"})
    assert retention(s3, locked, "multi", VersionId=v1) == ("GOVERNANCE", until)
    assert hold(s3, locked, "multi", VersionId=v1) == "ON"
    for kw in ({}, {"VersionId": v2}):
        with raises(404, NOT_PROTECTED):
            s3.get_object_retention(Bucket=locked, Key="multi", **kw)
        assert head_lock(s3, locked, "multi", **kw) == UNLOCKED
    assert head_lock(s3, locked, "multi", VersionId=v1) == \
        ("GOVERNANCE", until, "ON")
    delete(s3, locked, "multi", v2)
    with raises(403, "AccessDenied"):
        s3.delete_object(Bucket=locked, Key="multi", VersionId=v1, **BYPASS)


def test_legal_hold_never_set(s3, locked):
    """S3 tells a hold never set (GetObjectLegalHold 404, no header on HEAD)
    from one set OFF (OFF, and `x-amz-object-lock-legal-hold: OFF`)."""
    put(s3, locked, "k")
    assert head_lock(s3, locked, "k") == UNLOCKED
    with raises(404, NOT_PROTECTED):
        s3.get_object_legal_hold(Bucket=locked, Key="k")
    s3.put_object_legal_hold(Bucket=locked, Key="k", LegalHold={"Status": "OFF"})
    assert hold(s3, locked, "k") == "OFF"
    assert head_lock(s3, locked, "k") == (None, None, "OFF")


def test_retention_and_hold_need_object_lock(s3, bucket):
    put(s3, bucket, "k")
    for op, kw in (("get_object_retention", {}),
                   ("put_object_retention", {"Retention": {
                       "Mode": "GOVERNANCE", "RetainUntilDate": ahead(DAY)}}),
                   ("get_object_legal_hold", {}),
                   ("put_object_legal_hold", {"LegalHold": {"Status": "ON"}})):
        with raises(400, "InvalidRequest"):
            getattr(s3, op)(Bucket=bucket, Key="k", **kw)
    assert head_lock(s3, bucket, "k") == UNLOCKED


def test_copy_and_multipart_upload_with_lock(s3, locked, bucket):
    src = put(s3, locked, "src", b"source")
    until = ahead(DAY)
    copy = s3.copy_object(Bucket=locked, Key="dst",
                          CopySource={"Bucket": locked, "Key": "src"},
                          **lock("COMPLIANCE", until,
                                 ObjectLockLegalHoldStatus="ON"))
    assert copy["CopySourceVersionId"] == src
    assert head_lock(s3, locked, "dst") == ("COMPLIANCE", until, "ON")
    assert head_lock(s3, locked, "src") == UNLOCKED
    with raises(403, "AccessDenied"):
        s3.delete_object(Bucket=locked, Key="dst", VersionId=copy["VersionId"],
                         **BYPASS)
    delete(s3, locked, "src", src)
    with raises(400, "InvalidRequest"):  # no Object Lock there
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{locked}/dst",
                       **lock("GOVERNANCE", until))
    with raises(400, "InvalidRequest"):
        s3.create_multipart_upload(Bucket=bucket, Key="mp",
                                   **lock("GOVERNANCE", until))
    until = ahead(7200)
    uid = s3.create_multipart_upload(
        Bucket=locked, Key="mp",
        **lock("GOVERNANCE", until, ObjectLockLegalHoldStatus="ON"))["UploadId"]
    etag = s3.upload_part(Bucket=locked, Key="mp", UploadId=uid, PartNumber=1,
                          Body=b"multipart body")["ETag"]
    done = s3.complete_multipart_upload(
        Bucket=locked, Key="mp", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    for resp in (s3.head_object(Bucket=locked, Key="mp"),
                 s3.get_object(Bucket=locked, Key="mp")):
        assert lock_of(resp) == ("GOVERNANCE", until, "ON")
    assert retention(s3, locked, "mp") == ("GOVERNANCE", until)
    with raises(403, "AccessDenied"):
        s3.delete_object(Bucket=locked, Key="mp", VersionId=done["VersionId"],
                         **BYPASS)


def test_aws_cli(server, s3, locked):
    def api(op, *args):
        return server.aws("s3api", op, "--bucket", locked, *args)

    def api_json(op, *args):
        return server.aws_json("s3api", op, "--bucket", locked, *args)

    def cli_retention():
        got = api_json("get-object-retention", "--key", "k")["Retention"]
        return got["Mode"], header_date(got["RetainUntilDate"])

    rule = {"Mode": "GOVERNANCE", "Days": 2}
    api("put-object-lock-configuration", "--object-lock-configuration",
        json.dumps({"ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": rule}}))
    assert api_json("get-object-lock-configuration") == {
        "ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled",
                                    "Rule": {"DefaultRetention": rule}}}
    put(s3, locked, "k")
    mode, until = cli_retention()
    assert mode == "GOVERNANCE"
    assert abs((until - ahead(2 * DAY)).total_seconds()) < 10
    until = ahead(3 * DAY)
    api("put-object-retention", "--key", "k", "--retention",
        json.dumps({"Mode": "GOVERNANCE", "RetainUntilDate": iso(until)}))
    assert cli_retention() == ("GOVERNANCE", until)
    api("put-object-legal-hold", "--key", "k", "--legal-hold", "Status=ON")
    assert api_json("get-object-legal-hold", "--key", "k") == {
        "LegalHold": {"Status": "ON"}}
    assert head_lock(s3, locked, "k") == ("GOVERNANCE", until, "ON")
