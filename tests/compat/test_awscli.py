"""The AWS CLI (`aws s3`, `aws s3api`) against the plain-HTTP server."""

import pytest

from conftest import file_sha256, md5_hex, random_bytes, unique_bucket_name


@pytest.fixture
def cli_bucket(server, request):
    name = unique_bucket_name(request.node.name)
    server.aws("s3", "mb", f"s3://{name}")
    return name


@pytest.mark.slow
def test_cp_up_and_down_100mib(server, cli_bucket, big_file, tmp_path):
    url = f"s3://{cli_bucket}/dir/big.bin"
    server.aws("s3", "cp", big_file.path, url)

    head = server.aws_json("s3api", "head-object", "--bucket", cli_bucket,
                           "--key", "dir/big.bin")
    assert head["ContentLength"] == big_file.size
    etag = head["ETag"].strip('"')
    # 100 MiB in the CLI's 8 MiB parts: a multipart ETag.
    assert etag.endswith("-13"), etag

    out = tmp_path / "big.out"
    server.aws("s3", "cp", url, out)
    assert out.stat().st_size == big_file.size
    assert file_sha256(out) == big_file.sha256


def test_ls_rm_head_object(server, cli_bucket, tmp_path):
    body = random_bytes(123_457)
    src = tmp_path / "file.bin"
    src.write_bytes(body)
    server.aws("s3", "cp", src, f"s3://{cli_bucket}/a/file.bin")
    server.aws("s3", "cp", src, f"s3://{cli_bucket}/top.bin")

    listing = server.aws("s3", "ls", f"s3://{cli_bucket}/").stdout
    lines = [line.split() for line in listing.splitlines()]
    assert ["PRE", "a/"] in lines, listing
    top = [line for line in lines if line and line[-1] == "top.bin"]
    assert top and top[0][-2] == str(len(body)), listing

    recursive = server.aws("s3", "ls", "--recursive",
                           f"s3://{cli_bucket}/").stdout
    assert "a/file.bin" in recursive and "top.bin" in recursive

    head = server.aws_json("s3api", "head-object", "--bucket", cli_bucket,
                           "--key", "top.bin")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == f'"{md5_hex(body)}"'

    server.aws("s3", "rm", f"s3://{cli_bucket}/top.bin")
    listing = server.aws("s3", "ls", f"s3://{cli_bucket}/").stdout
    assert "top.bin" not in listing
    missing = server.aws("s3api", "head-object", "--bucket", cli_bucket,
                         "--key", "top.bin", check=False)
    assert missing.returncode != 0
    assert "404" in missing.stderr or "Not Found" in missing.stderr


def test_sync_and_recursive_rm(server, cli_bucket, tmp_path):
    src = tmp_path / "tree"
    files = {"one.txt": b"1", "sub/two.bin": random_bytes(100_000),
             "sub/deeper/three.bin": random_bytes(70_000)}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    server.aws("s3", "sync", src, f"s3://{cli_bucket}/tree")

    dst = tmp_path / "back"
    server.aws("s3", "sync", f"s3://{cli_bucket}/tree", dst)
    for rel, data in files.items():
        assert (dst / rel).read_bytes() == data

    server.aws("s3", "rm", "--recursive", f"s3://{cli_bucket}/tree")
    # `aws s3 ls` exits 1 when nothing matches: only its output matters here.
    left = server.aws("s3", "ls", "--recursive", f"s3://{cli_bucket}/",
                      check=False)
    assert left.stdout.strip() == "", left.stdout
    server.aws("s3", "rb", f"s3://{cli_bucket}")
    assert cli_bucket not in server.aws("s3", "ls").stdout


def remote_keys(server, bucket, prefix=""):
    out = server.aws_json("s3api", "list-objects-v2", "--bucket", bucket,
                          "--prefix", prefix)
    return sorted(o["Key"] for o in out.get("Contents", []))


def test_cp_recursive_both_ways(server, cli_bucket, tmp_path):
    src = tmp_path / "tree"
    files = {"a.txt": b"a", "d/b.bin": random_bytes(70_000),
             "d/e/c d+.bin": random_bytes(1_000)}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    server.aws("s3", "cp", "--recursive", src, f"s3://{cli_bucket}/up/")
    assert remote_keys(server, cli_bucket) == sorted(f"up/{k}" for k in files)
    dst = tmp_path / "down"
    server.aws("s3", "cp", "--recursive", f"s3://{cli_bucket}/up/", dst)
    for rel, data in files.items():
        assert (dst / rel).read_bytes() == data
    # Bucket to bucket (CopyObject), with --exclude.
    server.aws("s3", "cp", "--recursive", "--exclude", "*.txt",
               f"s3://{cli_bucket}/up/", f"s3://{cli_bucket}/copy/")
    assert remote_keys(server, cli_bucket, "copy/") == [
        "copy/d/b.bin", "copy/d/e/c d+.bin"]


def test_sync_with_delete_and_exclude(server, cli_bucket, tmp_path):
    src = tmp_path / "tree"
    files = {"keep.txt": b"k", "skip.log": b"s", "sub/x.bin": b"x" * 5000}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    url = f"s3://{cli_bucket}/s"
    server.aws("s3", "sync", "--exclude", "*.log", src, url)
    assert remote_keys(server, cli_bucket) == ["s/keep.txt", "s/sub/x.bin"]
    # Nothing changed: nothing is sent.
    assert "upload:" not in server.aws("s3", "sync", "--exclude", "*.log",
                                       src, url).stdout
    (src / "keep.txt").unlink()
    (src / "sub/x.bin").write_bytes(b"y" * 6000)
    out = server.aws("s3", "sync", "--delete", "--exclude", "*.log", src,
                     url).stdout
    assert "delete: s3://" in out, out
    assert remote_keys(server, cli_bucket) == ["s/sub/x.bin"]
    head = server.aws_json("s3api", "head-object", "--bucket", cli_bucket,
                           "--key", "s/sub/x.bin")
    assert head["ContentLength"] == 6000

    # Down, with --delete removing a local file that is not in the bucket.
    dst = tmp_path / "down"
    dst.mkdir()
    (dst / "stale.txt").write_bytes(b"old")
    server.aws("s3", "sync", "--delete", url, dst)
    assert not (dst / "stale.txt").exists()
    assert (dst / "sub/x.bin").read_bytes() == b"y" * 6000


def test_mv_local_remote_and_back(server, cli_bucket, tmp_path):
    src = tmp_path / "m.bin"
    body = random_bytes(40_000)
    src.write_bytes(body)
    server.aws("s3", "mv", src, f"s3://{cli_bucket}/one/m.bin")
    assert not src.exists()
    server.aws("s3", "mv", f"s3://{cli_bucket}/one/m.bin",
               f"s3://{cli_bucket}/two/m.bin")
    assert remote_keys(server, cli_bucket) == ["two/m.bin"]
    back = tmp_path / "back.bin"
    server.aws("s3", "mv", f"s3://{cli_bucket}/two/m.bin", back)
    assert back.read_bytes() == body
    assert remote_keys(server, cli_bucket) == []
    # --recursive moves a whole prefix.
    for i in range(3):
        server.aws("s3api", "put-object", "--bucket", cli_bucket, "--key",
                   f"p/{i}", "--body", str(back))
    server.aws("s3", "mv", "--recursive", f"s3://{cli_bucket}/p/",
               f"s3://{cli_bucket}/q/")
    assert remote_keys(server, cli_bucket) == ["q/0", "q/1", "q/2"]
