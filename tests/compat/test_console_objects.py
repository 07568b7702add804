"""The web console's Objects pages (`/_shale/console/b/<bucket>/…`) in a
real headless Chromium: the browser by prefix with paging, uploads through
the file picker (large files in parts, several at once, a progress bar
each), download, delete, a presigned link, metadata, tags and versions.

The browser and its page helpers are in console_browser.py. What the
console did is checked with boto3: the console is a client of the same S3
rules, so S3 must see its changes. Forged requests are sent with
`requests`, carrying the session cookie the browser was given.
"""

import concurrent.futures
import datetime
import http.client
import json
import urllib.parse

import pytest
import requests
from botocore.exceptions import ClientError
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import random_bytes, unique_bucket_name
from console_browser import (  # noqa: F401 (fixtures)
    PREFIX, WAIT, By, console, lone_key)

MIB = 1 << 20
UPLOAD_WAIT = 180  # seconds an upload through the browser may take


def browse(console, bucket, prefix=""):
    page = f"b/{bucket}/"
    if prefix:
        page += "?" + urllib.parse.urlencode({"prefix": prefix})
    console.open(page, f"browse-{bucket}")


def object_page(console, bucket, key, label="object"):
    console.open(f"b/{bucket}/object?" + urllib.parse.urlencode({"key": key}),
                 label)


def listed_keys(console):
    return [r.get_attribute("data-key") for r in
            console.driver.find_elements(By.CSS_SELECTOR, "tr.object")]


def listed_folders(console):
    return [r.get_attribute("data-prefix") for r in
            console.driver.find_elements(By.CSS_SELECTOR, "tr.folder")]


def pick_files(console, paths):
    """Picks `paths` in the upload form's file picker, as a user would."""
    picker = console.driver.find_element(By.ID, "files")
    picker.send_keys("\n".join(str(p) for p in paths))


def wait_uploaded(console, names):
    """Waits until each file's progress bar is full and marked done, then
    for the listing to be refreshed; a failed upload fails at once."""
    d = console.driver

    def settled(_):
        states = {}
        for name in names:
            rows = d.find_elements(By.CSS_SELECTOR,
                                   f'#uploads li[data-name="{name}"]')
            if not rows:
                return False
            state = rows[0].find_element(By.CSS_SELECTOR, ".state").text
            assert not state.startswith("failed"), (name, state)
            states[name] = state
        return all(s == "done" for s in states.values())

    WebDriverWait(d, UPLOAD_WAIT).until(settled)
    for name in names:
        bar = d.find_element(By.CSS_SELECTOR,
                             f'#uploads li[data-name="{name}"] progress')
        assert bar.get_attribute("value") == bar.get_attribute("max"), name
    WebDriverWait(d, WAIT).until(lambda d: d.execute_script(
        "return Number(document.body.dataset.uploadsSettled || 0)")
        >= len(names))
    console.shot("uploaded")


def csrf_token(console):
    return console.driver.find_element(
        By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")


def head_status(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return 200
    except ClientError as e:
        return int(e.response["ResponseMetadata"]["HTTPStatusCode"])


def test_upload_in_parts_download_link_and_delete(server, s3, console,
                                                   tmp_path):
    bucket = unique_bucket_name("console-objects")
    console.sign_in(server.access_key, server.secret_key)
    console.create_bucket(bucket)
    # The buckets page links each bucket to its browser.
    row = console.driver.find_element(
        By.CSS_SELECTOR, f'tr[data-bucket="{bucket}"] td.name a')
    console.submit(row, "bucket-opened")
    assert console.path == f"{PREFIX}b/{bucket}/"
    assert console.driver.find_elements(By.ID, "no-objects")

    data = random_bytes(20 * MIB)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    pick_files(console, [path])
    wait_uploaded(console, ["big.bin"])
    assert listed_keys(console) == ["big.bin"]
    size = console.driver.find_element(
        By.CSS_SELECTOR, 'tr.object[data-key="big.bin"]'
    ).get_attribute("data-size")
    assert size == str(len(data))

    got = s3.get_object(Bucket=bucket, Key="big.bin")
    assert got["Body"].read() == data
    # 20 MiB in parts of 8 MiB: a multipart upload of three parts.
    assert got["ETag"].endswith('-3"'), got["ETag"]

    # Download through the console, with the browser's session only.
    jar = {"shale_console": console.session_cookie()}
    href = console.driver.find_element(
        By.CSS_SELECTOR, 'tr.object[data-key="big.bin"] a.download'
    ).get_attribute("href")
    r = requests.get(href, cookies=jar, timeout=WAIT)
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-disposition"].startswith(
        'attachment; filename="big.bin"')
    # Without the session: the sign-in page, not the bytes.
    r = requests.get(href, allow_redirects=False, timeout=WAIT)
    assert r.status_code == 303 and r.headers["location"] == PREFIX + "sign-in"

    # The object page; a presigned link valid a day, fetched without cookies.
    link = console.driver.find_element(
        By.CSS_SELECTOR, 'tr.object[data-key="big.bin"] td.key a')
    console.submit(link, "object-page")
    d = console.driver
    assert d.find_element(By.ID, "meta-etag").text == got["ETag"]
    assert d.find_element(By.ID, "meta-size").text.endswith(
        f"({len(data)} bytes)")
    Select(d.find_element(By.ID, "expires")).select_by_value("86400")
    console.submit(d.find_element(By.ID, "make-link"), "link-made")
    url = d.find_element(By.ID, "link").get_attribute("value")
    assert url.startswith(f"{server.endpoint}/{bucket}/big.bin?"), url
    assert "X-Amz-Expires=86400" in url and server.secret_key not in url
    r = requests.get(url, timeout=WAIT)
    assert r.status_code == 200 and r.content == data

    # Delete from the object page: back to the listing, and gone from S3.
    console.submit(d.find_element(By.CSS_SELECTOR, "#metadata button.delete"),
                   "deleted")
    assert console.path == f"{PREFIX}b/{bucket}/"
    assert console.notice() == "big.bin deleted."
    assert listed_keys(console) == []
    assert head_status(s3, bucket, "big.bin") == 404


def test_two_files_at_once_into_a_folder(server, s3, console, tmp_path):
    bucket = unique_bucket_name("console-two")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="docs/readme.md", Body=b"#")
    console.sign_in(server.access_key, server.secret_key)
    browse(console, bucket)
    assert listed_folders(console) == ["docs/"]
    folder = console.driver.find_element(By.CSS_SELECTOR,
                                         'tr.folder[data-prefix="docs/"] a')
    console.submit(folder, "folder")
    assert listed_keys(console) == ["docs/readme.md"]
    crumbs = console.driver.find_element(By.ID, "breadcrumb").text
    assert bucket in crumbs and "docs" in crumbs

    small = b"hello from the console\n"
    mid = random_bytes(9 * MIB)  # just over one part: two parts
    (tmp_path / "note.txt").write_bytes(small)
    (tmp_path / "mid.bin").write_bytes(mid)
    pick_files(console, [tmp_path / "note.txt", tmp_path / "mid.bin"])
    wait_uploaded(console, ["note.txt", "mid.bin"])
    assert sorted(listed_keys(console)) == [
        "docs/mid.bin", "docs/note.txt", "docs/readme.md"]
    note = s3.get_object(Bucket=bucket, Key="docs/note.txt")
    assert note["Body"].read() == small
    assert note["ContentType"].startswith("text/plain")
    got = s3.get_object(Bucket=bucket, Key="docs/mid.bin")
    assert got["Body"].read() == mid and got["ETag"].endswith('-2"')


# Counts the console's UploadPart requests in flight in the page (the
# largest number at once in `partsMax`); with `failPart`, that part is
# sent for an upload that does not exist, so S3 refuses it. WebDriver's
# scripts are not the page's: the CSP does not stop them.
WATCH_PARTS = """
const open = XMLHttpRequest.prototype.open;
const send = XMLHttpRequest.prototype.send;
window.partsNow = 0;
window.partsMax = 0;
window.partsSent = [];
XMLHttpRequest.prototype.open = function (method, url) {
  const args = Array.from(arguments);
  const u = new URL(url, window.location.href);
  this.isPart = u.pathname.endsWith("/upload/part");
  if (this.isPart) {
    window.partsSent.push(Number(u.searchParams.get("part")));
    if (u.searchParams.get("part") === window.failPart) {
      u.searchParams.set("upload", "no-such-upload");
      args[1] = u.toString();
    }
  }
  return open.apply(this, args);
};
XMLHttpRequest.prototype.send = function () {
  if (this.isPart) {
    window.partsNow += 1;
    window.partsMax = Math.max(window.partsMax, window.partsNow);
    // Answered (or failed) at readyState 4, before "load" runs the
    // console's handlers, which may start the next part at once.
    this.addEventListener("readystatechange", function () {
      if (this.readyState === 4) {
        window.partsNow -= 1;
      }
    });
  }
  return send.apply(this, arguments);
};
"""


def watch_parts(console, fail_part=None):
    console.driver.execute_script(
        "window.failPart = arguments[0];" + WATCH_PARTS,
        str(fail_part) if fail_part else None)


def test_parts_of_a_large_file_go_three_at_once(server, s3, console,
                                                tmp_path):
    bucket = unique_bucket_name("console-parallel")
    s3.create_bucket(Bucket=bucket)
    console.sign_in(server.access_key, server.secret_key)
    browse(console, bucket)
    data = random_bytes(30 * MIB)  # four parts: 8, 8, 8 and 6 MiB
    path = tmp_path / "four.bin"
    path.write_bytes(data)
    watch_parts(console)
    pick_files(console, [path])
    wait_uploaded(console, ["four.bin"])
    d = console.driver
    assert d.execute_script("return window.partsMax") == 3
    assert sorted(d.execute_script("return window.partsSent")) == [1, 2, 3, 4]
    got = s3.get_object(Bucket=bucket, Key="four.bin")
    assert got["Body"].read() == data
    # Completed with the parts in their order, whichever finished first.
    assert got["ETag"].endswith('-4"'), got["ETag"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_failed_part_aborts_the_upload_and_says_why(server, s3, console,
                                                      tmp_path):
    bucket = unique_bucket_name("console-part-fails")
    s3.create_bucket(Bucket=bucket)
    console.sign_in(server.access_key, server.secret_key)
    browse(console, bucket)
    path = tmp_path / "broken.bin"
    path.write_bytes(random_bytes(30 * MIB))
    watch_parts(console, fail_part=2)
    pick_files(console, [path])
    d = console.driver
    state = WebDriverWait(d, UPLOAD_WAIT).until(
        lambda d: [e.text for e in d.find_elements(
            By.CSS_SELECTOR, '#uploads li[data-name="broken.bin"] .state')
            if e.text.startswith("failed")])
    console.shot("part-failed")
    assert "NoSuchUpload" in state[0], state
    WebDriverWait(d, WAIT).until(lambda d: d.execute_script(
        "return Number(document.body.dataset.uploadsSettled || 0)") >= 1)
    # No part after the failure was started (the fourth waits for a free
    # slot, and none is taken once a part failed).
    assert 4 not in d.execute_script("return window.partsSent")
    # The upload is aborted (console.js sends the abort without waiting
    # for it: poll) and no object was written.
    WebDriverWait(d, WAIT).until(lambda _: s3.list_multipart_uploads(
        Bucket=bucket).get("Uploads", []) == [])
    assert head_status(s3, bucket, "broken.bin") == 404


def test_paging_over_many_keys_and_folders(server, s3, console):
    bucket = unique_bucket_name("console-paging")
    s3.create_bucket(Bucket=bucket)
    keys = [f"k{i:03d}" for i in range(250)]
    folders = [f"dir{j}/" for j in range(3)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x"),
                      keys + [f + "inner.txt" for f in folders]))
    console.sign_in(server.access_key, server.secret_key)
    browse(console, bucket)
    seen_keys, seen_folders, pages = [], [], 0
    while True:
        pages += 1
        seen_keys += listed_keys(console)
        seen_folders += listed_folders(console)
        nxt = console.driver.find_elements(By.ID, "next-page")
        if not nxt:
            break
        assert pages < 10
        console.submit(nxt[0], f"page-{pages + 1}")
        assert console.driver.find_elements(By.ID, "first-page")
    # 253 entries at 100 a page (keys and folders both count, as in S3).
    assert pages == 3
    assert seen_keys == keys
    assert seen_folders == folders
    # A folder holds its own keys only.
    browse(console, bucket, "dir1/")
    assert listed_keys(console) == ["dir1/inner.txt"]
    assert listed_folders(console) == []
    assert not console.driver.find_elements(By.ID, "next-page")


def test_versions_restore_and_delete_markers(server, s3, console):
    bucket = unique_bucket_name("console-versions")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket,
                             VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"two")["VersionId"]
    # Another key with this one as prefix is not one of its versions.
    s3.put_object(Bucket=bucket, Key="doc.txt.bak", Body=b"bak")
    marker = s3.delete_object(Bucket=bucket, Key="doc.txt")["VersionId"]

    console.sign_in(server.access_key, server.secret_key)
    object_page(console, bucket, "doc.txt", "versions")
    d = console.driver
    # The current version is a delete marker: shown as such.
    assert "is a delete marker" in d.find_element(By.ID, "head-error").text
    rows = d.find_elements(By.CSS_SELECTOR, "#versions tr.version")
    assert [r.get_attribute("data-version") for r in rows] == [marker, v2, v1]
    assert rows[0].get_attribute("data-marker") == "true"
    assert rows[0].get_attribute("data-latest") == "true"
    assert "delete marker" in rows[0].text
    d.execute_script(
        "document.getElementById('versions-section').scrollIntoView()")
    console.shot("versions-table")

    restore = d.find_element(
        By.CSS_SELECTOR, f'tr.version[data-version="{v1}"] button.restore')
    console.submit(restore, "restored")
    assert console.notice().startswith(f"Version {v1} of doc.txt restored")
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"one"
    rows = d.find_elements(By.CSS_SELECTOR, "#versions tr.version")
    assert len(rows) == 4 and rows[0].get_attribute("data-latest") == "true"
    assert not d.find_elements(By.ID, "head-error")

    # Delete one version (v2) exactly; the others stay.
    button = d.find_element(
        By.CSS_SELECTOR, f'tr.version[data-version="{v2}"] button.delete-version')
    console.submit(button, "version-deleted")
    assert console.notice() == f"Version {v2} of doc.txt deleted."
    left = [v["VersionId"] for v in s3.list_object_versions(
        Bucket=bucket, Prefix="doc.txt").get("Versions", [])
        if v["Key"] == "doc.txt"]
    assert v2 not in left and v1 in left and len(left) == 2


def test_metadata_and_tags(server, s3, console):
    bucket = unique_bucket_name("console-tags")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"tagged",
                  ContentType="text/plain", Metadata={"owner": "ana"})
    s3.put_object_tagging(Bucket=bucket, Key="a/b.txt", Tagging={
        "TagSet": [{"Key": "team", "Value": "red"}]})
    console.sign_in(server.access_key, server.secret_key)
    object_page(console, bucket, "a/b.txt", "metadata")
    d = console.driver
    assert d.find_element(By.ID, "meta-type").text == "text/plain"
    assert d.find_element(
        By.CSS_SELECTOR, 'tr.user-meta[data-name="owner"] td').text == "ana"
    assert d.find_element(
        By.CSS_SELECTOR, 'tr.tag[data-name="team"] td').text == "red"
    text = d.find_element(By.ID, "tags-text")
    text.clear()
    text.send_keys("team=blue\nenv=prod + test")
    console.submit(d.find_element(By.ID, "save-tags"), "tags-saved")
    assert console.notice() == "Tags of a/b.txt saved."
    tags = s3.get_object_tagging(Bucket=bucket, Key="a/b.txt")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {
        "team": "blue", "env": "prod + test"}
    assert d.find_element(
        By.CSS_SELECTOR, 'tr.tag[data-name="env"] td').text == "prod + test"
    # A line S3 never sees: refused by the form, tags unchanged.
    text = d.find_element(By.ID, "tags-text")
    text.clear()
    text.send_keys("no equals sign")
    console.submit(d.find_element(By.ID, "save-tags"), "tags-refused")
    assert console.notice().startswith("The tags were not changed")
    assert len(s3.get_object_tagging(Bucket=bucket, Key="a/b.txt")["TagSet"]) == 2


def test_object_lock_state_on_the_object_page(server, s3, console):
    plain = unique_bucket_name("console-unlocked")
    s3.create_bucket(Bucket=plain)
    s3.put_object(Bucket=plain, Key="free.txt", Body=b"free")
    locked = unique_bucket_name("console-locked")
    s3.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
    until = (datetime.datetime.now(datetime.timezone.utc)
             + datetime.timedelta(days=1)).replace(microsecond=0)
    s3.put_object(Bucket=locked, Key="kept.txt", Body=b"kept")
    s3.put_object_retention(Bucket=locked, Key="kept.txt", Retention={
        "Mode": "GOVERNANCE", "RetainUntilDate": until})
    s3.put_object_legal_hold(Bucket=locked, Key="kept.txt",
                             LegalHold={"Status": "ON"})
    s3.put_object(Bucket=locked, Key="loose.txt", Body=b"loose")
    console.sign_in(server.access_key, server.secret_key)
    d = console.driver

    object_page(console, locked, "kept.txt", "object-lock")
    assert d.find_element(By.ID, "lock-mode").text == "GOVERNANCE"
    shown = d.find_element(By.ID, "lock-until").text
    assert shown.startswith(until.strftime("%Y-%m-%dT%H:%M:%S")), shown
    assert d.find_element(By.ID, "legal-hold").text == "ON"

    object_page(console, locked, "loose.txt", "object-lock-none")
    assert d.find_element(By.ID, "lock-retention").text == "none"
    assert d.find_element(By.ID, "legal-hold").text == "never set"

    # Without Object Lock on the bucket, no such section at all.
    object_page(console, plain, "free.txt", "object-no-lock")
    assert d.find_elements(By.ID, "metadata")
    assert not d.find_elements(By.ID, "lock-section")


def test_forged_uploads_and_deletes_change_nothing(server, s3, console):
    bucket = unique_bucket_name("console-forged-obj")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="keep.txt", Body=b"keep")
    console.sign_in(server.access_key, server.secret_key)
    browse(console, bucket)
    token = csrf_token(console)
    jar = {"shale_console": console.session_cookie()}
    base = console.url(f"b/{bucket}/")

    def post(step, key, headers=None, body=b"forged", **params):
        url = base + step + "?" + urllib.parse.urlencode({"key": key, **params})
        return requests.post(url, cookies=jar, data=body, headers=headers or {},
                             allow_redirects=False, timeout=WAIT)

    for headers in ({}, {"X-Shale-CSRF": ""}, {"X-Shale-CSRF": "0" * 64},
                    {"X-Shale-CSRF": token, "Origin": "http://evil.example"}):
        assert post("upload/put", "forged.txt", headers).status_code == 403
        assert post("upload/create", "forged-mp.txt", headers,
                    body=b"").status_code == 403
        r = requests.post(base + "delete", cookies=jar, timeout=WAIT,
                          allow_redirects=False, headers=headers,
                          data={"key": "keep.txt",
                                "csrf": headers.get("X-Shale-CSRF", "")})
        assert r.status_code == 403
    # Without a session at all: no upload either.
    r = requests.post(base + "upload/put?key=forged.txt", data=b"x",
                      headers={"X-Shale-CSRF": token}, timeout=WAIT)
    assert r.status_code == 401
    assert head_status(s3, bucket, "forged.txt") == 404
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3.get_object(Bucket=bucket, Key="keep.txt")["Body"].read() == b"keep"

    # A body over the limit is refused before S3 sees it (from its
    # Content-Length: the body is never sent).
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    try:
        conn.putrequest("POST", f"{PREFIX}b/{bucket}/upload/put?key=huge.bin")
        conn.putheader("Cookie", f"shale_console={jar['shale_console']}")
        conn.putheader("X-Shale-CSRF", token)
        conn.putheader("Content-Length", str(16 * MIB + 1))
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 413
        assert "MiB" in json.loads(resp.read())["error"]
    finally:
        conn.close()
    assert head_status(s3, bucket, "huge.bin") == 404

    # An object's form is URL-encoded or nothing, as every console form:
    # with the right token, a text/plain or multipart body (which another
    # site's form could send without a preflight) changes nothing.
    for kind in ({"data": f"key=keep.txt&csrf={token}",
                  "headers": {"Content-Type": "text/plain"}},
                 {"files": {"key": (None, "keep.txt"), "csrf": (None, token)}}):
        r = requests.post(base + "delete", cookies=jar, allow_redirects=False,
                          timeout=WAIT, **kind)
        assert r.status_code == 415, r.text
    assert s3.get_object(Bucket=bucket, Key="keep.txt")["Body"].read() == b"keep"

    # With the token, the same requests do what they say.
    r = post("upload/put", "forged.txt", {"X-Shale-CSRF": token,
                                          "Origin": server.endpoint})
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="forged.txt")["Body"].read() == b"forged"
    r = requests.post(base + "delete", cookies=jar, allow_redirects=False,
                      data={"key": "keep.txt", "csrf": token}, timeout=WAIT)
    assert r.status_code == 303
    assert head_status(s3, bucket, "keep.txt") == 404
    # An upload begun and aborted (as console.js does on a failure) leaves
    # no upload behind.
    ok = {"X-Shale-CSRF": token}
    upload = post("upload/create", "aborted.bin", ok, body=b"").json()["upload"]
    r = post("upload/part", "aborted.bin", ok, body=b"x" * 1024,
             upload=upload, part=1)
    assert r.status_code == 200 and r.json()["etag"], r.text
    assert [u["UploadId"] for u in s3.list_multipart_uploads(
        Bucket=bucket).get("Uploads", [])] == [upload]
    assert post("upload/abort", "aborted.bin", ok, body=b"",
                upload=upload).status_code == 200
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert head_status(s3, bucket, "aborted.bin") == 404


def test_pages_allow_only_the_consoles_own_script(server, console):
    console.sign_in(server.access_key, server.secret_key)
    jar = {"shale_console": console.session_cookie()}
    r = requests.get(console.url("buckets"), cookies=jar, timeout=WAIT)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe" not in csp and "default-src 'none'" in csp
    assert '<script src="/_shale/console/console.js" defer></script>' in r.text
    assert "<script>" not in r.text
    js = requests.get(console.url("console.js"), timeout=WAIT)
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert js.headers["x-content-type-options"] == "nosniff"
    assert "X-Shale-CSRF" in js.text and "eval(" not in js.text


def test_a_key_without_grants_cannot_browse_anothers_bucket(server, s3, console,
                                                          lone_key, tmp_path):
    bucket = unique_bucket_name("console-not-yours")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"root only")
    console.sign_in(lone_key["access_key"], lone_key["secret_key"])
    browse(console, bucket)
    error = console.driver.find_element(By.ID, "list-error").text
    assert "AccessDenied" in error, error
    assert listed_keys(console) == []
    token = csrf_token(console)
    jar = {"shale_console": console.session_cookie()}
    # An upload through the picker fails with S3's answer, shown by its bar.
    (tmp_path / "intruder.txt").write_bytes(b"x")
    pick_files(console, [tmp_path / "intruder.txt"])
    state = WebDriverWait(console.driver, WAIT).until(
        lambda d: [e.text for e in d.find_elements(
            By.CSS_SELECTOR, '#uploads li[data-name="intruder.txt"] .state')
            if e.text.startswith("failed")])
    assert "AccessDenied" in state[0], state
    console.shot("upload-refused")
    # Nor download, upload, tag or delete in it: S3 refuses each.
    r = requests.get(console.url(f"b/{bucket}/download?key=secret.txt"),
                     cookies=jar, timeout=WAIT)
    assert r.status_code == 403 and b"root only" not in r.content
    assert "AccessDenied" in r.text
    r = requests.post(console.url(f"b/{bucket}/upload/put?key=intruder.txt"),
                      cookies=jar, data=b"x", timeout=WAIT,
                      headers={"X-Shale-CSRF": token})
    assert r.status_code == 403 and "AccessDenied" in r.json()["error"]
    r = requests.post(console.url(f"b/{bucket}/delete"), cookies=jar,
                      data={"key": "secret.txt", "csrf": token},
                      allow_redirects=False, timeout=WAIT)
    assert r.status_code == 303
    object_page(console, bucket, "secret.txt", "refused-delete")
    assert "AccessDenied" in console.notice()
    assert head_status(s3, bucket, "intruder.txt") == 404
    assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"root only"


@pytest.mark.parametrize("page,status", [
    ("b/x/", 303), ("b/x/object", 303), ("b/x/download", 303),
    ("b/x", 303),
    ("b/x/delete", 405), ("b/x/upload/put", 405)])
def test_object_pages_need_a_session(server, page, status):
    r = requests.get(f"{server.endpoint}{PREFIX}{page}?key=k",
                     allow_redirects=False, timeout=WAIT)
    assert r.status_code == status
    if status == 303 and page != "b/x":
        assert r.headers["location"] == PREFIX + "sign-in"
    elif status == 303:
        assert r.headers["location"] == PREFIX + "b/x/"


def test_an_object_page_without_a_key_is_the_bucket(server, s3, console):
    bucket = unique_bucket_name("console-nokey")
    s3.create_bucket(Bucket=bucket)
    console.sign_in(server.access_key, server.secret_key)
    for page in ("object", "download?key="):
        console.open(f"b/{bucket}/{page}", "no-key")
        assert console.path == f"{PREFIX}b/{bucket}/"
