"""Separate role processes (`shale metadata|storage-node|gateway --config
FILE`) for the tests that run a cluster of them: config files, spawning with
a fixed root key, readiness waits, logs, kill -9 and clean stops by PID."""

import os
import signal
import socket
import subprocess
import time

import cluster_secret
from conftest import LOOPBACK, READY_TIMEOUT, shale_bin


class RoleProcesses:
    def __init__(self, root, access_key, secret_key):
        self.root = root
        self.procs = {}
        # The metadata service holds the cluster secret; gateways and
        # storage nodes only their own role's keys, derived from it (as an
        # operator gives them with `shale admin cluster-secret derive`).
        self.secret_file = root / "cluster.secret"
        self.secret = cluster_secret.create(self.secret_file)
        self.role_files = {role: root / f"{role}.key" for role in ("gateway", "storage-node")}
        self.derive()
        self.secrets_key_file = root / "secrets.key"
        cluster_secret.create_secrets_key(self.secrets_key_file)
        self.env = dict(os.environ, SHALE_ROOT_ACCESS_KEY=access_key,
                        SHALE_ROOT_SECRET_KEY=secret_key,
                        SHALE_CLUSTER_SECRET_FILE=str(self.secret_file),
                        SHALE_SECRETS_KEY_FILE=str(self.secrets_key_file))

    def derive(self):
        """(Re)writes the gateway's and storage nodes' key files from the
        cluster secrets file (after each step of a rotation)."""
        for role, path in self.role_files.items():
            cluster_secret.derive(self.secret_file, role, path)

    def write(self, name, text):
        path = self.root / name
        path.write_text(text)
        return path

    def spawn(self, name, args, append=False):
        """Starts `shale ARGS`, its output in NAME.log (appended to, for a
        restart whose earlier lines must stay; else started anew)."""
        log = open(self.root / f"{name}.log", "ab" if append else "wb")
        env = self.env
        if args and args[0] in self.role_files:
            env = dict(env, SHALE_CLUSTER_SECRET_FILE=str(self.role_files[args[0]]))
        self.procs[name] = subprocess.Popen(
            [str(shale_bin()), *args], stdout=log, stderr=subprocess.STDOUT, env=env)

    def wait_port(self, port, host=LOOPBACK):
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None and p.returncode != -signal.SIGKILL:
                    raise AssertionError(f"{name} exited {p.returncode}\n{self.log(name)}")
            try:
                with socket.create_connection((host, port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"port {port} not listening")

    def wait_logged(self, names, needle):
        for name in names:
            deadline = time.monotonic() + READY_TIMEOUT
            while needle not in (self.root / f"{name}.log").read_bytes():
                if self.procs[name].poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{name} did not start\n{self.log(name)}")
                time.sleep(0.1)

    def log(self, name):
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def kill(self, name, sig=signal.SIGKILL):
        p = self.procs[name]
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def stop(self):
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)
