"""Bucket versioning, with boto3, the AWS CLI and rclone, as Amazon S3 does it.

Put/GetBucketVersioning (Enabled, Suspended, what is refused); the version
ids answered by PutObject, CopyObject and CompleteMultipartUpload; reads,
tags, attributes and copies of one version by `versionId` (the `null`
version too); malformed and unknown ids; delete markers (404 / 405 with
`x-amz-delete-marker`) and deletes of one version for good; suspended
buckets' null versions and markers; ListObjectVersions (order, IsLatest,
Prefix, Delimiter, paging with KeyMarker + VersionIdMarker, EncodingType);
DeleteObjects with and without ids; DeleteBucket of a bucket holding only
versions; If-None-Match against a delete marker; racing writers; old
erasure-coded versions kept whole; the AWS CLI and rclone's
`--s3-versions` / `--s3-version-at`.
"""

import contextlib
import shutil
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from conftest import (KIB, MIB, assert_client_error, http_status, md5_hex,
                      random_bytes, raw_request, sigv4_headers,
                      unique_bucket_name)


def set_versioning(s3, bucket, status):
    resp = s3.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": status})
    assert http_status(resp) == 200


def headers(resp_or_exc):
    resp = getattr(resp_or_exc, "response", resp_or_exc)
    return resp["ResponseMetadata"]["HTTPHeaders"]


def body_of(s3, bucket, key, **kw):
    return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()


@contextlib.contextmanager
def raises(status, *codes):
    """The block fails with a ClientError of `status` (and one of `codes`)."""
    with pytest.raises(ClientError) as info:
        yield info
    assert_client_error(info, status, *codes)


def missing_id(real):
    """A well-formed version id (same length, lowercase hex) that names no
    version: `real` with its first digit changed."""
    first = "1" if real[0] == "f" else "f"
    return first + real[1:]


def all_versions(s3, bucket, **kw):
    """(Versions, DeleteMarkers) of the whole listing, via the paginator."""
    versions, markers = [], []
    for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, **kw):
        versions += page.get("Versions", [])
        markers += page.get("DeleteMarkers", [])
    return versions, markers


def list_raw(server, bucket, **params):
    """One ListObjectVersions request, its XML read in document order:
    (entries, fields) where entries are (kind "V"/"D", key, version id,
    is latest) as the answer interleaves them and fields holds the other
    top-level elements (CommonPrefixes as a list)."""
    query = "versions" + "".join(
        f"&{k.replace('_', '-')}={urllib.parse.quote(str(v), safe='')}"
        for k, v in params.items())
    path = f"/{bucket}?{query}"
    status, _, body = raw_request(server.endpoint, "GET", path,
                                  headers=sigv4_headers(server, "GET", path))
    assert status == 200, body
    entries, fields = [], {"CommonPrefixes": []}
    for child in ET.fromstring(body):
        tag = child.tag.split("}")[-1]
        sub = {c.tag.split("}")[-1]: c.text or "" for c in child}
        if tag in ("Version", "DeleteMarker"):
            entries.append((tag[0], sub["Key"], sub["VersionId"],
                            sub["IsLatest"] == "true"))
        elif tag == "CommonPrefixes":
            fields["CommonPrefixes"].append(sub["Prefix"])
        else:
            fields[tag] = child.text or ""
    return entries, fields


def write_history(s3, bucket, steps):
    """Runs ("put" | "del", key) steps in order; returns the listing S3
    answers for them: (kind, key, version id), by key, newest first."""
    done = {}
    for op, key in steps:
        vid = (s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
               if op == "put" else s3.delete_object(Bucket=bucket, Key=key))
        done.setdefault(key, []).append(("V" if op == "put" else "D", key,
                                         vid["VersionId"]))
    return [e for key in sorted(done) for e in reversed(done[key])]


def test_bucket_versioning_configuration(s3, bucket):
    got = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in got and "MFADelete" not in got
    set_versioning(s3, bucket, "Enabled")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    set_versioning(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    with raises(400, "MalformedXML"):
        s3.put_bucket_versioning(Bucket=bucket,
                                 VersioningConfiguration={"Status": "On"})
    # S3 wants the MFA header for MFADelete: refused without it.
    with raises(400, "InvalidRequest"):
        s3.put_bucket_versioning(
            Bucket=bucket,
            VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    set_versioning(s3, bucket, "Enabled")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    missing = unique_bucket_name("no-such")
    for call in (lambda: s3.get_bucket_versioning(Bucket=missing),
                 lambda: set_versioning(s3, missing, "Enabled")):
        with raises(404, "NoSuchBucket"):
            call()


def test_never_versioned_bucket_answers_no_version_ids(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"plain")
    assert "VersionId" not in put
    assert "x-amz-version-id" not in headers(put)
    for resp in (s3.get_object(Bucket=bucket, Key="k"),
                 s3.head_object(Bucket=bucket, Key="k")):
        assert "x-amz-version-id" not in headers(resp)
    # The only version is the null one, and it can be named.
    assert body_of(s3, bucket, "k", VersionId="null") == b"plain"
    versions, markers = all_versions(s3, bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == \
        [("k", "null", True)]
    assert markers == []
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert "DeleteMarker" not in deleted and "VersionId" not in deleted
    assert all_versions(s3, bucket) == ([], [])


def test_every_write_creates_a_version(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")
    set_versioning(s3, bucket, "Enabled")
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    src = s3.put_object(Bucket=bucket, Key="src", Body=b"copied")["VersionId"]
    copy = s3.copy_object(Bucket=bucket, Key="k",
                          CopySource={"Bucket": bucket, "Key": "src"})
    assert copy["CopySourceVersionId"] == src
    v3 = copy["VersionId"]
    parts = [random_bytes(5 * MIB), b"tail"]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    v4 = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": n, "ETag": s3.upload_part(
                Bucket=bucket, Key="k", UploadId=uid, PartNumber=n,
                Body=p)["ETag"]} for n, p in enumerate(parts, 1)]})["VersionId"]
    ids = [v1, v2, v3, v4, src]
    assert len(set(ids)) == 5 and "null" not in ids and all(ids)
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["VersionId"] == v4 and got["Body"].read() == b"".join(parts)
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == v4
    for vid, body in ((v1, b"one"), (v2, b"two"), (v3, b"copied"),
                      ("null", b"before")):
        got = s3.get_object(Bucket=bucket, Key="k", VersionId=vid)
        assert got["VersionId"] == vid and got["Body"].read() == body
        head = s3.head_object(Bucket=bucket, Key="k", VersionId=vid)
        assert head["VersionId"] == vid and head["ContentLength"] == len(body)
    versions, _ = all_versions(s3, bucket, Prefix="k")
    assert [v["VersionId"] for v in versions] == [v4, v3, v2, v1, "null"]


def test_tags_and_attributes_of_one_version(s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    v1 = s3.put_object(Bucket=bucket, Key="t", Body=b"first",
                       Tagging="a=1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="t", Body=b"second",
                       Tagging="b=2")["VersionId"]

    def tags(**kw):
        resp = s3.get_object_tagging(Bucket=bucket, Key="t", **kw)
        return resp.get("VersionId"), [(t["Key"], t["Value"])
                                       for t in resp["TagSet"]]
    assert tags() == (v2, [("b", "2")])
    assert tags(VersionId=v1) == (v1, [("a", "1")])
    put = s3.put_object_tagging(Bucket=bucket, Key="t", VersionId=v1,
                                Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert put["VersionId"] == v1
    assert tags(VersionId=v1) == (v1, [("c", "3")])
    assert tags() == (v2, [("b", "2")])
    assert s3.get_object(Bucket=bucket, Key="t", VersionId=v1)["TagCount"] == 1
    deleted = s3.delete_object_tagging(Bucket=bucket, Key="t", VersionId=v1)
    assert deleted["VersionId"] == v1
    assert tags(VersionId=v1) == (v1, [])
    assert tags() == (v2, [("b", "2")])
    attrs = s3.get_object_attributes(Bucket=bucket, Key="t", VersionId=v1,
                                     ObjectAttributes=["ETag", "ObjectSize"])
    assert (attrs["VersionId"], attrs["ETag"], attrs["ObjectSize"]) == \
        (v1, md5_hex(b"first"), 5)
    attrs = s3.get_object_attributes(Bucket=bucket, Key="t",
                                     ObjectAttributes=["ObjectSize"])
    assert (attrs["VersionId"], attrs["ObjectSize"]) == (v2, 6)


def test_copy_of_an_old_version_restores_it(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"null-body")
    set_versioning(s3, bucket, "Enabled")
    old = random_bytes(300 * KIB)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=old)["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"newer")["VersionId"]
    restored = s3.copy_object(Bucket=bucket, Key="k", CopySource={
        "Bucket": bucket, "Key": "k", "VersionId": v1})
    assert restored["CopySourceVersionId"] == v1
    v3 = restored["VersionId"]
    assert v3 not in (v1, v2)
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["VersionId"] == v3 and got["Body"].read() == old
    versions, _ = all_versions(s3, bucket)
    assert [v["VersionId"] for v in versions] == [v3, v2, v1, "null"]
    s3.copy_object(Bucket=bucket, Key="from-null", CopySource={
        "Bucket": bucket, "Key": "k", "VersionId": "null"})
    assert body_of(s3, bucket, "from-null") == b"null-body"
    mp = {"Bucket": bucket, "Key": "upc"}
    uid = s3.create_multipart_upload(**mp)["UploadId"]
    part = s3.upload_part_copy(**mp, UploadId=uid, PartNumber=1, CopySource={
        "Bucket": bucket, "Key": "k", "VersionId": v1})
    assert part["CopySourceVersionId"] == v1
    s3.complete_multipart_upload(**mp, UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
    assert body_of(s3, bucket, "upc") == old


def test_malformed_and_unknown_version_ids(s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    real = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    src = {"Bucket": bucket, "Key": "k"}
    calls = {  # HEAD answers have no body: no error code to check
        "get": lambda v: s3.get_object(**src, VersionId=v),
        "head": lambda v: s3.head_object(**src, VersionId=v),
        "tagging": lambda v: s3.get_object_tagging(**src, VersionId=v),
        "copy": lambda v: s3.copy_object(Bucket=bucket, Key="c",
                                         CopySource={**src, "VersionId": v}),
    }
    for name, call in calls.items():
        with raises(400, *[] if name == "head" else ["InvalidArgument"]):
            call("nope")
        with raises(404, *[] if name == "head" else ["NoSuchVersion"]):
            call(missing_id(real))
    with raises(400, "InvalidArgument"):
        s3.delete_object(**src, VersionId="nope")
    # Deleting a version that does not exist succeeds, and removes nothing.
    assert http_status(s3.delete_object(**src, VersionId=missing_id(real))) \
        == 204
    assert body_of(s3, bucket, "k") == b"x"
    assert len(all_versions(s3, bucket)[0]) == 1


def test_delete_markers(s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert http_status(d) == 204 and d["DeleteMarker"] is True
    m1 = d["VersionId"]
    assert m1 not in (v1, "null")
    for call, codes in ((s3.get_object, ["NoSuchKey", "MethodNotAllowed"]),
                        (s3.head_object, [])):  # HEAD: no body, no code
        with raises(404, *codes[:1]) as exc:
            call(Bucket=bucket, Key="k")
        h = headers(exc.value)
        assert (h.get("x-amz-delete-marker"), h.get("x-amz-version-id")) == \
            ("true", m1)
        with raises(405, *codes[1:]) as exc:
            call(Bucket=bucket, Key="k", VersionId=m1)
        h = headers(exc.value)
        assert h.get("x-amz-delete-marker") == "true" and h.get("last-modified")
    assert body_of(s3, bucket, "k", VersionId=v1) == b"v1"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    m2 = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    versions, markers = all_versions(s3, bucket)
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == \
        [(m2, True), (m1, False)]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v1, False)]
    # Removing markers by id: the version under them is current again.
    d = s3.delete_object(Bucket=bucket, Key="k", VersionId=m2)
    assert d["DeleteMarker"] is True and d["VersionId"] == m2
    with raises(404, "NoSuchKey") as exc:
        s3.get_object(Bucket=bucket, Key="k")
    assert headers(exc.value).get("x-amz-version-id") == m1
    s3.delete_object(Bucket=bucket, Key="k", VersionId=m1)
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["VersionId"] == v1 and got["Body"].read() == b"v1"
    assert "x-amz-delete-marker" not in headers(got)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] \
        == ["k"]
    d = s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)
    assert d["VersionId"] == v1 and not d.get("DeleteMarker")
    assert all_versions(s3, bucket) == ([], [])
    with raises(404, "NoSuchKey") as exc:
        s3.get_object(Bucket=bucket, Key="k")
    assert "x-amz-delete-marker" not in headers(exc.value)


def test_suspended_bucket_writes_the_null_version(s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    va = s3.put_object(Bucket=bucket, Key="k", Body=b"a")["VersionId"]
    set_versioning(s3, bucket, "Suspended")
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"b")["VersionId"] == "null"
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"c")["VersionId"] == "null"
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["VersionId"] == "null" and got["Body"].read() == b"c"
    assert body_of(s3, bucket, "k", VersionId=va) == b"a"
    versions, _ = all_versions(s3, bucket)
    assert [(v["VersionId"], v["IsLatest"], v["Size"]) for v in versions] == \
        [("null", True, 1), (va, False, 1)]
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert d["DeleteMarker"] is True and d["VersionId"] == "null"
    versions, markers = all_versions(s3, bucket)
    assert [v["VersionId"] for v in versions] == [va]
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [("null", True)]
    with raises(404, "NoSuchKey") as exc:
        s3.get_object(Bucket=bucket, Key="k")
    assert headers(exc.value).get("x-amz-version-id") == "null"
    with raises(405, "MethodNotAllowed"):
        s3.get_object(Bucket=bucket, Key="k", VersionId="null")
    # A new write replaces the null marker.
    s3.put_object(Bucket=bucket, Key="k", Body=b"dd")
    versions, markers = all_versions(s3, bucket)
    assert markers == []
    assert [(v["VersionId"], v["Size"]) for v in versions] == \
        [("null", 2), (va, 1)]
    set_versioning(s3, bucket, "Enabled")
    ve = s3.put_object(Bucket=bucket, Key="k", Body=b"eee")["VersionId"]
    assert ve not in ("null", va)
    versions, _ = all_versions(s3, bucket)
    assert [v["VersionId"] for v in versions] == [ve, "null", va]
    assert body_of(s3, bucket, "k", VersionId="null") == b"dd"


def test_list_object_versions_order_prefixes_and_latest(server, s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    expected = write_history(s3, bucket, [
        ("put", "a"), ("put", "b/1"), ("del", "a"), ("put", "a"), ("put", "c"),
        ("del", "b/1"), ("put", "b/2"), ("put", "a"), ("del", "c"),
        ("put", "b/1"), ("del", "a")])
    entries, fields = list_raw(server, bucket)
    assert fields["IsTruncated"] == "false"
    assert sorted(e[:3] for e in entries) == sorted(expected)
    newest = {}  # IsLatest: on each key's newest version or marker only
    for kind, key, vid in expected:
        newest.setdefault(key, vid)
    assert sorted(e[1:3] for e in entries if e[3]) == sorted(newest.items())
    prefixed, _ = list_raw(server, bucket, prefix="b/")
    assert [e[1] for e in prefixed] == ["b/1"] * 3 + ["b/2"]
    top, fields = list_raw(server, bucket, delimiter="/")
    assert fields["CommonPrefixes"] == ["b/"]
    assert {e[1] for e in top} == {"a", "c"}
    resp = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert resp["CommonPrefixes"] == [{"Prefix": "b/"}]
    # Only keys whose latest version is an object are listed, once each.
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["b/1", "b/2"]
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == \
        ["b/1", "b/2"]
    # In the XML, versions and markers interleave: each key's newest first.
    assert [e[:3] for e in entries] == expected


def test_list_object_versions_paging(server, s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    expected = write_history(s3, bucket, [("put", "k")] * 7 + [
        ("put", "j"), ("put", "m"), ("del", "m"), ("put", "m")])
    full, fields = list_raw(server, bucket)
    assert fields["IsTruncated"] == "false" and len(full) == 11
    pages, params = [], {"max_keys": 2}
    for _ in range(20):
        entries, fields = list_raw(server, bucket, **params)
        assert fields["MaxKeys"] == "2"
        pages.append(entries)
        if fields["IsTruncated"] != "true":
            assert "NextKeyMarker" not in fields
            break
        assert len(entries) == 2
        # The markers name the page's last entry.
        assert (fields["NextKeyMarker"], fields["NextVersionIdMarker"]) == \
            entries[-1][1:3]
        params = {"max_keys": 2, "key_marker": fields["NextKeyMarker"],
                  "version_id_marker": fields["NextVersionIdMarker"]}
    assert len(pages) == 6
    assert [e for p in pages for e in p] == full
    # Resuming strictly after any version, and after a whole key.
    for i, (_, key, vid, _) in enumerate(full):
        rest, _ = list_raw(server, bucket, key_marker=key,
                           version_id_marker=vid)
        assert rest == full[i + 1:], (key, vid)
    after_k, _ = list_raw(server, bucket, key_marker="k")
    assert after_k == [e for e in full if e[1] > "k"]
    # boto3's paginator gets the same versions and markers.
    versions, markers = all_versions(s3, bucket,
                                     PaginationConfig={"PageSize": 3})
    assert [("V", v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] \
        == [e for e in full if e[0] == "V"]
    assert [("D", m["Key"], m["VersionId"], m["IsLatest"]) for m in markers] \
        == [e for e in full if e[0] == "D"]
    one = s3.list_object_versions(Bucket=bucket, MaxKeys=1)
    assert one["IsTruncated"] is True and one["MaxKeys"] == 1
    assert (one["NextKeyMarker"], one["NextVersionIdMarker"]) == full[0][1:3]
    # And the order is the one S3 answers: each key's newest first.
    assert [e[:3] for e in full] == expected


def test_list_object_versions_url_encoding(s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    keys = ["dir one/ü+x&y=z.txt", "dir one/plain", "zeta\u00e9 %41"]
    write_history(s3, bucket, [("put", k) for k in keys * 2])
    resp = s3.list_object_versions(Bucket=bucket, EncodingType="url")
    assert resp["EncodingType"] == "url"
    raw, twice = [v["Key"] for v in resp["Versions"]], sorted(keys * 2)
    assert all(k.isascii() and " " not in k for k in raw), raw
    assert [urllib.parse.unquote_plus(k) for k in raw] == twice
    # boto3 asks for url encoding itself and decodes it.
    assert [v["Key"] for v in all_versions(s3, bucket)[0]] == twice
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=1, EncodingType="url",
                                   Prefix="dir one/")
    assert urllib.parse.unquote_plus(page["Prefix"]) == "dir one/"
    assert urllib.parse.unquote_plus(page["NextKeyMarker"]) == "dir one/plain"


def test_delete_objects_with_and_without_version_ids(s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    x1 = s3.put_object(Bucket=bucket, Key="x", Body=b"x1")["VersionId"]
    x2 = s3.put_object(Bucket=bucket, Key="x", Body=b"x2")["VersionId"]
    s3.put_object(Bucket=bucket, Key="y", Body=b"y")
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "x", "VersionId": x2}, {"Key": "y"}]})
    assert not resp.get("Errors")
    deleted = {d["Key"]: d for d in resp["Deleted"]}
    assert deleted["x"] == {"Key": "x", "VersionId": x2}
    marker = deleted["y"].get("DeleteMarkerVersionId")
    assert deleted["y"] == {"Key": "y", "DeleteMarker": True,
                            "DeleteMarkerVersionId": marker} and marker
    got = s3.get_object(Bucket=bucket, Key="x")
    assert got["VersionId"] == x1 and got["Body"].read() == b"x1"
    with raises(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="y")
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "y", "VersionId": marker}]})
    assert resp["Deleted"] == [{"Key": "y", "VersionId": marker,
                                "DeleteMarker": True,
                                "DeleteMarkerVersionId": marker}]
    assert body_of(s3, bucket, "y") == b"y"


def test_delete_bucket_needs_every_version_and_marker_gone(s3):
    name = unique_bucket_name("vers-delete")
    s3.create_bucket(Bucket=name)
    set_versioning(s3, name, "Enabled")
    write_history(s3, name, [("put", "a"), ("put", "a"), ("del", "a")])
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
    versions, markers = all_versions(s3, name)
    for batch in (versions, markers):
        with raises(409, "BucketNotEmpty"):  # a lone marker counts too
            s3.delete_bucket(Bucket=name)
        for v in batch:
            s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
    assert http_status(s3.delete_bucket(Bucket=name)) == 204
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_if_none_match_looks_at_the_current_version(s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with raises(412, "PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key="once", Body=b"second",
                      IfNoneMatch="*")
    s3.delete_object(Bucket=bucket, Key="once")
    again = s3.put_object(Bucket=bucket, Key="once", Body=b"third",
                          IfNoneMatch="*")
    got = s3.get_object(Bucket=bucket, Key="once")
    assert (got["VersionId"], got["Body"].read()) == (again["VersionId"],
                                                      b"third")
    assert [len(x) for x in all_versions(s3, bucket)] == [2, 1]


def test_racing_writers_each_get_their_own_version(server, bucket):
    s3 = server.client()
    set_versioning(s3, bucket, "Enabled")
    threads_n, writes = 8, 10
    acked, errors = {t: [] for t in range(threads_n)}, []

    def writer(t):
        client = server.client()  # one client per thread
        try:
            for i in range(writes):
                acked[t].append(client.put_object(
                    Bucket=bucket, Key="hot", Body=f"{t}-{i}".encode())["VersionId"])
        except Exception as exc:  # reported below
            errors.append(exc)
    threads = [threading.Thread(target=writer, args=(t,))
               for t in range(threads_n)]
    deadline = time.monotonic() + 120
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=max(0.0, deadline - time.monotonic()))
        assert not th.is_alive()
    assert not errors, errors
    versions, markers = all_versions(s3, bucket)
    assert markers == []
    listed = [v["VersionId"] for v in versions]
    every = [vid for ids in acked.values() for vid in ids]
    assert len(listed) == len(set(listed)) == threads_n * writes
    assert sorted(listed) == sorted(every)
    assert [v["IsLatest"] for v in versions] == [True] + [False] * (len(listed) - 1)
    position = {vid: n for n, vid in enumerate(listed)}
    for t, ids in acked.items():  # each thread's later write lists newer
        places = [position[vid] for vid in ids]
        assert places == sorted(places, reverse=True), t
    latest = s3.get_object(Bucket=bucket, Key="hot")
    assert latest["VersionId"] == listed[0]
    for t, ids in acked.items():
        for i, vid in enumerate(ids):
            assert body_of(s3, bucket, "hot", VersionId=vid) == f"{t}-{i}".encode()


def test_overwrites_keep_old_coded_versions_whole(s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    bodies = [random_bytes(MIB) for _ in range(4)]
    ids = [s3.put_object(Bucket=bucket, Key="big", Body=b)["VersionId"]
           for b in bodies]
    for vid, body in zip(ids, bodies):
        got = s3.get_object(Bucket=bucket, Key="big", VersionId=vid)
        assert got["ContentLength"] == MIB and got["Body"].read() == body
        assert got["ETag"] == f'"{md5_hex(body)}"'
    ranged = s3.get_object(Bucket=bucket, Key="big", VersionId=ids[0],
                           Range="bytes=700000-700099")
    assert ranged["Body"].read() == bodies[0][700000:700100]
    # Dropping the latest version makes the one before current, whole.
    s3.delete_object(Bucket=bucket, Key="big", VersionId=ids[-1])
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["VersionId"] == ids[-2] and got["Body"].read() == bodies[-2]
    versions, _ = all_versions(s3, bucket)
    assert [(v["VersionId"], v["Size"]) for v in versions] == \
        [(vid, MIB) for vid in reversed(ids[:-1])]


def test_awscli_versioning(server, bucket, tmp_path):
    def api(*args, **kw):
        return server.aws_json("s3api", *args, "--bucket", bucket, **kw)
    out = server.aws("s3api", "get-bucket-versioning", "--bucket", bucket,
                     "--output", "json").stdout.strip()
    assert out in ("", "{}"), out  # nothing but the empty configuration
    server.aws("s3api", "put-bucket-versioning", "--bucket", bucket,
               "--versioning-configuration", "Status=Enabled")
    assert api("get-bucket-versioning") == {"Status": "Enabled"}
    bodies, ids = [random_bytes(70 * KIB), b"second"], []
    for n, body in enumerate(bodies):
        (tmp_path / f"in{n}").write_bytes(body)
        ids.append(api("put-object", "--key", "f", "--body",
                       tmp_path / f"in{n}")["VersionId"])
    listed = api("list-object-versions")["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == \
        [(ids[1], True), (ids[0], False)]
    out = tmp_path / "out"
    got = api("get-object", "--key", "f", "--version-id", ids[0], out)
    assert got["VersionId"] == ids[0] and out.read_bytes() == bodies[0]
    gone = api("delete-object", "--key", "f", "--version-id", ids[1])
    assert gone["VersionId"] == ids[1]
    got = api("get-object", "--key", "f", out)
    assert got["VersionId"] == ids[0] and out.read_bytes() == bodies[0]
    marker = api("delete-object", "--key", "f")
    assert marker["DeleteMarker"] is True and marker["VersionId"]
    assert [m["VersionId"] for m in api("list-object-versions")[
        "DeleteMarkers"]] == [marker["VersionId"]]
    bad = server.aws("s3api", "get-object", "--bucket", bucket, "--key", "f",
                     "--version-id", missing_id(ids[0]), out, check=False)
    assert bad.returncode != 0 and "NoSuchVersion" in bad.stderr


def rclone_name(version):
    """rclone's name for a version that is not current: the key with its
    LastModified (UTC, to the millisecond) before the extension."""
    stamp = version["LastModified"].astimezone(timezone.utc)
    base, _, ext = version["Key"].rpartition(".")
    return (f"{base}-v{stamp.strftime('%Y-%m-%d-%H%M%S')}-"
            f"{stamp.microsecond // 1000:03d}.{ext}")


def utc_time(delta=0.0):
    return datetime.fromtimestamp(time.time() + delta, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.skipif(shutil.which("rclone") is None,
                    reason="rclone not installed")
def test_rclone_old_versions_and_version_at(server, s3, bucket, tmp_path):
    from test_rclone import Rclone
    rclone = Rclone(server, tmp_path / "rclone-home")
    set_versioning(s3, bucket, "Enabled")
    s3.put_object(Bucket=bucket, Key="file.txt", Body=b"one")
    # rclone's times are to the second: let one pass each side of `between`.
    time.sleep(1.5)
    between = utc_time()
    time.sleep(1.5)
    s3.put_object(Bucket=bucket, Key="file.txt", Body=b"second")
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"was here")
    s3.delete_object(Bucket=bucket, Key="gone.txt")
    old = {v["Key"]: rclone_name(v) for v in all_versions(s3, bucket)[0]
           if not v["IsLatest"]}
    assert sorted(old) == ["file.txt", "gone.txt"]

    def lsl(*flags):
        out = rclone("lsl", *flags, f"shale:{bucket}").stdout.decode()
        return sorted((line.split(maxsplit=3)[3], int(line.split()[0]))
                      for line in out.splitlines())
    assert lsl() == [("file.txt", 6)]
    assert lsl("--s3-versions") == sorted([
        ("file.txt", 6), (old["file.txt"], 3), (old["gone.txt"], 8)])
    assert rclone("cat", "--s3-versions",
                  f"shale:{bucket}/{old['file.txt']}").stdout == b"one"
    assert lsl("--s3-version-at", between) == [("file.txt", 3)]
    assert rclone("cat", "--s3-version-at", between,
                  f"shale:{bucket}/file.txt").stdout == b"one"
    assert lsl("--s3-version-at", utc_time(2)) == [("file.txt", 6)]
    assert lsl("--s3-version-at", "2000-01-01T00:00:00Z") == []
