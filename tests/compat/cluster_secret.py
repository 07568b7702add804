"""The cluster secret from the tests' side: a secrets file for the roles a
test starts (`SHALE_CLUSTER_SECRET_FILE`), and requests signed with it the
way every role signs its internal requests (common/src/cluster_auth.rs), for
the tests that talk to a storage node or the metadata service directly."""

import http.client
import os
import secrets
import time

import blake3

PREFIX = "shale-cluster-v1:"
HEADER = "x-shale-auth"


def create(path):
    """A secrets file at `path` (0600) with one fresh secret; its text."""
    text = PREFIX + secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return text


def signing_secret(path):
    """The secret that signs (the first one) in the secrets file `path`."""
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            return line
    raise ValueError(f"{path}: no secret")


def _key(secret):
    return bytes.fromhex(secret[len(PREFIX):])


def secret_id(secret):
    """The public id of `secret`, as `shale admin cluster-secret list`
    shows it."""
    return _id(_key(secret))


def _id(key):
    return blake3.blake3(key, derive_key_context="shale cluster secret id v1").digest()[:4].hex()


def sign(secret, method, path, host, body=b"", time_ms=None, nonce=None):
    """The `x-shale-auth` value of a request."""
    key = _key(secret)
    time_ms = int(time.time() * 1000) if time_ms is None else time_ms
    nonce = secrets.token_hex(16) if nonce is None else nonce
    body_hash = blake3.blake3(body).hexdigest()
    canonical = "\n".join(["shale-internal-v1", method, path, host, str(time_ms), nonce,
                           body_hash]).encode()
    mac = blake3.blake3(canonical, key=key).hexdigest()
    return f"v1 {_id(key)} {time_ms} {nonce} {body_hash} {mac}"


def request(secret, host, port, method, path, body=b"", headers=None, timeout=30,
            auth=None):
    """One request to a role at host:port, signed with `secret` (unless
    `auth` gives the header's value, or `secret` is None: unsigned);
    (status, headers, body)."""
    authority = f"{host}:{port}"
    h = {"Host": authority, **(headers or {})}
    if auth is not None:
        h[HEADER] = auth
    elif secret is not None:
        h[HEADER] = sign(secret, method, path, authority, body)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()
