"""SocketStream over a real socket pair: reads as StreamReader's, writes that survive a full
socket buffer, and a hang-up from another task."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket

import pytest

from streamway.local.socket_stream import SocketStream

pytestmark = pytest.mark.timeout(30)


async def _pair() -> tuple[SocketStream, socket.socket]:
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    return SocketStream(ours, max_line=1024), theirs


async def test_readuntil_joins_receives_and_keeps_what_follows() -> None:
    stream, peer = await _pair()
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(peer, b"GET / HT")
    line = asyncio.create_task(stream.readuntil(b"\r\n"))
    await asyncio.sleep(0.01)
    assert not line.done()
    await loop.sock_sendall(peer, b"TP/1.1\r\nrest")
    assert await line == b"GET / HTTP/1.1\r\n"
    assert await stream.readexactly(4) == b"rest"
    stream.close()
    peer.close()


async def test_a_large_read_takes_the_buffered_prefix_then_the_socket() -> None:
    stream, peer = await _pair()
    loop = asyncio.get_running_loop()
    body = os.urandom(3 * 1024 * 1024 + 7)
    sender = asyncio.create_task(loop.sock_sendall(peer, b"4\r\n" + body + b"tail\r\n"))
    assert await stream.readuntil(b"\r\n") == b"4\r\n"  # the buffer now holds part of the body
    data = await stream.readexactly(len(body))
    await sender
    assert hashlib.sha256(data).digest() == hashlib.sha256(body).digest()
    assert await stream.readuntil(b"\r\n") == b"tail\r\n"
    stream.close()
    peer.close()


async def test_eof_reports_the_partial_bytes_as_streamreader_does() -> None:
    stream, peer = await _pair()
    peer.sendall(b"half a li")
    peer.close()
    with pytest.raises(asyncio.IncompleteReadError) as cut:
        await stream.readuntil(b"\r\n")
    assert cut.value.partial == b"half a li"
    with pytest.raises(asyncio.IncompleteReadError) as clean:
        await stream.readuntil(b"\r\n")
    assert clean.value.partial == b""
    stream.close()


async def test_a_large_read_cut_short_raises() -> None:
    stream, peer = await _pair()
    peer.sendall(b"x" * 40_000)
    peer.close()
    with pytest.raises(asyncio.IncompleteReadError) as cut:
        await stream.readexactly(100_000)
    assert len(cut.value.partial) == 40_000
    stream.close()


async def test_a_line_longer_than_the_limit_is_refused() -> None:
    stream, peer = await _pair()
    peer.sendall(b"x" * 5000)
    with pytest.raises(asyncio.LimitOverrunError):
        await stream.readuntil(b"\r\n")
    stream.close()
    peer.close()


async def test_write_waits_for_a_slow_reader_and_sends_every_part_in_order() -> None:
    stream, peer = await _pair()
    loop = asyncio.get_running_loop()
    parts = [os.urandom(size) for size in (5, 2 * 1024 * 1024, 0, 3, 1024 * 1024)]
    expected = b"".join(parts)
    writer = asyncio.create_task(stream.write(*parts))
    await asyncio.sleep(0.05)
    assert not writer.done(), "2 MiB cannot fit a socket buffer: the write must wait"
    received = bytearray()
    while len(received) < len(expected):
        received += await loop.sock_recv(peer, 256 * 1024)
    await writer
    assert bytes(received) == expected
    stream.close()
    peer.close()


async def test_abort_from_another_task_ends_a_pending_read() -> None:
    stream, peer = await _pair()
    reading = asyncio.create_task(stream.readexactly(1 << 20))
    await asyncio.sleep(0.01)
    stream.abort()
    with pytest.raises(asyncio.IncompleteReadError):
        await reading
    stream.close()
    peer.close()
