"""s3cmd (Debian's package) against the plain-HTTP server, with Signature V4
(its default) and V2: every command a user of s3cmd reaches for, with the
bytes, listings and answers checked on the server side with boto3."""

import re
import shutil
import subprocess
import urllib.request

import pytest

from conftest import MIB, md5_hex, random_bytes, unique_bucket_name

S3CMD_TIMEOUT = 300


@pytest.fixture(params=["v4", "v2"])
def s3cmd(request, server, tmp_path):
    binary = shutil.which("s3cmd")
    if binary is None:
        pytest.skip("s3cmd is not installed (scripts/test.sh installs it)")
    cfg = tmp_path / "s3cfg"
    host = f"127.0.0.1:{server.port}"
    v2 = request.param == "v2"
    cfg.write_text(
        "[default]\n"
        f"access_key = {server.access_key}\n"
        f"secret_key = {server.secret_key}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        "use_https = False\n"
        f"signature_v2 = {v2}\n"
        "bucket_location = us-east-1\n"
        "proxy_host =\n")

    def run(*args, check=True):
        cmd = [binary, "-c", str(cfg), "--no-progress",
               *[str(a) for a in args]]
        result = subprocess.run(cmd, capture_output=True, text=True,
                                timeout=S3CMD_TIMEOUT, cwd=tmp_path)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{cmd} exited {result.returncode}\n{result.stdout}\n"
                f"{result.stderr}\nserver log:\n{server.log_tail(30)}")
        return result
    run.signature = request.param
    return run


def keys(s3, bucket, prefix=""):
    out = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in out.get("Contents", []))


def write_tree(root, files):
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_mb_put_get_ls_del_rb(s3, s3cmd, tmp_path):
    name = unique_bucket_name(f"s3cmd-basic-{s3cmd.signature}")
    s3cmd("mb", f"s3://{name}")
    assert name in s3cmd("ls").stdout
    body = random_bytes(300_001)
    src = tmp_path / "src.bin"
    src.write_bytes(body)
    s3cmd("put", src, f"s3://{name}/dir/file one.bin")
    got = s3.get_object(Bucket=name, Key="dir/file one.bin")
    assert got["Body"].read() == body
    assert got["ETag"] == f'"{md5_hex(body)}"'

    dst = tmp_path / "dst.bin"
    s3cmd("get", f"s3://{name}/dir/file one.bin", dst)
    assert dst.read_bytes() == body

    top = s3cmd("ls", f"s3://{name}/").stdout
    assert re.search(r"DIR\s+s3://%s/dir/" % name, top), top
    listing = s3cmd("ls", "--recursive", f"s3://{name}").stdout
    assert f"{len(body)}  s3://{name}/dir/file one.bin" in listing, listing
    # `la`: the top level of every bucket.
    everything = s3cmd("la").stdout
    assert re.search(r"DIR\s+s3://%s/dir/" % name, everything), everything

    du = s3cmd("du", f"s3://{name}").stdout
    assert du.split()[:2] == [str(len(body)), "1"], du

    s3cmd("del", f"s3://{name}/dir/file one.bin")
    assert keys(s3, name) == []
    # A missing key: s3cmd lists before it gets, finds nothing and fails.
    missing = s3cmd("get", f"s3://{name}/nope", tmp_path / "nope", check=False)
    assert missing.returncode != 0
    assert "does not exist" in missing.stderr, missing.stderr
    assert not (tmp_path / "nope").exists()
    s3cmd("rb", f"s3://{name}")
    assert name not in s3cmd("ls").stdout


def test_multipart_put_get_and_listing(s3, s3cmd, tmp_path):
    name = unique_bucket_name(f"s3cmd-mp-{s3cmd.signature}")
    s3cmd("mb", f"s3://{name}")
    body = random_bytes(12 * MIB + 12345)
    src = tmp_path / "big.bin"
    src.write_bytes(body)
    # Parts of 5 MiB: three parts, an S3 multipart ETag.
    s3cmd("put", "--multipart-chunk-size-mb=5", src, f"s3://{name}/big.bin")
    head = s3.head_object(Bucket=name, Key="big.bin")
    assert head["ContentLength"] == len(body)
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]
    dst = tmp_path / "big.out"
    s3cmd("get", f"s3://{name}/big.bin", dst)
    assert dst.read_bytes() == body

    # An upload left in progress: s3cmd lists it, its parts, and aborts it.
    upload = s3.create_multipart_upload(Bucket=name, Key="left/over.bin")
    upload_id = upload["UploadId"]
    s3.upload_part(Bucket=name, Key="left/over.bin", UploadId=upload_id,
                   PartNumber=1, Body=b"x" * 1000)
    uploads = s3cmd("multipart", f"s3://{name}").stdout
    assert upload_id in uploads and "left/over.bin" in uploads, uploads
    parts = s3cmd("listmp", f"s3://{name}/left/over.bin", upload_id).stdout
    assert re.search(r"\t1\t\"[0-9a-f]{32}\"\t1000$", parts, re.M), parts
    s3cmd("abortmp", f"s3://{name}/left/over.bin", upload_id)
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []


def test_sync_both_ways_with_delete_removed(s3, s3cmd, tmp_path):
    name = unique_bucket_name(f"s3cmd-sync-{s3cmd.signature}")
    s3cmd("mb", f"s3://{name}")
    src = tmp_path / "tree"
    files = {"one.txt": b"1", "sub/two.bin": random_bytes(100_000),
             "sub/deeper/three.bin": random_bytes(70_000),
             "name with spaces+plus.txt": b"spaces"}
    write_tree(src, files)
    s3cmd("sync", f"{src}/", f"s3://{name}/tree/")
    assert keys(s3, name) == sorted(f"tree/{k}" for k in files)
    for rel, data in files.items():
        assert s3.get_object(Bucket=name, Key=f"tree/{rel}")[
            "Body"].read() == data

    # A second sync sends nothing; a removed file goes with --delete-removed.
    again = s3cmd("sync", f"{src}/", f"s3://{name}/tree/").stdout
    assert "upload:" not in again, again
    (src / "one.txt").unlink()
    (src / "sub/two.bin").write_bytes(b"changed")
    s3cmd("sync", "--delete-removed", f"{src}/", f"s3://{name}/tree/")
    assert "tree/one.txt" not in keys(s3, name)
    assert s3.get_object(Bucket=name, Key="tree/sub/two.bin")[
        "Body"].read() == b"changed"

    # Down: into a directory with a stale file, which --delete-removed drops.
    dst = tmp_path / "back"
    (dst / "stale").mkdir(parents=True)
    (dst / "stale/old.txt").write_bytes(b"old")
    s3cmd("sync", "--delete-removed", f"s3://{name}/tree/", f"{dst}/")
    assert not (dst / "stale/old.txt").exists()
    assert (dst / "sub/two.bin").read_bytes() == b"changed"
    assert (dst / "sub/deeper/three.bin").read_bytes() == files[
        "sub/deeper/three.bin"]
    assert (dst / "name with spaces+plus.txt").read_bytes() == b"spaces"
    assert not (dst / "one.txt").exists()

    s3cmd("del", "--recursive", "--force", f"s3://{name}/tree/")
    assert keys(s3, name) == []


def test_cp_mv_modify_and_signurl(server, s3, s3cmd, tmp_path):
    name = unique_bucket_name(f"s3cmd-cp-{s3cmd.signature}")
    other = unique_bucket_name(f"s3cmd-cp2-{s3cmd.signature}")
    s3cmd("mb", f"s3://{name}")
    s3cmd("mb", f"s3://{other}")
    body = random_bytes(90_000)
    s3.put_object(Bucket=name, Key="a.bin", Body=body,
                  Metadata={"colour": "blue"})
    s3cmd("cp", f"s3://{name}/a.bin", f"s3://{other}/b.bin")
    copied = s3.get_object(Bucket=other, Key="b.bin")
    assert copied["Body"].read() == body
    assert copied["Metadata"] == {"colour": "blue"}
    s3cmd("mv", f"s3://{other}/b.bin", f"s3://{other}/moved/c.bin")
    assert keys(s3, other) == ["moved/c.bin"]
    assert s3.get_object(Bucket=other, Key="moved/c.bin")[
        "Body"].read() == body

    # modify: a copy onto itself with new metadata.
    s3cmd("modify", "--add-header=x-amz-meta-shape:round",
          "--add-header=Cache-Control:max-age=60", f"s3://{name}/a.bin")
    head = s3.head_object(Bucket=name, Key="a.bin")
    assert head["Metadata"].get("shape") == "round", head["Metadata"]
    assert head["CacheControl"] == "max-age=60"
    assert s3.get_object(Bucket=name, Key="a.bin")["Body"].read() == body

    url = s3cmd("signurl", f"s3://{name}/a.bin", "+300").stdout.strip()
    assert url.startswith(f"http://127.0.0.1:{server.port}/"), url
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.status == 200
        assert resp.read() == body


def test_info_answers_as_s3(server, s3, s3cmd, tmp_path):
    name = unique_bucket_name(f"s3cmd-info-{s3cmd.signature}")
    s3cmd("mb", f"s3://{name}")
    s3.put_object(Bucket=name, Key="k.txt", Body=b"hello",
                  ContentType="text/plain", Metadata={"m": "v"})
    bucket_info = s3cmd("info", f"s3://{name}").stdout
    fields = dict(re.findall(r"^\s+([^:]+):\s+(.*)$", bucket_info, re.M))
    assert fields["Location"] == "us-east-1", bucket_info
    assert fields["Payer"] == "BucketOwner", bucket_info
    assert fields["Expiration Rule"] == "none", bucket_info
    assert fields["Policy"] == "none", bucket_info
    assert fields["CORS"] == "none", bucket_info
    # The owner's FULL_CONTROL grant, read from GetBucketAcl; s3cmd prints
    # its DisplayName, the access key id of the key that made the bucket.
    assert fields["ACL"] == f"{server.access_key}: FULL_CONTROL", bucket_info

    object_info = s3cmd("info", f"s3://{name}/k.txt").stdout
    fields = dict(re.findall(r"^\s+([^:]+):\s+(.*)$", object_info, re.M))
    assert fields["File size"] == "5", object_info
    assert fields["MIME type"] == "text/plain", object_info
    assert fields["MD5 sum"] == md5_hex(b"hello"), object_info
    assert fields["ACL"] == f"{server.access_key}: FULL_CONTROL", object_info
    assert fields["x-amz-meta-m"] == "v", object_info


def test_setacl_private_works_public_is_refused(s3, s3cmd, tmp_path):
    name = unique_bucket_name(f"s3cmd-acl-{s3cmd.signature}")
    s3cmd("mb", f"s3://{name}")
    s3.put_object(Bucket=name, Key="k", Body=b"data")
    s3cmd("setacl", "--acl-private", f"s3://{name}/k")
    s3cmd("setacl", "--acl-private", f"s3://{name}")
    # ACLs are disabled, as on new S3 buckets: a public grant is refused.
    public = s3cmd("setacl", "--acl-public", f"s3://{name}/k", check=False)
    assert public.returncode != 0
    assert "AccessControlListNotSupported" in public.stderr, public.stderr
    src = tmp_path / "p.txt"
    src.write_bytes(b"public?")
    put = s3cmd("put", "--acl-public", src, f"s3://{name}/p.txt", check=False)
    assert put.returncode != 0
    assert "AccessControlListNotSupported" in put.stderr, put.stderr
    assert keys(s3, name) == ["k"]
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"data"
