"""A real TCP proxy on loopback that cuts a connection mid-response, for resume tests.

Clients (Chromium, ``streamway chat``) talk to the proxy; the proxy talks to a real
streamway server. Once armed with :meth:`CuttingProxy.cut_after`, the first connection to
carry N more bytes from the server is cut right after the N-th byte (both sides closed,
whatever the server sends next is dropped), and the proxy disarms itself: the client's
reconnection, and every later connection, goes through untouched. A test waits for
:attr:`CuttingProxy.cuts` to grow instead of sleeping. ``cut_after(n, then_upstream=port)``
also moves the proxy to another server at the cut, closing every other connection too (a
browser's idle keep-alive ones): the reconnection reaches a server that never saw the
stream, as one may reach another Lambda sandbox.

For uploads it can also stall a connection (:meth:`CuttingProxy.stall_upstream_after`): after
N more bytes from the client, the rest of what the client sends is swallowed, so the server
waits for the rest of the body and the client for an answer, until the client goes (then the
server's side is closed too). A test can then see the server's state mid-upload, however fast
the machine, and kill the client there, or drop the connection
(:meth:`CuttingProxy.drop_stalled`) to see the client retry.

With ``record=True`` it keeps every byte clients sent (:meth:`CuttingProxy.from_clients`), so
a test can read the requests as they went on the wire.

It runs an asyncio loop in a thread of its own so that synchronous tests (Playwright's sync
API, subprocess-driven CLI tests) can use it as a context manager.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

_CHUNK = 16 * 1024


class CuttingProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``; see the module doc."""

    def __init__(self, upstream_port: int, *, record: bool = False) -> None:
        self.upstream_port = upstream_port
        self._recorded: bytearray | None = bytearray() if record else None
        self.port = 0
        self._lock = threading.Lock()
        self._budget: int | None = None  # bytes from the server still allowed, while armed
        self._up_budget: int | None = None  # bytes from the client still forwarded, while armed
        self._stalls = 0
        self._then_upstream: int | None = None  # where new connections go after the cut
        self._stalled: set[asyncio.StreamWriter] = set()  # clients of stalled connections
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cuts = 0
        self._connections = 0
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def cuts(self) -> int:
        with self._lock:
            return self._cuts

    @property
    def connections(self) -> int:
        """Connections accepted so far (a reconnecting client makes a new one)."""
        with self._lock:
            return self._connections

    def from_clients(self) -> bytes:
        """Every byte clients sent so far, in order (one client at a time: not interleaved)."""
        with self._lock:
            assert self._recorded is not None, "the proxy was made without record=True"
            return bytes(self._recorded)

    @property
    def stalls(self) -> int:
        """Connections stalled so far (see :meth:`stall_upstream_after`)."""
        with self._lock:
            return self._stalls

    def stall_upstream_after(self, n_bytes: int) -> None:
        """Arms the proxy: the next N bytes from a client pass, then that connection stalls."""
        with self._lock:
            self._up_budget = n_bytes

    def drop_stalled(self) -> None:
        """Resets the client side of every stalled connection (the client sees its request
        fail mid-body; the server, the body end early), as a broken network would."""
        assert self._loop is not None, "the proxy is not running"

        def drop() -> None:
            for writer in self._stalled:
                writer.transport.abort()

        self._loop.call_soon_threadsafe(drop)

    def cut_after(self, n_bytes: int, *, then_upstream: int | None = None) -> None:
        """Arms the proxy: the next N bytes from the server pass, then that connection dies
        (and with ``then_upstream``, every other one, and new ones go to that port)."""
        with self._lock:
            self._budget = n_bytes
            self._then_upstream = then_upstream

    def wait_for_cuts(self, count: int, timeout_s: float = 60) -> None:
        """Waits until ``count`` cuts happened; the timeout only turns a hang into a failure."""
        deadline = time.monotonic() + timeout_s
        while self.cuts < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the proxy did not cut {count} connection(s) in {timeout_s} s"
                )
            time.sleep(0.02)

    def _allowance(self, size: int) -> tuple[int, bool]:
        """How many of ``size`` bytes may pass, and whether the connection is cut after them."""
        with self._lock:
            if self._budget is None:
                return size, False
            if size < self._budget:
                self._budget -= size
                return size, False
            allowed, self._budget = self._budget, None
            self._cuts += 1
            return allowed, True

    def _up_allowance(self, size: int) -> int:
        """How many of ``size`` bytes from the client pass (fewer: the connection stalls)."""
        with self._lock:
            if self._up_budget is None:
                return size
            if size < self._up_budget:
                self._up_budget -= size
                return size
            allowed, self._up_budget = self._up_budget, None
            self._stalls += 1
            return allowed

    async def _pipe_up(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
    ) -> None:
        with suppress(ConnectionError):
            while data := await reader.read(_CHUNK):
                allowed = self._up_allowance(len(data))
                if self._recorded is not None:
                    with self._lock:
                        self._recorded += data[:allowed]
                writer.write(data[:allowed])
                await writer.drain()
                if allowed < len(data):
                    self._stalled.add(client)
                    try:
                        while await reader.read(_CHUNK):
                            pass  # stalled: swallowed until the client goes (or is dropped)
                    finally:
                        self._stalled.discard(client)
                    break
        with suppress(OSError):
            writer.write_eof()

    async def _pipe_down(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError):
            while data := await reader.read(_CHUNK):
                allowed, cut = self._allowance(len(data))
                writer.write(data[:allowed])
                await writer.drain()
                if cut:
                    await self._switch_upstream(writer)
                    return
        with suppress(OSError):
            writer.write_eof()

    async def _switch_upstream(self, own: asyncio.StreamWriter) -> None:
        """After a cut with ``then_upstream``: new connections go there, and every other
        open one is closed first (awaited, so a client sees them gone before its own cut)."""
        with self._lock:
            port, self._then_upstream = self._then_upstream, None
        if port is None:
            return
        self.upstream_port = port
        others = [writer for writer in self._open if writer is not own]
        for writer in others:
            writer.close()
        for writer in others:
            with suppress(ConnectionError):
                await writer.wait_closed()

    async def _handle(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        with self._lock:
            self._connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port
            )
        except OSError:
            client_writer.close()
            return
        self._open.update((client_writer, server_writer))
        up = asyncio.create_task(self._pipe_up(client_reader, server_writer, client_writer))
        try:
            await self._pipe_down(server_reader, client_writer)
        finally:
            # The server's side ended (or was cut): both sockets go, the request with them.
            up.cancel()
            for writer in (client_writer, server_writer):
                self._open.discard(writer)
                writer.close()
                with suppress(ConnectionError):
                    await writer.wait_closed()

    @contextmanager
    def running(self) -> Iterator[CuttingProxy]:
        loop = self._loop = asyncio.new_event_loop()
        started = threading.Event()
        stop = asyncio.Event()

        async def serve() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            await stop.wait()
            server.close()
            # Idle keep-alive connections (a browser's) would hold the loop open: end them.
            for writer in list(self._open):
                writer.close()
            await server.wait_closed()
            # Connections still piping (a stalled one, a client that never closed) end here,
            # rather than be destroyed pending when the loop closes.
            others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("the proxy did not start listening within 10 s")
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
            loop.close()


@contextmanager
def cutting_proxy(upstream_port: int, *, record: bool = False) -> Iterator[CuttingProxy]:
    """A running :class:`CuttingProxy` in front of ``upstream_port``."""
    with CuttingProxy(upstream_port, record=record).running() as proxy:
        yield proxy
