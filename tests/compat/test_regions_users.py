"""Users across linked regions: `shale dev --regions us-east-1,eu-west-1`.

The namespace region (us-east-1) owns the identities; eu-west-1 passes every
`key-*` and `user-*` write on to it and mirrors its keys (`region-keys`) and
users (`region-users`) every few seconds and right after passing a write on.
So a user, its keys, its grants, its identity policy and whether a key is
disabled are the same in every region, whichever region the change was made
through, once the mirror has caught up. Gateways also cache keys for ~5 s, so
every change is polled for with a deadline, never slept for.

One deployment (two full clusters in one process) is shared by the tests of
this module; each test owns its user, keys and bucket names."""

import json
import subprocess
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import _client_env, error_code, shale_bin, unique_bucket_name
from regions import REGIONS, start

US, EU = REGIONS  # the namespace region, the other one
ACCOUNT = "000000000000"
# Mirror interval + key cache + slack: a change shows well within this.
DEADLINE = 30.0


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    factory, d = start(tmp_path_factory, "regions-users")
    yield d
    factory.close()


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def admin_json(deployment, region, *args, stdin=None):
    """`shale admin --json ARGS` as the root key against `region`'s
    endpoint; the parsed answer. A failure shows its stderr."""
    env = dict(_client_env(), SHALE_ENDPOINT=deployment.endpoint(region),
               SHALE_ACCESS_KEY=deployment.server.access_key,
               SHALE_SECRET_KEY=deployment.server.secret_key)
    cmd = [str(shale_bin()), "admin", "--region", region, "--json", *args]
    r = subprocess.run(cmd, env=env, input=stdin, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, (region, args, r.stdout, r.stderr)
    return json.loads(r.stdout) if r.stdout.strip() else None


def new_user(deployment, region, hint):
    """A user made through `region`; `user create`'s answer, checked."""
    name = f"{hint}-{uuid.uuid4().hex[:10]}"
    made = admin_json(deployment, region, "user", "create", name)
    assert made["name"] == name, made
    assert made["arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}", made
    assert len(made["canonical_id"]) == 64, made
    return made


def new_key(deployment, region, user):
    """A key of `user` made through `region`."""
    key = admin_json(deployment, region, "key", "create", "--name",
                     f"{user['name']}-key", "--user", user["name"])
    assert key["user"] == user["name"], key
    assert key["access_key"] and key["secret_key"], key
    return key


def as_key(deployment, region, key):
    return deployment.client(region, access_key=key["access_key"],
                             secret_key=key["secret_key"])


def listed_user(deployment, region, name):
    """The user's entry in `region`'s `user list`, or None."""
    found = [u for u in admin_json(deployment, region, "user", "list")
             if u["name"] == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def key_states(deployment, region, name):
    """{access key: disabled} of the user in `region`'s `user list`."""
    entry = listed_user(deployment, region, name)
    assert entry is not None, (region, name)
    return {k["access_key"]: k["disabled"] for k in entry["keys"]}


def poll(what, check, deadline=DEADLINE):
    """`check()` until it returns something true without raising an
    AssertionError or ClientError, for at most `deadline` seconds; returns
    that answer. On timeout, fails with the last answer or error."""
    end = time.monotonic() + deadline
    last = None
    while True:
        try:
            got = check()
            if got:
                return got
            last = got
        except (AssertionError, ClientError) as exc:
            last = exc
        if time.monotonic() > end:
            pytest.fail(f"not {what} after {deadline} s; last: {last!r}")
        time.sleep(0.2)


def outcome(call, *args, **kwargs):
    """'ok', or the S3 error code the call was refused with."""
    try:
        call(*args, **kwargs)
    except ClientError as exc:
        return error_code(exc)
    return "ok"


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_a_user_made_in_the_other_region_owns_buckets_in_both(deployment):
    # User and key made through eu-west-1: passed on to us-east-1, which
    # owns identities, and mirrored back.
    user = new_user(deployment, EU, "everywhere")
    me = user["canonical_id"]
    key = new_key(deployment, EU, user)
    for region in REGIONS:
        poll(f"the user and its key in {region}'s user list",
             lambda r=region: key_states(deployment, r, user["name"]) == {
                 key["access_key"]: False})
        entry = listed_user(deployment, region, user["name"])
        assert entry["legacy"] is False, entry
        assert entry["canonical_id"] == me, (region, entry)
    clients = {r: as_key(deployment, r, key) for r in REGIONS}
    for region, c in clients.items():
        poll(f"the key accepted in {region}", lambda c=c: outcome(
            c.list_buckets) == "ok")

    # A bucket in each region, each made by the key at its region's
    # endpoint.
    in_us, in_eu = unique_bucket_name("uu-us"), unique_bucket_name("uu-eu")
    clients[US].create_bucket(Bucket=in_us)
    clients[EU].create_bucket(Bucket=in_eu, CreateBucketConfiguration={
        "LocationConstraint": EU})
    for client, bucket in ((clients[US], in_us), (clients[EU], in_eu)):
        client.put_object(Bucket=bucket, Key="k", Body=bucket.encode())
    where = {in_us: US, in_eu: EU}
    for bucket, region in where.items():
        got = clients[US].get_bucket_location(Bucket=bucket)
        assert (got.get("LocationConstraint") or US) == region, got

    # ListBuckets as the user, from each region: the user is the owner,
    # and each region lists its own bucket (ListBuckets answers the
    # buckets of the region asked, as test_regions shows for root).
    for region, c in clients.items():
        def listed(c=c, region=region):
            answer = c.list_buckets()
            assert answer["Owner"]["ID"] == me, answer["Owner"]
            names = [b["Name"] for b in answer["Buckets"]]
            return ([b for b, r in where.items() if r == region and
                     b in names] and names)
        names = poll(f"the user's bucket listed in {region}", listed)
        for bucket, r in where.items():
            assert (bucket in names) == (r == region), (region, names)

    # The owner is the user in both regions: each bucket's ACL, asked at
    # either endpoint (the other region's is a 301 boto3 follows), answers
    # the user's canonical id; and the user still works both buckets from
    # both endpoints.
    for bucket in where:
        for region, c in clients.items():
            def owned(c=c, bucket=bucket):
                owner = c.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
                assert owner == me, (bucket, owner, me)
                return True
            poll(f"{bucket} owned by the user at {region}'s endpoint", owned)
            assert c.get_object(Bucket=bucket, Key="k")["Body"].read() \
                == bucket.encode()

    # Both Owner grants are the user's in every region's `user list`.
    for region in REGIONS:
        def granted(region=region):
            entry = listed_user(deployment, region, user["name"])
            grants = {(g["bucket"], g["permission"]) for g in entry["grants"]}
            assert {(in_us, "owner"), (in_eu, "owner")} <= grants, (
                region, entry)
            return True
        poll(f"both owner grants in {region}'s user list", granted)
    # Root sees the user as owner too.
    for bucket, region in where.items():
        root = deployment.client(region)
        assert root.get_bucket_acl(Bucket=bucket)["Owner"]["ID"] == me


def test_a_user_policy_set_in_the_namespace_region_applies_in_the_other(
        deployment, tmp_path):
    root_eu = deployment.client(EU)
    bucket = unique_bucket_name("uu-policy")
    root_eu.create_bucket(Bucket=bucket, CreateBucketConfiguration={
        "LocationConstraint": EU})
    user = new_user(deployment, US, "uploader")
    key = new_key(deployment, US, user)
    writer = as_key(deployment, EU, key)
    # The key works in eu-west-1 (and is cached there), but the user has
    # no grant on the bucket: refused.
    poll("the key accepted in eu-west-1",
         lambda: outcome(writer.list_buckets) == "ok")
    assert outcome(writer.put_object, Bucket=bucket, Key="uploads/early",
                   Body=b"x") == "AccessDenied"

    document = {"Version": "2012-10-17", "Statement": [{
        "Sid": "Uploads", "Effect": "Allow", "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/uploads/*"}]}
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document))
    assert admin_json(deployment, US, "user", "policy", "set",
                      user["name"], str(path)) == {"user": user["name"]}

    # Mirrored to eu-west-1 ...
    def mirrored():
        entry = listed_user(deployment, EU, user["name"])
        assert entry is not None and entry["policy"] is True, entry
        assert entry["grants"] == [], entry
        return True
    poll("the policy in eu-west-1's user list", mirrored)
    # ... and in force there: a PUT under uploads/ at the eu endpoint.
    poll("PutObject under uploads/ allowed at eu-west-1", lambda: outcome(
        writer.put_object, Bucket=bucket, Key="uploads/x",
        Body=b"by policy") == "ok")
    assert root_eu.get_object(Bucket=bucket, Key="uploads/x")["Body"].read() \
        == b"by policy"
    # Elsewhere in the bucket: 403 AccessDenied, nothing written.
    with pytest.raises(ClientError) as exc:
        writer.put_object(Bucket=bucket, Key="other/x", Body=b"no")
    assert error_code(exc.value) == "AccessDenied"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as exc:
        root_eu.head_object(Bucket=bucket, Key="other/x")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # The policy allows PutObject only: no read.
    assert outcome(writer.get_object, Bucket=bucket,
                   Key="uploads/x") == "AccessDenied"


@pytest.mark.parametrize("disable_in,enable_in", [(EU, US), (US, EU)],
                         ids=["disabled-in-eu", "disabled-in-us"])
def test_a_disabled_key_is_refused_in_every_region(deployment, disable_in,
                                                   enable_in):
    user = new_user(deployment, US, "toggled")
    key = new_key(deployment, EU, user)
    access_key = key["access_key"]
    clients = {r: as_key(deployment, r, key) for r in REGIONS}
    # Used in both regions first: both gateways cache it.
    for region, c in clients.items():
        poll(f"the key accepted in {region}",
             lambda c=c: outcome(c.list_buckets) == "ok")

    admin_json(deployment, disable_in, "key", "disable", access_key)
    for region, c in clients.items():
        poll(f"the key refused in {region} (disabled in {disable_in})",
             lambda c=c: outcome(c.list_buckets) == "InvalidAccessKeyId")
        # `user list` of that region shows it disabled.
        poll(f"the key disabled in {region}'s user list",
             lambda r=region: key_states(deployment, r, user["name"]) == {
                 access_key: True})
    # Refused with 403.
    for region, c in clients.items():
        with pytest.raises(ClientError) as exc:
            c.list_buckets()
        assert error_code(exc.value) == "InvalidAccessKeyId", region
        assert exc.value.response["ResponseMetadata"][
            "HTTPStatusCode"] == 403

    admin_json(deployment, enable_in, "key", "enable", access_key)
    for region, c in clients.items():
        poll(f"the key accepted again in {region} (enabled in {enable_in})",
             lambda c=c: outcome(c.list_buckets) == "ok")
        poll(f"the key enabled in {region}'s user list",
             lambda r=region: key_states(deployment, r, user["name"]) == {
                 access_key: False})
