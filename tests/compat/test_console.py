"""The web console (`/_shale/console/`) in a real headless Chromium.

The browser and its page helpers are in console_browser.py. What the
console did is checked with boto3, as the key itself or as root: the
console is a client of the same S3 rules, so S3 must see its changes.

Forged requests are sent with `requests`, carrying the session cookie the
browser was given, as a cross-site form post would.
"""

import http.client
import re
import ssl
import urllib.parse

import requests

from conftest import unique_bucket_name
from console_browser import (  # noqa: F401 (fixtures)
    PREFIX, WAIT, WRONG_CREDENTIALS, By, bucket_exists, console, lone_key)


def test_sign_in_shows_buckets_and_sign_out_ends_the_session(server, s3,
                                                            console):
    mine = unique_bucket_name("console-seen")
    s3.create_bucket(Bucket=mine)
    console.open("", "root")
    assert console.path == PREFIX + "sign-in"
    console.sign_in(server.access_key, server.secret_key)
    assert console.path == PREFIX + "buckets"
    d = console.driver
    assert d.find_element(By.ID, "signed-in-key").text == server.access_key
    assert mine in console.bucket_names()
    created = d.find_element(
        By.CSS_SELECTOR, f'tr[data-bucket="{mine}"] td.created').text
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", created), created
    # The secret is in no page and no cookie.
    assert server.secret_key not in d.page_source
    for cookie in d.get_cookies():
        assert server.secret_key not in cookie["value"]
        if cookie["name"] == "shale_console":
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert cookie["path"] == PREFIX and not cookie["secure"]
            assert re.fullmatch(r"[0-9a-f]{64}", cookie["value"])
    old = console.session_cookie()
    assert old

    console.submit(d.find_element(By.ID, "sign-out"), "signed-out")
    assert console.path == PREFIX + "sign-in"
    assert console.session_cookie() is None
    console.open("buckets", "buckets-after-sign-out")
    assert console.path == PREFIX + "sign-in"
    # The old session id is dead on the server too, not only forgotten.
    r = requests.get(console.url("buckets"), cookies={"shale_console": old},
                     allow_redirects=False, timeout=WAIT)
    assert r.status_code == 303 and r.headers["location"] == PREFIX + "sign-in"


def test_wrong_secret_is_refused(server, console, lone_key):
    # Its last character changed (a secret may end in "x" already: 1 in 64).
    last = "y" if server.secret_key.endswith("x") else "x"
    console.sign_in(server.access_key, server.secret_key[:-1] + last)
    assert console.path == PREFIX + "sign-in"
    assert console.notice() == WRONG_CREDENTIALS
    assert console.session_cookie() is None
    console.sign_in("AKNOSUCHKEY000000000", "whatever-secret")
    assert console.notice() == WRONG_CREDENTIALS
    # The other key's secret does not open the root key.
    console.sign_in(server.access_key, lone_key["secret_key"])
    assert console.notice() == WRONG_CREDENTIALS
    assert console.session_cookie() is None
    console.open("buckets", "buckets-without-session")
    assert console.path == PREFIX + "sign-in"


def test_create_and_delete_a_bucket(server, s3, console):
    name = unique_bucket_name("console-made")
    console.sign_in(server.access_key, server.secret_key)
    console.create_bucket(name, versioning=True)
    assert console.path == PREFIX + "buckets"
    assert console.notice() == f"Bucket {name} created, with versioning enabled."
    assert name in console.bucket_names()
    assert bucket_exists(s3, name)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    owner = s3.get_bucket_acl(Bucket=name)["Owner"]
    assert owner.get("DisplayName") == server.access_key

    # S3's rules: a bucket with an object in it is not deleted.
    s3.put_object(Bucket=name, Key="keep.txt", Body=b"x")
    console.delete_bucket(name)
    assert "BucketNotEmpty" in console.notice()
    assert name in console.bucket_names()
    assert bucket_exists(s3, name)

    for v in s3.list_object_versions(Bucket=name).get("Versions", []):
        s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
    console.delete_bucket(name)
    assert console.notice() == f"Bucket {name} deleted."
    assert name not in console.bucket_names()
    assert not bucket_exists(s3, name)

    # A name S3 refuses: S3's message, shown as text (escaped).
    for bad in ("Bad<i>Name", "bad/<i>name"):
        console.create_bucket(bad)
        notice = console.notice()
        assert notice.startswith(f"Bucket {bad} was not created: "
                                 "InvalidBucketName"), notice
        assert not console.driver.find_elements(By.CSS_SELECTOR, "#notice i")
        assert bad not in console.bucket_names()


def test_a_key_without_grants_sees_only_its_own_buckets(server, s3, console,
                                                       lone_key):
    others = unique_bucket_name("console-root-only")
    s3.create_bucket(Bucket=others)
    console.sign_in(lone_key["access_key"], lone_key["secret_key"])
    assert console.path == PREFIX + "buckets"
    assert others not in console.bucket_names()
    own = unique_bucket_name("console-lone-own")
    console.create_bucket(own)
    names = console.bucket_names()
    assert own in names and others not in names
    lone = server.client(access_key=lone_key["access_key"],
                         secret_key=lone_key["secret_key"])
    assert [b["Name"] for b in lone.list_buckets()["Buckets"]] == names
    # Deleting a bucket it has no grant on is refused by S3, shown here.
    form_delete = requests.post(
        console.url("buckets/delete"),
        cookies={"shale_console": console.session_cookie()},
        data={"csrf": console.driver.find_element(
            By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value"),
            "name": others},
        allow_redirects=False, timeout=WAIT)
    assert form_delete.status_code == 303
    console.open("buckets", "after-refused-delete")
    assert "AccessDenied" in console.notice()
    assert bucket_exists(s3, others)


def test_forged_posts_change_nothing(server, s3, console):
    console.sign_in(server.access_key, server.secret_key)
    session = console.session_cookie()
    token = console.driver.find_element(
        By.CSS_SELECTOR, "#create-bucket-form input[name=csrf]"
    ).get_attribute("value")
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    standing = unique_bucket_name("console-standing")
    s3.create_bucket(Bucket=standing)
    wanted = unique_bucket_name("console-forged")
    jar = {"shale_console": session}

    def post(page, data, headers=None):
        return requests.post(console.url(page), cookies=jar, data=data,
                             headers=headers or {}, allow_redirects=False,
                             timeout=WAIT)

    for data in ({"name": wanted}, {"name": wanted, "csrf": ""},
                 {"name": wanted, "csrf": "0" * 64}):
        assert post("buckets/create", data).status_code == 403
        r = post("buckets/delete", {**data, "name": standing})
        assert r.status_code == 403
    # The right token from another site's page: refused by its Origin.
    r = post("buckets/create", {"name": wanted, "csrf": token},
             headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = post("sign-out", {"csrf": "0" * 64})
    assert r.status_code == 403
    assert not bucket_exists(s3, wanted)
    assert bucket_exists(s3, standing)

    # The same form with the token does what it says: the refusals above
    # were the token's doing.
    origin = server.endpoint
    r = post("buckets/create", {"name": wanted, "csrf": token},
             headers={"Origin": origin})
    assert r.status_code == 303, r.text
    assert bucket_exists(s3, wanted)
    console.open("buckets", "after-forgeries")
    assert wanted in console.bucket_names()
    assert standing in console.bucket_names()

    # Sign-in has its own token (no session yet): without it, no session.
    r = requests.post(console.url("sign-in"), data={
        "access_key": server.access_key, "secret_key": server.secret_key},
        allow_redirects=False, timeout=WAIT)
    assert r.status_code == 403 and "shale_console=" not in r.headers.get(
        "set-cookie", "")


def https_request(server, method, page, body=None, headers=None):
    """(status, [(header, value)], text) of one request to the console over
    HTTPS, trusting the server's own certificate."""
    ctx = ssl.create_default_context(cafile=server.cafile)
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx,
                                       timeout=WAIT)
    try:
        conn.request(method, PREFIX + page, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read().decode()
    finally:
        conn.close()


def test_cookie_is_secure_under_tls(tls_server):
    """Sign-in over HTTPS with a plain HTTP client: the session cookie's
    attributes, and the pages' protective headers."""
    status, headers, text = https_request(tls_server, "GET", "sign-in")
    assert status == 200
    h = {k.lower(): v for k, v in headers}
    assert "default-src 'none'" in h["content-security-policy"]
    assert h["x-frame-options"] == "DENY"
    assert h["cache-control"] == "no-store"
    signin = [v for k, v in headers if k.lower() == "set-cookie"]
    assert len(signin) == 1 and "; Secure" in signin[0], signin
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', text)[1]
    form = urllib.parse.urlencode({
        "csrf": token, "access_key": tls_server.access_key,
        "secret_key": tls_server.secret_key})
    status, headers, text = https_request(
        tls_server, "POST", "sign-in", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"shale_console_signin={token}",
            "Origin": tls_server.endpoint})
    assert status == 303, text
    cookies = [v for k, v in headers if k.lower() == "set-cookie"
               and v.startswith("shale_console=")]
    assert len(cookies) == 1, headers
    session = cookies[0].split(";")[0].split("=", 1)[1]
    attrs = {a.strip() for a in cookies[0].split(";")[1:]}
    assert {"HttpOnly", "SameSite=Strict", f"Path={PREFIX}",
            "Secure"} <= attrs, attrs
    status, _, text = https_request(tls_server, "GET", "buckets", headers={
        "Cookie": f"shale_console={session}"})
    assert status == 200 and 'id="signed-in-key"' in text
    assert tls_server.secret_key not in text
