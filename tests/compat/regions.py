"""Two linked regions of one `shale dev --regions` process, for the tests
of regions and replication: endpoints, boto3 clients signing for any
region, the AWS CLI and `shale admin` against either region."""

import subprocess
import time

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import (
    LOOPBACK,
    ServerFactory,
    _client_env,
    aws_cli_command,
    free_port,
    raw_request,
    shale_bin,
)

REGIONS = ("us-east-1", "eu-west-1")
DEADLINE = 30.0


class Deployment:
    """The two regions of one `shale dev --regions` process."""

    def __init__(self, server):
        self.server = server
        self.metrics_port = None

    def endpoint(self, region):
        return f"http://127.0.0.1:{self.server.port + REGIONS.index(region)}"

    def client(self, region, signing_region=None, access_key=None,
               secret_key=None):
        """boto3 for `region`'s endpoint, signing for `signing_region`
        (default: the endpoint's own)."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint(region),
            aws_access_key_id=access_key or self.server.access_key,
            aws_secret_access_key=secret_key or self.server.secret_key,
            region_name=signing_region or region,
            config=Config(s3={"addressing_style": "path"}),
        )

    def aws(self, region, signing_region, *args, check=True):
        env = _client_env()
        env["AWS_ACCESS_KEY_ID"] = self.server.access_key
        env["AWS_SECRET_ACCESS_KEY"] = self.server.secret_key
        env["AWS_DEFAULT_REGION"] = signing_region
        env["AWS_PAGER"] = ""
        cmd = [*aws_cli_command(), "--endpoint-url", self.endpoint(region),
               *[str(a) for a in args]]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"{cmd}: {result.stderr}")
        return result

    def admin(self, region, *args):
        env = _client_env()
        env["SHALE_ACCESS_KEY"] = self.server.access_key
        env["SHALE_SECRET_KEY"] = self.server.secret_key
        cmd = [str(shale_bin()), "admin", "--endpoint", self.endpoint(region),
               "--region", region, *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=60, check=True).stdout

    def signed(self, region, signing_region, method, path):
        """A raw SigV4 request to `region`'s endpoint, signed for
        `signing_region`: (status, headers, body)."""
        url = self.endpoint(region) + path
        request = AWSRequest(method=method, url=url, headers={
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
        SigV4Auth(Credentials(self.server.access_key, self.server.secret_key),
                  "s3", signing_region).add_auth(request)
        return raw_request(self.endpoint(region), method, path,
                           headers=dict(request.headers.items()))


def start(tmp_path_factory, name):
    """A deployment of REGIONS (its metrics at `deployment.metrics_port`),
    and the factory to close at the end."""
    factory = ServerFactory(tmp_path_factory.mktemp(name))
    metrics_port = free_port()
    server = factory.new(extra_args=[
        "--regions", ",".join(REGIONS),
        "--metrics-addr", f"{LOOPBACK}:{metrics_port}"])
    deployment = Deployment(server)
    deployment.metrics_port = metrics_port
    return factory, deployment


def eventually(check, deadline=DEADLINE):
    """`check()` once it stops raising, within `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        try:
            return check()
        except (AssertionError, ClientError):
            if time.monotonic() > end:
                raise
            time.sleep(0.2)
