"""The two body channels over real loopback sockets: a bounded queue, and splice."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from streamway.local.runtime_api import QUEUED_CHUNKS
from streamway.local.runtime_api.body import QueuedBody, SplicedBody
from streamway.local.runtime_api.socket_stream import CAN_SPLICE, SocketStream

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[socket.socket, SocketStream]]:
    """A connected TCP pair: the function's end (plain socket) and the emulator's stream."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        function = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
    stream = SocketStream(accepted)
    try:
        yield function, stream
    finally:
        function.close()
        stream.close()


async def test_a_queued_body_holds_what_the_caller_has_not_read_then_its_end(
    pair: tuple[socket.socket, SocketStream],
) -> None:
    function, source = pair
    body = QueuedBody()
    function.sendall(b"abc" * (QUEUED_CHUNKS + 1))
    for _ in range(QUEUED_CHUNKS):
        await body.carry(source, 3)
    # The queue is full: the next piece waits for the caller (backpressure).
    blocked = asyncio.create_task(body.carry(source, 3))
    # A window for what must not happen; a slow machine only lengthens it.
    await asyncio.sleep(0.05)
    assert not blocked.done()
    chunks = body.chunks()
    assert await anext(chunks) == b"abc"
    await asyncio.wait_for(blocked, 1)
    ending = asyncio.create_task(body.end())
    assert [bytes(chunk) async for chunk in chunks] == [b"abc"] * QUEUED_CHUNKS
    await ending


async def test_a_queued_body_drops_pieces_after_its_end_and_on_discard(
    pair: tuple[socket.socket, SocketStream],
) -> None:
    function, source = pair
    body = QueuedBody()
    function.sendall(b"123456")
    await body.carry(source, 3)
    body.discard()
    body.end_now()
    await body.carry(source, 3)  # read from the socket, not queued
    assert [chunk async for chunk in body.chunks()] == []


@pytest.mark.skipif(not CAN_SPLICE, reason="splice(2) is Linux only")
async def test_a_spliced_body_reaches_the_caller_as_chunks_once_its_head_went_out(
    pair: tuple[socket.socket, SocketStream],
) -> None:
    function, source = pair
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
    caller = SocketStream(accepted)
    stopped: list[bool] = []
    try:
        body = SplicedBody(caller)
        opened = asyncio.create_task(body.open())
        # A window for what must not happen; a slow machine only lengthens it.
        await asyncio.sleep(0.05)
        assert not opened.done()  # nothing flows before the caller's head
        delivering = asyncio.create_task(body.deliver(caller, lambda: stopped.append(True)))
        await asyncio.wait_for(opened, 1)
        function.sendall(b"hello")
        await body.carry(source, 5)
        await body.end()
        body.release()
        await asyncio.wait_for(delivering, 1)
        client.setblocking(False)
        received = await asyncio.get_running_loop().sock_recv(client, 100)
    finally:
        client.close()
        caller.close()
    assert received == b"5\r\nhello\r\n"
    assert stopped == []  # released before the end: the function was not hung up


@pytest.mark.skipif(not CAN_SPLICE, reason="splice(2) is Linux only")
async def test_a_spliced_body_that_ends_mid_body_stops_the_function(
    pair: tuple[socket.socket, SocketStream],
) -> None:
    _, source = pair
    body = SplicedBody(source)
    stopped: list[bool] = []
    delivering = asyncio.create_task(body.deliver(source, lambda: stopped.append(True)))
    await asyncio.sleep(0)
    body.end_now()
    async with asyncio.timeout(10):  # only turns a hang into a failure
        while not stopped:  # noqa: ASYNC110 - the callback has no event of its own
            await asyncio.sleep(0)
    assert stopped == [True]
    assert not delivering.done()  # until the function's connection lets go
    body.release()
    await asyncio.wait_for(delivering, 1)
    assert [chunk async for chunk in body.chunks()] == []
