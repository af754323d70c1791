"""A connected socket read and written through the event loop's ``sock_*`` calls.

The emulator relays a function's whole response body, so each body byte is copied only by
the kernel, once in and once out: a large read goes straight into the bytes the caller gets
(``recv_into`` a buffer of the chunk's size), and a write hands the caller's buffers to
``sendmsg`` as they are. asyncio's streams would copy each byte again in user space (into
the reader's buffer and out of it, and into the writer's buffer whatever the kernel did not
take at once); docs/lambda.md ("Performance") has the measurements.

Reading is pull-based: nothing is read until a caller asks, so a slow consumer leaves the
bytes in the kernel's socket buffer and TCP flow control slows the sender.

On Linux, :meth:`SocketStream.splice_to` moves bytes from one socket to another without them
entering the process at all (``splice(2)`` through a pipe; on loopback the kernel hands the
pages on rather than copying them): a relay then costs system calls, not memory bandwidth.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import Iterable

#: What one small read asks for (request heads, chunk-size lines). Small, because whatever
#: it takes of the body that follows is copied once more (or sent the ordinary way by
#: :meth:`SocketStream.splice_to`); a head of a few hundred bytes fits.
_RECV_SIZE = 4 * 1024
#: A read at least this large goes straight into the result, not through the buffer.
_DIRECT_READ = 16 * 1024
#: Whether :meth:`SocketStream.splice_to` is available (Linux).
CAN_SPLICE = hasattr(os, "splice")
#: What the relay pipe is asked to hold (Linux's default is 64 KiB; 1 MiB is the unprivileged
#: maximum, /proc/sys/fs/pipe-max-size): fewer, larger moves.
_PIPE_BYTES = 1024 * 1024
#: ``struct linger`` on, 0 s: ``close()`` resets the connection (see :meth:`SocketStream.reset`).
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class SinkClosed(Exception):
    """The socket :meth:`SocketStream.splice_to` was moving bytes into failed (its peer left);
    told apart from the source's failures, which raise ``ConnectionError`` or EOF."""


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
        #: (read end, write end, capacity) of the pipe :meth:`splice_to` moves bytes through.
        self._pipe: tuple[int, int, int] | None = None

    # --- reading ------------------------------------------------------------------------

    async def _receive(self, wanted: int = 0) -> None:
        """Receives at least one byte (up to ``wanted`` more than buffered, or a small read)."""
        data = await self._loop.sock_recv(self.sock, max(_RECV_SIZE, wanted - len(self._buffer)))
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
                await self._receive(size)
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

    async def wait_for_data(self) -> None:
        """Returns once at least one byte is buffered; at EOF, ``IncompleteReadError`` with no
        partial bytes."""
        if not self._buffer:
            await self._receive()

    async def discard(self, limit: int) -> None:
        """Reads and drops what the peer sends, until it closes or ``limit`` bytes went.

        After an answer that refuses a request (then :meth:`shut_write`), so that closing does
        not meet unread bytes, on which the kernel resets the connection and the peer may lose
        the answer before reading it (the "lingering close" of HTTP servers). Bound it with a
        timeout: a peer may send slowly or not at all."""
        self._buffer.clear()
        while limit > 0:
            data = await self._loop.sock_recv(self.sock, min(limit, _DIRECT_READ))
            if not data:
                return
            limit -= len(data)

    def shut_write(self) -> None:
        """Sends FIN: the peer reads what was written, then the end of the stream."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    async def splice_to(
        self, sink: SocketStream, size: int, *, head: bytes = b"", tail: bytes = b""
    ) -> None:
        """Writes ``head`` to ``sink``, moves exactly ``size`` bytes from this socket into
        ``sink``'s in the kernel (Linux only, see :data:`CAN_SPLICE`), then writes ``tail``.
        Any failure of the sink raises :class:`SinkClosed`; an EOF here raises
        ``IncompleteReadError``."""
        buffered = min(size, len(self._buffer))
        # Bytes a small read already took in go the ordinary way, in one write with the head.
        await _write_to_sink(sink, head, self._buffer[:buffered])
        del self._buffer[:buffered]
        await self._splice(sink, size - buffered, size)
        await _write_to_sink(sink, tail)

    async def _splice(self, sink: SocketStream, left: int, size: int) -> None:
        """The kernel's part of :meth:`splice_to`: ``left`` bytes of a ``size``-byte move."""
        if not left:
            return
        if self._pipe is None:
            self._pipe = _relay_pipe()
        pipe_out, pipe_in, capacity = self._pipe
        source, target = self.sock.fileno(), sink.sock.fileno()
        flags = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
        in_pipe = 0
        try:
            # Both moves go on whenever they can, so the function's socket is read while the
            # caller's drains: waiting for one before the other halved the throughput.
            while left or in_pipe:
                moved = False
                if left and in_pipe < capacity:
                    room = min(left, capacity - in_pipe)
                    with contextlib.suppress(BlockingIOError, InterruptedError):
                        taken = os.splice(source, pipe_in, room, flags=flags)
                        if not taken:
                            raise asyncio.IncompleteReadError(b"", size)
                        left, in_pipe, moved = left - taken, in_pipe + taken, True
                if in_pipe:
                    try:
                        given = os.splice(pipe_out, target, in_pipe, flags=flags)
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError as error:
                        raise SinkClosed(error) from error
                    else:
                        in_pipe, moved = in_pipe - given, True
                if not moved:
                    await self._ready(
                        read=bool(left) and in_pipe < capacity, write_to=sink if in_pipe else None
                    )
        except BaseException:
            # Bytes may be left in the pipe: never let them reach the next relay.
            self._close_pipe()
            raise

    async def _ready(self, *, read: bool, write_to: SocketStream | None) -> None:
        """Waits until this socket can be read (if ``read``) or ``write_to`` written."""
        waiter = self._loop.create_future()
        fd, target = self.sock.fileno(), write_to.sock.fileno() if write_to else -1
        if read:
            self._loop.add_reader(fd, _set_done, waiter)
        if target >= 0:
            self._loop.add_writer(target, _set_done, waiter)
        try:
            await waiter
        finally:
            if read:
                self._loop.remove_reader(fd)
            if target >= 0:
                self._loop.remove_writer(target)

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
                await self._ready(read=False, write_to=self)
                continue
            views = _drop_sent(views, sent)

    # --- ending -------------------------------------------------------------------------

    def abort(self) -> None:
        """Hangs up now, from any task: the owner's pending read or write fails (EOF or
        ``ConnectionError``) and it closes the socket on its way out."""
        with contextlib.suppress(OSError):  # already closed or never connected
            self.sock.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        """Hangs up now, from any task, with a reset rather than a FIN.

        The peer may be blocked in a write, its data refused by our shut receive window. A
        shut-down socket sends no window update for what is still read from it, and one
        closed with nothing unread sends a FIN and waits in FIN-WAIT-2: the peer's kernel then
        sends only window probes, and its write fails only when that socket times out
        (``tcp_fin_timeout``, 60 s, then the probes' back-off; the soak saw 108 s). With
        ``SO_LINGER`` 0 the close that follows sends a reset, which fails the write at once.
        """
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        self.abort()

    def close(self) -> None:
        self._close_pipe()
        self.sock.close()

    def _close_pipe(self) -> None:
        if self._pipe is not None:
            os.close(self._pipe[0])
            os.close(self._pipe[1])
            self._pipe = None


def _relay_pipe() -> tuple[int, int, int]:
    """A pipe (read end, write end, capacity), as large as an unprivileged process may ask."""
    import fcntl  # here, not at the top: there is no fcntl on Windows, nor splice

    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):  # a smaller pipe only means more, smaller moves
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    return read_end, write_end, fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)


async def _write_to_sink(sink: SocketStream, *parts: bytes | bytearray) -> None:
    try:
        await sink.write(*parts)
    except OSError as error:
        raise SinkClosed(error) from error


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
