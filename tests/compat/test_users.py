"""Users (issue 16): named identities that hold access keys, per-bucket
grants and an IAM identity policy, made with `shale admin user ...`.

Every key of a user acts as the user: a bucket any of them creates is the
user's (ListBuckets, GetBucketAcl and every listing answer the user's
canonical id), and the user's grants, its identity policy and the bucket's
policy decide together, as AWS does: an explicit Deny anywhere wins, else an
Allow from any of them lets the request in, else 403 AccessDenied. A key made
without `--user` is a user of its own (named after its id, `legacy`).

Every refusal is 403 AccessDenied (a disabled key's 403 InvalidAccessKeyId)
with nothing changed: after each one the test reads back what the request
would have changed. Admin commands that must fail exit non-zero with a word
of why, and change nothing either. Gateways cache keys for up to 5 s, so a
change to a key that was already used is polled for with a deadline.
"""

import json
import re
import subprocess
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import (_client_env, assert_client_error, aws_cli_command,
                      canonical_id, error_code, shale_bin,
                      unique_bucket_name)

ACCOUNT = "000000000000"
# Gateways cache keys for up to 5 s; a change shows well within this.
NOTICE_TIMEOUT = 15.0
POLICY_MAX_CHARS = 2048  # IAM's inline user policy limit, whitespace aside


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def admin(server, *args, stdin=None):
    """`shale admin --json ARGS` as the root key, as `admin_json` runs it;
    the CompletedProcess, whatever its exit code."""
    env = dict(_client_env(), SHALE_ENDPOINT=server.endpoint,
               SHALE_ACCESS_KEY=server.access_key,
               SHALE_SECRET_KEY=server.secret_key)
    return subprocess.run([str(shale_bin()), "admin", "--json", *args],
                          env=env, input=stdin, capture_output=True,
                          text=True, timeout=60)


def admin_fails(server, *args, words=()):
    """The command exits non-zero; its error names one of `words` (any
    case). Returns stderr."""
    r = admin(server, *args)
    assert r.returncode != 0, (args, r.stdout, r.stderr)
    said = (r.stderr + r.stdout).lower()
    assert said.strip(), (args, "failed without saying why")
    if words:
        assert any(w.lower() in said for w in words), (args, words, r.stderr)
    return r.stderr


def user_arn(name):
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def new_user(server, hint="u"):
    """A user with a unique name; `user create`'s answer, checked."""
    name = f"{hint}-{uuid.uuid4().hex[:10]}"
    made = server.admin_json("user", "create", name)
    assert made["name"] == name, made
    assert made["arn"] == user_arn(name), made
    assert re.fullmatch(r"[0-9a-f]{64}", made["canonical_id"]), made
    return made


def new_key(server, user):
    """A key of `user` (a `user create` answer or a name)."""
    name = user if isinstance(user, str) else user["name"]
    key = server.admin_json("key", "create", "--name", f"{name}-key",
                            "--user", name)
    assert key["user"] == name, key
    assert key["access_key"] and key["secret_key"], key
    return key


def as_key(server, key):
    return server.client(access_key=key["access_key"],
                         secret_key=key["secret_key"])


def listed_user(server, name):
    """The user's entry in `user list`, or None."""
    found = [u for u in server.admin_json("user", "list")
             if u["name"] == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def listed_key(server, access_key):
    found = [k for k in server.admin_json("key", "list")
             if k["access_key"] == access_key]
    assert len(found) == 1, found
    return found[0]


def key_states(entry):
    """{access key: disabled} of a `user list` entry."""
    return {k["access_key"]: k["disabled"] for k in entry["keys"]}


def grant_set(entry):
    return {(g["bucket"], g["permission"]) for g in entry["grants"]}


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def set_user_policy(server, tmp_path, name, document):
    """`user policy set NAME FILE` with the document written to a file."""
    path = tmp_path / f"policy-{uuid.uuid4().hex[:8]}.json"
    path.write_text(document if isinstance(document, str)
                    else json.dumps(document))
    assert server.admin_json("user", "policy", "set", name, str(path)) == {
        "user": name}


def denied(call, *args, **kwargs):
    with pytest.raises(ClientError) as exc:
        call(*args, **kwargs)
    assert_client_error(exc, 403, "AccessDenied")


def absent(s3, bucket, key):
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert_client_error(exc, 404)


def body_of(client, bucket, key):
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def eventually(what, check, timeout=NOTICE_TIMEOUT):
    """Polls `check` until it answers something true, for at most
    `timeout` seconds; returns that answer."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} after {timeout} s")
        time.sleep(0.2)


def key_refused(client, bucket, key):
    """True when the request is refused as by a disabled (unknown) key,
    False when it is served (the gateway still caches the key)."""
    try:
        client.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        assert error_code(exc) == "InvalidAccessKeyId", exc.response
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        return True
    return False


def key_accepted(client, bucket, key):
    """True when the request is served, False while it is refused as by a
    disabled key."""
    return not key_refused(client, bucket, key)


def aws_as(server, key, *args, check=True):
    """The AWS CLI with `key`'s credentials (as `server.aws` runs it)."""
    env = _client_env()
    env["AWS_ACCESS_KEY_ID"] = key["access_key"]
    env["AWS_SECRET_ACCESS_KEY"] = key["secret_key"]
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    env["AWS_PAGER"] = ""
    if server.tls:
        env["AWS_CA_BUNDLE"] = server.cafile
    cmd = [*aws_cli_command(), "--endpoint-url", server.endpoint,
           *[str(a) for a in args]]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                       timeout=120)
    if check:
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    return r


# --------------------------------------------------------------------------
# Ownership
# --------------------------------------------------------------------------


def test_two_keys_of_one_user_share_what_it_owns(server, s3):
    user = new_user(server, "owner")
    me = user["canonical_id"]
    a, b = new_key(server, user), new_key(server, user)
    assert a["access_key"] != b["access_key"]
    # The owner is the user, not either key.
    assert me not in (canonical_id(a["access_key"]),
                      canonical_id(b["access_key"]))
    s3a, s3b = as_key(server, a), as_key(server, b)
    bucket = unique_bucket_name("users-shared")

    # A key of a user needs no grant on a bucket it creates: the user
    # becomes its owner, at once.
    s3a.create_bucket(Bucket=bucket)
    s3a.put_object(Bucket=bucket, Key="by-a", Body=b"from a")
    assert (bucket, "owner") in grant_set(listed_user(server, user["name"]))

    # The other key of the same user sees it as its own.
    eventually(f"{bucket} listed for key B", lambda: bucket in [
        x["Name"] for x in s3b.list_buckets()["Buckets"]])
    for client in (s3a, s3b):
        assert client.list_buckets()["Owner"]["ID"] == me
    s3b.put_object(Bucket=bucket, Key="by-b", Body=b"from b")
    assert body_of(s3b, bucket, "by-a") == b"from a"
    assert body_of(s3a, bucket, "by-b") == b"from b"

    for client in (s3a, s3b, s3):
        assert client.get_bucket_acl(Bucket=bucket)["Owner"]["ID"] == me
    # Objects written by either key are the user's.
    for key in ("by-a", "by-b"):
        assert s3.get_object_acl(Bucket=bucket, Key=key)["Owner"]["ID"] == me
    v2 = s3b.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"]
    assert {o["Key"]: o["Owner"]["ID"] for o in v2} == {"by-a": me,
                                                         "by-b": me}
    v1 = s3a.list_objects(Bucket=bucket)["Contents"]
    assert {o["Key"]: o["Owner"]["ID"] for o in v1} == {"by-a": me,
                                                         "by-b": me}

    # Another user's key has no part in it.
    stranger = as_key(server, new_key(server, new_user(server, "stranger")))
    assert bucket not in [x["Name"]
                          for x in stranger.list_buckets()["Buckets"]]
    denied(stranger.put_object, Bucket=bucket, Key="by-stranger", Body=b"x")
    denied(stranger.get_object, Bucket=bucket, Key="by-a")
    absent(s3, bucket, "by-stranger")


# --------------------------------------------------------------------------
# Identity policies
# --------------------------------------------------------------------------


def test_a_user_policy_makes_a_writer_limited_to_a_prefix(server, s3,
                                                          tmp_path):
    bucket = unique_bucket_name("users-prefix")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="uploads/existing", Body=b"old")
    user = new_user(server, "uploader")
    name = user["name"]
    document = policy(
        {"Sid": "Uploads", "Effect": "Allow", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/uploads/*"},
        # aws:username sees the user's name: this one applies...
        {"Sid": "ListAsMe", "Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringEquals": {"aws:username": name}}},
        # ... and aws:PrincipalArn the user's ARN: this one does not.
        {"Sid": "ReadAsSomeoneElse", "Effect": "Allow",
         "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/uploads/*",
         "Condition": {"StringEquals": {
             "aws:PrincipalArn": user_arn(f"{name}-other")}}})
    # Through stdin (`-`) this time.
    r = admin(server, "user", "policy", "set", name, "-",
              stdin=json.dumps(document))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert json.loads(r.stdout) == {"user": name}
    assert server.admin_json("user", "policy", "get", name) == document
    entry = listed_user(server, name)
    assert entry["policy"] is True and entry["grants"] == [], entry
    key = new_key(server, user)
    writer = as_key(server, key)

    writer.put_object(Bucket=bucket, Key="uploads/x", Body=b"x")
    assert body_of(s3, bucket, "uploads/x") == b"x"
    listed = writer.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == ["uploads/existing",
                                                "uploads/x"]
    denied(writer.put_object, Bucket=bucket, Key="other/x", Body=b"x")
    absent(s3, bucket, "other/x")
    denied(writer.get_object, Bucket=bucket, Key="uploads/x")
    denied(writer.delete_object, Bucket=bucket, Key="uploads/existing")
    assert body_of(s3, bucket, "uploads/existing") == b"old"
    # A policy is no grant: ListBuckets does not show the bucket.
    assert bucket not in [b["Name"]
                          for b in writer.list_buckets()["Buckets"]]

    # The AWS CLI with the user's key: the same limits.
    src = tmp_path / "cli.txt"
    src.write_bytes(b"through the cli")
    aws_as(server, key, "s3", "cp", src, f"s3://{bucket}/uploads/cli.txt")
    assert body_of(s3, bucket, "uploads/cli.txt") == b"through the cli"
    r = aws_as(server, key, "s3", "cp", src, f"s3://{bucket}/other/cli.txt",
               check=False)
    assert r.returncode != 0 and "AccessDenied" in r.stderr, r.stderr
    absent(s3, bucket, "other/cli.txt")


def test_a_deny_in_the_user_policy_overrides_its_grant(server, s3, tmp_path):
    bucket = unique_bucket_name("users-deny")
    s3.create_bucket(Bucket=bucket)
    for key in ("keep/a", "tmp/a"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    user = new_user(server, "keeper")
    name = user["name"]
    assert server.admin_json("user", "grant", name, bucket, "write") == {
        "user": name, "bucket": bucket, "permission": "write"}
    set_user_policy(server, tmp_path, name, policy(
        {"Sid": "KeepIsKept", "Effect": "Deny", "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{bucket}/keep/*"}))
    assert grant_set(listed_user(server, name)) == {(bucket, "write")}
    writer = as_key(server, new_key(server, user))

    denied(writer.delete_object, Bucket=bucket, Key="keep/a")
    assert body_of(s3, bucket, "keep/a") == b"keep/a"
    # Outside the denied prefix, and for other actions, the grant decides.
    writer.delete_object(Bucket=bucket, Key="tmp/a")
    absent(s3, bucket, "tmp/a")
    writer.put_object(Bucket=bucket, Key="keep/b", Body=b"b")
    assert body_of(writer, bucket, "keep/b") == b"b"
    denied(writer.delete_object, Bucket=bucket, Key="keep/b")
    assert body_of(s3, bucket, "keep/b") == b"b"


# --------------------------------------------------------------------------
# Bucket policies naming users
# --------------------------------------------------------------------------


def test_bucket_policies_name_users(server, s3):
    bucket = unique_bucket_name("users-bpolicy")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="report", Body=b"figures")
    alice, bob = new_user(server, "alice"), new_user(server, "bob")
    alice_keys = [as_key(server, new_key(server, alice)) for _ in range(2)]
    bob_s3 = as_key(server, new_key(server, bob))

    readers = json.dumps(policy(
        {"Sid": "AliceReads", "Effect": "Allow",
         "Principal": {"AWS": alice["arn"]}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Sid": "AliceLists", "Effect": "Allow",
         "Principal": {"CanonicalUser": alice["canonical_id"]},
         "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}))
    s3.put_bucket_policy(Bucket=bucket, Policy=readers)
    for client in alice_keys:
        assert body_of(client, bucket, "report") == b"figures"
        listed = client.list_objects_v2(Bucket=bucket)["Contents"]
        assert [o["Key"] for o in listed] == ["report"]
        denied(client.put_object, Bucket=bucket, Key="report", Body=b"no")
    assert body_of(s3, bucket, "report") == b"figures"
    denied(bob_s3.get_object, Bucket=bucket, Key="report")
    denied(bob_s3.list_objects_v2, Bucket=bucket)

    # A user that does not exist: the policy is refused, the old one kept.
    missing = f"nobody-{uuid.uuid4().hex[:8]}"
    nobody = policy({"Effect": "Allow",
                     "Principal": {"AWS": user_arn(missing)},
                     "Action": "s3:GetObject",
                     "Resource": f"arn:aws:s3:::{bucket}/*"})
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(nobody))
    assert_client_error(exc, 400, "MalformedPolicy")
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == readers
    assert body_of(alice_keys[0], bucket, "report") == b"figures"

    # Conditions on who the user is: both users are named, each condition
    # lets in only one of them.
    other = unique_bucket_name("users-condition")
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=other, Key="memo", Body=b"memo")
    both = [alice["arn"], bob["arn"]]
    s3.put_bucket_policy(Bucket=other, Policy=json.dumps(policy(
        {"Sid": "ReadIfAlice", "Effect": "Allow",
         "Principal": {"AWS": both}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{other}/*",
         "Condition": {"StringEquals": {"aws:username": alice["name"]}}},
        {"Sid": "ListIfBob", "Effect": "Allow",
         "Principal": {"AWS": both}, "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{other}",
         "Condition": {"StringEquals": {"aws:PrincipalArn": bob["arn"]}}})))
    for client in alice_keys:
        assert body_of(client, other, "memo") == b"memo"
        denied(client.list_objects_v2, Bucket=other)
    denied(bob_s3.get_object, Bucket=other, Key="memo")
    listed = bob_s3.list_objects_v2(Bucket=other)["Contents"]
    assert [o["Key"] for o in listed] == ["memo"]


# --------------------------------------------------------------------------
# Keys: disable, enable, rotate
# --------------------------------------------------------------------------


def test_disable_enable_and_rotate_a_users_key(server, s3):
    bucket = unique_bucket_name("users-keys")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="doc", Body=b"doc")
    user = new_user(server, "rotor")
    name = user["name"]
    server.admin_json("user", "grant", name, bucket, "write")
    key = new_key(server, user)
    old_id = key["access_key"]
    client = as_key(server, key)
    assert body_of(client, bucket, "doc") == b"doc"
    entry = listed_key(server, old_id)
    assert (entry["user"], entry["disabled"]) == (name, False), entry

    assert server.admin_json("key", "disable", old_id) == {
        "access_key": old_id, "disabled": True}
    eventually("refused as disabled",
               lambda: key_refused(client, bucket, "doc"))
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key="while-disabled", Body=b"x")
    assert_client_error(exc, 403, "InvalidAccessKeyId")
    absent(s3, bucket, "while-disabled")
    assert listed_key(server, old_id)["disabled"] is True
    assert key_states(listed_user(server, name)) == {old_id: True}

    assert server.admin_json("key", "enable", old_id) == {
        "access_key": old_id, "disabled": False}
    eventually("accepted again", lambda: key_accepted(client, bucket, "doc"))
    client.put_object(Bucket=bucket, Key="enabled-again", Body=b"y")
    assert body_of(s3, bucket, "enabled-again") == b"y"
    assert listed_key(server, old_id)["disabled"] is False

    rotated = server.admin_json("key", "rotate", old_id)
    new_id = rotated["access_key"]
    assert new_id != old_id and rotated["secret_key"], rotated
    assert (rotated["user"], rotated["disabled_key"]) == (name, old_id)
    fresh = as_key(server, rotated)
    # The new key is the same user: its grant, at once.
    assert body_of(fresh, bucket, "doc") == b"doc"
    fresh.put_object(Bucket=bucket, Key="by-new-key", Body=b"z")
    assert body_of(s3, bucket, "by-new-key") == b"z"
    eventually("old key refused after rotation",
               lambda: key_refused(client, bucket, "doc"))
    entry = listed_user(server, name)
    assert key_states(entry) == {old_id: True, new_id: False}, entry
    assert grant_set(entry) == {(bucket, "write")}
    assert listed_key(server, new_id)["user"] == name

    # The root key cannot be disabled, and keeps working.
    admin_fails(server, "key", "disable", server.access_key, words=("root",))
    assert listed_key(server, server.access_key)["disabled"] is False
    assert body_of(s3, bucket, "doc") == b"doc"


# --------------------------------------------------------------------------
# Keys made without a user
# --------------------------------------------------------------------------


def test_a_key_without_a_user_is_a_user_of_its_own(server, s3, tmp_path):
    bucket = unique_bucket_name("users-legacy")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="shared", Body=b"shared")
    key = server.admin_json("key", "create", "--name", "legacy",
                            "--grant", f"{bucket}:read")
    key_id = key["access_key"]
    client = as_key(server, key)
    assert body_of(client, bucket, "shared") == b"shared"

    entry = listed_user(server, key_id)
    fields = ("name", "arn", "canonical_id", "keys", "grants", "policy",
              "legacy")
    assert {f: entry[f] for f in fields} == {
        "name": key_id, "arn": user_arn(key_id),
        # The id every key has had, kept: what it already owns stays its.
        "canonical_id": canonical_id(key_id),
        "keys": [{"access_key": key_id, "disabled": False}],
        "grants": [{"bucket": bucket, "permission": "read"}],
        "policy": False, "legacy": True}, entry
    assert listed_key(server, key_id)["disabled"] is False
    admin_fails(server, "user", "policy", "get", key_id,
                words=("policy", "nosuch", "not found", "no "))

    # A policy on it adds to the grant (the key was used: it may be cached).
    set_user_policy(server, tmp_path, key_id, policy(
        {"Effect": "Allow", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/drop/*"}))

    def dropped():
        try:
            client.put_object(Bucket=bucket, Key="drop/x", Body=b"dropped")
        except ClientError as exc:
            assert error_code(exc) == "AccessDenied", exc.response
            return False
        return True

    eventually("the policy's PutObject allowed", dropped)
    assert body_of(s3, bucket, "drop/x") == b"dropped"
    assert body_of(client, bucket, "drop/x") == b"dropped"
    assert body_of(client, bucket, "shared") == b"shared"
    denied(client.put_object, Bucket=bucket, Key="other/x", Body=b"x")
    absent(s3, bucket, "other/x")
    denied(client.delete_object, Bucket=bucket, Key="shared")
    assert body_of(s3, bucket, "shared") == b"shared"
    entry = listed_user(server, key_id)
    assert entry["policy"] is True, entry
    assert grant_set(entry) == {(bucket, "read")}


def test_rotating_a_key_without_a_user_makes_it_a_user(server, s3):
    shared = unique_bucket_name("users-legacy-read")
    s3.create_bucket(Bucket=shared)
    s3.put_object(Bucket=shared, Key="shared", Body=b"shared")
    key = server.admin_json("key", "create", "--name", "legacy-rotated",
                            "--grant", f"{shared}:read")
    old_id = key["access_key"]
    old = as_key(server, key)
    own = unique_bucket_name("users-legacy-own")
    old.create_bucket(Bucket=own)
    old.put_object(Bucket=own, Key="mine", Body=b"mine")
    assert old.get_bucket_acl(Bucket=own)["Owner"]["ID"] == canonical_id(
        old_id)

    rotated = server.admin_json("key", "rotate", old_id)
    new_id = rotated["access_key"]
    assert new_id != old_id and rotated["secret_key"], rotated
    assert (rotated["user"], rotated["disabled_key"]) == (old_id, old_id)
    fresh = as_key(server, rotated)
    # The user named after the old key keeps its grants and what it owns.
    assert body_of(fresh, shared, "shared") == b"shared"
    assert body_of(fresh, own, "mine") == b"mine"
    assert own in [b["Name"] for b in fresh.list_buckets()["Buckets"]]
    fresh.put_object(Bucket=own, Key="by-new-key", Body=b"new")
    assert body_of(s3, own, "by-new-key") == b"new"
    denied(fresh.put_object, Bucket=shared, Key="by-new-key", Body=b"no")
    absent(s3, shared, "by-new-key")

    entry = listed_user(server, old_id)
    assert key_states(entry) == {old_id: True, new_id: False}, entry
    assert grant_set(entry) == {(shared, "read"), (own, "owner")}
    assert entry["canonical_id"] == canonical_id(old_id), entry
    assert fresh.get_bucket_acl(Bucket=own)["Owner"]["ID"] == \
        entry["canonical_id"]
    assert listed_key(server, new_id)["user"] == old_id
    eventually("old key refused after rotation",
               lambda: key_refused(old, shared, "shared"))


# --------------------------------------------------------------------------
# What `shale admin user` refuses
# --------------------------------------------------------------------------


def sized_policy(bucket, chars):
    """A valid identity policy of exactly `chars` non-whitespace
    characters, laid out with plenty of whitespace."""
    def document(pad):
        return policy({"Effect": "Allow", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/{'p' * pad}*"})
    base = len(json.dumps(document(0), separators=(",", ":")))
    assert base < chars
    text = json.dumps(document(chars - base), indent=12)
    assert len(re.sub(r"\s", "", text)) == chars
    assert len(text) > POLICY_MAX_CHARS
    return text


def test_what_user_commands_refuse(server, s3, tmp_path):
    bucket = unique_bucket_name("users-refused")
    s3.create_bucket(Bucket=bucket)
    user = new_user(server, "refuse")
    name = user["name"]

    # Names: 1-64 of [A-Za-z0-9+=,.@_-], unique, no access key's id.
    longest = ("A+=,.@_-" + uuid.uuid4().hex * 2)[:64]
    assert server.admin_json("user", "create", longest)["name"] == longest
    bad_names = ["", "x" * 65, "with space", "slash/name", "colon:name",
                 "star*", "semi;colon", "ümlaut"]
    for bad in bad_names:
        admin_fails(server, "user", "create", bad,
                    words=("name", "invalid", "character"))
    admin_fails(server, "user", "create", name,
                words=("exist", "already", "taken"))
    legacy = server.admin_json("key", "create", "--name", "legacy-name",
                               "--grant", f"{bucket}:read")
    admin_fails(server, "user", "create", legacy["access_key"],
                words=("exist", "already", "taken", "key"))
    keys = [new_key(server, user), new_key(server, user)]
    admin_fails(server, "user", "create", keys[0]["access_key"],
                words=("exist", "already", "taken", "key"))
    admin_fails(server, "key", "create", "--name", "orphan", "--user",
                f"nobody-{uuid.uuid4().hex[:8]}",
                words=("user", "exist", "unknown", "no such"))
    listed = server.admin_json("user", "list")
    names = [u["name"] for u in listed]
    assert not set(bad_names) & set(names), names
    assert names.count(name) == 1 and names.count(legacy["access_key"]) == 1
    assert [u for u in listed if u["name"] == name][0]["canonical_id"] == \
        user["canonical_id"]

    # Identity policies: no Principal, valid JSON, 2048 characters at most
    # (whitespace aside). Nothing is stored by a refused one.
    allow = policy({"Effect": "Allow", "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*"})
    with_principal = policy({"Effect": "Allow", "Principal": "*",
                             "Action": "s3:GetObject",
                             "Resource": f"arn:aws:s3:::{bucket}/*"})
    refused = [
        (json.dumps(with_principal), ("principal",)),
        ("not json", ("json", "invalid", "malformed")),
        (json.dumps(allow)[:-3], ("json", "invalid", "malformed")),
        (sized_policy(bucket, POLICY_MAX_CHARS + 1),
         ("size", "2048", "large", "long", "exceed")),
    ]
    for document, words in refused:
        path = tmp_path / f"bad-{uuid.uuid4().hex[:8]}.json"
        path.write_text(document)
        admin_fails(server, "user", "policy", "set", name, str(path),
                    words=words)
        admin_fails(server, "user", "policy", "get", name,
                    words=("policy", "nosuch", "not found", "no "))
    assert listed_user(server, name)["policy"] is False

    # At the limit it fits, however much whitespace it holds.
    fits = sized_policy(bucket, POLICY_MAX_CHARS)
    set_user_policy(server, tmp_path, name, fits)
    assert server.admin_json("user", "policy", "get", name) == json.loads(fits)
    # A refused replacement keeps the stored one.
    path = tmp_path / "principal.json"
    path.write_text(json.dumps(with_principal))
    admin_fails(server, "user", "policy", "set", name, str(path),
                words=("principal",))
    assert server.admin_json("user", "policy", "get", name) == json.loads(fits)
    assert server.admin_json("user", "policy", "delete", name) == {
        "user": name}
    admin_fails(server, "user", "policy", "get", name,
                words=("policy", "nosuch", "not found", "no "))
    assert listed_user(server, name)["policy"] is False

    # A user with keys is not deleted; without, it is.
    admin_fails(server, "user", "delete", name, words=("key",))
    entry = listed_user(server, name)
    assert set(key_states(entry)) == {k["access_key"] for k in keys}, entry
    works = as_key(server, keys[1])
    server.admin_json("user", "grant", name, bucket, "read")
    s3.put_object(Bucket=bucket, Key="still", Body=b"here")
    assert body_of(works, bucket, "still") == b"here"
    server.admin_json("key", "delete", keys[0]["access_key"])
    admin_fails(server, "user", "delete", name, words=("key",))
    assert listed_user(server, name) is not None
    server.admin_json("key", "delete", keys[1]["access_key"])
    assert server.admin_json("user", "delete", name) == {"deleted": name}
    assert listed_user(server, name) is None
    admin_fails(server, "user", "policy", "get", name,
                words=("user", "policy", "nosuch", "not found", "no "))
    assert server.admin_json("user", "delete", longest) == {
        "deleted": longest}
    assert listed_user(server, longest) is None


def test_a_root_key_may_be_named_in_a_bucket_policy(server, s3, bucket):
    """A root key is a principal too (by ARN and by canonical id): a policy
    naming it is taken, and its Deny holds against it."""
    root = user_arn(server.access_key)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": {"AWS": root},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/frozen/*"}]}))
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="frozen/a", Body=b"x")
    assert_client_error(exc, 403, "AccessDenied")
    s3.put_object(Bucket=bucket, Key="thawed/a", Body=b"x")
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"CanonicalUser": owner},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
