"""Harness of the fault-injection suite: a cluster of real processes.

One `shale metadata` (or a Raft group of three: `meta_replicas=3`), N
`shale storage-node` and one `shale gateway` process, each from its own TOML
file (as `examples/cluster/`), on loopback ports, with every node's data directory known, so a test can kill -9,
SIGSTOP, wipe or fill exactly one of them. Every process is started in its
own session and stopped by its PID at the end (SIGCONT first, then SIGTERM,
then SIGKILL). Nothing sleeps a fixed time to wait: readiness and healing
are polled with deadlines.

`Deployment` (fixture `make_deployment`) runs several regions, each such a
cluster with its own region name, linked with `shale admin region add`;
the links between regions may cross an emulated WAN (`wan.py`) that adds
delay and can be cut.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "compat"))

import volumes  # noqa: E402  (tests/compat/volumes.py)
from ports import free_port  # noqa: E402,F401  (tests/compat/ports.py)
import cluster_secret  # noqa: E402  (tests/compat/cluster_secret.py)
from wan import WanProxy  # noqa: E402  (tests/fault/wan.py)

LOOPBACK = "127.0.0.1"
ACCESS_KEY = "AKSHFAULTTEST0000001"
SECRET_KEY = "fault-suite-secret-key-0123456789abcdef0"
READY_TIMEOUT = float(os.environ.get("SHALE_READY_TIMEOUT", "60"))
STOP_TIMEOUT = 20.0


def shale_bin():
    if os.environ.get("SHALE_BIN"):
        return Path(os.environ["SHALE_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO_ROOT / "target")
    if not target.is_absolute():
        target = REPO_ROOT / target
    return target / "debug" / "shale"


def pytest_configure(config):
    # boto3 in this process: no developer settings, no proxies.
    for name in list(os.environ):
        if name.startswith("AWS_") or name.lower() in ("http_proxy", "https_proxy",
                                                         "all_proxy"):
            del os.environ[name]
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def _toml(v):
    """A TOML scalar."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class Proc:
    """One role process: its config, log and PID."""

    def __init__(self, cluster, name, role, config_text):
        self.cluster = cluster
        self.name = name
        self.role = role
        self.config = cluster.root / f"{name}.toml"
        # Every role signs its internal requests with the cluster's secret:
        # the metadata service holds it, gateways and storage nodes only
        # their role's keys; the metadata service seals access-key secrets
        # under the secrets key.
        if not config_text.startswith("cluster_secret_file"):
            keys = cluster.role_key_files.get(role, cluster.secret_file)
            extra = ""
            if role == "metadata":
                extra = f'secrets_key_file = "{cluster.secrets_key_file}"\n'
            config_text = f'cluster_secret_file = "{keys}"\n' + extra + config_text
        self.config.write_text(config_text)
        self.popen = None
        self.starts = 0
        self.stopped = False  # SIGSTOPped

    @property
    def log_path(self):
        return self.cluster.root / f"{self.name}-{self.starts}.log"

    def start(self):
        assert self.popen is None or self.popen.poll() is not None
        self.starts += 1
        env = dict(os.environ, SHALE_ROOT_ACCESS_KEY=ACCESS_KEY,
                   SHALE_ROOT_SECRET_KEY=SECRET_KEY, RUST_BACKTRACE="1")
        env.setdefault("RUST_LOG", "info")
        log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            [str(shale_bin()), self.role, "--config", str(self.config)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True)
        log.close()
        return self

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.popen.pid, sig)

    def kill9(self):
        """SIGKILL: a crash, nothing flushed, no goodbye."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT)
        self.stopped = False

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        self.signal(signal.SIGCONT)
        self.stopped = False

    def stop(self):
        if self.popen is None:
            return
        if self.stopped:
            self.resume()
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(timeout=STOP_TIMEOUT)

    def log_text(self):
        """The current log, without terminal colour codes."""
        try:
            raw = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return re.sub(r"\x1b\[[0-9;]*m", "", raw)

    def log_tail(self, n=40):
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        # An error's own lines come before its backtrace: keep them.
        head = []
        for i, line in enumerate(lines):
            if line.startswith("Error:"):
                head = lines[i:i + 8]
                break
        tail = lines[-n:]
        if head and head[0] not in tail:
            return "\n".join(head + ["[...]"] + tail)
        return "\n".join(tail)


class Cluster:
    """Metadata (one replica, or a Raft group of `meta_replicas`) + `nodes`
    storage nodes + one gateway, from config files."""

    def __init__(self, root, nodes=6, heal_interval=1, lost_after=600,
                 gc_grace=300, orphan_grace=3600, node_disk=None,
                 node_reserve=None, meta_replicas=1, lifecycle=None,
                 region="us-east-1"):
        self.root = Path(root)
        self.region = region  # the gateway's `region`; clients sign for it
        self.root.mkdir(parents=True, exist_ok=True)
        self.secret_file = self.root / "cluster.secret"
        self.secret = cluster_secret.create(self.secret_file)
        self.role_key_files = {role: self.root / f"{role}.key"
                               for role in ("gateway", "storage-node")}
        for role, path in self.role_key_files.items():
            cluster_secret.derive(self.secret_file, role, path)
        self.secrets_key_file = self.root / "secrets.key"
        cluster_secret.create_secrets_key(self.secrets_key_file)
        self.meta_ports = {i: free_port() for i in range(1, meta_replicas + 1)}
        self.meta_port = self.meta_ports[1]
        self.gateway_port = free_port()
        self.node_ids = list(range(1, nodes + 1))
        self.disks = {n: self.root / f"disk-{n}" for n in self.node_ids}
        if node_disk:
            self.disks.update(node_disk)
        if meta_replicas == 1:
            self.metas = {1: Proc(self, "metadata", "metadata",
                                  f'listen = "{LOOPBACK}:{self.meta_port}"\n'
                                  f'path = "{self.root / "meta"}"\n')}
        else:
            # As tests/compat/test_raft.py: every replica knows every peer;
            # a short election timeout, frequent snapshots.
            peers = "".join(f'[[peers]]\nid = {j}\naddr = "{LOOPBACK}:{port}"\n\n'
                            for j, port in self.meta_ports.items())
            self.metas = {i: Proc(self, f"metadata-{i}", "metadata", (
                f'listen = "{LOOPBACK}:{port}"\n'
                f'path = "{self.root / f"meta-{i}"}"\n'
                f"node_id = {i}\n\n"
                "[raft]\nelection_timeout_ms = 600\nsnapshot_every = 200\n"
                "logs_to_keep = 50\nsnapshot_log_ratio = 0\n\n" + peers))
                for i, port in self.meta_ports.items()}
        self.meta = self.metas[1]
        meta_list = "[" + ", ".join(f'"{LOOPBACK}:{p}"' for p in self.meta_ports.values()) + "]"
        self.nodes = {}
        for n in self.node_ids:
            reserve = (node_reserve or {}).get(n, 64 * 1024 * 1024)
            self.nodes[n] = Proc(self, f"node-{n}", "storage-node", (
                f'listen = "{LOOPBACK}:{free_port()}"\n'
                f"metadata = {meta_list}\n"
                f"node_id = {n}\n"
                f'zone = "z{n}"\n\n[node]\n'
                f'disks = ["{self.disks[n]}"]\n'
                f"reserve_bytes = {reserve}\n"
                # Scrub fast and often: rot is found within seconds.
                f"scrub = {{ bytes_per_sec = {1 << 30}, pause_secs = 1 }}\n"))
        self.gateway = Proc(self, "gateway", "gateway", (
            f'listen = "{LOOPBACK}:{self.gateway_port}"\n\n[gateway]\n'
            f'region = "{region}"\n'
            f"metadata_addr = {meta_list}\n"
            f"gc = {{ grace_secs = {gc_grace}, interval_secs = 2, "
            f"orphan_grace_secs = {orphan_grace} }}\n"
            f"heal = {{ interval_secs = {heal_interval}, "
            f"lost_after_secs = {lost_after} }}\n"
            # The lifecycle worker (`GatewayConfig::lifecycle`, a table of
            # `[gateway]`: enabled, day_secs, interval_secs); e.g.
            # {"day_secs": 2, "interval_secs": 1} for days of 2 s.
            + (f"lifecycle = {{ {', '.join(f'{k} = {_toml(v)}' for k, v in lifecycle.items())} }}\n"
               if lifecycle else "")))

    # -- lifecycle ---------------------------------------------------------

    def procs(self):
        return [self.gateway, *self.nodes.values(), *self.metas.values()]

    def start(self):
        for d in self.disks.values():
            d.mkdir(parents=True, exist_ok=True)
        for p in self.metas.values():
            p.start()
        for i, p in self.metas.items():
            self.wait_port(self.meta_ports[i], p)
        if len(self.metas) > 1:
            self.meta_leader()
        for p in self.nodes.values():
            p.start()
        for n in self.node_ids:
            self.wait_node(n)
        # The gateway reads the cluster map when it starts: after the nodes.
        self.start_gateway()

    def start_gateway(self):
        self.gateway.start()
        self.wait_port(self.gateway_port, self.gateway)
        deadline = time.monotonic() + READY_TIMEOUT
        probe = self.client(retries=1, read_timeout=5)
        while True:
            try:
                probe.list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline or not self.gateway.alive():
                    raise AssertionError(f"gateway not ready\n{self.gateway.log_tail()}")
                time.sleep(0.1)

    def wait_port(self, port, proc):
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited\n{proc.log_tail()}")
            try:
                with socket.create_connection((LOOPBACK, port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{proc.name}: port {port} not listening")
                time.sleep(0.1)

    def wait_node(self, n):
        """Until node `n` has registered (it prints `listening` after that)."""
        proc = self.nodes[n]
        deadline = time.monotonic() + READY_TIMEOUT
        while b"listening" not in proc.log_path.read_bytes():
            if not proc.alive() or time.monotonic() > deadline:
                raise AssertionError(f"{proc.name} did not start\n{proc.log_tail()}")
            time.sleep(0.1)

    def restart_node(self, n):
        self.nodes[n].start()
        self.wait_node(n)

    def restart_meta(self, i):
        self.metas[i].start()
        self.wait_port(self.meta_ports[i], self.metas[i])

    def meta_status(self):
        """`shale admin metadata status`: ({id: (state, applied)} of the
        replicas that answer, the leader's id or None)."""
        addrs = ",".join(f"{LOOPBACK}:{p}" for p in self.meta_ports.values())
        r = subprocess.run([str(shale_bin()), "admin", "metadata", "--metadata", addrs,
                            "--cluster-secret-file", str(self.secret_file), "status"],
                           capture_output=True, timeout=60)
        out = r.stdout.decode()
        replicas = {}
        for m in re.finditer(r"replica (\d+) at \S+: (\w+) term \d+ last_log \S+ "
                             r"applied (\S+)", out):
            replicas[int(m.group(1))] = (m.group(2),
                                         int(m.group(3)) if m.group(3) != "-" else -1)
        leader = re.search(r"^leader: (\d+)", out, re.M)
        return replicas, int(leader.group(1)) if leader else None

    def meta_leader(self, exclude=(), timeout=30):
        """The metadata leader's id (one not in `exclude`), once elected."""
        deadline = time.monotonic() + timeout
        while True:
            _, leader = self.meta_status()
            if leader is not None and leader not in exclude:
                return leader
            if time.monotonic() > deadline:
                raise AssertionError(f"no metadata leader elected: {self.meta_status()}")
            time.sleep(0.1)

    def wait_meta_caught_up(self, i, timeout=60):
        """Until replica `i` has applied as far as the leader had when asked."""
        deadline = time.monotonic() + timeout
        target = 0
        while True:
            replicas, leader = self.meta_status()
            if not target and leader is not None:
                target = replicas.get(leader, (None, 0))[1]
            if target > 0 and replicas.get(i, (None, -1))[1] >= target:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"metadata replica {i} did not catch up: {replicas}\n"
                                     f"{self.metas[i].log_tail()}")
            time.sleep(0.2)

    def stop(self):
        for p in self.procs():
            p.stop()

    # -- clients and figures -----------------------------------------------

    @property
    def endpoint(self):
        return f"http://{LOOPBACK}:{self.gateway_port}"

    def client(self, retries=3, read_timeout=60, signing_region=None,
               access_key=ACCESS_KEY, secret_key=SECRET_KEY):
        """boto3 for this gateway, signing for its region (or
        `signing_region`) with the root key (or the one given). `retries`
        is boto3's `max_attempts`: retries after the first attempt."""
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=signing_region or self.region,
            config=Config(s3={"addressing_style": "path"}, connect_timeout=5,
                          read_timeout=read_timeout,
                          retries={"max_attempts": retries, "mode": "standard"}))

    def admin(self, *args, timeout=60, check=True):
        """`shale admin --json ARGS` against this gateway with the root key:
        the parsed answer (or, with check=False, the CompletedProcess)."""
        env = dict(os.environ, SHALE_ACCESS_KEY=ACCESS_KEY, SHALE_SECRET_KEY=SECRET_KEY)
        for name in ("SHALE_ENDPOINT", "SHALE_REGION"):
            env.pop(name, None)
        cmd = [str(shale_bin()), "admin", "--endpoint", self.endpoint,
               "--region", self.region, "--json", *[str(a) for a in args]]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if not check:
            return r
        if r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd[1:])}: exit {r.returncode}\n"
                                 f"{r.stdout}{r.stderr}")
        return json.loads(r.stdout) if r.stdout.strip() else None

    def status(self):
        """The gateway's worker figures (`/_shale/status`)."""
        with urllib.request.urlopen(f"{self.endpoint}/_shale/status", timeout=10) as r:
            return json.loads(r.read())

    def wait_healed(self, timeout=180):
        """Until two full healer sweeps started after this call found nothing
        to do: backlog 0 and no chunk unavailable. Returns seconds taken."""
        start = time.monotonic()
        first = self.status()["heal"]["rounds"]
        deadline = start + timeout
        clean_since = None
        while True:
            heal = self.status()["heal"]
            if heal["backlog"] == 0 and heal["unavailable"] == 0:
                if clean_since is None:
                    clean_since = heal["rounds"]
                if heal["rounds"] >= max(first + 2, clean_since + 1):
                    return time.monotonic() - start
            else:
                clean_since = None
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"healer backlog not back to 0 within {timeout}s: {heal}\n"
                    f"{self.gateway.log_tail()}")
            time.sleep(0.3)

    def records(self, n):
        """Chunk records in node `n`'s volume files."""
        root = self.disks[n] / "volumes"
        out = []
        if root.is_dir():
            for path in sorted(root.glob("*.vol")):
                out.extend(volumes.volume_records(path, n))
        return out


@pytest.fixture
def make_cluster(tmp_path):
    made = []

    def make(**kwargs):
        c = Cluster(tmp_path / f"c{len(made)}", **kwargs)
        made.append(c)
        c.start()
        return c

    yield make
    for c in made:
        c.stop()


# -- several regions -----------------------------------------------------------

class Deployment:
    """Linked regions, each a full `Cluster` of its own processes (metadata,
    storage nodes, gateway) with its own region name and the same root key,
    linked with `shale admin region add` in every region for every region
    (itself included); the first region is the namespace region.

    With `wan_delay` (seconds, one way), the link from region X to region Y
    points at a `wan.WanProxy` in front of Y's gateway instead of the
    gateway itself, so region-to-region traffic crosses an emulated WAN
    (2 x `wan_delay` of added round-trip time) that a test can cut
    (`cut`/`restore`). Clients of the tests always talk to a gateway
    directly."""

    def __init__(self, root, names=("us-east-1", "eu-west-1"), wan_delay=None,
                 region_kwargs=None, **cluster_kwargs):
        self.root = Path(root)
        self.names = list(names)
        self.namespace = self.names[0]
        # `region_kwargs` ({name: {...}}): a region's own `Cluster` arguments
        # over the shared ones (e.g. a three-replica metadata group in one
        # region only).
        self.regions = {name: Cluster(self.root / name, region=name,
                                      **{**cluster_kwargs,
                                         **(region_kwargs or {}).get(name, {})})
                        for name in self.names}
        self.wan_delay = wan_delay
        self.wans = {}  # (from, to) -> WanProxy the link from `from` to `to` crosses

    def __getitem__(self, name):
        return self.regions[name]

    def _each_region(self, action):
        """`action(cluster)` for every region side by side; the first error
        raised once all are done."""
        errors = []

        def run(c):
            try:
                action(c)
            except BaseException as e:  # noqa: BLE001 (raised below)
                errors.append(e)

        threads = [threading.Thread(target=run, args=(c,))
                   for c in self.regions.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def start(self):
        # The regions' processes start side by side: two clusters' start-up
        # in the time of one.
        self._each_region(lambda c: c.start())
        if self.wan_delay is not None:
            for src in self.names:
                for dst in self.names:
                    if src != dst:
                        self.wans[(src, dst)] = WanProxy(
                            self.regions[dst].gateway_port, delay=self.wan_delay,
                            name=f"wan-{src}-to-{dst}").start()
        self.link()
        return self

    def link_endpoint(self, src, dst):
        """The endpoint region `src`'s link to region `dst` names."""
        if src != dst and (src, dst) in self.wans:
            return self.wans[(src, dst)].endpoint
        return self.regions[dst].endpoint

    def link(self):
        for src, c in self.regions.items():
            for dst in self.names:
                c.admin("region", "add", dst, self.link_endpoint(src, dst),
                        *(["--namespace"] if dst == self.namespace else []))
        for src, c in self.regions.items():
            listed = c.admin("region", "list")
            got = {r["name"]: (r["endpoint"], r["namespace"]) for r in listed["regions"]}
            want = {dst: (self.link_endpoint(src, dst), dst == self.namespace)
                    for dst in self.names}
            assert listed["region"] == src and got == want, (src, listed)

    # -- the WAN -------------------------------------------------------------

    def _pairs(self, a, b):
        a = a or self.names
        b = b or self.names
        a = [a] if isinstance(a, str) else a
        b = [b] if isinstance(b, str) else b
        return [self.wans[(x, y)] for x in a for y in b if (x, y) in self.wans]

    def cut(self, a=None, b=None, both_ways=True):
        """Cuts the links from region(s) `a` to region(s) `b` (every region
        when not given), and back with `both_ways`. Returns connections
        reset."""
        assert self.wans, "a deployment without wan_delay has no link to cut"
        proxies = self._pairs(a, b) + (self._pairs(b, a) if both_ways else [])
        return sum(p.cut() for p in set(proxies))

    def restore(self, a=None, b=None, both_ways=True):
        proxies = self._pairs(a, b) + (self._pairs(b, a) if both_ways else [])
        for p in set(proxies):
            p.restore()

    def stop(self):
        """Every proxy, then every region's processes (side by side), each
        stopped even when another failed to."""
        errors = []
        for p in self.wans.values():
            try:
                p.stop()
            except Exception as e:  # noqa: BLE001 (raised below)
                errors.append(e)
        try:
            self._each_region(lambda c: c.stop())
        except BaseException as e:  # noqa: BLE001 (raised below)
            errors.append(e)
        if errors:
            raise errors[0]


@pytest.fixture
def make_deployment(tmp_path):
    """`make_deployment(names=..., wan_delay=..., **cluster_kwargs)`: a
    started, linked `Deployment`; every process and proxy of it stopped at
    the end (by PID), also when starting it failed half-way."""
    made = []

    def make(**kwargs):
        d = Deployment(tmp_path / f"d{len(made)}", **kwargs)
        made.append(d)
        return d.start()

    yield make
    for d in made:
        d.stop()
