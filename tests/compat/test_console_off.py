"""A gateway without its web console (`shale dev --no-console`, or
`console = false` under `[gateway]` in a config file).

Off, the console's paths are S3 requests like any other: `_shale` is not
a valid bucket name, so each is answered as a request for any other
bucket named with `_` is (400 InvalidBucketName), with no page, no
cookie and no console headers. On (the default, the shared server),
the same paths are the console's.
"""

import pytest

from conftest import ServerFactory, assert_s3_error, parse_error, raw_request

# The console's paths, and one request of each kind it answers: pages,
# its assets, an Objects page, the sign-in form and an upload.
REQUESTS = [
    ("GET", "/_shale/console", None, {}),
    ("GET", "/_shale/console/", None, {}),
    ("GET", "/_shale/console/sign-in", None, {}),
    ("HEAD", "/_shale/console/sign-in", None, {}),
    ("GET", "/_shale/console/console.js", None, {}),
    ("GET", "/_shale/console/style.css", None, {}),
    ("GET", "/_shale/console/b/some-bucket/?prefix=a%2F", None, {}),
    ("POST", "/_shale/console/sign-in", b"csrf=x&access_key=a&secret_key=b",
     {"Content-Type": "application/x-www-form-urlencoded"}),
    ("POST", "/_shale/console/b/some-bucket/upload/put?key=k", b"bytes",
     {"X-Shale-CSRF": "0" * 64}),
]


@pytest.fixture(scope="module")
def off_server(tmp_path_factory):
    """A private `shale dev --no-console`, stopped by PID at the end."""
    factory = ServerFactory(tmp_path_factory.mktemp("console-off"))
    try:
        yield factory.new(extra_args=["--no-console"])
    finally:
        factory.close()


def no_console_trace(headers):
    assert "set-cookie" not in headers, headers
    assert "content-security-policy" not in headers, headers
    assert not headers.get("content-type", "").startswith(
        ("text/html", "text/css", "text/javascript")), headers


@pytest.mark.parametrize("method,path,body,headers", REQUESTS)
def test_console_paths_are_s3_requests_when_off(off_server, method, path,
                                                body, headers):
    answer = raw_request(off_server.endpoint, method, path, headers=headers,
                         body=body)
    no_console_trace(answer[1])
    assert_s3_error(answer, 400, "InvalidBucketName", method=method)
    if method != "HEAD":
        # Exactly what another `_` bucket gets, but for its name.
        other = raw_request(off_server.endpoint, method,
                            path.replace("/_shale/", "/_other/", 1),
                            headers=headers, body=body)
        fields, expected = parse_error(answer[2]), parse_error(other[2])
        assert other[0] == answer[0]
        for name in ("Code", "Message"):
            assert fields[name] == expected[name], (fields, expected)


def test_s3_still_answers_when_the_console_is_off(off_server):
    s3 = off_server.client()
    s3.create_bucket(Bucket="still-here")
    s3.put_object(Bucket="still-here", Key="k", Body=b"v")
    assert s3.get_object(Bucket="still-here", Key="k")["Body"].read() == b"v"


def test_the_console_is_on_by_default(server):
    status, headers, body = raw_request(server.endpoint, "GET",
                                        "/_shale/console/sign-in")
    assert status == 200, body
    assert headers["content-type"].startswith("text/html")
    assert "shale_console_signin=" in headers.get("set-cookie", "")
    assert "content-security-policy" in headers
