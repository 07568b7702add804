"""The emulated WAN link (`wan.py`) against a plain echo server: bytes pass
intact and in order, the added delay is at least the one asked for, the
delay is a pipeline (not one chunk per delay), a cut resets and a restore
passes connections again, and stopping leaves no thread or listener."""

import hashlib
import os
import socket
import threading
import time

import pytest

from wan import LOOPBACK, WanProxy, measure_rtt


class EchoServer:
    """Echoes every connection's bytes back, one thread per connection;
    remembers how each connection ended ("eof" or "reset")."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.ends = []
        self._threads = []
        self._stop = False

    def __enter__(self):
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.sock.close()
        for t in self._threads:
            t.join(5)

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._echo, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _echo(self, conn):
        conn.settimeout(30)
        with conn:
            try:
                while True:
                    data = conn.recv(256 * 1024)
                    if not data:
                        self.ends.append("eof")
                        return
                    conn.sendall(data)
            except ConnectionResetError:
                self.ends.append("reset")
            except OSError as e:
                self.ends.append(repr(e))


def echo_through(port, data, timeout=60):
    """Sends `data` through 127.0.0.1:`port` (from a thread) while reading
    the echo; returns (echoed bytes, seconds)."""
    s = socket.create_connection((LOOPBACK, port), timeout=timeout)
    start = time.monotonic()

    def send():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    got = bytearray()
    with s:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += chunk
    took = time.monotonic() - start
    sender.join(timeout)
    return bytes(got), took


def reset_or_closed(sock):
    """True when `sock`'s peer reset (or closed) the connection."""
    try:
        sock.sendall(b"ping")
        return sock.recv(16) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_bytes_pass_intact_and_in_order_without_a_throughput_cap():
    data = os.urandom(16 << 20)
    delay = 0.1
    with EchoServer() as echo, WanProxy(echo.port, delay=delay) as wan:
        got, took = echo_through(wan.port, data)
        assert len(got) == len(data)
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        # 16 MiB is >= 256 chunks of 64 KiB each way: one chunk per delay
        # would take >= 25 s. Pipelined it is one round trip plus the copy.
        assert 2 * delay <= took < 8, f"16 MiB echoed in {took:.2f}s"
        assert wan.bytes_up == wan.bytes_down == len(data)
        assert wan.connections == 1
    print(f"\n[wan figures] 16 MiB echoed through 2x{delay * 1000:.0f} ms in {took:.2f}s")


def test_the_added_delay_is_at_least_the_one_asked_for():
    with EchoServer() as echo:
        direct = measure_rtt(echo.port)
        with WanProxy(echo.port, delay=0.05) as wan:
            rtt = measure_rtt(wan.port)
            assert 0.1 <= rtt < 1.0, rtt
            # One direction only.
            wan.set_delay(0.08, 0.0)
            one_way = measure_rtt(wan.port)
            assert 0.08 <= one_way < 1.0, one_way
            wan.set_delay(0.0)
            assert measure_rtt(wan.port) < 0.08
    print(f"\n[wan figures] rtt direct {direct * 1000:.1f} ms, through 2x50 ms "
          f"{rtt * 1000:.1f} ms, 80 ms up only {one_way * 1000:.1f} ms")


def test_a_cut_resets_open_and_new_connections_and_a_restore_passes_again():
    with EchoServer() as echo, WanProxy(echo.port, delay=0.01) as wan:
        s = socket.create_connection((LOOPBACK, wan.port), timeout=10)
        with s:
            s.sendall(b"hello")
            assert s.recv(16) == b"hello"
            assert wan.open_connections() == 1
            assert wan.cut() == 1
            # The open connection is reset, to the client ...
            with pytest.raises(ConnectionResetError):
                s.recv(16)
        # ... and to the server.
        deadline = time.monotonic() + 10
        while "reset" not in echo.ends:
            assert time.monotonic() < deadline, echo.ends
            time.sleep(0.02)
        # A new connection is reset as soon as it is accepted.
        try:
            s2 = socket.create_connection((LOOPBACK, wan.port), timeout=10)
        except ConnectionResetError:
            pass  # the reset came before connect() returned
        else:
            with s2:
                assert reset_or_closed(s2)
        assert wan.open_connections() == 0
        assert wan.resets >= 2
        wan.restore()
        got, _ = echo_through(wan.port, b"again" * 1000)
        assert got == b"again" * 1000


def test_stop_closes_the_listener_and_the_thread():
    with EchoServer() as echo:
        wan = WanProxy(echo.port, delay=0.01).start()
        idle = socket.create_connection((LOOPBACK, wan.port), timeout=10)
        deadline = time.monotonic() + 10
        while wan.open_connections() < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        port = wan.port
        wan.stop()
        with idle:
            assert reset_or_closed(idle)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((LOOPBACK, port), timeout=5).close()
        # Stopping twice is harmless.
        wan.stop()
    assert not [t for t in threading.enumerate() if t.name.endswith("-proxy")]
