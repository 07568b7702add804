"""An emulated WAN link: a delaying TCP proxy on loopback (the kernel here
has no netem).

`WanProxy` listens on a free 127.0.0.1 port and passes every connection on
to a target 127.0.0.1:port, holding each chunk of bytes for a one-way delay
per direction (`delay_up`: client to target, `delay_down`: target to
client; 50 ms each is 100 ms of added round-trip time). The delay is a
pipeline, not a stop-and-wait: each chunk is timestamped when it arrives
and released at arrival + delay while the next ones are already being
read, so the throughput stays that of loopback (bounded in memory by
`MAX_QUEUED` chunks per direction). The TCP handshake is not delayed (the
proxy accepts at once): a new connection costs no extra round trip, the
first request on it does. `cut()` cuts the link like a region
falling off the network: every connection open through it is reset (RST
to both ends) and new ones are reset as soon as they are accepted, until
`restore()`.

    with WanProxy(target_port, delay=0.05) as wan:
        use(wan.port)            # or wan.endpoint: http://127.0.0.1:PORT
        wan.cut(); ...; wan.restore()

The event loop runs in a thread of its own; leaving the `with` block (or
`stop()`) closes the listener and every connection and joins the thread.
"""

import asyncio
import socket
import struct
import threading
import time

LOOPBACK = "127.0.0.1"
READ_SIZE = 64 * 1024
# Chunks held per direction before reading stops (back-pressure): at 64 KiB
# a chunk, up to 16 MiB in flight per direction of one connection.
MAX_QUEUED = 256
_EOF = object()    # the sender closed its side (FIN): passed on, delayed
_RESET = object()  # the sender reset the connection: so is the other side


def _linger0(writer):
    """Makes the next close of `writer`'s socket send a RST, not a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass


def _reset(writer):
    _linger0(writer)
    writer.transport.abort()


class WanProxy:
    """A delaying, cuttable TCP proxy (see the module notes)."""

    def __init__(self, target_port, delay=0.0, delay_up=None, delay_down=None,
                 name="wan"):
        self.target_port = target_port
        self.delay_up = delay if delay_up is None else delay_up
        self.delay_down = delay if delay_down is None else delay_down
        self.name = name
        self.port = None
        self.is_cut = False
        # Figures: connections accepted and passed on, reset by a cut,
        # bytes passed each way.
        self.connections = 0
        self.resets = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self._loop = None
        self._thread = None
        self._server = None
        self._conns = set()  # (client writer, target writer) of live connections
        self._tasks = set()

    # -- life --------------------------------------------------------------

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def endpoint(self):
        return f"http://{LOOPBACK}:{self.port}"

    def start(self):
        ready = threading.Event()
        failure = []

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                self._server = self._loop.run_until_complete(
                    asyncio.start_server(self._accept, LOOPBACK, 0))
                self.port = self._server.sockets[0].getsockname()[1]
            except Exception as e:  # noqa: BLE001 (reported to start())
                failure.append(e)
                ready.set()
                self._loop.close()
                return
            ready.set()
            try:
                self._loop.run_forever()
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name=f"{self.name}-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        assert self.port, "the proxy did not start"
        return self

    def stop(self):
        if self._thread is None:
            return
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        assert not self._thread.is_alive(), f"{self.name}: the proxy thread did not stop"
        self._thread = None

    async def _shutdown(self):
        self._server.close()
        for client, target in list(self._conns):
            client.transport.abort()
            target.transport.abort()
        self._conns.clear()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    # -- control (from any thread) ----------------------------------------

    def _call(self, fn):
        async def run():
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def cut(self):
        """Resets every connection through the link and every new one until
        `restore()`. Returns how many open connections were reset."""
        def do():
            self.is_cut = True
            n = 0
            for client, target in list(self._conns):
                _reset(client)
                _reset(target)
                n += 1
            self._conns.clear()
            self.resets += n
            return n
        return self._call(do)

    def restore(self):
        """Passes connections on again."""
        def do():
            self.is_cut = False
        self._call(do)

    def set_delay(self, delay_up, delay_down=None):
        """Changes the one-way delays (for chunks that arrive from now on)."""
        def do():
            self.delay_up = delay_up
            self.delay_down = delay_up if delay_down is None else delay_down
        self._call(do)

    def open_connections(self):
        return self._call(lambda: len(self._conns))

    # -- the data path -----------------------------------------------------

    async def _accept(self, c_reader, c_writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._serve(c_reader, c_writer)
        except asyncio.CancelledError:
            # Stopped: asyncio's stream callback must not find a
            # cancelled task (it logs it as an error).
            pass
        finally:
            self._tasks.discard(task)

    async def _serve(self, c_reader, c_writer):
        if self.is_cut:
            self.resets += 1
            _reset(c_writer)
            return
        try:
            t_reader, t_writer = await asyncio.open_connection(LOOPBACK, self.target_port)
        except OSError:
            _reset(c_writer)  # the target is down: so is the link, for this client
            return
        if self.is_cut:  # cut while connecting
            self.resets += 1
            _reset(c_writer)
            _reset(t_writer)
            return
        for w in (c_writer, t_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections += 1
        pair = (c_writer, t_writer)
        self._conns.add(pair)
        try:
            await asyncio.gather(
                self._pipe(c_reader, t_writer, "up", pair),
                self._pipe(t_reader, c_writer, "down", pair))
        finally:
            if pair in self._conns:  # not reset by a cut: closed normally
                self._conns.discard(pair)
                for w in pair:
                    w.close()

    async def _pipe(self, reader, writer, direction, pair):
        """One direction: a reader that timestamps chunks and a writer that
        releases each at its arrival + delay, running side by side."""
        queue = asyncio.Queue(MAX_QUEUED)
        loop = asyncio.get_running_loop()

        def due():
            return loop.time() + (self.delay_up if direction == "up" else self.delay_down)

        async def read():
            try:
                while True:
                    data = await reader.read(READ_SIZE)
                    if not data:
                        break
                    await queue.put((due(), data))
            except OSError:
                await queue.put((due(), _RESET))
                return
            await queue.put((due(), _EOF))

        async def write():
            try:
                while True:
                    at, data = await queue.get()
                    wait = at - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    if data is _RESET:
                        for w in pair:
                            _reset(w)
                        return
                    if data is _EOF:
                        if writer.can_write_eof() and not writer.transport.is_closing():
                            writer.write_eof()
                        return
                    if writer.transport.is_closing():
                        return
                    writer.write(data)
                    if direction == "up":
                        self.bytes_up += len(data)
                    else:
                        self.bytes_down += len(data)
                    await writer.drain()
            except OSError:
                # One end went away: so does the other (as a router would
                # not, but a reset is what the other end finds out soon).
                for w in pair:
                    _reset(w)

        reading = asyncio.ensure_future(read())
        try:
            await write()
        finally:
            if not reading.done():
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)


def measure_rtt(port, n=3):
    """The best of `n` 1-byte echo round trips through 127.0.0.1:`port`
    (one fresh connection each), in seconds: for tests with an echo server
    behind."""
    best = None
    for _ in range(n):
        with socket.create_connection((LOOPBACK, port), timeout=10) as s:
            start = time.monotonic()
            s.sendall(b"x")
            s.recv(1)
            took = time.monotonic() - start
        best = took if best is None else min(best, took)
    return best
