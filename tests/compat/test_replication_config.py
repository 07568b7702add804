"""Bucket replication configuration: Put/Get/DeleteBucketReplication with
boto3 and the AWS CLI, the V1 (rule-level Prefix) and V2 (Filter) forms
read back as they were put, and S3's checks with its error codes and
messages; malformed documents are sent as raw XML so that each reaches the
server as written. Only the configuration: nothing is replicated yet."""

import base64
import hashlib
import json

import pytest
from botocore.exceptions import ClientError

from conftest import (assert_client_error, assert_s3_error, raw_request,
                      sigv4_headers, unique_bucket_name)
from test_owners import as_key

MALFORMED = ("The XML you provided was not well-formed or did not validate "
             "against our published schema")
NOT_FOUND = "The replication configuration was not found"
ROLE = "arn:aws:iam::123456789012:role/replication"


def versioned(s3, hint, status="Enabled"):
    name = unique_bucket_name(hint)
    s3.create_bucket(Bucket=name)
    if status:
        s3.put_bucket_versioning(Bucket=name,
                                 VersioningConfiguration={"Status": status})
    return name


@pytest.fixture
def source(s3, request):
    return versioned(s3, "src-" + request.node.name)


@pytest.fixture
def dest(s3, request):
    return versioned(s3, "dst-" + request.node.name)


def arn(bucket):
    return f"arn:aws:s3:::{bucket}"


def v2_rule(dest, priority=1, rule_id=None, filt=None, markers="Disabled",
            **extra):
    r = {"Status": "Enabled", "Priority": priority,
         "Filter": {} if filt is None else filt,
         "DeleteMarkerReplication": {"Status": markers},
         "Destination": {"Bucket": arn(dest)}, **extra}
    if rule_id is not None:
        r["ID"] = rule_id
    return r


def put(s3, bucket, *rules, role=ROLE):
    return s3.put_bucket_replication(
        Bucket=bucket,
        ReplicationConfiguration={"Role": role, "Rules": list(rules)})


def get(s3, bucket):
    return s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]


def refused(s3, bucket, *rules, status=400, code="InvalidRequest",
            message=None):
    with pytest.raises(ClientError) as err:
        put(s3, bucket, *rules)
    assert_client_error(err, status, code)
    if message is not None:
        assert err.value.response["Error"]["Message"] == message
    return err.value.response["Error"]["Message"]


def assert_no_configuration(s3, bucket):
    with pytest.raises(ClientError) as err:
        s3.get_bucket_replication(Bucket=bucket)
    assert_client_error(err, 404, "ReplicationConfigurationNotFoundError")
    assert err.value.response["Error"]["Message"] == NOT_FOUND


def put_xml(server, bucket, body):
    """PUT ?replication with `body` as given, signed; (status, headers, body)."""
    data = body.encode()
    h = {"Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode(),
         "Content-Type": "application/xml"}
    path = f"/{bucket}?replication"
    signed = sigv4_headers(server, "PUT", path, h)
    return raw_request(server.endpoint, "PUT", path, headers=signed,
                       body=data)


def xml(*rules, role=ROLE):
    return ("<ReplicationConfiguration xmlns="
            "\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            f"<Role>{role}</Role>" + "".join(rules)
            + "</ReplicationConfiguration>")


def xml_rule(dest, body, status="Enabled"):
    return (f"<Rule><Status>{status}</Status>{body}"
            f"<Destination><Bucket>{arn(dest)}</Bucket></Destination></Rule>")


V2_TAIL = ("<Priority>1</Priority>"
           "<DeleteMarkerReplication><Status>Disabled</Status>"
           "</DeleteMarkerReplication>")


def tag(k, v):
    return f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>"


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------


def test_v2_rule_shapes_round_trip(s3, source, dest):
    other = versioned(s3, "dst2")
    assert_no_configuration(s3, source)
    rules = [
        v2_rule(dest, 1, "all", {}),
        v2_rule(dest, 2, "prefix", {"Prefix": "logs/"}, markers="Enabled",
                ExistingObjectReplication={"Status": "Enabled"}),
        v2_rule(dest, 3, "tag", {"Tag": {"Key": "class", "Value": "gold"}},
                SourceSelectionCriteria={
                    "ReplicaModifications": {"Status": "Enabled"}}),
        v2_rule(dest, 4, "and", {"And": {
            "Prefix": "docs/",
            "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}]}}),
        # A second destination, with S3 RTC, metrics, a class, an account.
        {**v2_rule(other, 4, "rtc", {"Prefix": ""}),
         "Status": "Disabled",
         "Destination": {
             "Bucket": arn(other), "StorageClass": "STANDARD_IA",
             "Account": "123456789012",
             "ReplicationTime": {"Status": "Enabled",
                                 "Time": {"Minutes": 15}},
             "Metrics": {"Status": "Enabled",
                         "EventThreshold": {"Minutes": 15}}}},
    ]
    put(s3, source, *rules)
    got = get(s3, source)
    assert got == {"Role": ROLE, "Rules": rules}


def test_v1_form_round_trip(s3, source, dest):
    rules = [
        {"ID": "docs", "Status": "Enabled", "Prefix": "docs/",
         "Destination": {"Bucket": arn(dest)}},
        {"ID": "img", "Status": "Disabled", "Prefix": "img/",
         "Destination": {"Bucket": arn(dest), "StorageClass": "GLACIER"}},
    ]
    put(s3, source, *rules)
    assert get(s3, source) == {"Role": ROLE, "Rules": rules}


def test_empty_role_made_up_ids_and_replacing(s3, source, dest):
    put(s3, source, v2_rule(dest, 1), v2_rule(dest, 2, "named"), role="")
    got = get(s3, source)
    assert got["Role"] == ""
    ids = [r["ID"] for r in got["Rules"]]
    assert ids[1] == "named" and len(ids[0]) == 48
    # A PUT replaces the whole configuration.
    put(s3, source, v2_rule(dest, 7, "only", {"Prefix": "x"}))
    assert [r["ID"] for r in get(s3, source)["Rules"]] == ["only"]


def test_delete_then_not_found(s3, source, dest):
    put(s3, source, v2_rule(dest))
    r = s3.delete_bucket_replication(Bucket=source)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_no_configuration(s3, source)
    # Deleting what is not there is fine too.
    r = s3.delete_bucket_replication(Bucket=source)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as err:
        s3.get_bucket_replication(Bucket=unique_bucket_name("none"))
    assert_client_error(err, 404, "NoSuchBucket")


def test_the_cli(server, s3, source, dest, tmp_path):
    conf = {"Role": "", "Rules": [v2_rule(dest, 5, "cli", {"Prefix": "p/"})]}
    path = tmp_path / "replication.json"
    path.write_text(json.dumps(conf))
    server.aws("s3api", "put-bucket-replication", "--bucket", source,
               "--replication-configuration", f"file://{path}")
    out = server.aws_json("s3api", "get-bucket-replication",
                          "--bucket", source)
    assert out["ReplicationConfiguration"] == conf
    server.aws("s3api", "delete-bucket-replication", "--bucket", source)
    assert_no_configuration(s3, source)


# --------------------------------------------------------------------------
# Versioning, both ends
# --------------------------------------------------------------------------


def test_source_versioning_must_be_enabled(s3, dest):
    msg = ("Versioning must be 'Enabled' on the bucket to apply a "
           "replication configuration")
    for status in (None, "Suspended"):
        src = versioned(s3, "src", status)
        refused(s3, src, v2_rule(dest), message=msg)
        assert_no_configuration(s3, src)


def test_destination_must_exist_with_versioning(s3, source):
    refused(s3, source, v2_rule(unique_bucket_name("missing")),
            message="Destination bucket must exist.")
    for status in (None, "Suspended"):
        dst = versioned(s3, "dst", status)
        refused(s3, source, v2_rule(dst),
                message="Destination bucket must have versioning enabled.")
    refused(s3, source, v2_rule(source),
            message="Destination bucket cannot be the same as the source "
                    "bucket.")
    assert_no_configuration(s3, source)


def test_destination_is_an_arn(s3, source, dest):
    for bad in (dest, f"arn:aws:s3:::{dest}/x", f"arn:aws:iam:::{dest}",
                "arn:aws:s3:::"):
        rule = v2_rule(dest)
        rule["Destination"]["Bucket"] = bad
        refused(s3, source, rule, code="InvalidArgument",
                message="Invalid bucket ARN.")


def test_versioning_is_held_while_configured(s3, source, dest):
    put(s3, source, v2_rule(dest))
    with pytest.raises(ClientError) as err:
        s3.put_bucket_versioning(Bucket=source,
                                 VersioningConfiguration={"Status": "Suspended"})
    assert_client_error(err, 409, "InvalidBucketState")
    assert err.value.response["Error"]["Message"] == (
        "A replication configuration is present on this bucket, so you "
        "cannot change the versioning state. To change the versioning "
        "state, first delete the replication configuration.")
    assert s3.get_bucket_versioning(Bucket=source)["Status"] == "Enabled"
    # Enabled again changes nothing, and is fine.
    s3.put_bucket_versioning(Bucket=source,
                             VersioningConfiguration={"Status": "Enabled"})
    s3.delete_bucket_replication(Bucket=source)
    s3.put_bucket_versioning(Bucket=source,
                             VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=source)["Status"] == "Suspended"


# --------------------------------------------------------------------------
# S3's checks of the document
# --------------------------------------------------------------------------


def test_v2_needs_priority_and_delete_marker_replication(s3, source, dest):
    rule = v2_rule(dest)
    del rule["Priority"]
    msg = refused(s3, source, rule)
    assert msg.startswith("Priority must be specified for this version of "
                          "Cross Region Replication configuration schema")
    rule = v2_rule(dest)
    del rule["DeleteMarkerReplication"]
    msg = refused(s3, source, rule)
    assert msg.startswith("DeleteMarkerReplication must be specified for "
                          "this version of Cross Region Replication "
                          "configuration schema")
    refused(s3, source, v2_rule(dest, 3, "a"), v2_rule(dest, 3, "b"),
            message="Found duplicate priority 3.")
    refused(s3, source, v2_rule(dest, -1),
            message="Priority must be between 0 and 2147483647.")
    assert_no_configuration(s3, source)


def test_v1_has_no_priority_and_one_destination(s3, source, dest):
    rule = {"ID": "a", "Status": "Enabled", "Prefix": "a/",
            "Destination": {"Bucket": arn(dest)}}
    msg = refused(s3, source, {**rule, "Priority": 1})
    assert msg.startswith("Priority cannot be used for this version")
    msg = refused(s3, source,
                  {**rule, "DeleteMarkerReplication": {"Status": "Enabled"}})
    assert msg.startswith("DeleteMarkerReplication cannot be used for this "
                          "version")
    other = versioned(s3, "dst2")
    refused(s3, source, rule,
            {**rule, "ID": "b", "Prefix": "b/",
             "Destination": {"Bucket": arn(other)}},
            message="Number of distinct destination bucket ARNs cannot "
                    "exceed 1")
    refused(s3, source, rule, {**rule, "ID": "b", "Prefix": "a/b"},
            message="Found overlapping prefixes 'a/' and 'a/b'")


def test_forms_do_not_mix(server, s3, source, dest):
    v1 = xml_rule(dest, "<Prefix>a/</Prefix>")
    v2 = xml_rule(dest, "<Filter><Prefix>b/</Prefix></Filter>" + V2_TAIL)
    for body in (xml(v1, v2), xml(v2, v1),
                 xml(xml_rule(dest, "<Prefix>a</Prefix><Filter></Filter>"
                              + V2_TAIL)),
                 xml(xml_rule(dest, ""))):
        assert_s3_error(put_xml(server, source, body), 400, "MalformedXML",
                        message=MALFORMED)
    assert_no_configuration(s3, source)


def test_filters_have_one_predicate_or_an_and_of_two(server, s3, source,
                                                     dest):
    for filt in (f"<Prefix>a</Prefix>{tag('k', 'v')}",
                 f"<And><Prefix>a</Prefix></And>",
                 f"<And>{tag('k', 'v')}</And>",
                 f"<Prefix>a</Prefix><And><Prefix>a</Prefix>{tag('k', 'v')}"
                 "</And>"):
        body = xml(xml_rule(dest, f"<Filter>{filt}</Filter>" + V2_TAIL))
        assert_s3_error(put_xml(server, source, body), 400, "MalformedXML")
    for status in ("enabled", "On"):
        body = xml(xml_rule(dest, "<Filter></Filter>" + V2_TAIL, status))
        assert_s3_error(put_xml(server, source, body), 400, "MalformedXML")
    body = xml(xml_rule(dest, f"<Filter><And>{tag('k', '1')}{tag('k', '2')}"
                              "</And></Filter>" + V2_TAIL))
    assert_s3_error(put_xml(server, source, body), 400, "InvalidRequest",
                    message="Duplicate Tag Keys are not allowed.")
    # A Filter with an empty And element's prefix and one tag is two.
    put(s3, source, v2_rule(dest, filt={"And": {
        "Prefix": "", "Tags": [{"Key": "k", "Value": "v"}]}}))
    assert get(s3, source)["Rules"][0]["Filter"] == {"And": {
        "Prefix": "", "Tags": [{"Key": "k", "Value": "v"}]}}


def test_no_delete_markers_by_tag(s3, source, dest):
    for filt in ({"Tag": {"Key": "k", "Value": "v"}},
                 {"And": {"Prefix": "p", "Tags": [{"Key": "k",
                                                   "Value": "v"}]}}):
        msg = refused(s3, source, v2_rule(dest, filt=filt, markers="Enabled"))
        assert msg.startswith("Delete marker replication is not supported "
                              "if any Tag filter is specified")
    put(s3, source, v2_rule(dest, filt={"Tag": {"Key": "k", "Value": "v"}}))


def test_rule_ids_and_counts(s3, source, dest):
    refused(s3, source, v2_rule(dest, 1, "same"), v2_rule(dest, 2, "same"),
            code="InvalidArgument")
    refused(s3, source, v2_rule(dest, 1, "i" * 256), code="InvalidArgument")
    put(s3, source, v2_rule(dest, 1, "i" * 255))
    assert get(s3, source)["Rules"][0]["ID"] == "i" * 255
    refused(s3, source, *[v2_rule(dest, i) for i in range(1001)],
            message="The number of replication rules must not exceed the "
                    "allowed limit of 1000 rules.")


def test_server_answers_no_rules_as_malformed(server, source):
    assert_s3_error(put_xml(server, source, xml()), 400, "MalformedXML")


def test_destination_details(s3, source, dest):
    rule = v2_rule(dest)
    rule["Destination"]["ReplicationTime"] = {"Status": "Enabled",
                                              "Time": {"Minutes": 15}}
    refused(s3, source, rule,
            message="Replication destination must contain both "
                    "ReplicationTime and Metrics or neither.")
    rule = v2_rule(dest)
    rule["Destination"]["StorageClass"] = "NOT_A_CLASS"
    refused(s3, source, rule, code="MalformedXML")
    # What Shale has no notion of is refused, not ignored.
    rule = v2_rule(dest)
    rule["Destination"]["AccessControlTranslation"] = {"Owner": "Destination"}
    rule["Destination"]["Account"] = "123456789012"
    refused(s3, source, rule, status=501, code="NotImplemented")


# --------------------------------------------------------------------------
# Who may
# --------------------------------------------------------------------------


def test_only_the_owner(server, s3, source, dest):
    writer = server.admin_json("key", "create", "--name", "repl-writer")
    owner = server.admin_json("key", "create", "--name", "repl-owner")
    server.admin_json("key", "grant", writer["access_key"], source, "write")
    server.admin_json("key", "grant", owner["access_key"], source, "owner")
    put(s3, source, v2_rule(dest))
    w = as_key(server, writer)
    for call in (lambda: put(w, source, v2_rule(dest)),
                 lambda: w.get_bucket_replication(Bucket=source),
                 lambda: w.delete_bucket_replication(Bucket=source)):
        with pytest.raises(ClientError) as err:
            call()
        assert_client_error(err, 403, "AccessDenied")
    o = as_key(server, owner)
    assert get(o, source)["Rules"][0]["Priority"] == 1
    put(o, source, v2_rule(dest, 9))
    o.delete_bucket_replication(Bucket=source)
    assert_no_configuration(s3, source)
