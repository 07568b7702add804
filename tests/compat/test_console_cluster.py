"""The web console's cluster-side pages in a real headless Chromium: the
cluster page (nodes, disks, the metadata group, background work; a killed
storage node shown down), and who may see it; buckets created with Object
Lock; a bucket's settings page (versioning, lifecycle, replication, policy,
CORS), each change S3's Put or Delete as boto3 then sees it; the keys
page (list, create with the secret shown once, grant, delete), which is
the admin API's and refused like it; the replication page (a pair's
rules, backlog, lag and the last hour's chart).

The browser and its page helpers are in console_browser.py. The cluster
page shows the admin API's `status` as the signed-in key may read it (a
root key only): what `shale admin status` says, the page must say.
"""

import json
import re
import types
import uuid

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import error_code, unique_bucket_name, wait_for
from console_browser import (  # noqa: F401 (fixtures)
    PREFIX, WAIT, By, console, lone_key)
from test_ops import ACCESS_KEY, SECRET_KEY, OpsCluster

# How long a killed node may take to be shown down (it is down after
# 1.5 s without a heartbeat in OpsCluster).
DOWN_TIMEOUT = 30.0


def node_rows(console):
    """{node id: (state, heartbeat text)} of the cluster page's nodes."""
    rows = {}
    for row in console.driver.find_elements(By.CSS_SELECTOR, "#nodes tr[data-node]"):
        rows[row.get_attribute("data-node")] = (
            row.get_attribute("data-state"),
            row.find_element(By.CSS_SELECTOR, "td.heartbeat").text)
    return rows


def test_the_cluster_page_shows_nodes_disks_and_the_metadata_group(server, console):
    console.sign_in(server.access_key, server.secret_key)
    d = console.driver
    console.submit(d.find_element(By.ID, "nav-cluster"), "cluster")
    assert console.path == PREFIX + "cluster"
    status = server.admin_json("status")
    rows = node_rows(console)
    assert sorted(rows) == sorted(str(n["id"]) for n in status["nodes"])
    assert all(state == "up" for state, _ in rows.values()), rows
    assert all(beat.endswith("s ago") for _, beat in rows.values()), rows
    disks = d.find_elements(By.CSS_SELECTOR, "#disks tr[data-disk]")
    assert len(disks) == sum(len(n["disks"]) for n in status["nodes"]) > 0
    for row in disks:
        meter = row.find_element(By.TAG_NAME, "meter")
        assert 0 < float(meter.get_attribute("value")) <= float(meter.get_attribute("max"))
        assert " of " in row.find_element(By.CSS_SELECTOR, "td.used").text
    leader = status["metadata"]["leader"]
    assert f"leader {leader}" in d.find_element(By.ID, "metadata-leader").text
    roles = [r.text for r in d.find_elements(By.CSS_SELECTOR, "#replicas td.role")]
    assert "leader" in roles
    assert d.find_element(By.ID, "scrub").text.startswith("Scrub")
    assert "backlog" in d.find_element(By.ID, "heal").text
    assert "chunk(s) deleted" in d.find_element(By.ID, "gc").text
    # It reloads itself (no script: a refresh).
    refresh = d.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')
    assert refresh and refresh[0].get_attribute("content") == "5"
    assert server.secret_key not in d.page_source


def test_a_key_without_admin_rights_sees_the_refusal(server, console, lone_key):
    console.sign_in(lone_key["access_key"], lone_key["secret_key"])
    console.open("cluster", "cluster-refused")
    assert console.path == PREFIX + "cluster"
    notice = console.notice()
    assert "AccessDenied" in notice and "root key" in notice, notice
    assert not console.driver.find_elements(By.ID, "nodes")
    assert not console.driver.find_elements(By.ID, "replicas")


def test_the_cluster_page_needs_a_session_and_takes_no_post(server, console):
    r = requests.get(console.url("cluster"), allow_redirects=False, timeout=WAIT)
    assert r.status_code == 303 and r.headers["location"] == PREFIX + "sign-in"
    console.sign_in(server.access_key, server.secret_key)
    r = requests.post(console.url("cluster"),
                      cookies={"shale_console": console.session_cookie()},
                      data={"csrf": "0" * 64}, allow_redirects=False, timeout=WAIT)
    assert r.status_code == 405


@pytest.fixture
def ops_cluster(tmp_path):
    """A cluster of its own (one metadata service, six storage nodes with
    heartbeats every 300 ms, one gateway): this test kills a node."""
    c = OpsCluster(tmp_path)
    c.gateway_ports = c.gateway_ports[:1]
    try:
        c.start()
        yield c
    finally:
        c.stop()


def test_a_killed_node_is_marked_down_and_a_drain_shown(ops_cluster, console):
    console.server = types.SimpleNamespace(endpoint=ops_cluster.endpoint())
    ops_cluster.wait_status(
        "six nodes up", lambda s: sum(n["state"] == "up" for n in s["nodes"]) == 6)
    console.sign_in(ACCESS_KEY, SECRET_KEY)
    console.open("cluster", "cluster-all-up")
    rows = node_rows(console)
    assert len(rows) == 6 and all(s == "up" for s, _ in rows.values()), rows
    zones = [z.text for z in console.driver.find_elements(By.CSS_SELECTOR, "#nodes td.zone")]
    assert sorted(zones) == [f"zone-{n}" for n in range(1, 7)]

    ops_cluster.kill("node-3")  # SIGKILL, by its PID

    def shown():
        console.open("cluster", "cluster-after-kill")
        return node_rows(console)

    rows = wait_for(shown, lambda r: r["3"][0] == "down", "node 3 shown down",
                    DOWN_TIMEOUT, interval=1.0)
    assert all(s == "up" for n, (s, _) in rows.items() if n != "3"), rows
    assert "5 up" in console.driver.find_element(By.ID, "nodes-summary").text
    # Its last heartbeat keeps ageing, and it stays down.
    seen = float(rows["3"][1].split()[0])
    wait_for(shown, lambda r: r["3"][0] == "down"
             and ("min" in r["3"][1] or float(r["3"][1].split()[0]) > seen + 1),
             "node 3's heartbeat ageing", DOWN_TIMEOUT, interval=1.0)

    # A drained node: shown draining, then drained, with its progress.
    ops_cluster.admin("node", "drain", "5")

    def drains():
        console.open("cluster", "cluster-draining")
        return [(r.get_attribute("data-node"),
                 r.find_element(By.CSS_SELECTOR, "td.state").text,
                 r.find_element(By.CSS_SELECTOR, "td.left").text)
                for r in console.driver.find_elements(By.CSS_SELECTOR, "#drain-nodes tr[data-node]")]

    rows = wait_for(drains, lambda r: r == [("5", "draining", "0 (drained)")],
                    "node 5 drained", DOWN_TIMEOUT, interval=1.0)
    bar = console.driver.find_element(By.ID, "drain-progress")
    assert bar.get_attribute("value") == bar.get_attribute("max")
    assert node_rows(console)["5"][0] == "draining"


def test_a_bucket_created_with_object_lock(server, s3, console):
    name = unique_bucket_name("console-locked")
    console.sign_in(server.access_key, server.secret_key)
    d = console.driver
    d.find_element(By.ID, "bucket-name").send_keys(name)
    d.find_element(By.ID, "bucket-object-lock").click()
    console.submit(d.find_element(By.ID, "create-bucket"), "created-locked")
    assert console.notice() == f"Bucket {name} created, with Object Lock enabled."
    lock = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    # Without the box: no Object Lock.
    plain = unique_bucket_name("console-unlocked")
    console.create_bucket(plain)
    with pytest.raises(ClientError) as e:
        s3.get_object_lock_configuration(Bucket=plain)
    assert error_code(e.value) == "ObjectLockConfigurationNotFoundError"


def fill(console, element_id, text):
    """Replaces a textarea's text (send_keys would type it character by
    character; the value is set as a user's paste would)."""
    field = console.driver.find_element(By.ID, element_id)
    console.driver.execute_script("arguments[0].value = arguments[1]", field, text)


LIFECYCLE = ('<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
             '<Rule><ID>expire-logs</ID><Status>Enabled</Status>'
             '<Filter><Prefix>logs/</Prefix></Filter>'
             '<Expiration><Days>7</Days></Expiration></Rule></LifecycleConfiguration>')


def test_bucket_settings_are_shown_and_changed_as_s3_requests(server, s3, console):
    name = unique_bucket_name("console-settings")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["https://shown.example"]}]})
    console.sign_in(server.access_key, server.secret_key)
    d = console.driver
    row = d.find_element(By.CSS_SELECTOR, f'tr[data-bucket="{name}"]')
    console.submit(row.find_element(By.CSS_SELECTOR, "a.settings"), "settings")
    assert console.path == f"{PREFIX}settings/{name}"
    assert d.find_element(By.ID, "settings-bucket").text == name
    assert "https://shown.example" in d.find_element(By.ID, "cors-current").text
    assert d.find_element(By.ID, "lifecycle-current").text == "None."
    assert d.find_element(By.ID, "policy-current").text == "None."

    console.submit(d.find_element(By.ID, "versioning-enable"), "versioning-enabled")
    assert console.notice() == f"Versioning of {name} is now Enabled."
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert "<Status>Enabled</Status>" in d.find_element(By.ID, "versioning-current").text
    console.submit(d.find_element(By.ID, "versioning-suspend"), "versioning-suspended")
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Suspended"

    # A document S3 refuses: its error code is the notice; nothing changes.
    fill(console, "lifecycle-document", "<LifecycleConfiguration><Rule>")
    console.submit(d.find_element(By.ID, "lifecycle-save"), "lifecycle-refused")
    notice = console.notice()
    assert notice.startswith(f"Lifecycle of {name} was not changed: Malformed"), notice
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=name)
    assert error_code(e.value) == "NoSuchLifecycleConfiguration"
    fill(console, "lifecycle-document", LIFECYCLE)
    console.submit(d.find_element(By.ID, "lifecycle-save"), "lifecycle-saved")
    assert console.notice() == f"Lifecycle of {name} saved."
    rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert [(r["ID"], r["Expiration"]["Days"]) for r in rules] == [("expire-logs", 7)]
    assert "expire-logs" in d.find_element(By.ID, "lifecycle-current").text

    # (A Deny: a public Allow is refused by the public access block.)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{name}/sealed/*"}]})
    fill(console, "policy-document", policy)
    console.submit(d.find_element(By.ID, "policy-save"), "policy-saved")
    assert console.notice() == f"Policy of {name} saved."
    got = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    assert got["Statement"][0]["Resource"] == f"arn:aws:s3:::{name}/sealed/*"
    assert "sealed/*" in d.find_element(By.ID, "policy-current").text

    console.submit(d.find_element(By.ID, "cors-delete"), "cors-removed")
    assert console.notice() == f"CORS of {name} removed."
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=name)
    assert error_code(e.value) == "NoSuchCORSConfiguration"
    assert d.find_element(By.ID, "cors-current").text == "None."


def test_settings_follow_the_keys_rights_and_need_the_token(server, s3, console,
                                                            lone_key):
    others = unique_bucket_name("console-settings-root")
    s3.create_bucket(Bucket=others)
    console.sign_in(lone_key["access_key"], lone_key["secret_key"])
    console.open(f"settings/{others}", "settings-refused")
    assert "AccessDenied" in console.driver.find_element(By.ID, "cors-current").text
    token = console.driver.find_element(
        By.CSS_SELECTOR, "#policy input[name=csrf]").get_attribute("value")
    jar = {"shale_console": console.session_cookie()}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:*",
        "Resource": f"arn:aws:s3:::{others}/*"}]})
    form = {"bucket": others, "kind": "policy", "action": "save", "document": policy}
    # Without the token: refused before S3 is asked.
    r = requests.post(console.url("settings"), cookies=jar, data=form,
                      allow_redirects=False, timeout=WAIT)
    assert r.status_code == 403
    # With it: S3 refuses the key.
    r = requests.post(console.url("settings"), cookies=jar,
                      data={**form, "csrf": token}, allow_redirects=False, timeout=WAIT)
    assert r.status_code == 303
    console.open(f"settings/{others}", "settings-policy-refused")
    assert "AccessDenied" in console.notice()
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=others)
    assert error_code(e.value) == "NoSuchBucketPolicy"


def test_keys_are_created_with_the_secret_shown_once_and_deleted(server, s3, console):
    bucket = unique_bucket_name("console-key-grant")
    s3.create_bucket(Bucket=bucket)
    console.sign_in(server.access_key, server.secret_key)
    d = console.driver
    console.submit(d.find_element(By.ID, "nav-keys"), "keys")
    assert console.path == PREFIX + "keys"
    rows = {r.get_attribute("data-key") for r in
            d.find_elements(By.CSS_SELECTOR, "#keys tr[data-key]")}
    assert server.access_key in rows
    name = "console-made-" + uuid.uuid4().hex[:8]
    d.find_element(By.ID, "key-name").send_keys(name)
    d.find_element(By.ID, "key-grant-bucket").send_keys(bucket)
    console.submit(d.find_element(By.ID, "create-key"), "key-created")
    notice = console.notice()
    m = re.fullmatch(r"Key (\S+) created\. Its secret, shown only this once: (\S+)", notice)
    assert m, notice
    access_key, secret = m[1], m[2]
    row = d.find_element(By.CSS_SELECTOR, f'tr[data-key="{access_key}"]')
    assert row.find_element(By.CSS_SELECTOR, "td.name").text == name
    assert row.find_element(By.CSS_SELECTOR, "td.grants").text == f"{bucket}:read"
    # The key works, with its grant.
    made = server.client(access_key=access_key, secret_key=secret)
    made.head_bucket(Bucket=bucket)
    # Reloaded: the secret is gone for good.
    console.open("keys", "keys-reloaded")
    assert secret not in d.page_source
    assert not d.find_elements(By.ID, "notice")

    # Grant: write on the bucket.
    d.find_element(By.ID, "grant-key").send_keys(access_key)
    d.find_element(By.ID, "grant-bucket").send_keys(bucket)
    d.find_element(By.CSS_SELECTOR, "#grant-permission option[value=write]").click()
    console.submit(d.find_element(By.ID, "grant"), "key-granted")
    assert console.notice() == f"Key {access_key} now has write on {bucket}."
    made.put_object(Bucket=bucket, Key="by-the-new-key", Body=b"x")

    row = d.find_element(By.CSS_SELECTOR, f'tr[data-key="{access_key}"]')
    console.submit(row.find_element(By.CSS_SELECTOR, "button.delete"), "key-deleted")
    assert console.notice() == f"Key {access_key} deleted."
    assert not d.find_elements(By.CSS_SELECTOR, f'tr[data-key="{access_key}"]')
    with pytest.raises(ClientError) as e:
        made.list_buckets()
    assert error_code(e.value) == "InvalidAccessKeyId"


def test_the_keys_page_is_the_admin_apis_to_refuse(server, console, lone_key):
    console.sign_in(lone_key["access_key"], lone_key["secret_key"])
    console.open("keys", "keys-refused")
    assert "AccessDenied" in console.driver.find_element(By.ID, "list-error").text
    assert not console.driver.find_elements(By.ID, "keys")
    # No forms for it; the session's token (the sign-out form's) in a
    # hand-made create: the admin API refuses it.
    assert not console.driver.find_elements(By.ID, "create-key-form")
    token = console.driver.find_element(
        By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    jar = {"shale_console": console.session_cookie()}
    r = requests.post(console.url("keys/create"), cookies=jar,
                      data={"csrf": token, "name": "not-made"},
                      allow_redirects=False, timeout=WAIT)
    assert r.status_code == 303
    console.open("keys", "keys-create-refused")
    assert "AccessDenied" in console.notice()
    assert all(k.get("name") != "not-made" for k in server.admin_json("key", "list"))


def test_forged_key_changes_change_nothing(server, console):
    console.sign_in(server.access_key, server.secret_key)
    jar = {"shale_console": console.session_cookie()}
    victim = server.admin_json("key", "create", "--name", "console-victim")
    for page, data in (("keys/create", {"name": "forged"}),
                       ("keys/delete", {"access_key": victim["access_key"]}),
                       ("keys/grant", {"access_key": victim["access_key"],
                                       "bucket": "any", "permission": "owner"})):
        for token in (None, "", "0" * 64):
            form = dict(data) if token is None else {**data, "csrf": token}
            r = requests.post(console.url(page), cookies=jar, data=form,
                              allow_redirects=False, timeout=WAIT)
            assert r.status_code == 403, (page, token)
    keys = {k["access_key"]: k for k in server.admin_json("key", "list")}
    assert victim["access_key"] in keys
    assert keys[victim["access_key"]]["grants"] == []
    assert all(k.get("name") != "forged" for k in keys.values())


def test_the_replication_page_shows_each_pair_with_its_lag(server, s3, console, lone_key):
    src, dst = unique_bucket_name("console-repl-src"), unique_bucket_name("console-repl-dst")
    for b in (src, dst):
        s3.create_bucket(Bucket=b)
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": "", "Rules": [{
        "ID": "to-dst", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
        "DeleteMarkerReplication": {"Status": "Enabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{dst}"}}]})
    s3.put_object(Bucket=src, Key="k", Body=b"copied")
    wait_for(lambda: replica_status(s3, dst), lambda st: st == "REPLICA",
             "the copy", 30.0)

    console.sign_in(server.access_key, server.secret_key)
    d = console.driver
    console.submit(d.find_element(By.ID, "nav-replication"), "replication")
    assert console.path == PREFIX + "replication"
    pair = d.find_element(
        By.CSS_SELECTOR, f'section.pair[data-source="{src}"][data-destination="{dst}"]')
    assert pair.find_element(By.CSS_SELECTOR, "td.rules").text == "to-dst"
    assert pair.find_element(By.CSS_SELECTOR, "td.oldest").text == "none"
    assert re.fullmatch(r"\d+ ms|\d+\.\d s",
                        pair.find_element(By.CSS_SELECTOR, "span.p50").text)
    assert pair.find_element(By.CSS_SELECTOR, "td.copied").text.startswith("1 (")
    # The copy is a point of the last hour's chart.
    assert len(pair.find_elements(By.CSS_SELECTOR, "svg.lag-chart circle.max")) == 1
    assert d.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')

    console.submit(d.find_element(By.ID, "sign-out"), "signed-out")
    console.sign_in(lone_key["access_key"], lone_key["secret_key"])
    console.open("replication", "replication-refused")
    assert "AccessDenied" in console.notice()
    assert not d.find_elements(By.CSS_SELECTOR, "section.pair")


def replica_status(s3, bucket):
    try:
        return s3.head_object(Bucket=bucket, Key="k").get("ReplicationStatus")
    except ClientError:
        return None
