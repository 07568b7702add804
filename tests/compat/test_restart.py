"""Data survives clean shutdowns (SIGTERM, SIGINT) and crashes (SIGKILL)."""

import signal

import pytest
from boto3.s3.transfer import TransferConfig

from conftest import KIB, MIB, random_bytes, unique_bucket_name


def populate(server, tmp_path):
    s3 = server.client()
    buckets = [unique_bucket_name("restart-a"), unique_bucket_name("restart-b")]
    for b in buckets:
        s3.create_bucket(Bucket=b)
    bodies = {
        (buckets[0], "inline-1k"): random_bytes(KIB),
        (buckets[0], "coded-5m"): random_bytes(5 * MIB),
        (buckets[1], "dir/multipart-20m"): random_bytes(20 * MIB + 7),
    }
    s3.put_object(Bucket=buckets[0], Key="inline-1k",
                  Body=bodies[(buckets[0], "inline-1k")],
                  ContentType="text/x-inline", Metadata={"k": "v"})
    s3.put_object(Bucket=buckets[0], Key="coded-5m",
                  Body=bodies[(buckets[0], "coded-5m")])
    src = tmp_path / "mp.bin"
    src.write_bytes(bodies[(buckets[1], "dir/multipart-20m")])
    s3.upload_file(str(src), buckets[1], "dir/multipart-20m",
                   Config=TransferConfig(multipart_threshold=8 * MIB,
                                         multipart_chunksize=8 * MIB))
    # Tags are acknowledged writes like any other.
    s3.put_object_tagging(Bucket=buckets[0], Key="inline-1k", Tagging={
        "TagSet": [{"Key": "kept", "Value": "yes"}]})
    s3.put_bucket_tagging(Bucket=buckets[1], Tagging={
        "TagSet": [{"Key": "team", "Value": "storage"}]})
    etags = {k: s3.head_object(Bucket=k[0], Key=k[1])["ETag"] for k in bodies}
    assert etags[(buckets[1], "dir/multipart-20m")].endswith('-3"')
    return bodies, etags


def bucket_names(s3):
    return sorted(b["Name"] for b in s3.list_buckets()["Buckets"])


def check(server, bodies, etags, names):
    s3 = server.client()
    assert bucket_names(s3) == names
    for (bucket, key), body in bodies.items():
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["ETag"] == etags[(bucket, key)]
        assert got["Body"].read() == body, (bucket, key)
    head = s3.head_object(Bucket=next(iter(bodies))[0], Key="inline-1k")
    assert head["ContentType"] == "text/x-inline"
    assert head["Metadata"] == {"k": "v"}
    assert head["TagCount"] == 1
    (first, key), _, (second, _) = bodies
    assert s3.get_object_tagging(Bucket=first, Key=key)["TagSet"] == [
        {"Key": "kept", "Value": "yes"}]
    assert s3.get_bucket_tagging(Bucket=second)["TagSet"] == [
        {"Key": "team", "Value": "storage"}]


@pytest.mark.slow
def test_clean_restart_keeps_everything(server_factory, tmp_path):
    server = server_factory.new()
    bodies, etags = populate(server, tmp_path)
    names = bucket_names(server.client())

    code = server.stop(sig=signal.SIGTERM, timeout=30)
    assert code == 0, f"SIGTERM exit code {code}\n{server.log_tail()}"
    server.start()
    check(server, bodies, etags, names)

    # Writes after a restart work, and SIGINT is a clean shutdown too.
    server.client().put_object(Bucket=names[0], Key="second-life",
                               Body=b"after restart")
    code = server.stop(sig=signal.SIGINT, timeout=30)
    assert code == 0, f"SIGINT exit code {code}\n{server.log_tail()}"
    server.start()
    check(server, bodies, etags, names)
    assert server.client().get_object(Bucket=names[0], Key="second-life")[
        "Body"].read() == b"after restart"


@pytest.mark.slow
def test_acknowledged_writes_survive_sigkill(server_factory, tmp_path):
    server = server_factory.new()
    bodies, etags = populate(server, tmp_path)
    names = bucket_names(server.client())
    server.kill()
    server.start()
    check(server, bodies, etags, names)
