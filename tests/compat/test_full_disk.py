"""Full disks: a PUT that cannot be placed fails clearly; nothing stored is hurt.

The nodes are told to keep more free space than any disk has
(`--node-reserve-bytes`), which makes every disk "full" for new chunks
without filling the test machine's disk.
"""

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import KIB, MIB, http_status, random_bytes, unique_bucket_name

EVERYTHING = str(1 << 50)  # a petabyte of reserve: no disk has that free


@pytest.fixture
def full_setup(server_factory, request):
    server = server_factory.new()
    bucket = unique_bucket_name(request.node.name)
    server.client().create_bucket(Bucket=bucket)
    return server, bucket


def no_retries(server):
    # A 507 is not retried by botocore anyway; be explicit so the test is fast.
    return server.client(config=Config(retries={"max_attempts": 1}))


def test_full_disks_refuse_new_chunks_and_keep_old_ones(full_setup):
    server, bucket = full_setup
    s3 = server.client()
    old = random_bytes(3 * MIB)
    s3.put_object(Bucket=bucket, Key="old", Body=old)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")

    server.extra_args = ["--node-reserve-bytes", EVERYTHING]
    server.restart()
    s3 = no_retries(server)

    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="new", Body=random_bytes(MIB))
    assert err.value.response["Error"]["Code"] == "InsufficientStorage"
    assert http_status(err.value) == 507
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
                       PartNumber=1, Body=random_bytes(5 * MIB))
    assert http_status(err.value) == 507
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="new")
    assert http_status(err.value) == 404

    # What was stored is still served, and small objects (kept in the
    # metadata row, no chunks) are still accepted.
    assert s3.get_object(Bucket=bucket, Key="old")["Body"].read() == old
    s3.put_object(Bucket=bucket, Key="small", Body=b"x" * (4 * KIB))
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"x" * (4 * KIB)

    # Room again: writes work again.
    server.extra_args = []
    server.restart()
    s3 = server.client()
    body = random_bytes(MIB)
    s3.put_object(Bucket=bucket, Key="new", Body=body)
    assert s3.get_object(Bucket=bucket, Key="new")["Body"].read() == body
