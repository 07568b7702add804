"""Bucket replication across two linked regions (`shale dev --regions
us-east-1,eu-west-1`) with rclone (Debian's package) as the client:

- `rclone copy` to a bucket in us-east-1 (single PUTs and one multipart
  upload in 5 MiB parts) arrives in its replica bucket in eu-west-1, where
  rclone reads it back byte for byte and `rclone check` agrees (rclone's
  own metadata, the mtime and the MD5 of a multipart upload, travel with
  the version); REPLICA at the destination, COMPLETED at the source, the
  same version ids and ETags;
- `rclone deletefile` / `rclone delete` leave delete markers that are
  replicated: rclone lists nothing at the destination, the older versions
  are still there;
- rclone pointed at the other region's endpoint: the plain 301 is not
  followed by rclone, signing for the bucket's region is forwarded;
- two-way rules with rclone writing on both sides: everything arrives,
  nothing loops.

rclone does the writes and the reads; boto3 only sets the buckets up and
reads version ids and statuses. The remotes `us` and `eu` (each region's
endpoint and region) are set through environment variables like
test_rclone.py's `shale`. One deployment is shared by the module's tests;
each owns its buckets."""

import json

import pytest

from conftest import MIB, random_bytes
from regions import REGIONS, eventually, start
from test_rclone import RCLONE, Rclone, read_tree, write_tree
from test_replication import assert_status, replicate, rule, versioned_bucket

pytestmark = pytest.mark.skipif(RCLONE is None, reason="rclone not installed")

US, EU = REGIONS
REMOTE = {US: "us", EU: "eu"}
# rclone's default cutoff is 200 MiB: make a 10 MiB file a multipart upload.
SMALL_PARTS = ("--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    factory, d = start(tmp_path_factory, "replication-rclone")
    yield d
    factory.close()


@pytest.fixture
def rclone(deployment, tmp_path):
    """rclone with the remotes `us` and `eu`: test_rclone.py's `shale`
    remote, on each region's endpoint and signing for that region."""
    rc = Rclone(deployment.server, tmp_path / "rclone-home")
    shale = "RCLONE_CONFIG_SHALE_"
    for region, name in REMOTE.items():
        prefix = f"RCLONE_CONFIG_{name.upper()}_"
        rc.env.update({prefix + k[len(shale):]: v
                       for k, v in rc.env.items() if k.startswith(shale)})
        rc.env[prefix + "ENDPOINT"] = deployment.endpoint(region)
        rc.env[prefix + "REGION"] = region
    return rc


def linked(deployment, hint, both_ways=False):
    """A versioned bucket in each region, a rule from us-east-1's to
    eu-west-1's (and back with `both_ways`), delete markers replicated."""
    us, eu = deployment.client(US), deployment.client(EU)
    a = versioned_bucket(us, US, f"{hint}-us")
    b = versioned_bucket(eu, EU, f"{hint}-eu")
    replicate(us, a, rule(b))
    if both_ways:
        replicate(eu, b, rule(a))
    return us, eu, a, b


def listing(rclone, remote, *flags):
    """path -> (size, mtime, md5) as rclone sees them."""
    return {e["Path"]: (e["Size"], e["ModTime"], e["Hashes"]["md5"])
            for e in rclone.json("lsjson", "-R", "--files-only", "--hash",
                                 *flags, remote)}


def versions(client, bucket):
    """(versions, delete markers) of `bucket`: {(key, version id)}."""
    listed = client.list_object_versions(Bucket=bucket)
    return ({(v["Key"], v["VersionId"]) for v in listed.get("Versions", [])},
            {(m["Key"], m["VersionId"])
             for m in listed.get("DeleteMarkers", [])})


def test_rclone_copy_arrives_in_the_other_region(deployment, rclone,
                                                 tmp_path):
    us, eu, src, dst = linked(deployment, "copy")
    files = {"a.txt": b"hello from us-east-1\n", "empty": b"",
             "dir/b.bin": random_bytes(300_000),
             "dir/sub/c \u00e9.txt": b"unicode name",
             "big.bin": random_bytes(10 * MIB + 3)}
    local = tmp_path / "src"
    write_tree(local, files)
    rclone("copy", *SMALL_PARTS, local, f"us:{src}")

    for key in files:
        replica = eventually(lambda k=key: eu.head_object(Bucket=dst, Key=k))
        source = us.head_object(Bucket=src, Key=key)
        assert replica["ReplicationStatus"] == "REPLICA", key
        for field in ("VersionId", "ETag", "LastModified", "Metadata"):
            assert replica[field] == source[field], (key, field)
        eventually(lambda k=key: assert_status(us, src, k, "COMPLETED"))
    # rclone's multipart upload: 5 + 5 MiB + 3 bytes, the ETag kept.
    assert us.head_object(Bucket=src, Key="big.bin")["ETag"].endswith('-3"')

    # rclone reads the replica from eu-west-1: the same bytes, and the same
    # size, mtime and MD5 as the source (rclone's X-Amz-Meta-Mtime and
    # X-Amz-Meta-Md5chksum crossed with the version).
    rclone("check", local, f"eu:{dst}")
    assert rclone("cat", f"eu:{dst}/dir/sub/c \u00e9.txt").stdout == \
        b"unicode name"
    down = tmp_path / "down"
    rclone("copy", f"eu:{dst}", down)
    assert read_tree(down) == files
    assert listing(rclone, f"eu:{dst}") == listing(rclone, f"us:{src}")
    rclone("check", f"us:{src}", f"eu:{dst}")


def test_rclone_deletes_become_replicated_delete_markers(deployment, rclone,
                                                         tmp_path):
    us, eu, src, dst = linked(deployment, "del")
    files = {"keep.txt": b"keep", "gone.txt": b"gone", "dir/x": b"x",
             "dir/y": b"y"}
    write_tree(tmp_path / "src", files)
    rclone("copy", tmp_path / "src", f"us:{src}")
    for key in files:
        eventually(lambda k=key: eu.head_object(Bucket=dst, Key=k))
    written, _ = versions(us, src)

    rclone("deletefile", f"us:{src}/gone.txt")
    rclone("delete", f"us:{src}/dir")
    assert list(listing(rclone, f"us:{src}")) == ["keep.txt"]

    def only_keep_at_the_destination():
        assert list(listing(rclone, f"eu:{dst}")) == ["keep.txt"]
    eventually(only_keep_at_the_destination)
    # The destination holds the source's markers and every older version,
    # which rclone still shows with --s3-versions.
    kept, markers = versions(eu, dst)
    assert (kept, markers) == versions(us, src)
    assert kept == written
    assert sorted(k for k, _ in markers) == ["dir/x", "dir/y", "gone.txt"]
    old = [p for p in listing(rclone, f"eu:{dst}", "--s3-versions")
           if p != "keep.txt"]
    assert sorted(p.split("-v")[0] for p in old) == ["dir/x", "dir/y",
                                                     "gone"], old


def test_rclone_at_the_other_regions_endpoint(deployment, rclone, tmp_path):
    us, eu, src, dst = linked(deployment, "wrong")
    files = {"a.txt": b"through eu-west-1",
             "big.bin": random_bytes(6 * MIB + 5)}
    local = tmp_path / "src"
    write_tree(local, files)
    # `eu:` signs for eu-west-1, the bucket is in us-east-1: the gateway
    # answers 301 PermanentRedirect with x-amz-bucket-region. rclone reads
    # the region (GetBucketLocation) but will not switch to it when an
    # endpoint is configured ("can't set region ... as endpoint is set"),
    # so the user gets the error, which names the bucket's region (rclone
    # 1.60: "BucketRegionError: ... bucket is in 'us-east-1' region").
    for args in (("ls", f"eu:{src}"), ("cat", f"eu:{src}/a.txt")):
        wrong = rclone(*args, check=False)
        assert wrong.returncode != 0
        assert b"as endpoint is set" in wrong.stderr, wrong.stderr
        assert b"'us-east-1'" in wrong.stderr, wrong.stderr

    # Signed for the bucket's region, eu-west-1's endpoint forwards every
    # request to us-east-1: writes (a multipart upload too), lists, reads.
    forwarded = ("--s3-region", US)
    rclone("copy", *SMALL_PARTS, *forwarded, local, f"eu:{src}")
    assert {p: s for p, (s, _, _) in listing(
        rclone, f"eu:{src}", *forwarded).items()} == {
        k: len(v) for k, v in files.items()}
    assert rclone("cat", *forwarded, f"eu:{src}/a.txt").stdout == \
        files["a.txt"]
    rclone("check", *forwarded, local, f"eu:{src}")
    # The versions were written in us-east-1, and replicated to eu-west-1.
    assert us.get_bucket_location(Bucket=src).get("LocationConstraint") \
        in (None, "")
    assert src not in [b["Name"] for b in eu.list_buckets()["Buckets"]]
    for key in files:
        assert us.head_object(Bucket=src, Key=key)["VersionId"] == \
            eventually(lambda k=key: eu.head_object(Bucket=dst, Key=k))[
                "VersionId"]
    rclone("check", local, f"eu:{dst}")


def test_two_way_rules_with_rclone_writing_on_both_sides(deployment, rclone,
                                                         tmp_path):
    us, eu, a, b = linked(deployment, "two", both_ways=True)
    sides = {US: (us, a), EU: (eu, b)}
    written = {}
    for region in REGIONS:
        name = REMOTE[region]
        files = {f"from-{name}/small.txt": f"written in {region}".encode(),
                 f"from-{name}/big.bin": random_bytes(6 * MIB + 1)}
        write_tree(tmp_path / name, files)
        rclone("copy", *SMALL_PARTS, tmp_path / name,
               f"{name}:{sides[region][1]}")
        written.update(files)
    everything = tmp_path / "everything"
    write_tree(everything, written)
    for region in REGIONS:
        eventually(lambda r=region: rclone(
            "check", everything, f"{REMOTE[r]}:{sides[r][1]}"))

    # Settled: nothing queued either way. Each key has its one version,
    # the same on both sides, and no replica was sent back.
    def settled(region):
        shown = json.loads(deployment.admin(
            region, "--json", "replication", "status", sides[region][1]))
        assert [(p["pending"], p["failed"]) for p in shown["pairs"]] == [
            (0, 0)], shown
    for region in REGIONS:
        eventually(lambda r=region: settled(r))
    (on_a, markers_a), (on_b, markers_b) = versions(us, a), versions(eu, b)
    assert on_a == on_b and not markers_a and not markers_b
    assert sorted(k for k, _ in on_a) == sorted(written)
    for region, (client, bucket) in sides.items():
        for key in written:
            here = key.startswith(f"from-{REMOTE[region]}/")
            assert_status(client, bucket, key,
                          "COMPLETED" if here else "REPLICA")
    rclone("check", f"us:{a}", f"eu:{b}")
