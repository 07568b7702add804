"""Ports for the servers a test starts.

A port the kernel hands out for `bind(0)` comes from the ephemeral range
(`/proc/sys/net/ipv4/ip_local_port_range`, 32768-60999 on Linux), the same
range every outgoing connection takes its local port from. Between the moment
a test learns such a port and the moment its server binds it, one of the
cluster's own connections (a gateway to a storage node, a worker to the other
region) may take it, and the server fails to start with "address in use".
The ports here come from below that range, where no connection goes, and a
port is handed out once per process.
"""

import random
import socket

LOW, HIGH = 20000, 32000
_given = set()
_rng = random.Random()


def free_port(host="127.0.0.1"):
    """A port free on `host`, below the ephemeral range, not handed out
    before by this process."""
    for _ in range(1000):
        port = _rng.randrange(LOW, HIGH)
        if port in _given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port in {LOW}-{HIGH} on {host}")
