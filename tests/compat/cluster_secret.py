"""The cluster secret from the tests' side: a secrets file for the roles a
test starts (`SHALE_CLUSTER_SECRET_FILE`), the key files of gateways and
storage nodes derived from it (as `shale admin cluster-secret derive`
writes them), and requests signed with it the way every role signs its
internal requests (common/src/cluster_auth.rs), as any tier, for the tests
that talk to a storage node or the metadata service directly.

Tiers: "root" (the secret itself: metadata replicas, the admin CLI),
"gateway", "node" (a storage node toward the metadata service), "data"
(anyone toward a storage node)."""

import http.client
import os
import secrets
import time

import blake3

PREFIX = "shale-cluster-v1:"
ROLE_PREFIX = "shale-role-key-v1:"
SECRETS_KEY_PREFIX = "shale-secrets-key-v1:"
HEADER = "x-shale-auth"
# The tier each role file holds (besides "data").
ROLE_TIER = {"gateway": "gateway", "storage-node": "node"}


def create(path):
    """A secrets file at `path` (0600) with one fresh secret; its text."""
    return _create_key_file(path, PREFIX)


def create_secrets_key(path):
    """A metadata secrets key file at `path` (0600); its text."""
    return _create_key_file(path, SECRETS_KEY_PREFIX)


def _create_key_file(path, prefix):
    text = prefix + secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return text


def all_secrets(path):
    """Every secret of the secrets file `path`, the signing one first."""
    return [line.strip() for line in open(path)
            if line.strip() and not line.strip().startswith("#")]


def derive(root_path, role, out_path):
    """Writes the key file of `role` ("gateway" or "storage-node") from the
    secrets file `root_path` (atomically, 0600), as `shale admin
    cluster-secret derive` does."""
    lines = []
    for secret in all_secrets(root_path):
        key = _key(secret)
        lines.append(f"{ROLE_PREFIX}{role}:{_id(key)}:{tier_key(key, ROLE_TIER[role]).hex()}:"
                     f"{tier_key(key, 'data').hex()}")
    tmp = f"{out_path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, out_path)


def tier_key(key, tier):
    """The key of `tier` under the cluster secret's bytes `key`."""
    if tier == "root":
        return key
    return blake3.blake3(key, derive_key_context=f"shale cluster tier key v1 {tier}").digest()


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


def sign(secret, method, path, host, body=b"", time_ms=None, nonce=None, tier="root"):
    """The `x-shale-auth` value of a request, signed as `tier`."""
    root = _key(secret)
    key = tier_key(root, tier)
    key_id = _id(root) if tier == "root" else f"{_id(root)}.{tier}"
    time_ms = int(time.time() * 1000) if time_ms is None else time_ms
    nonce = secrets.token_hex(16) if nonce is None else nonce
    body_hash = blake3.blake3(body).hexdigest()
    canonical = "\n".join(["shale-internal-v1", method, path, host, str(time_ms), nonce,
                           body_hash]).encode()
    mac = blake3.blake3(canonical, key=key).hexdigest()
    return f"v1 {key_id} {time_ms} {nonce} {body_hash} {mac}"


def request(secret, host, port, method, path, body=b"", headers=None, timeout=30,
            auth=None, tier="root"):
    """One request to a role at host:port, signed with `secret` as `tier`
    (unless `auth` gives the header's value, or `secret` is None:
    unsigned); (status, headers, body)."""
    authority = f"{host}:{port}"
    h = {"Host": authority, **(headers or {})}
    if auth is not None:
        h[HEADER] = auth
    elif secret is not None:
        h[HEADER] = sign(secret, method, path, authority, body, tier=tier)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()
