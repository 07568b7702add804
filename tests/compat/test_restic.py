"""restic (Debian's package), a real backup tool, on a versioned bucket with
Object Lock: init, backup, check (reading every pack back), a second
backup, forget, prune, check again, restore, byte for byte.

restic deletes what it prunes without version ids, so in a versioned,
locked bucket its deletes become delete markers and every version it wrote
stays, locked by the bucket's default retention: the repository is whole
after each step, and every pack restic ever wrote is still there to read
by version id (what protects backups from a compromised client).

The repository is configured only through environment variables, with a
HOME of its own; restic talks to nothing but the loopback endpoint.
Skipped only when restic is not installed (scripts/test.sh installs it).
"""

import hashlib
import os
import shutil
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import (LOOPBACK, _client_env, error_code, random_bytes,
                      unique_bucket_name)

RESTIC = shutil.which("restic")
pytestmark = pytest.mark.skipif(RESTIC is None, reason="restic not installed")
RESTIC_TIMEOUT = 300


class Restic:
    def __init__(self, server, bucket, home):
        assert server.endpoint.startswith(f"http://{LOOPBACK}:")
        self.server = server
        home.mkdir(parents=True, exist_ok=True)
        env = _client_env()
        env.update({
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / "cache"),
            "RESTIC_REPOSITORY": f"s3:{server.endpoint}/{bucket}/repo",
            "RESTIC_PASSWORD": "correct horse battery staple",
            "AWS_ACCESS_KEY_ID": server.access_key,
            "AWS_SECRET_ACCESS_KEY": server.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        })
        self.env = env

    def __call__(self, *args, check=True):
        cmd = [RESTIC, *[str(a) for a in args]]
        result = subprocess.run(cmd, env=self.env, capture_output=True,
                                timeout=RESTIC_TIMEOUT, text=True)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {result.returncode}\n"
                f"stdout: {result.stdout[-3000:]}\n"
                f"stderr: {result.stderr[-3000:]}\n"
                f"server log:\n{self.server.log_tail(30)}")
        return result


def tree_digest(root):
    """(relative path, sha256) of every file under root, sorted."""
    out = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out.append((os.path.relpath(p, root),
                            hashlib.sha256(fh.read()).hexdigest()))
    return sorted(out)


def test_restic_backup_check_forget_prune_on_a_locked_bucket(server, s3,
                                                             tmp_path):
    bucket = unique_bucket_name("restic")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    restic = Restic(server, bucket, tmp_path / "home")
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "small.txt").write_bytes(b"hello restic\n")
    (data / "sub" / "big.bin").write_bytes(random_bytes(3 * 1024 * 1024))
    (data / "sub" / "empty").write_bytes(b"")

    restic("init")
    restic("backup", data)
    restic("check", "--read-data")
    first = tree_digest(data)

    (data / "small.txt").write_bytes(b"changed\n")
    (data / "new.bin").write_bytes(random_bytes(700 * 1024))
    restic("backup", data)
    snapshots = restic("snapshots", "--json").stdout
    assert snapshots.count('"id"') == 2, snapshots

    # Forget the first snapshot and prune what only it used: restic's
    # deletes become delete markers, the repository stays consistent.
    restic("forget", "--keep-last", "1", "--prune")
    restic("check", "--read-data")
    assert restic("snapshots", "--json").stdout.count('"id"') == 1

    out = tmp_path / "restore"
    restic("restore", "latest", "--target", out)
    restored = out / str(data).lstrip("/")
    assert tree_digest(restored) == tree_digest(data)
    assert tree_digest(restored) != first

    # Every version restic wrote is kept and locked: the deletes of prune
    # and forget left markers, and a version cannot be removed by id.
    listing = s3.list_object_versions(Bucket=bucket, Prefix="repo/")
    markers = listing.get("DeleteMarkers", [])
    versions = listing["Versions"]
    assert markers, "prune and forget deleted files: markers now hide them"
    hidden = {m["Key"] for m in markers if m["IsLatest"]}
    old = next(v for v in versions if v["Key"] in hidden)
    body = s3.get_object(Bucket=bucket, Key=old["Key"],
                         VersionId=old["VersionId"])["Body"].read()
    assert len(body) == old["Size"]
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key=old["Key"],
                         VersionId=old["VersionId"])
    assert error_code(e.value) == "AccessDenied"
