"""Harness for the S3 compatibility suite: starts the real `shale dev` binary.

Every server is a real process on a free 127.0.0.1 port with its own temporary
data directory. It is started in a new session, stopped by PID (SIGTERM, then
SIGKILL after a timeout) and its directory is removed afterwards. Readiness is
polled with a deadline (`list_buckets` must succeed); nothing sleeps a fixed
time. Tests own their bucket names (see `unique_bucket_name`), so the
session-scoped server can be shared by every test and tests can run in
parallel.

Clients are boto3 and the AWS CLI with their default settings: the only things
set are the endpoint, the credentials, the region and path-style addressing.
"""

import hashlib
import http.client
import importlib.util
import io
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import pytest
import urllib3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

import ports
import volumes

REPO_ROOT = Path(__file__).resolve().parents[2]
KIB = 1024
MIB = 1024 * 1024
READY_TIMEOUT = float(os.environ.get("SHALE_READY_TIMEOUT", "60"))
STOP_TIMEOUT = 30.0
AWS_CLI_TIMEOUT = 600
LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------
# Process-wide client environment: default settings, loopback only.
# --------------------------------------------------------------------------

_EMPTY_AWS_CONFIG = tempfile.NamedTemporaryFile(
    prefix="shale-compat-aws-config-", suffix=".ini", delete=False
)
_EMPTY_AWS_CONFIG.close()


def _client_env(base=None):
    """A copy of the environment with no AWS settings that could change client
    defaults (profiles, config files, checksum modes) and no proxies."""
    env = dict(os.environ if base is None else base)
    for name in list(env):
        if name.startswith("AWS_") or name.lower() in (
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ):
            del env[name]
    env["AWS_CONFIG_FILE"] = _EMPTY_AWS_CONFIG.name
    env["AWS_SHARED_CREDENTIALS_FILE"] = _EMPTY_AWS_CONFIG.name
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def pytest_configure(config):
    # boto3 runs in this process: make sure a developer's ~/.aws/config or
    # AWS_* variables cannot change its defaults, and that no proxy is used.
    clean = _client_env()
    for name in list(os.environ):
        if name not in clean:
            del os.environ[name]
    os.environ.update(clean)


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def shale_bin():
    """Path of the binary under test: $SHALE_BIN, else the cargo debug build."""
    if os.environ.get("SHALE_BIN"):
        return Path(os.environ["SHALE_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO_ROOT / "target")
    if not target.is_absolute():
        target = REPO_ROOT / target
    return target / "debug" / "shale"


def free_port(span=1):
    return ports.free_port(LOOPBACK, span=span)


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            h.update(block)
    return h.hexdigest()


def random_bytes(n):
    return os.urandom(n)


def canonical_id(access_key):
    """The canonical user id Shale answers for an access key (`acl.rs`):
    SHA-256 of a fixed domain string and the key id, in lowercase hex."""
    return hashlib.sha256(
        b"shale canonical user id v1\0" + access_key.encode()).hexdigest()


def unique_bucket_name(hint="t"):
    """A valid, unique S3 bucket name (lowercase, 3-63 chars)."""
    hint = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-")[:40] or "t"
    return f"{hint}-{uuid.uuid4().hex[:12]}"


def error_code(exc):
    return exc.response.get("Error", {}).get("Code")


def http_status(exc_or_response):
    resp = getattr(exc_or_response, "response", exc_or_response)
    return resp["ResponseMetadata"]["HTTPStatusCode"]


def raw_request(endpoint, method, path, headers=None, body=None, cafile=None,
                timeout=60):
    """One HTTP(S) request to the loopback endpoint, with no client magic.

    `path` is the raw request target (already percent-encoded, with query).
    Returns (status, headers dict with lower-case names, body bytes).
    """
    url = urllib.parse.urlsplit(endpoint)
    assert url.hostname in (LOOPBACK, "localhost"), url
    if url.scheme == "https":
        ctx = ssl.create_default_context(cafile=cafile)
        conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx,
                                           timeout=timeout)
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port,
                                          timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def sigv4_headers(server, method, path, headers=None):
    """The headers of a SigV4-signed request to `path` (the raw request
    target, with query), for requests boto3 will not send: the payload is
    UNSIGNED-PAYLOAD, and every header given is signed (values may hold
    non-ASCII text: send them as UTF-8 bytes)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    request = AWSRequest(method=method, url=server.endpoint + path, headers={
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD", **(headers or {})})
    SigV4Auth(Credentials(server.access_key, server.secret_key), "s3",
              "us-east-1").add_auth(request)
    return dict(request.headers.items())


def fetch_url(url, method="GET", body=None, headers=None, cafile=None):
    """Fetch a full URL (e.g. a presigned one) on the loopback endpoint.

    A URL on a virtual host (`bucket.localhost:port`) is sent to 127.0.0.1
    with that Host header: no DNS involved."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    endpoint = f"{parts.scheme}://{parts.netloc}"
    if parts.hostname not in (LOOPBACK, "localhost"):
        assert parts.hostname.endswith(".localhost"), url
        headers = {"Host": parts.netloc, **(headers or {})}
        endpoint = f"{parts.scheme}://{LOOPBACK}:{parts.port}"
    return raw_request(endpoint, method, target, headers=headers, body=body,
                       cafile=cafile)


def aws_cli_command():
    """The AWS CLI from requirements.txt (same Python as boto3), else `aws`."""
    if importlib.util.find_spec("awscli") is not None:
        return [sys.executable, "-m", "awscli"]
    return [shutil.which("aws") or "aws"]


def make_self_signed_cert(directory):
    """A self-signed certificate for localhost and 127.0.0.1, via openssl."""
    directory = Path(directory)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class PortTaken(Exception):
    """The server could not bind its port (someone else took it)."""


class ShaleServer:
    """A `shale dev` process on a data directory that outlives restarts."""

    def __init__(self, data_dir, log_dir, tls=None, access_key=None,
                 secret_key=None, domains=(), extra_args=()):
        self.data_dir = Path(data_dir)
        self.extra_args = list(extra_args)  # more `shale dev` flags
        self.log_dir = Path(log_dir)
        self.tls = tls  # (cert_path, key_path) or None
        self.domains = tuple(domains)  # for virtual-host-style addressing
        self.access_key = access_key or "AKSH" + "".join(
            secrets.choice(string.ascii_uppercase + string.digits)
            for _ in range(16))
        self.secret_key = secret_key or secrets.token_urlsafe(30)[:40]
        self.proc = None
        self.port = None
        self.starts = 0
        self._log = None

    # -- lifecycle ---------------------------------------------------------

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def endpoint(self):
        return f"{self.scheme}://{LOOPBACK}:{self.port}"

    @property
    def cafile(self):
        return str(self.tls[0]) if self.tls else None

    @property
    def log_path(self):
        return self.log_dir / f"shale-{self.starts}.log"

    def start(self):
        assert self.proc is None, "already running"
        binary = shale_bin()
        if not binary.exists():
            pytest.fail(
                f"shale binary not found at {binary}: build it with "
                "`cargo build` or set SHALE_BIN", pytrace=False)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # The free port can be taken between probing and binding: retry then.
        for attempt in range(3):
            try:
                self._spawn(binary)
                self._wait_ready()
                return self
            except PortTaken:
                if attempt == 2:
                    raise

    def _spawn(self, binary):
        # With --regions, region i listens on port + i: all of them are
        # this worker's (see ports.py).
        span = 1
        if "--regions" in self.extra_args:
            names = self.extra_args[self.extra_args.index("--regions") + 1]
            span = max(1, len([n for n in names.split(",") if n.strip()]))
        self.port = free_port(span=span)
        self.starts += 1
        cmd = [str(binary), "dev", "--data-dir", str(self.data_dir),
               "--listen", f"{LOOPBACK}:{self.port}"]
        if "--regions" not in self.extra_args:
            cmd += ["--region", "us-east-1"]
        if self.tls:
            cmd += ["--tls-cert", str(self.tls[0]), "--tls-key",
                    str(self.tls[1])]
        for domain in self.domains:
            cmd += ["--domain", domain]
        cmd += self.extra_args
        env = dict(os.environ)
        env["SHALE_ROOT_ACCESS_KEY"] = self.access_key
        env["SHALE_ROOT_SECRET_KEY"] = self.secret_key
        env.setdefault("RUST_BACKTRACE", "1")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def _wait_ready(self):
        probe = self.client(config=Config(
            s3={"addressing_style": "path"}, connect_timeout=2,
            read_timeout=5, retries={"max_attempts": 1}))
        deadline = time.monotonic() + READY_TIMEOUT
        last_error = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.stop()
                # (The whole log: a backtrace may push the error out of
                # the tail; with --regions, a next region's port may be
                # the one taken.)
                if "address already in use" in self.log_tail(
                        lines=100_000).lower():
                    raise PortTaken(self.port)
                raise RuntimeError(
                    f"shale exited with {code} before it was "
                    f"ready:\n{self.log_tail()}")
            try:
                probe.list_buckets()
                if self.proc.poll() is None:  # it was us who answered
                    return
                continue
            except Exception as exc:  # not ready yet: keep polling
                last_error = exc
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"shale not ready within {READY_TIMEOUT}s (last error: "
            f"{last_error!r}):\n{self.log_tail()}")

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stop the process by PID; returns its exit code (None if it had to
        be killed with SIGKILL after `timeout`)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        code = proc.poll()
        if code is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                code = None
        if self._log:
            self._log.close()
            self._log = None
        return code

    def kill(self):
        """SIGKILL: a crash, no clean shutdown."""
        return self.stop(sig=signal.SIGKILL)

    def restart(self):
        code = self.stop()
        self.start()
        return code

    def log_tail(self, lines=60):
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- clients -----------------------------------------------------------

    def client(self, access_key=None, secret_key=None, config=None,
               host=None):
        """A boto3 S3 client with default settings but path-style addressing.

        With `host` (a name such as `localhost`), the client's endpoint is
        `scheme://host:port` and its requests are sent to 127.0.0.1 whatever
        the name resolves to, with the Host header the client signed (see
        `send_to_loopback`): virtual-host-style clients, `bucket.host:port`,
        need no DNS.
        """
        kwargs = {}
        if self.tls:
            kwargs["verify"] = self.cafile
        endpoint = self.endpoint
        if host is not None:
            endpoint = f"{self.scheme}://{host}:{self.port}"
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
            config=config or Config(s3={"addressing_style": "path"}),
            **kwargs,
        )
        if host is not None:
            assert not self.tls, "send_to_loopback speaks plain HTTP"
            client.meta.events.register_first("before-send.s3",
                                              send_to_loopback)
        return client

    def aws(self, *args, timeout=AWS_CLI_TIMEOUT, check=True):
        """Run the AWS CLI against this server; returns CompletedProcess."""
        env = _client_env()
        env["AWS_ACCESS_KEY_ID"] = self.access_key
        env["AWS_SECRET_ACCESS_KEY"] = self.secret_key
        env["AWS_DEFAULT_REGION"] = "us-east-1"
        env["AWS_PAGER"] = ""
        if self.tls:
            env["AWS_CA_BUNDLE"] = self.cafile
        cmd = [*aws_cli_command(), "--endpoint-url", self.endpoint,
               *[str(a) for a in args]]
        result = subprocess.run(cmd, env=env, capture_output=True,
                                timeout=timeout, text=True)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\n"
                f"server log:\n{self.log_tail(30)}")
        return result

    def aws_json(self, *args, **kwargs):
        return json.loads(self.aws(*args, "--output", "json", **kwargs).stdout)

    def admin_json(self, *args):
        """`shale admin --json ARGS` against this server as its root key:
        the parsed answer (None when it printed nothing)."""
        env = dict(_client_env(), SHALE_ENDPOINT=self.endpoint,
                   SHALE_ACCESS_KEY=self.access_key,
                   SHALE_SECRET_KEY=self.secret_key)
        r = subprocess.run([str(shale_bin()), "admin", "--json", *args],
                           env=env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return json.loads(r.stdout) if r.stdout.strip() else None

    # -- data directory ----------------------------------------------------

    def wait_status(self, section, what, pred, timeout):
        """Polls `shale admin status` until `pred` holds for its `section`
        (e.g. "heal", "gc"); returns that section."""
        return wait_for(lambda: self.admin_json("status")[section], pred, what, timeout,
                        context=self.log_tail)

    def chunk_records(self, node=None):
        """Chunk records in the nodes' volumes (see volumes.py), as a set."""
        nodes = [node] if node else range(1, 7)
        return {r for n in nodes for r in volumes.node_records(self.data_dir, n)}


def wait_for(fetch, pred, what, timeout, interval=0.3, context=lambda: ""):
    """Calls `fetch` until `pred` holds for what it returns (returned), for
    at most `timeout` s; the assertion names `what`, the last value and
    `context()`."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if pred(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s: {value}\n{context()}")
        time.sleep(interval)


def send_to_loopback(request, **kwargs):
    """botocore `before-send` hook: sends the request to 127.0.0.1 on the
    URL's port, with the URL's host:port as the Host header, and returns
    the answer. Lets a client use `bucket.localhost:port` URLs without
    relying on DNS, and never sends anything off the machine."""
    url = urllib.parse.urlsplit(request.url)
    assert url.scheme == "http", url
    headers = {k: v for k, v in request.headers.items()}
    headers["Host"] = url.netloc
    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    target = url.path + ("?" + url.query if url.query else "")
    conn = http.client.HTTPConnection(LOOPBACK, url.port, timeout=60)
    try:
        conn.request(request.method, target, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        status, resp_headers = resp.status, resp.getheaders()
    finally:
        conn.close()
    raw = urllib3.HTTPResponse(body=io.BytesIO(data), headers=resp_headers,
                               status=status, preload_content=False)
    return AWSResponse(request.url, status, dict(resp_headers), raw)


def parse_error(body):
    """The fields of an S3 XML error body, as a dict."""
    root = ET.fromstring(body)
    assert root.tag == "Error", body
    return {child.tag: child.text or "" for child in root}


def assert_s3_error(response, status, code, method="GET", message=None):
    """`response` is (status, headers, body) of a raw request: the S3 error
    `code` with everything S3 puts in an error (Code, Message, Resource,
    RequestId equal to the x-amz-request-id header), and no body for HEAD.
    Returns the error's fields."""
    got_status, headers, body = response
    assert got_status == status, (got_status, body)
    request_id = headers.get("x-amz-request-id")
    assert request_id, headers
    if method == "HEAD":
        assert body == b"", body
        return {}
    fields = parse_error(body)
    assert fields.get("Code") == code, body
    for name in ("Message", "Resource", "RequestId"):
        assert fields.get(name), (name, body)
    assert fields["RequestId"] == request_id, (fields, headers)
    if message is not None:
        assert fields["Message"] == message, body
    return fields


class ServerFactory:
    """Creates servers in a temp dir and stops/removes all of them at the end."""

    def __init__(self, base_dir):
        self.base_dir = Path(base_dir)
        self.servers = []

    def new(self, tls=None, start=True, domains=(), extra_args=()):
        root = Path(tempfile.mkdtemp(prefix="shale-", dir=self.base_dir))
        server = ShaleServer(root / "data", root / "logs", tls=tls,
                             domains=domains, extra_args=extra_args)
        server.root = root
        self.servers.append(server)
        if start:
            server.start()
        return server

    def close(self):
        for server in self.servers:
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)
        self.servers.clear()


@pytest.fixture(scope="session")
def _session_factory(tmp_path_factory):
    factory = ServerFactory(tmp_path_factory.mktemp("servers"))
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def server(_session_factory):
    """The shared plain-HTTP server for tests that need no process control."""
    return _session_factory.new()


@pytest.fixture(scope="session")
def s3(server):
    return server.client()


@pytest.fixture
def server_factory(tmp_path):
    """Function-scoped servers (corruption, restart): own data dirs each."""
    factory = ServerFactory(tmp_path)
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def vhost_server(_session_factory):
    """A server with `--domain localhost`: `bucket.localhost:port` addresses
    `bucket` (clients reach it with `server.client(host=...)` or raw
    requests to 127.0.0.1 with a Host header; nothing relies on DNS)."""
    return _session_factory.new(domains=("localhost",))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_server(_session_factory, tls_files):
    return _session_factory.new(tls=tls_files)


@pytest.fixture
def bucket(s3, request):
    """A fresh bucket on the shared server, named after the test."""
    name = unique_bucket_name(request.node.name)
    s3.create_bucket(Bucket=name)
    return name


class BigFile:
    """100 MiB of random bytes, generated once per session."""

    def __init__(self, path, data):
        self.path = path
        self.size = len(data)
        self.sha256 = sha256_hex(data)
        self.md5 = md5_hex(data)


@pytest.fixture(scope="session")
def big_data():
    return random_bytes(100 * MIB)


@pytest.fixture(scope="session")
def big_file(tmp_path_factory, big_data):
    path = tmp_path_factory.mktemp("big") / "100MiB.bin"
    path.write_bytes(big_data)
    return BigFile(path, big_data)


def assert_client_error(exc_info, status, *codes):
    """The ClientError carries the HTTP status and one of the error codes."""
    exc = exc_info.value
    assert isinstance(exc, ClientError), exc
    assert http_status(exc) == status, exc.response
    if codes:
        assert error_code(exc) in codes, exc.response
