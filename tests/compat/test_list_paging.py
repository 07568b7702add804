"""Listing as S3 pages it: ListObjects v1 (marker, NextMarker only with a
delimiter), ListObjectsV2 (start-after, fetch-owner), encoding-type=url,
ListMultipartUploads and ListParts paging; the AWS CLI's own paging."""

import urllib.parse

import pytest

from conftest import KIB, random_bytes, unique_bucket_name

KEYS = ["a/1", "a/2", "a/3", "b/x/1", "b/y", "c", "d e/f+g", "ü/ключ", "z%41"]


@pytest.fixture(scope="module")
def tree(s3):
    name = unique_bucket_name("paging")
    s3.create_bucket(Bucket=name)
    for key in KEYS:
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
    return name


def _sorted(keys):
    return sorted(keys, key=lambda k: k.encode())


def test_v1_pages_without_delimiter_have_no_next_marker(s3, tree):
    seen, marker = [], ""
    while True:
        page = s3.list_objects(Bucket=tree, MaxKeys=2, Marker=marker)
        keys = [o["Key"] for o in page.get("Contents", [])]
        assert len(keys) <= 2
        assert "NextMarker" not in page
        assert page["Marker"] == marker
        # Owner is always there in v1.
        assert all("Owner" in o for o in page.get("Contents", []))
        seen += keys
        if not page["IsTruncated"]:
            break
        marker = keys[-1]
    assert seen == _sorted(KEYS)


def test_v1_delimiter_pages_with_next_marker(s3, tree):
    seen, prefixes, marker = [], [], ""
    while True:
        page = s3.list_objects(Bucket=tree, MaxKeys=2, Delimiter="/",
                               Marker=marker)
        seen += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
    assert prefixes == ["a/", "b/", "d e/", "ü/"]
    assert seen == ["c", "z%41"]
    # A marker that is a common prefix skips everything under it.
    page = s3.list_objects(Bucket=tree, Delimiter="/", Marker="a/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]][0] == "b/"


def test_v1_url_encoding(s3, tree):
    page = s3.list_objects(Bucket=tree, EncodingType="url", Delimiter="/",
                           Prefix="d e/", Marker="d e/")
    assert page["EncodingType"] == "url"
    assert page["Prefix"] == "d+e/"
    assert page["Marker"] == "d+e/"
    assert [o["Key"] for o in page["Contents"]] == ["d+e/f%2Bg"]
    page = s3.list_objects(Bucket=tree, EncodingType="url", MaxKeys=1,
                           Delimiter="/", Marker="c")
    assert page["NextMarker"] == "d+e/"


def test_v2_start_after_and_fetch_owner(s3, tree):
    page = s3.list_objects_v2(Bucket=tree, StartAfter="b/x/1")
    assert [o["Key"] for o in page["Contents"]] == _sorted(KEYS)[4:]
    assert page["StartAfter"] == "b/x/1"
    assert all("Owner" not in o for o in page["Contents"])
    page = s3.list_objects_v2(Bucket=tree, FetchOwner=True, MaxKeys=3)
    assert all(o["Owner"]["ID"] for o in page["Contents"])
    # The token wins over start-after on later pages.
    nxt = s3.list_objects_v2(Bucket=tree, StartAfter="a",
                             ContinuationToken=page["NextContinuationToken"])
    assert [o["Key"] for o in nxt["Contents"]] == _sorted(KEYS)[3:]
    raw = s3.list_objects_v2(Bucket=tree, StartAfter="d e/", EncodingType="url")
    assert raw["StartAfter"] == "d+e/"
    assert raw["Contents"][0]["Key"] == "d+e/f%2Bg"


@pytest.fixture
def uploads(s3, bucket):
    made = []
    for key in ["k1", "k1", "k2", "k 3/x", "k 3/y", "k4"]:
        up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        made.append((key, up))
    return bucket, sorted(made, key=lambda u: (u[0].encode(), u[1]))


def test_list_multipart_uploads_paging(s3, uploads):
    bucket, made = uploads
    seen, km, uim = [], "", ""
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2,
                                         KeyMarker=km, UploadIdMarker=uim)
        got = [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        assert len(got) <= 2 and page["MaxUploads"] == 2
        seen += got
        if not page["IsTruncated"]:
            break
        km, uim = page["NextKeyMarker"], page["NextUploadIdMarker"]
        assert (km, uim) == got[-1]
    assert seen == made
    # Only a key marker: uploads of later keys only.
    page = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="k1")
    assert [u["Key"] for u in page["Uploads"]] == ["k2", "k4"]


def test_list_multipart_uploads_url_encoding(s3, uploads):
    bucket, made = uploads
    page = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url",
                                     Delimiter="/", KeyMarker="k 3",
                                     MaxUploads=1)
    assert page["EncodingType"] == "url"
    assert page["KeyMarker"] == "k+3"
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["k+3/"]
    assert page["NextKeyMarker"] == "k+3/"
    page = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url",
                                     Prefix="k 3/")
    assert page["Prefix"] == "k+3/"
    assert [u["Key"] for u in page["Uploads"]] == ["k+3/x", "k+3/y"]


def test_list_parts_paging(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="p")["UploadId"]
    for n in range(1, 6):
        s3.upload_part(Bucket=bucket, Key="p", UploadId=up, PartNumber=n,
                       Body=random_bytes(KIB))
    seen, marker = [], 0
    while True:
        page = s3.list_parts(Bucket=bucket, Key="p", UploadId=up, MaxParts=2,
                             PartNumberMarker=marker)
        numbers = [p["PartNumber"] for p in page.get("Parts", [])]
        assert page["MaxParts"] == 2
        seen += numbers
        if not page["IsTruncated"]:
            break
        marker = page["NextPartNumberMarker"]
        assert marker == numbers[-1]
    assert seen == [1, 2, 3, 4, 5]
    rest = s3.list_parts(Bucket=bucket, Key="p", UploadId=up,
                         PartNumberMarker=3)
    assert [p["PartNumber"] for p in rest["Parts"]] == [4, 5]
    assert rest["PartNumberMarker"] == 3


def test_cli_paginates_v1_and_v2(server, tree):
    v1 = server.aws_json("s3api", "list-objects", "--bucket", tree,
                         "--page-size", "2")
    assert [o["Key"] for o in v1["Contents"]] == _sorted(KEYS)
    v2 = server.aws_json("s3api", "list-objects-v2", "--bucket", tree,
                         "--page-size", "3")
    assert [o["Key"] for o in v2["Contents"]] == _sorted(KEYS)
    ls = server.aws("s3", "ls", "--recursive", f"s3://{tree}/").stdout
    for key in KEYS:
        assert key in ls
