"""Bucket lifecycle configuration: Put/Get/DeleteBucketLifecycleConfiguration
with boto3 and the AWS CLI, every rule shape read back, and S3's checks
with its error codes, sent as raw XML so that each malformed document
reaches the server as written (boto3 would refuse some of them itself)."""

import base64
import datetime
import hashlib
import re

import pytest
from botocore.exceptions import ClientError

from conftest import (assert_client_error, assert_s3_error, raw_request,
                      sigv4_headers, unique_bucket_name)

MALFORMED = ("The XML you provided was not well-formed or did not validate "
             "against our published schema")


def get_rules(s3, bucket):
    return s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]


def assert_no_configuration(s3, bucket):
    with pytest.raises(ClientError) as err:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert_client_error(err, 404, "NoSuchLifecycleConfiguration")
    assert err.value.response["Error"]["Message"] == \
        "The lifecycle configuration does not exist"


def put_xml(server, bucket, body, headers=None):
    """PUT ?lifecycle with `body` as given, signed; (status, headers, body)."""
    data = body.encode()
    h = {"Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode(),
         "Content-Type": "application/xml", **(headers or {})}
    path = f"/{bucket}?lifecycle"
    signed = sigv4_headers(server, "PUT", path, h)
    return raw_request(server.endpoint, "PUT", path, headers=signed,
                       body=data)


def config(*rules):
    return ("<LifecycleConfiguration xmlns="
            "\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            + "".join(rules) + "</LifecycleConfiguration>")


def rule(body, status="Enabled", rule_id=None):
    rid = "" if rule_id is None else f"<ID>{rule_id}</ID>"
    return f"<Rule>{rid}<Status>{status}</Status>{body}</Rule>"


EXPIRE = "<Expiration><Days>1</Days></Expiration>"
ALL = "<Filter></Filter>"


def tag(k, v):
    return f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>"


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------


def test_rule_shapes_round_trip(s3, bucket):
    assert_no_configuration(s3, bucket)
    rules = [
        {"ID": "prefix-days", "Status": "Enabled",
         "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}},
        {"ID": "disabled", "Status": "Disabled",
         "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}},
        {"ID": "tag-date", "Status": "Enabled",
         "Filter": {"Tag": {"Key": "class", "Value": "scratch"}},
         "Expiration": {"Date": datetime.datetime(
             2031, 1, 1, tzinfo=datetime.timezone.utc)}},
        {"ID": "and", "Status": "Enabled",
         "Filter": {"And": {
             "Prefix": "data/",
             "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}],
             "ObjectSizeGreaterThan": 100,
             "ObjectSizeLessThan": 5000}},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 7,
                                         "NewerNoncurrentVersions": 3}},
        {"ID": "big", "Status": "Enabled",
         "Filter": {"ObjectSizeGreaterThan": 1048576},
         "Expiration": {"Days": 365}},
        {"ID": "small", "Status": "Enabled",
         "Filter": {"ObjectSizeLessThan": 1},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
        {"ID": "uploads", "Status": "Enabled",
         "Filter": {"Prefix": "up/"},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
        {"ID": "markers", "Status": "Enabled", "Filter": {"Prefix": ""},
         "Expiration": {"ExpiredObjectDeleteMarker": True},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 30}},
        {"ID": "everything", "Status": "Enabled", "Filter": {},
         "Expiration": {"Days": 3650},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
    ]
    resp = s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["TransitionDefaultMinimumObjectSize"] == \
        "all_storage_classes_128K"

    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert got["TransitionDefaultMinimumObjectSize"] == \
        "all_storage_classes_128K"
    expected = [dict(r) for r in rules]
    # An empty filter reads back as the empty prefix it is.
    expected[-1]["Filter"] = {"Prefix": ""}
    assert got["Rules"] == expected


def test_replacing_and_the_cli(server, s3, bucket):
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "a", "Status": "Enabled", "Filter": {"Prefix": "a/"},
             "Expiration": {"Days": 1}},
            {"ID": "b", "Status": "Enabled", "Filter": {"Prefix": "b/"},
             "Expiration": {"Days": 2}}]})
    # A PUT replaces the whole configuration.
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "c", "Status": "Enabled",
             "Filter": {"Tag": {"Key": "k", "Value": "v"}},
             "Expiration": {"Days": 3}}]})
    out = server.aws_json("s3api", "get-bucket-lifecycle-configuration",
                          "--bucket", bucket)
    assert out["Rules"] == [
        {"ID": "c", "Status": "Enabled",
         "Filter": {"Tag": {"Key": "k", "Value": "v"}},
         "Expiration": {"Days": 3}}]


def test_ids_are_made_up_when_missing(s3, bucket):
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"Status": "Enabled", "Filter": {"Prefix": "a/"},
             "Expiration": {"Days": 1}},
            {"Status": "Enabled", "Filter": {"Prefix": "b/"},
             "Expiration": {"Days": 1}},
            {"ID": "named", "Status": "Enabled", "Filter": {"Prefix": "c/"},
             "Expiration": {"Days": 1}}]})
    got = get_rules(s3, bucket)
    ids = [r["ID"] for r in got]
    assert ids[2] == "named"
    # As S3 makes them: 48 characters of base64.
    for made in ids[:2]:
        assert re.fullmatch(r"[A-Za-z0-9+/=]{48}", made), made
    assert ids[0] != ids[1]
    # The longest ID S3 takes.
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "i" * 255, "Status": "Enabled", "Filter": {},
             "Expiration": {"Days": 1}}]})
    assert get_rules(s3, bucket)[0]["ID"] == "i" * 255


def test_legacy_prefix_reads_back_as_a_filter(server, s3, bucket):
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "old", "Status": "Enabled", "Prefix": "old/",
             "Expiration": {"Days": 5}},
            {"ID": "older", "Status": "Enabled", "Prefix": "older/",
             "NoncurrentVersionExpiration": {"NoncurrentDays": 5}}]})
    assert get_rules(s3, bucket) == [
        {"ID": "old", "Status": "Enabled", "Filter": {"Prefix": "old/"},
         "Expiration": {"Days": 5}},
        {"ID": "older", "Status": "Enabled", "Filter": {"Prefix": "older/"},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 5}}]
    # A marker-only rule keeps its `false`.
    status, _, body = put_xml(server, bucket, config(rule(
        ALL + "<Expiration><ExpiredObjectDeleteMarker>false"
        "</ExpiredObjectDeleteMarker></Expiration>", rule_id="m")))
    assert status == 200, body
    assert get_rules(s3, bucket)[0]["Expiration"] == {
        "ExpiredObjectDeleteMarker": False}


def test_delete(s3, bucket):
    # Deleting what is not there is no error, as in S3.
    resp = s3.delete_bucket_lifecycle(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "a", "Status": "Enabled", "Filter": {},
             "Expiration": {"Days": 1}}]})
    assert len(get_rules(s3, bucket)) == 1
    resp = s3.delete_bucket_lifecycle(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_no_configuration(s3, bucket)
    resp = s3.delete_bucket_lifecycle(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_missing_bucket(s3):
    name = unique_bucket_name("nolifecycle")
    for call in (
            lambda: s3.get_bucket_lifecycle_configuration(Bucket=name),
            lambda: s3.delete_bucket_lifecycle(Bucket=name),
            lambda: s3.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": [
                    {"ID": "a", "Status": "Enabled", "Filter": {},
                     "Expiration": {"Days": 1}}]})):
        with pytest.raises(ClientError) as err:
            call()
        assert_client_error(err, 404, "NoSuchBucket")


def test_expiration_header_names_the_rule(s3, bucket):
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "keep a while", "Status": "Enabled",
             "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 2}},
            {"ID": "other", "Status": "Enabled",
             "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}]})
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"x")
    head = s3.head_object(Bucket=bucket, Key="logs/a")
    written = head["LastModified"].astimezone(datetime.timezone.utc)
    due = (written + datetime.timedelta(days=2)).replace(
        hour=0, minute=0, second=0, microsecond=0) + datetime.timedelta(days=1)
    expected = (f'expiry-date="{due.strftime("%a, %d %b %Y %H:%M:%S GMT")}", '
                'rule-id="keep a while"')
    assert put["Expiration"] == expected
    assert head["Expiration"] == expected
    # A key no rule selects has none.
    s3.put_object(Bucket=bucket, Key="data/a", Body=b"x")
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="data/a")


# --------------------------------------------------------------------------
# S3's checks
# --------------------------------------------------------------------------

INVALID = [
    # The rules: how many, their IDs and status.
    ("no rules", config(), "MalformedXML", None),
    ("1001 rules", config(*[rule(f"<Filter><Prefix>{i}/</Prefix></Filter>"
                                 + EXPIRE) for i in range(1001)]),
     "InvalidRequest",
     "The number of lifecycle rules must not exceed the allowed limit of "
     "1000 rules."),
    ("same id", config(rule(ALL + EXPIRE, rule_id="x"),
                       rule(ALL + EXPIRE, rule_id="x")),
     "InvalidArgument",
     "Rule ID must be unique. Found same ID for more than one rule"),
    ("long id", config(rule(ALL + EXPIRE, rule_id="i" * 256)),
     "InvalidArgument", "ID length should not exceed allowed limit of 255"),
    ("status", config(rule(ALL + EXPIRE, status="enabled")),
     "MalformedXML", MALFORMED),
    ("no status", config("<Rule>" + ALL + EXPIRE + "</Rule>"),
     "MalformedXML", None),
    # Which objects.
    ("no filter nor prefix", config(rule(EXPIRE)), "MalformedXML", None),
    ("filter and prefix", config(rule("<Prefix>a</Prefix>" + ALL + EXPIRE)),
     "MalformedXML", None),
    ("filter of two", config(rule(
        "<Filter><Prefix>a</Prefix>" + tag("k", "v") + "</Filter>" + EXPIRE)),
     "MalformedXML", None),
    ("filter of two sizes", config(rule(
        "<Filter><ObjectSizeGreaterThan>1</ObjectSizeGreaterThan>"
        "<ObjectSizeLessThan>9</ObjectSizeLessThan></Filter>" + EXPIRE)),
     "MalformedXML", None),
    ("and of one", config(rule(
        "<Filter><And><Prefix>a</Prefix></And></Filter>" + EXPIRE)),
     "MalformedXML", None),
    ("and of one tag", config(rule(
        "<Filter><And>" + tag("k", "v") + "</And></Filter>" + EXPIRE)),
     "MalformedXML", None),
    ("sizes reversed", config(rule(
        "<Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>"
        "<ObjectSizeLessThan>10</ObjectSizeLessThan></And></Filter>"
        + EXPIRE)),
     "InvalidRequest",
     "'ObjectSizeLessThan' has to be a value greater than "
     "'ObjectSizeGreaterThan'."),
    ("size zero", config(rule(
        "<Filter><ObjectSizeLessThan>0</ObjectSizeLessThan></Filter>"
        + EXPIRE)),
     "InvalidRequest",
     "'ObjectSizeLessThan' should be between 1 and 1099511627776000."),
    ("same tag key", config(rule(
        "<Filter><And>" + tag("k", "1") + tag("k", "2") + "</And></Filter>"
        + EXPIRE)),
     "InvalidRequest", "Duplicate Tag Keys are not allowed."),
    ("bad tag key", config(rule(
        "<Filter>" + tag("a,b", "1") + "</Filter>" + EXPIRE)),
     "InvalidTag", "The TagKey you have provided is invalid"),
    ("tag without value", config(rule(
        "<Filter><Tag><Key>k</Key></Tag></Filter>" + EXPIRE)),
     "MalformedXML", None),
    ("mixed v1 then v2", config(
        rule("<Prefix>a/</Prefix>" + EXPIRE),
        rule("<Filter><Prefix>b/</Prefix></Filter>" + EXPIRE)),
     "InvalidRequest", "Filter element can only be used in Lifecycle V2."),
    ("mixed v2 then v1", config(
        rule("<Filter><Prefix>b/</Prefix></Filter>" + EXPIRE),
        rule("<Prefix>a/</Prefix>" + EXPIRE)),
     "InvalidRequest",
     "Base level prefix cannot be used in Lifecycle V2, prefixes are only "
     "supported in the Filter."),
    ("newer versions in v1", config(rule(
        "<Prefix>a/</Prefix><NoncurrentVersionExpiration><NoncurrentDays>1"
        "</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions>"
        "</NoncurrentVersionExpiration>")),
     "InvalidRequest",
     "NewerNoncurrentVersions element can only be used in Lifecycle V2."),
    # The actions.
    ("no action", config(rule(ALL)), "InvalidRequest",
     "At least one action needs to be specified in a rule"),
    ("empty expiration", config(rule(ALL + "<Expiration></Expiration>")),
     "MalformedXML", None),
    ("zero days", config(rule(
        ALL + "<Expiration><Days>0</Days></Expiration>")),
     "InvalidArgument",
     "'Days' for Expiration action must be a positive integer"),
    ("negative days", config(rule(
        ALL + "<Expiration><Days>-1</Days></Expiration>")),
     "InvalidArgument",
     "'Days' for Expiration action must be a positive integer"),
    ("date not midnight", config(rule(
        ALL + "<Expiration><Date>2031-01-01T12:00:00Z</Date></Expiration>")),
     "InvalidArgument", "'Date' must be at midnight GMT"),
    ("date and days", config(rule(
        ALL + "<Expiration><Date>2031-01-01T00:00:00Z</Date><Days>1</Days>"
        "</Expiration>")),
     "MalformedXML", None),
    ("marker and days", config(rule(
        ALL + "<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true"
        "</ExpiredObjectDeleteMarker></Expiration>")),
     "MalformedXML", None),
    ("marker with a tag", config(rule(
        "<Filter>" + tag("k", "v") + "</Filter><Expiration>"
        "<ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>"
        "</Expiration>")),
     "InvalidRequest",
     "ExpiredObjectDeleteMarker cannot be specified with Tags."),
    ("marker with a size", config(rule(
        "<Filter><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></Filter>"
        "<Expiration><ExpiredObjectDeleteMarker>false"
        "</ExpiredObjectDeleteMarker></Expiration>")),
     "InvalidRequest",
     "ExpiredObjectDeleteMarker cannot be specified with Object Size."),
    ("noncurrent zero", config(rule(
        ALL + "<NoncurrentVersionExpiration><NoncurrentDays>0"
        "</NoncurrentDays></NoncurrentVersionExpiration>")),
     "InvalidArgument",
     "'NoncurrentDays' for NoncurrentVersionExpiration action must be a "
     "positive integer"),
    ("noncurrent without days", config(rule(
        ALL + "<NoncurrentVersionExpiration><NewerNoncurrentVersions>1"
        "</NewerNoncurrentVersions></NoncurrentVersionExpiration>")),
     "MalformedXML", None),
    ("newer zero", config(rule(
        ALL + "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
        "<NewerNoncurrentVersions>0</NewerNoncurrentVersions>"
        "</NoncurrentVersionExpiration>")),
     "InvalidArgument", None),
    ("newer 101", config(rule(
        ALL + "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
        "<NewerNoncurrentVersions>101</NewerNoncurrentVersions>"
        "</NoncurrentVersionExpiration>")),
     "InvalidArgument", None),
    ("abort zero", config(rule(
        ALL + "<AbortIncompleteMultipartUpload><DaysAfterInitiation>0"
        "</DaysAfterInitiation></AbortIncompleteMultipartUpload>")),
     "InvalidArgument",
     "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must "
     "be a positive integer"),
    ("abort without days", config(rule(
        ALL + "<AbortIncompleteMultipartUpload>"
        "</AbortIncompleteMultipartUpload>")),
     "MalformedXML", None),
    ("abort with a tag", config(rule(
        "<Filter><And><Prefix>a</Prefix>" + tag("k", "v") + "</And></Filter>"
        "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1"
        "</DaysAfterInitiation></AbortIncompleteMultipartUpload>")),
     "InvalidRequest",
     "AbortIncompleteMultipartUpload cannot be specified with Tags."),
    ("abort with a size", config(rule(
        "<Filter><ObjectSizeLessThan>5</ObjectSizeLessThan></Filter>"
        "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1"
        "</DaysAfterInitiation></AbortIncompleteMultipartUpload>")),
     "InvalidRequest",
     "AbortIncompleteMultipartUpload cannot be specified with Object Size."),
    ("transition", config(rule(
        ALL + "<Transition><Days>30</Days><StorageClass>GLACIER"
        "</StorageClass></Transition>")),
     "InvalidStorageClass", "The storage class you specified is not valid"),
    ("transition to standard", config(rule(
        ALL + EXPIRE + "<Transition><Days>30</Days><StorageClass>STANDARD"
        "</StorageClass></Transition>")),
     "InvalidStorageClass", "The storage class you specified is not valid"),
    ("noncurrent transition", config(rule(
        ALL + "<NoncurrentVersionTransition><NoncurrentDays>30"
        "</NoncurrentDays><StorageClass>STANDARD_IA</StorageClass>"
        "</NoncurrentVersionTransition>")),
     "InvalidStorageClass", "The storage class you specified is not valid"),
    ("not xml", "<LifecycleConfiguration><Rule>", "MalformedXML", None),
]


@pytest.mark.parametrize("case,body,code,message", INVALID,
                         ids=[c[0] for c in INVALID])
def test_invalid_configurations(server, s3, bucket, case, body, code,
                                message):
    resp = put_xml(server, bucket, body)
    status = 400
    assert_s3_error(resp, status, code, message=message)
    # Nothing was stored.
    assert_no_configuration(s3, bucket)


def test_refusal_keeps_the_configuration(server, s3, bucket):
    good = [{"ID": "keep", "Status": "Enabled", "Filter": {"Prefix": "k/"},
             "Expiration": {"Days": 9}}]
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": good})
    resp = put_xml(server, bucket, config(rule(ALL)))
    assert_s3_error(resp, 400, "InvalidRequest")
    assert get_rules(s3, bucket) == good


def test_limits_that_pass(server, s3, bucket):
    rules = [rule(f"<Filter><Prefix>{i}/</Prefix></Filter>" + EXPIRE)
             for i in range(1000)]
    status, _, body = put_xml(server, bucket, config(*rules))
    assert status == 200, body
    assert len(get_rules(s3, bucket)) == 1000
    # An And of an empty prefix and one tag is two predicates.
    status, _, body = put_xml(server, bucket, config(rule(
        "<Filter><And><Prefix></Prefix>" + tag("k", "v") + "</And></Filter>"
        + EXPIRE, rule_id="a")))
    assert status == 200, body
    # NewerNoncurrentVersions up to 100.
    status, _, body = put_xml(server, bucket, config(rule(
        ALL + "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
        "<NewerNoncurrentVersions>100</NewerNoncurrentVersions>"
        "</NoncurrentVersionExpiration>", rule_id="n")))
    assert status == 200, body


def test_transition_default_minimum_object_size(server, s3, bucket):
    body = config(rule(ALL + EXPIRE, rule_id="a"))
    resp = put_xml(server, bucket, body, headers={
        "x-amz-transition-default-minimum-object-size": "tiny"})
    assert_s3_error(resp, 400, "InvalidRequest",
                    message="Invalid TransitionDefaultMinimumObjectSize "
                            "found: tiny")
    status, headers, _ = put_xml(server, bucket, body, headers={
        "x-amz-transition-default-minimum-object-size":
            "varies_by_storage_class"})
    assert status == 200
    assert headers["x-amz-transition-default-minimum-object-size"] == \
        "varies_by_storage_class"


def test_empty_body_is_malformed(server, s3, bucket):
    path = f"/{bucket}?lifecycle"
    resp = raw_request(server.endpoint, "PUT", path,
                       headers=sigv4_headers(server, "PUT", path), body=b"")
    assert_s3_error(resp, 400, "MalformedXML")
    assert_no_configuration(s3, bucket)
