"""The MinIO Python SDK (`minio`) against the plain-HTTP server.

The client is built with its defaults; only the endpoint (loopback), the
credentials, `secure=False` and the region are set. Skipped only when the
SDK cannot be imported (requirements.txt installs it).
"""

import io
import urllib.parse
from datetime import timedelta

import pytest

from conftest import (LOOPBACK, MIB, fetch_url, md5_hex, random_bytes,
                      sha256_hex, unique_bucket_name)

minio = pytest.importorskip("minio")
from minio.commonconfig import CopySource, Tags  # noqa: E402
from minio.deleteobjects import DeleteObject  # noqa: E402
from minio.error import S3Error  # noqa: E402


@pytest.fixture(scope="module")
def mc(server):
    assert server.endpoint.startswith(f"http://{LOOPBACK}:")
    return minio.Minio(f"{LOOPBACK}:{server.port}",
                       access_key=server.access_key,
                       secret_key=server.secret_key,
                       secure=False, region="us-east-1")


@pytest.fixture
def mbucket(mc, request):
    name = unique_bucket_name(request.node.name)
    mc.make_bucket(name)
    yield name
    # Best effort: leave the shared server tidy.
    for obj in mc.list_objects(name, recursive=True):
        mc.remove_object(name, obj.object_name)
    mc.remove_bucket(name)


def test_bucket_exists_make_remove(mc, request):
    name = unique_bucket_name(request.node.name)
    assert not mc.bucket_exists(name)
    mc.make_bucket(name)
    assert mc.bucket_exists(name)
    assert name in [b.name for b in mc.list_buckets()]
    with pytest.raises(S3Error) as err:
        mc.make_bucket(name)
    assert err.value.code in ("BucketAlreadyOwnedByYou",
                              "BucketAlreadyExists")
    mc.remove_bucket(name)
    assert not mc.bucket_exists(name)
    with pytest.raises(S3Error) as err:
        mc.remove_bucket(name)
    assert err.value.code == "NoSuchBucket"


def test_put_get_stat_small(mc, mbucket):
    body = random_bytes(70_001)
    result = mc.put_object(mbucket, "dir/small.bin", io.BytesIO(body),
                           len(body), content_type="application/x-test",
                           metadata={"x-amz-meta-colour": "blue"})
    assert result.etag == md5_hex(body)

    st = mc.stat_object(mbucket, "dir/small.bin")
    assert st.size == len(body)
    assert st.etag == md5_hex(body)
    assert st.content_type == "application/x-test"
    assert st.metadata.get("x-amz-meta-colour") == "blue"

    resp = mc.get_object(mbucket, "dir/small.bin")
    try:
        assert resp.read() == body
    finally:
        resp.close()
        resp.release_conn()

    # A range read.
    resp = mc.get_object(mbucket, "dir/small.bin", offset=10, length=100)
    try:
        assert resp.read() == body[10:110]
    finally:
        resp.close()
        resp.release_conn()

    # Zero bytes.
    mc.put_object(mbucket, "empty", io.BytesIO(b""), 0)
    st = mc.stat_object(mbucket, "empty")
    assert st.size == 0 and st.etag == md5_hex(b"")

    with pytest.raises(S3Error) as err:
        mc.stat_object(mbucket, "no-such-key")
    assert err.value.code in ("NoSuchKey", "ResponseCode404")
    with pytest.raises(S3Error) as err:
        mc.get_object(mbucket, "no-such-key")
    assert err.value.code == "NoSuchKey"


def test_multipart_put_and_fget(mc, mbucket, tmp_path):
    body = random_bytes(20 * MIB + 12345)
    src = tmp_path / "src.bin"
    src.write_bytes(body)
    # The SDK cuts anything above 5 MiB into 5 MiB parts: 5 parts here.
    result = mc.fput_object(mbucket, "big/f.bin", str(src))
    assert result.etag.endswith("-5"), result.etag
    st = mc.stat_object(mbucket, "big/f.bin")
    assert st.size == len(body)
    assert st.etag == result.etag

    # An unknown length (a stream) with an explicit part size.
    result = mc.put_object(mbucket, "big/stream.bin", io.BytesIO(body), -1,
                           part_size=8 * MIB)
    assert result.etag.endswith("-3"), result.etag

    for key in ("big/f.bin", "big/stream.bin"):
        out = tmp_path / (key.replace("/", "_") + ".out")
        mc.fget_object(mbucket, key, str(out))
        assert sha256_hex(out.read_bytes()) == sha256_hex(body)


def test_list_objects(mc, mbucket):
    keys = ["a/1", "a/2", "a/b/3", "c", "d/4"]
    for k in keys:
        mc.put_object(mbucket, k, io.BytesIO(k.encode()), len(k))

    # The SDK yields a page's objects before its prefixes.
    top = [(o.object_name, o.is_dir) for o in mc.list_objects(mbucket)]
    assert sorted(top) == [("a/", True), ("c", False), ("d/", True)]

    rec = [o.object_name for o in mc.list_objects(mbucket, recursive=True)]
    assert rec == keys

    under_a = [o.object_name for o in mc.list_objects(mbucket, prefix="a/")]
    assert sorted(under_a) == ["a/1", "a/2", "a/b/"]

    sizes = {o.object_name: o.size
             for o in mc.list_objects(mbucket, prefix="a/", recursive=True)}
    assert sizes == {"a/1": 3, "a/2": 3, "a/b/3": 5}

    after = [o.object_name for o in mc.list_objects(
        mbucket, recursive=True, start_after="a/b/3")]
    assert after == ["c", "d/4"]

    # ListObjects version 1 as well.
    v1 = [o.object_name for o in mc.list_objects(mbucket, recursive=True,
                                                 use_api_v1=True)]
    assert v1 == keys


def test_copy_and_remove_objects(mc, mbucket):
    body = random_bytes(3000)
    mc.put_object(mbucket, "src", io.BytesIO(body), len(body),
                  metadata={"x-amz-meta-k": "v"})
    result = mc.copy_object(mbucket, "dst", CopySource(mbucket, "src"))
    assert result.etag == md5_hex(body)
    st = mc.stat_object(mbucket, "dst")
    assert st.size == len(body)
    assert st.metadata.get("x-amz-meta-k") == "v"

    # Replacing the metadata.
    mc.copy_object(mbucket, "dst2", CopySource(mbucket, "src"),
                   metadata={"x-amz-meta-k": "w"},
                   metadata_directive="REPLACE")
    assert mc.stat_object(mbucket, "dst2").metadata.get("x-amz-meta-k") == "w"

    resp = mc.get_object(mbucket, "dst")
    try:
        assert resp.read() == body
    finally:
        resp.close()
        resp.release_conn()

    mc.remove_object(mbucket, "dst2")
    names = [f"many/{i}" for i in range(25)]
    for n in names:
        mc.put_object(mbucket, n, io.BytesIO(b"x"), 1)
    errors = list(mc.remove_objects(
        mbucket, [DeleteObject(n) for n in names + ["never-existed"]]))
    assert errors == []
    left = [o.object_name for o in mc.list_objects(mbucket, recursive=True)]
    assert left == ["dst", "src"]


def test_presigned_get_and_put(mc, mbucket):
    body = random_bytes(5000)
    put_url = mc.presigned_put_object(mbucket, "pre/up.bin",
                                      expires=timedelta(minutes=5))
    assert urllib.parse.urlsplit(put_url).hostname == LOOPBACK
    status, _, data = fetch_url(put_url, method="PUT", body=body)
    assert status == 200, data

    get_url = mc.presigned_get_object(mbucket, "pre/up.bin",
                                      expires=timedelta(minutes=5))
    status, headers, data = fetch_url(get_url)
    assert status == 200, data
    assert data == body
    assert headers["etag"] == f'"{md5_hex(body)}"'

    # Response header overrides in a presigned GET.
    get_url = mc.presigned_get_object(
        mbucket, "pre/up.bin", expires=timedelta(minutes=5),
        response_headers={"response-content-type": "text/x-shale"})
    status, headers, _ = fetch_url(get_url)
    assert status == 200
    assert headers["content-type"] == "text/x-shale"

    # A tampered signature is refused.
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(get_url).query))
    good = query["X-Amz-Signature"]
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    status, _, data = fetch_url(get_url.replace(good, bad))
    assert status == 403, data
    assert b"<Code>SignatureDoesNotMatch</Code>" in data


def test_object_and_bucket_tags(mc, mbucket):
    tags = Tags.new_object_tags()
    tags["project"] = "shale"
    tags["tier"] = "hot"
    mc.put_object(mbucket, "t", io.BytesIO(b"abc"), 3, tags=tags)
    got = mc.get_object_tags(mbucket, "t")
    assert dict(got) == {"project": "shale", "tier": "hot"}

    new = Tags.new_object_tags()
    new["only"] = "one"
    mc.set_object_tags(mbucket, "t", new)
    assert dict(mc.get_object_tags(mbucket, "t")) == {"only": "one"}
    mc.delete_object_tags(mbucket, "t")
    assert not dict(mc.get_object_tags(mbucket, "t") or {})

    btags = Tags.new_bucket_tags()
    btags["owner"] = "team-a"
    mc.set_bucket_tags(mbucket, btags)
    assert dict(mc.get_bucket_tags(mbucket)) == {"owner": "team-a"}
    mc.delete_bucket_tags(mbucket)
    assert mc.get_bucket_tags(mbucket) is None


def test_versioning_and_object_lock(mc, request):
    """Versioning and Object Lock through the MinIO SDK's own calls."""
    from datetime import datetime, timezone
    from minio.commonconfig import ENABLED, GOVERNANCE
    from minio.objectlockconfig import DAYS, ObjectLockConfig
    from minio.retention import Retention
    from minio.versioningconfig import VersioningConfig

    name = unique_bucket_name(request.node.name)
    mc.make_bucket(name)
    mc.set_bucket_versioning(name, VersioningConfig(ENABLED))
    assert mc.get_bucket_versioning(name).status == ENABLED
    ids = [mc.put_object(name, "k", io.BytesIO(b), len(b)).version_id
           for b in (b"one", b"two")]
    assert None not in ids and ids[0] != ids[1]
    listed = [(o.version_id, o.is_latest, o.is_delete_marker) for o in
              mc.list_objects(name, include_version=True)]
    assert listed == [(ids[1], "true", False), (ids[0], "false", False)]
    old = mc.get_object(name, "k", version_id=ids[0])
    assert old.read() == b"one"
    old.close()
    mc.remove_object(name, "k")
    assert any(o.is_delete_marker for o in
               mc.list_objects(name, include_version=True))
    for o in list(mc.list_objects(name, include_version=True)):
        mc.remove_object(name, o.object_name, version_id=o.version_id)
    mc.remove_bucket(name)

    locked = unique_bucket_name(request.node.name + "-lock")
    mc.make_bucket(locked, object_lock=True)
    mc.set_object_lock_config(locked, ObjectLockConfig(GOVERNANCE, 1, DAYS))
    config = mc.get_object_lock_config(locked)
    assert (config.mode, config.duration, config.duration_unit) == (
        GOVERNANCE, 1, DAYS)
    v = mc.put_object(locked, "k", io.BytesIO(b"x"), 1).version_id
    retention = mc.get_object_retention(locked, "k", version_id=v)
    assert retention.mode == GOVERNANCE
    assert retention.retain_until_date > datetime.now(timezone.utc)
    later = retention.retain_until_date.replace(year=retention.retain_until_date.year + 1)
    mc.set_object_retention(locked, "k", Retention(GOVERNANCE, later), version_id=v)
    assert mc.get_object_retention(locked, "k", version_id=v).mode == GOVERNANCE
    with pytest.raises(S3Error) as err:
        mc.remove_object(locked, "k", version_id=v)
    assert err.value.code == "AccessDenied"
