"""The lifecycle worker applying buckets' rules, on a server whose lifecycle
day is 2 seconds (`--lifecycle-day-secs 2`): Expiration of current versions
(deleted in an unversioned bucket, hidden by a delete marker in a versioned
one), NoncurrentVersionExpiration (with NewerNoncurrentVersions),
ExpiredObjectDeleteMarker, AbortIncompleteMultipartUpload, filters by
prefix, tag and size, Object Lock keeping what it locks, `x-amz-expiration`
on PUT, HEAD and GET, and the worker's figures in `shale admin status`.

Every wait polls with a deadline; nothing sleeps a fixed time except the
few seconds a rule must be given before it may act.
"""

import json
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from conftest import _client_env, error_code, shale_bin, unique_bucket_name

DAY = 2  # seconds in the server's lifecycle day
DEADLINE = 40.0


@pytest.fixture(scope="module")
def lc_server(tmp_path_factory):
    from conftest import ServerFactory
    factory = ServerFactory(tmp_path_factory.mktemp("lifecycle"))
    server = factory.new(extra_args=("--lifecycle-day-secs", str(DAY)))
    yield server
    factory.close()


@pytest.fixture(scope="module")
def lc(lc_server):
    return lc_server.client()


def admin_status(server):
    env = dict(_client_env(), SHALE_ENDPOINT=server.endpoint,
               SHALE_ACCESS_KEY=server.access_key,
               SHALE_SECRET_KEY=server.secret_key)
    r = subprocess.run([str(shale_bin()), "admin", "--json", "status"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout)


def wait_for(what, check, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.25)


def rules(s3, bucket, *rule_list):
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": list(rule_list)})


def keys_of(s3, bucket):
    return sorted(o["Key"] for o in
                  s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def versions_of(s3, bucket, key=None):
    out = s3.list_object_versions(Bucket=bucket, **(
        {"Prefix": key} if key else {}))
    return out.get("Versions", []), out.get("DeleteMarkers", [])


def new_bucket(s3, hint, versioned=False, **kwargs):
    name = unique_bucket_name(hint)
    s3.create_bucket(Bucket=name, **kwargs)
    if versioned and not kwargs.get("ObjectLockEnabledForBucket"):
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={
            "Status": "Enabled"})
    return name


def test_expiration_deletes_matching_objects_of_an_unversioned_bucket(lc):
    b = new_bucket(lc, "lc-plain")
    for k in ("tmp/a", "tmp/b", "keep/a", "tmp/big"):
        body = b"x" * (4096 if k == "tmp/big" else 10)
        lc.put_object(Bucket=b, Key=k, Body=body)
    rules(lc, b,
          {"ID": "tmp", "Status": "Enabled",
           "Filter": {"And": {"Prefix": "tmp/",
                              "ObjectSizeLessThan": 1000}},
           "Expiration": {"Days": 1}},
          {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "keep/"},
           "Expiration": {"Days": 1}})
    # The rule is known at once: new objects it covers say when they go.
    put = lc.put_object(Bucket=b, Key="tmp/c", Body=b"c")
    exp = put["ResponseMetadata"]["HTTPHeaders"].get("x-amz-expiration", "")
    assert 'rule-id="tmp"' in exp and "expiry-date=" in exp, exp
    head = lc.head_object(Bucket=b, Key="tmp/c")
    assert head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-expiration") == exp
    assert "x-amz-expiration" not in lc.head_object(
        Bucket=b, Key="keep/a")["ResponseMetadata"]["HTTPHeaders"]
    wait_for("tmp/ small objects expired",
             lambda: keys_of(lc, b) == ["keep/a", "tmp/big"])
    assert versions_of(lc, b)[1] == [], "unversioned: no delete markers"


def test_versioned_expiration_adds_markers_and_noncurrent_versions_go(lc):
    b = new_bucket(lc, "lc-vers", versioned=True)
    for i in range(4):
        lc.put_object(Bucket=b, Key="k", Body=f"v{i}".encode())
    rules(lc, b, {"ID": "all", "Status": "Enabled", "Filter": {},
                  "Expiration": {"Days": 1},
                  "NoncurrentVersionExpiration": {
                      "NoncurrentDays": 1, "NewerNoncurrentVersions": 1}})

    def settled():
        versions, markers = versions_of(lc, b)
        return (len(markers) == 1 and markers[0]["IsLatest"]
                and len(versions) == 1) and (versions, markers)

    versions, markers = wait_for("a marker over k, one noncurrent kept",
                                 settled)
    with pytest.raises(ClientError) as e:
        lc.get_object(Bucket=b, Key="k")
    assert error_code(e.value) == "NoSuchKey"
    kept = lc.get_object(Bucket=b, Key="k", VersionId=versions[0]["VersionId"])
    assert kept["Body"].read() == b"v3", "the newest noncurrent version stays"


def test_expired_delete_markers_and_abandoned_uploads_are_removed(lc):
    b = new_bucket(lc, "lc-marker", versioned=True)
    v = lc.put_object(Bucket=b, Key="gone", Body=b"x")["VersionId"]
    lc.delete_object(Bucket=b, Key="gone")
    lc.delete_object(Bucket=b, Key="gone", VersionId=v)
    lc.put_object(Bucket=b, Key="live", Body=b"x")
    lc.delete_object(Bucket=b, Key="live")
    upload = lc.create_multipart_upload(Bucket=b, Key="up/big")["UploadId"]
    rules(lc, b,
          {"ID": "markers", "Status": "Enabled", "Filter": {"Prefix": ""},
           "Expiration": {"ExpiredObjectDeleteMarker": True}},
          {"ID": "uploads", "Status": "Enabled", "Filter": {"Prefix": "up/"},
           "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}})
    wait_for("the lone marker removed", lambda: [
        m["Key"] for m in versions_of(lc, b)[1]] == ["live"])
    wait_for("the upload aborted", lambda: not lc.list_multipart_uploads(
        Bucket=b).get("Uploads"))
    with pytest.raises(ClientError) as e:
        lc.list_parts(Bucket=b, Key="up/big", UploadId=upload)
    assert error_code(e.value) == "NoSuchUpload"


def test_object_lock_keeps_what_it_locks(lc, lc_server):
    b = new_bucket(lc, "lc-lock", ObjectLockEnabledForBucket=True)
    until = datetime.now(timezone.utc) + timedelta(days=1)
    locked = lc.put_object(Bucket=b, Key="k", Body=b"locked",
                           ObjectLockMode="GOVERNANCE",
                           ObjectLockRetainUntilDate=until)["VersionId"]
    lc.put_object(Bucket=b, Key="k", Body=b"current")
    before = admin_status(lc_server)["lifecycle"]["locked_kept"]
    rules(lc, b, {"ID": "nc", "Status": "Enabled", "Filter": {},
                  "NoncurrentVersionExpiration": {"NoncurrentDays": 1}})
    wait_for("the locked version kept, and counted",
             lambda: admin_status(lc_server)["lifecycle"]["locked_kept"] > before)
    body = lc.get_object(Bucket=b, Key="k", VersionId=locked)["Body"].read()
    assert body == b"locked"


def test_the_workers_figures_are_in_admin_status(lc, lc_server):
    status = wait_for("a finished round", lambda: (
        s := admin_status(lc_server)["lifecycle"])["rounds"] > 0 and s)
    for field in ("scanned", "expired", "noncurrent_removed",
                  "markers_removed", "uploads_aborted", "locked_kept",
                  "last_round_unix_ms"):
        assert field in status, status
