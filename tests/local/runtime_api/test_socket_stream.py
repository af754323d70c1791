"""SocketStream over a real socket pair: reads as StreamReader's, writes that survive a full
socket buffer, and a hang-up from another task."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket

import pytest

from streamway.local.runtime_api.socket_stream import CAN_SPLICE, SinkClosed, SocketStream

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
    # A window for what must not happen; a slow machine only lengthens it.
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
    # A window for what must not happen; a slow machine only lengthens it.
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
    # One turn of this event loop runs the task to its first await (the read is pending):
    # an order the loop guarantees, not a timing.
    await asyncio.sleep(0.01)
    stream.abort()
    with pytest.raises(asyncio.IncompleteReadError):
        await reading
    stream.close()
    peer.close()


needs_splice = pytest.mark.skipif(not CAN_SPLICE, reason="splice(2) is Linux only")


async def _tcp_pair() -> tuple[SocketStream, socket.socket]:
    """A connected TCP pair on loopback (splice moves pages between TCP sockets)."""
    loop = asyncio.get_running_loop()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        peer = socket.socket()
        peer.setblocking(False)
        connecting = loop.create_task(loop.sock_connect(peer, listener.getsockname()))
        ours, _ = await loop.sock_accept(listener)
        await connecting
    return SocketStream(ours), peer


async def _receive_exactly(peer: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    received = bytearray()
    while len(received) < size:
        data = await loop.sock_recv(peer, 1 << 20)
        if not data:
            break
        received += data
    return bytes(received)


@needs_splice
async def test_splice_moves_exactly_the_bytes_asked_for_buffered_prefix_first() -> None:
    loop = asyncio.get_running_loop()
    source, function = await _tcp_pair()
    sink, caller = await _tcp_pair()
    body = os.urandom(5 * (1 << 20) + 3)  # larger than the relay pipe
    sending = loop.create_task(loop.sock_sendall(function, b"line\r\n" + body + b"next\r\n"))
    assert await source.readuntil(b"\r\n") == b"line\r\n"  # leaves part of the body buffered
    receiving = loop.create_task(_receive_exactly(caller, len(body)))
    await source.splice_to(sink, len(body))
    await sending
    assert await receiving == body
    assert await source.readuntil(b"\r\n") == b"next\r\n"  # nothing past the size was taken
    # The same pipe serves the next relay.
    await loop.sock_sendall(function, b"again")
    await source.splice_to(sink, 5)
    assert await _receive_exactly(caller, 5) == b"again"
    for stream in (source, sink):
        stream.close()
    function.close()
    caller.close()


async def _splice_in_pieces(
    source: SocketStream, sink: SocketStream, pieces: int, size: int
) -> None:
    # Into a socket whose peer left, the first writes may still be taken (until the reset).
    for _ in range(pieces):
        await source.splice_to(sink, size)


@needs_splice
async def test_splice_tells_a_gone_sink_from_a_source_that_ended() -> None:
    loop = asyncio.get_running_loop()
    source, function = await _tcp_pair()
    sink, caller = await _tcp_pair()
    caller.close()  # the caller left
    await loop.sock_sendall(function, b"z" * 200_000)
    with pytest.raises(SinkClosed):
        await _splice_in_pieces(source, sink, pieces=50, size=4000)
    sink.close()
    other_sink, other_caller = await _tcp_pair()
    function.close()  # now the function's side ends early
    with pytest.raises(asyncio.IncompleteReadError):
        await source.splice_to(other_sink, 10_000_000)
    for stream in (source, other_sink):
        stream.close()
    other_caller.close()
