"""ListObjectsV2: pagination, prefixes, delimiters, encoding."""

import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import unique_bucket_name

N_KEYS = 1105


@pytest.fixture(scope="module")
def many(s3):
    bucket = unique_bucket_name("many")
    s3.create_bucket(Bucket=bucket)
    keys = [f"key-{i:05d}" for i in range(N_KEYS)]

    def put(key):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, keys))
    return bucket, keys


def test_pagination_with_continuation_tokens(s3, many):
    bucket, keys = many
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"Bucket": bucket, "MaxKeys": 1000}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        pages += 1
        contents = page.get("Contents", [])
        assert page["KeyCount"] == len(contents)
        assert len(contents) <= 1000
        seen += [o["Key"] for o in contents]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
        assert pages < 10, "pagination does not terminate"
    assert pages == 2
    assert seen == keys  # every key exactly once, in order


def test_first_page_is_full_and_sizes_are_right(s3, many):
    bucket, keys = many
    page = s3.list_objects_v2(Bucket=bucket)  # default MaxKeys is 1000
    assert page["IsTruncated"] is True
    assert page["KeyCount"] == 1000
    first = page["Contents"][0]
    assert first["Key"] == keys[0]
    assert first["Size"] == len(keys[0])
    assert first["ETag"].startswith('"')


def test_paginator(s3, many):
    bucket, keys = many
    paginator = s3.get_paginator("list_objects_v2")
    seen = [o["Key"] for page in paginator.paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
    assert seen == keys
    small_pages = list(paginator.paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 250}))
    assert len(small_pages) == 5
    assert [o["Key"] for p in small_pages for o in p["Contents"]] == keys


def test_prefix_and_start_after(s3, many):
    bucket, keys = many
    page = s3.list_objects_v2(Bucket=bucket, Prefix="key-010")
    assert [o["Key"] for o in page["Contents"]] == \
        [k for k in keys if k.startswith("key-010")]
    assert page["KeyCount"] == 100

    page = s3.list_objects_v2(Bucket=bucket, StartAfter="key-01099")
    assert [o["Key"] for o in page["Contents"]] == keys[1100:]

    page = s3.list_objects_v2(Bucket=bucket, Prefix="nothing-here")
    assert page["KeyCount"] == 0 and "Contents" not in page


TREE = ["a/1", "a/2", "b/x/1", "c"]


@pytest.fixture
def tree(s3, bucket):
    for key in TREE:
        s3.put_object(Bucket=bucket, Key=key, Body=b"t")
    return bucket


def test_delimiter_common_prefixes(s3, tree):
    page = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert [o["Key"] for o in page.get("Contents", [])] == ["c"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/", "b/"]
    assert page["KeyCount"] == 3

    page = s3.list_objects_v2(Bucket=tree, Delimiter="/", Prefix="b/")
    assert "Contents" not in page
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["b/x/"]

    page = s3.list_objects_v2(Bucket=tree, Delimiter="/", Prefix="a/")
    assert [o["Key"] for o in page["Contents"]] == ["a/1", "a/2"]
    assert not page.get("CommonPrefixes")


def test_delimiter_paginates_over_prefixes(s3, tree):
    paginator = s3.get_paginator("list_objects_v2")
    keys, prefixes = [], []
    for page in paginator.paginate(Bucket=tree, Delimiter="/",
                                   PaginationConfig={"PageSize": 1}):
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert keys == ["c"]
    assert prefixes == ["a/", "b/"]


ODD_KEYS = ["with space/file one.txt", "ünïcødé/ключ", "plus+sign", "tab\tkey",
            "amp&eq=", "semi;colon"]


def test_encoding_type_url(s3, bucket):
    for key in ODD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"e")
    expected = sorted(ODD_KEYS, key=lambda k: k.encode())

    # Explicit EncodingType=url: boto3 leaves the keys encoded.
    page = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert page.get("EncodingType") == "url"
    raw = [o["Key"] for o in page["Contents"]]
    for key in raw:
        assert " " not in key and "\t" not in key and key.isascii(), raw
    assert [urllib.parse.unquote_plus(k) for k in raw] == expected

    # Default: boto3 asks for url encoding itself and decodes the answer.
    page = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in page["Contents"]] == expected

    page = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == \
        ["with space/", "ünïcødé/"]
    page = s3.list_objects_v2(Bucket=bucket, Prefix="ünïcødé/")
    assert [o["Key"] for o in page["Contents"]] == ["ünïcødé/ключ"]


def test_list_objects_v1_marker(s3, tree):
    page = s3.list_objects(Bucket=tree, MaxKeys=2)
    assert [o["Key"] for o in page["Contents"]] == ["a/1", "a/2"]
    assert page["IsTruncated"] is True
    rest = s3.list_objects(Bucket=tree, Marker="a/2")
    assert [o["Key"] for o in rest["Contents"]] == ["b/x/1", "c"]
