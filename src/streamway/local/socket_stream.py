"""A connected socket read and written through the event loop's ``sock_*`` calls.

Why not asyncio's streams here: a ``StreamReader`` copies every byte twice in user space
(the transport's ``recv`` result into its buffer, then ``readexactly``'s slice out of it), and
a ``StreamWriter`` copies whatever the kernel did not take at once into its own buffer. For
the emulator, which relays a function's whole response body, those copies were most of its
time. Here a large read goes straight from the kernel into the bytes the caller gets
(``recv_into`` a buffer of the chunk's size) and a write hands the caller's buffers to
``sendmsg`` as they are, so each body byte is copied once in and once out, by the kernel.

Reading is pull-based: nothing is read until a caller asks, so a slow consumer leaves the
bytes in the kernel's socket buffer and TCP flow control slows the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterable

#: What one small read asks for (request heads, chunk-size lines).
_RECV_SIZE = 64 * 1024
#: A read at least this large goes straight into the result, not through the buffer.
_DIRECT_READ = 16 * 1024


class SocketStream:
    """A non-blocking stream socket owned by one task; :meth:`abort` may come from another."""

    def __init__(self, sock: socket.socket, *, max_line: int = 64 * 1024) -> None:
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # As asyncio's transports do: small replies must not wait for Nagle's timer.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.max_line = max_line
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()

    # --- reading ------------------------------------------------------------------------

    async def _receive(self) -> None:
        data = await self._loop.sock_recv(self.sock, _RECV_SIZE)
        if not data:  # EOF: the partial bytes go with the error, as in StreamReader
            partial = bytes(self._buffer)
            self._buffer.clear()
            raise asyncio.IncompleteReadError(partial, None)
        self._buffer += data

    async def readuntil(self, separator: bytes) -> bytes:
        """Bytes up to and including ``separator``; at EOF, ``IncompleteReadError`` with the
        partial bytes (empty when the peer closed cleanly), as ``StreamReader`` does."""
        start = 0
        while (index := self._buffer.find(separator, start)) < 0:
            if len(self._buffer) > self.max_line:
                raise asyncio.LimitOverrunError("separator not found within the limit", 0)
            start = max(0, len(self._buffer) - len(separator) + 1)
            await self._receive()
        end = index + len(separator)
        line = bytes(self._buffer[:end])
        del self._buffer[:end]
        return line

    async def readexactly(self, size: int) -> bytearray:
        """Exactly ``size`` bytes. A large read is received straight into the result."""
        if size < _DIRECT_READ:
            while len(self._buffer) < size:
                await self._receive()
            data = self._buffer[:size]
            del self._buffer[:size]
            return data
        data = bytearray(size)
        view = memoryview(data)
        filled = min(size, len(self._buffer))
        view[:filled] = self._buffer[:filled]
        del self._buffer[:filled]
        while filled < size:
            received = await self._loop.sock_recv_into(self.sock, view[filled:])
            if not received:
                raise asyncio.IncompleteReadError(bytes(data[:filled]), size)
            filled += received
        return data

    # --- writing ------------------------------------------------------------------------

    async def write(self, *parts: bytes | bytearray) -> None:
        """Sends ``parts`` in order, as one gathered write where the platform has ``sendmsg``."""
        if not hasattr(self.sock, "sendmsg"):  # Windows
            for part in parts:
                await self._loop.sock_sendall(self.sock, part)
            return
        views = [memoryview(part) for part in parts if part]
        while views:
            try:
                sent = self.sock.sendmsg(views)
            except (BlockingIOError, InterruptedError):
                await self._writable()
                continue
            views = _drop_sent(views, sent)

    async def _writable(self) -> None:
        waiter = self._loop.create_future()
        fd = self.sock.fileno()
        self._loop.add_writer(fd, _set_done, waiter)
        try:
            await waiter
        finally:
            self._loop.remove_writer(fd)

    # --- ending -------------------------------------------------------------------------

    def abort(self) -> None:
        """Hangs up now, from any task: the owner's pending read or write fails (EOF or
        ``ConnectionError``) and it closes the socket on its way out."""
        with contextlib.suppress(OSError):  # already closed or never connected
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


def _set_done(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _drop_sent(views: Iterable[memoryview], sent: int) -> list[memoryview]:
    left: list[memoryview] = []
    for view in views:
        if sent >= len(view):
            sent -= len(view)
        else:
            left.append(view[sent:])
            sent = 0
    return left
