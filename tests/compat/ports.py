"""Ports for the servers a test starts.

A port the kernel hands out for `bind(0)` comes from the ephemeral range
(`/proc/sys/net/ipv4/ip_local_port_range`, 32768-60999 on Linux), the same
range every outgoing connection takes its local port from. Between the moment
a test learns such a port and the moment its server binds it, one of the
cluster's own connections (a gateway to a storage node, a worker to the other
region) may take it, and the server fails to start with "address in use".
The ports here come from below that range, where no connection goes, and a
port is handed out once per process.

Under pytest-xdist (`pytest -n N`) every worker is a process of its own that
remembers only its own ports: the range is cut into one slice per worker
(`PYTEST_XDIST_WORKER=gwK` of `PYTEST_XDIST_WORKER_COUNT=N`) and a worker
hands out ports of its slice only, so two workers never pick the same one.
A run without xdist (and tests/fault, which imports this module) has the
whole range.
"""

import os
import random
import re
import socket

LOW, HIGH = 20000, 32000
_given = set()
_rng = random.Random()


def port_range():
    """(low, high): the ports this process may hand out, high excluded."""
    match = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    try:
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    except ValueError:
        count = 1
    if match is None or count <= 1:
        return LOW, HIGH
    width = (HIGH - LOW) // count
    low = LOW + (int(match.group(1)) % count) * width
    return low, low + width


def free_port(host="127.0.0.1", span=1):
    """A port free on `host`, below the ephemeral range, in this process's
    slice of it, not handed out before by this process. With `span`, the
    `span` consecutive ports from it are all free and all in the slice (for
    `shale dev --regions`, whose region i listens on port + i), and none of
    them is handed out again."""
    low, high = port_range()
    for _ in range(1000):
        port = _rng.randrange(low, high - span + 1)
        wanted = range(port, port + span)
        if any(p in _given for p in wanted):
            continue
        if not all(_bindable(host, p) for p in wanted):
            continue
        _given.update(wanted)
        return port
    raise RuntimeError(f"no {span} free port(s) in {low}-{high} on {host}")


def _bindable(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
