"""How a response body goes from the function's connection to the invocation's caller.

One interface, two ways:

- :class:`QueuedBody`: pieces go through a small bounded queue that the caller reads
  (:meth:`BodyChannel.chunks`). While the queue is full the function's socket is not read,
  so a slow caller slows the function's ``send()`` through TCP flow control.
- :class:`SplicedBody`: for a caller over HTTP on Linux, where both ends are sockets, each
  piece is moved from the function's socket into the caller's by the kernel, re-framed as a
  chunk as it is, without entering the process (a relayed 256 MiB stream went from 1.3 GiB/s
  through ``recv``/``send`` to about twice that; ``bench/lambda_runtime.py``).

The function's connection calls :meth:`~BodyChannel.open`, :meth:`~BodyChannel.carry` per
piece and :meth:`~BodyChannel.release`; the invocation calls :meth:`~BodyChannel.end` (or
:meth:`~BodyChannel.end_now`) once it ends, after which pieces are read and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from streamway.local.http1 import CHUNK_END, BodyBytes, chunk_head, chunk_parts
from streamway.local.runtime_api.socket_stream import SocketStream

#: Body chunks a queued body holds for its caller; while they wait, the function's socket is
#: not read (backpressure).
QUEUED_CHUNKS = 8


class BodyChannel(Protocol):
    """The path of one invocation's response body."""

    async def open(self) -> None:
        """Waits until the body may flow (before the function's connection reads any)."""

    async def carry(self, source: SocketStream, size: int) -> None:
        """Moves the next ``size`` bytes from the function's socket to the caller; once the
        channel ended, reads and drops them. ``SinkClosed`` when the caller's socket failed."""

    def release(self) -> None:
        """The function's connection will not touch the channel again."""

    async def end(self) -> None:
        """The invocation ended: marks the end of the body, waiting for room to do so."""

    def end_now(self) -> None:
        """The invocation ended: marks the end of the body if there is room for it now."""

    def discard(self) -> None:
        """Drops what the caller has not read yet."""

    def chunks(self) -> AsyncIterator[BodyBytes]:
        """The body as the caller reads it in this process, up to its end mark."""

    async def deliver(self, caller: SocketStream, stop_function: Callable[[], None]) -> None:
        """Sends the body to an HTTP caller as chunks (after its response head), until the
        end; ``stop_function`` hangs up the function's connection if the invocation ends
        while the function is still sending."""


class QueuedBody:
    """The body through a bounded queue: see the module's docstring."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[BodyBytes | None] = asyncio.Queue(QUEUED_CHUNKS)
        self._ended = False

    async def open(self) -> None:
        return

    async def carry(self, source: SocketStream, size: int) -> None:
        chunk = await source.readexactly(size)
        if not self._ended:
            await self._queue.put(chunk)
            # Queue.put does not yield while there is room, and reading a socket with data
            # buffered does not either: without this the reader would run ahead of the
            # consumer until the queue filled, delaying the first byte by several chunks.
            await asyncio.sleep(0)

    def release(self) -> None:
        return

    async def end(self) -> None:
        self._ended = True
        await self._queue.put(None)

    def end_now(self) -> None:
        self._ended = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def discard(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def chunks(self) -> AsyncIterator[BodyBytes]:
        while (chunk := await self._queue.get()) is not None:
            yield chunk

    async def deliver(self, caller: SocketStream, stop_function: Callable[[], None]) -> None:
        async for chunk in self.chunks():
            await caller.write(*chunk_parts(chunk))


class SplicedBody:
    """The body moved socket to socket by the kernel: see the module's docstring."""

    def __init__(self, caller: SocketStream) -> None:
        self._caller = caller
        #: Set once the caller wrote its response head, so the body may follow it (or once
        #: the invocation ended: a function's connection waiting for the caller goes on).
        self._ready = asyncio.Event()
        self._ended = asyncio.Event()
        #: Set once the function's connection will not touch the caller's socket again.
        self._released = asyncio.Event()

    async def open(self) -> None:
        await self._ready.wait()

    async def carry(self, source: SocketStream, size: int) -> None:
        if self._ended.is_set():
            await source.readexactly(size)
            return
        await source.splice_to(self._caller, size, head=chunk_head(size), tail=CHUNK_END)

    def release(self) -> None:
        self._released.set()

    async def end(self) -> None:
        self.end_now()

    def end_now(self) -> None:
        self._ended.set()
        self._ready.set()

    def discard(self) -> None:
        return

    async def chunks(self) -> AsyncIterator[BodyBytes]:
        # Nothing passes through the process; the body went to the caller's socket.
        return
        yield

    async def deliver(self, caller: SocketStream, stop_function: Callable[[], None]) -> None:
        self._ready.set()  # the function's connection writes the body now
        await self._ended.wait()
        if not self._released.is_set():
            # Ended while the function was still sending (its deadline): stop the relay.
            # Not after the body: the function's connection must live on for `next`.
            stop_function()
        await self._released.wait()
