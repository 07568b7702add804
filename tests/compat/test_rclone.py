"""rclone (Debian's package) against the plain-HTTP server.

The remote is configured only through environment variables
(`RCLONE_CONFIG_SHALE_*`: type s3, provider Other, the loopback endpoint,
the keys, the region) with an empty config file, so a developer's own
rclone config cannot leak in and rclone talks to nothing but the loopback
endpoint. One setting differs from rclone's defaults: `upload_cutoff` is
64 MiB instead of 200 MiB, so that the suite's 100 MiB file goes up as a
multipart upload (rclone's own 5 MiB parts) without a 200 MiB test file.
Skipped only when rclone is not installed (scripts/test.sh installs it).
"""

import json
import shutil
import subprocess

import pytest

from conftest import (LOOPBACK, MIB, _client_env, file_sha256, md5_hex,
                      random_bytes, unique_bucket_name)

RCLONE = shutil.which("rclone")
pytestmark = pytest.mark.skipif(RCLONE is None, reason="rclone not installed")
RCLONE_TIMEOUT = 600


class Rclone:
    def __init__(self, server, home):
        assert server.endpoint.startswith(f"http://{LOOPBACK}:")
        self.server = server
        home.mkdir(parents=True, exist_ok=True)
        config = home / "rclone.conf"
        config.write_text("")
        env = _client_env()
        env.update({
            "HOME": str(home),
            "RCLONE_CONFIG": str(config),
            "RCLONE_CONFIG_SHALE_TYPE": "s3",
            "RCLONE_CONFIG_SHALE_PROVIDER": "Other",
            "RCLONE_CONFIG_SHALE_ENDPOINT": server.endpoint,
            "RCLONE_CONFIG_SHALE_ACCESS_KEY_ID": server.access_key,
            "RCLONE_CONFIG_SHALE_SECRET_ACCESS_KEY": server.secret_key,
            "RCLONE_CONFIG_SHALE_REGION": "us-east-1",
            "RCLONE_CONFIG_SHALE_UPLOAD_CUTOFF": "64Mi",
        })
        self.env = env

    def __call__(self, *args, check=True):
        cmd = [RCLONE, "--retries", "1", "--low-level-retries", "1",
               *[str(a) for a in args]]
        result = subprocess.run(cmd, env=self.env, capture_output=True,
                                timeout=RCLONE_TIMEOUT)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {result.returncode}\n"
                f"stdout: {result.stdout[-3000:]!r}\n"
                f"stderr: {result.stderr[-3000:]!r}\n"
                f"server log:\n{self.server.log_tail(30)}")
        return result

    def json(self, *args):
        return json.loads(self(*args).stdout)


@pytest.fixture
def rclone(server, tmp_path):
    return Rclone(server, tmp_path / "rclone-home")


@pytest.fixture
def rbucket(rclone, request):
    name = unique_bucket_name(request.node.name)
    rclone("mkdir", f"shale:{name}")
    return name


def write_tree(root, files):
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root):
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_copy_tree_ls_cat_check(rclone, rbucket, tmp_path):
    files = {
        "a.txt": b"hello rclone\n",
        "empty": b"",
        "sub/b.bin": random_bytes(300_000),
        "sub/deeper/c.bin": random_bytes(5 * MIB + 7),
        "with space/d é.txt": b"unicode name",
    }
    src = tmp_path / "src"
    write_tree(src, files)
    remote = f"shale:{rbucket}/tree"
    rclone("copy", src, remote)

    listing = rclone.json("lsjson", "-R", "--files-only", remote)
    got = {e["Path"]: e["Size"] for e in listing}
    assert got == {k: len(v) for k, v in files.items()}

    # ls prints "size path" per object.
    ls = rclone("ls", remote).stdout.decode()
    lines = {line.split(maxsplit=1)[1]: int(line.split(maxsplit=1)[0])
             for line in ls.splitlines()}
    assert lines == {k: len(v) for k, v in files.items()}

    size = rclone.json("size", "--json", remote)
    assert size["count"] == len(files)
    assert size["bytes"] == sum(len(v) for v in files.values())

    assert rclone("cat", f"{remote}/a.txt").stdout == files["a.txt"]
    assert rclone("cat", f"{remote}/empty").stdout == b""

    # md5sum reads ETags: single-part objects' MD5s.
    sums = rclone("md5sum", remote).stdout.decode()
    md5s = {line.split(maxsplit=1)[1]: line.split(maxsplit=1)[0]
            for line in sums.splitlines()}
    assert md5s == {k: md5_hex(v) for k, v in files.items()}

    # check compares sizes and MD5s (ETags) of every file: must agree.
    rclone("check", src, remote)

    dst = tmp_path / "dst"
    rclone("copy", remote, dst)
    assert read_tree(dst) == files

    # A changed file is noticed by check.
    (src / "a.txt").write_bytes(b"changed!!!!!!")
    assert rclone("check", src, remote, check=False).returncode != 0


@pytest.mark.slow
def test_multipart_up_and_down(rclone, rbucket, tmp_path, big_data):
    src = tmp_path / "src"
    src.mkdir()
    data = big_data + b"tail"  # 100 MiB + 4 bytes: above upload_cutoff
    (src / "big.bin").write_bytes(data)
    remote = f"shale:{rbucket}/up"
    rclone("copy", src, remote)

    listing = rclone.json("lsjson", "--hash", remote)
    assert [(e["Path"], e["Size"]) for e in listing] == [("big.bin",
                                                          len(data))]
    # rclone records the MD5 of a multipart upload in its metadata
    # (X-Amz-Meta-Md5chksum) since the ETag is not one.
    assert listing[0]["Hashes"]["md5"] == md5_hex(data)
    head = rclone.server.client().head_object(Bucket=rbucket,
                                              Key="up/big.bin")
    assert head["ETag"].strip('"').endswith("-21"), head["ETag"]
    rclone("check", src, remote)

    dst = tmp_path / "dst"
    rclone("copy", remote, dst)
    assert file_sha256(dst / "big.bin") == file_sha256(src / "big.bin")


def test_sync_with_deletions_and_purge(rclone, rbucket, tmp_path):
    src = tmp_path / "src"
    write_tree(src, {"keep.txt": b"keep", "gone.txt": b"gone",
                     "dir/x": b"x", "dir/y": random_bytes(100_000)})
    remote = f"shale:{rbucket}/mirror"
    rclone("sync", src, remote)

    (src / "gone.txt").unlink()
    (src / "dir/x").unlink()
    (src / "dir/y").write_bytes(b"now small")
    (src / "new.txt").write_bytes(b"new")
    rclone("sync", src, remote)

    listing = rclone.json("lsjson", "-R", "--files-only", remote)
    assert sorted(e["Path"] for e in listing) == ["dir/y", "keep.txt",
                                                  "new.txt"]
    assert rclone("cat", f"{remote}/dir/y").stdout == b"now small"
    rclone("check", src, remote)

    rclone("deletefile", f"{remote}/new.txt")
    rclone("delete", f"{remote}/dir")
    listing = rclone.json("lsjson", "-R", "--files-only", remote)
    assert [e["Path"] for e in listing] == ["keep.txt"]

    rclone("purge", f"shale:{rbucket}")
    s3 = rclone.server.client()
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert rbucket not in names


def test_lsd_and_rmdir(rclone, rbucket):
    buckets = rclone("lsd", "shale:").stdout.decode()
    assert rbucket in buckets
    rclone("rmdir", f"shale:{rbucket}")
    assert rbucket not in rclone("lsd", "shale:").stdout.decode()
