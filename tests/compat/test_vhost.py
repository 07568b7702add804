"""Virtual-host-style addressing (`shale dev --domain localhost`):
`bucket.localhost:port` addresses `bucket`, and path-style keeps working on
the same server. Nothing relies on DNS: requests go to 127.0.0.1 with the
Host header set (`server.client(host=...)`, `fetch_url`, `raw_request`)."""

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (assert_client_error, assert_s3_error, fetch_url,
                      random_bytes, raw_request, unique_bucket_name)

VIRTUAL = {"addressing_style": "virtual"}


def clients(server):
    """(name, client) of every style and signature version."""
    return [
        ("virtual sigv4", server.client(
            host="localhost", config=Config(s3=VIRTUAL))),
        ("virtual sigv2", server.client(
            host="localhost",
            config=Config(signature_version="s3", s3=VIRTUAL))),
        ("path on a name", server.client(
            host="localhost", config=Config(s3={"addressing_style": "path"}))),
        ("path on 127.0.0.1", server.client()),
    ]


def seen_hosts(client):
    """Records the Host each request of `client` goes to."""
    hosts = []
    client.meta.events.register(
        "before-send.s3",
        lambda request, **kw: hosts.append(
            request.url.split("/")[2]) and None)
    return hosts


@pytest.mark.parametrize("style", range(4), ids=[
    "virtual-sigv4", "virtual-sigv2", "path-on-name", "path-on-ip"])
def test_bucket_lifecycle_in_each_style(vhost_server, style):
    what, c = clients(vhost_server)[style]
    hosts = seen_hosts(c)
    name = unique_bucket_name("vh")
    c.create_bucket(Bucket=name)
    body = random_bytes(100_000)
    c.put_object(Bucket=name, Key="a/b c.bin", Body=body)
    c.put_object(Bucket=name, Key="small", Body=b"small")
    assert c.get_object(Bucket=name, Key="a/b c.bin")["Body"].read() == body
    listed = c.list_objects_v2(Bucket=name)
    assert [o["Key"] for o in listed["Contents"]] == ["a/b c.bin", "small"]
    assert name in [b["Name"] for b in c.list_buckets()["Buckets"]]
    c.delete_object(Bucket=name, Key="a/b c.bin")
    c.delete_object(Bucket=name, Key="small")
    c.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        c.head_bucket(Bucket=name)
    assert_client_error(exc, 404)
    # The client really used the style under test.
    if what.startswith("virtual"):
        assert f"{name}.localhost:{vhost_server.port}" in hosts, hosts
    else:
        assert all(not h.startswith(name) for h in hosts), hosts


def test_both_styles_see_the_same_objects(vhost_server):
    path = vhost_server.client()
    virtual = vhost_server.client(host="localhost",
                                  config=Config(s3=VIRTUAL))
    name = unique_bucket_name("vh-both")
    virtual.create_bucket(Bucket=name)
    path.put_object(Bucket=name, Key="from-path", Body=b"p")
    virtual.put_object(Bucket=name, Key="from-virtual", Body=b"v")
    for c in (path, virtual):
        assert [o["Key"] for o in c.list_objects_v2(Bucket=name)[
            "Contents"]] == ["from-path", "from-virtual"]
        assert c.get_object(Bucket=name, Key="from-path")["Body"].read() == b"p"
        assert c.get_object(Bucket=name, Key="from-virtual")[
            "Body"].read() == b"v"


def test_host_header_forms(vhost_server):
    """Port or none, any case: the Host names the bucket; raw requests."""
    s3 = vhost_server.client()
    name = unique_bucket_name("vh-raw")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"raw")
    presign = vhost_server.client(
        host="localhost",
        config=Config(signature_version="s3v4", s3=VIRTUAL))
    url = presign.generate_presigned_url(
        "get_object", Params={"Bucket": name, "Key": "k"}, ExpiresIn=600)
    assert url.startswith(f"http://{name}.localhost:{vhost_server.port}/k?")
    status, _, data = fetch_url(url)
    assert (status, data) == (200, b"raw")
    # The signature covers the Host: another bucket's host does not match.
    assert_s3_error(fetch_url(url, headers={
        "Host": f"other-{name}.localhost:{vhost_server.port}"}),
        403, "SignatureDoesNotMatch")
    # Unsigned requests on a virtual host are refused like path-style ones.
    for host in (f"{name}.localhost:{vhost_server.port}",
                 f"{name}.localhost", f"{name.upper()}.LOCALHOST"):
        assert_s3_error(raw_request(vhost_server.endpoint, "GET", "/k",
                                    headers={"Host": host}),
                        403, "AccessDenied")
    # A host outside the domain is path-style: /bucket/key.
    v2 = vhost_server.client(config=Config(signature_version="s3",
                                           s3={"addressing_style": "path"}))
    url = v2.generate_presigned_url(
        "get_object", Params={"Bucket": name, "Key": "k"}, ExpiresIn=600)
    status, _, data = fetch_url(url, headers={"Host": "gateway.example"})
    assert (status, data) == (200, b"raw")


def test_virtual_host_errors_name_the_resource(vhost_server):
    c = vhost_server.client(host="localhost", config=Config(s3=VIRTUAL))
    name = unique_bucket_name("vh-err")
    c.create_bucket(Bucket=name)
    presign = vhost_server.client(
        host="localhost", config=Config(signature_version="s3v4", s3=VIRTUAL))
    url = presign.generate_presigned_url(
        "get_object", Params={"Bucket": name, "Key": "missing"},
        ExpiresIn=600)
    fields = assert_s3_error(fetch_url(url), 404, "NoSuchKey")
    assert fields["Resource"] == f"/{name}/missing"
    url = presign.generate_presigned_url(
        "get_object", Params={"Bucket": "no-such-" + name, "Key": "k"},
        ExpiresIn=600)
    assert_s3_error(fetch_url(url), 404, "NoSuchBucket")
