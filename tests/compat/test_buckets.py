"""Bucket lifecycle as an S3 user sees it."""

import pytest
from botocore.exceptions import ClientError

from conftest import assert_client_error, http_status, unique_bucket_name


def bucket_names(s3):
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_create_list_head_location_delete(s3):
    name = unique_bucket_name("lifecycle")
    resp = s3.create_bucket(Bucket=name)
    assert http_status(resp) == 200

    assert name in bucket_names(s3)
    assert http_status(s3.head_bucket(Bucket=name)) == 200
    # us-east-1 is reported as an empty LocationConstraint, which boto3
    # parses as None.
    location = s3.get_bucket_location(Bucket=name)
    assert location.get("LocationConstraint") in (None, "")

    assert http_status(s3.delete_bucket(Bucket=name)) == 204
    assert name not in bucket_names(s3)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert_client_error(exc, 404)


def test_list_buckets_shows_creation_dates(s3):
    name = unique_bucket_name("dates")
    s3.create_bucket(Bucket=name)
    listed = {b["Name"]: b for b in s3.list_buckets()["Buckets"]}
    assert listed[name]["CreationDate"] is not None


def test_delete_non_empty_bucket_is_refused(s3):
    name = unique_bucket_name("nonempty")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="keep-me", Body=b"data")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert_client_error(exc, 409, "BucketNotEmpty")
    # Still there, object intact.
    assert name in bucket_names(s3)
    assert s3.get_object(Bucket=name, Key="keep-me")["Body"].read() == b"data"

    s3.delete_object(Bucket=name, Key="keep-me")
    s3.delete_bucket(Bucket=name)
    assert name not in bucket_names(s3)


def test_head_missing_bucket_is_404(s3):
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=unique_bucket_name("missing"))
    assert_client_error(exc, 404)


def test_operations_on_missing_bucket_say_no_such_bucket(s3):
    name = unique_bucket_name("missing")
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=name)
    assert_client_error(exc, 404, "NoSuchBucket")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert_client_error(exc, 404, "NoSuchBucket")


def test_create_existing_bucket_is_already_owned_by_you(s3):
    # Note: AWS itself answers 200 here in us-east-1 for legacy reasons; the
    # project chose the error every other region (and MinIO) returns.
    name = unique_bucket_name("twice")
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert_client_error(exc, 409, "BucketAlreadyOwnedByYou")


@pytest.mark.parametrize("bad", ["ab", "UPPER-case", "a" * 64, "bad_underscore",
                                 "-leading-dash"])
def test_invalid_bucket_names_are_rejected(s3, bad):
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=bad)
    assert_client_error(exc, 400, "InvalidBucketName")
    assert bad not in bucket_names(s3)
