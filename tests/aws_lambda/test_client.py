"""The runtime's Runtime API connection against a raw peer that hangs up mid-reply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from streamway.aws_lambda.client import RuntimeConnection


@asynccontextmanager
async def peer_that_hangs_up(reply: bytes) -> AsyncIterator[str]:
    """A peer that reads one request with a 5-byte body, writes ``reply`` (maybe only a part
    of a response) and closes; yields its ``host:port``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(5)
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"127.0.0.1:{port}"


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(b"", id="no-reply-at-all"),
        pytest.param(b'HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{"sta', id="half-a-body"),
        pytest.param(b"HTTP/1.1 202 Acc", id="half-a-head"),
    ],
)
async def test_a_peer_that_hangs_up_mid_reply_is_a_reset(reply: bytes) -> None:
    async with peer_that_hangs_up(reply) as address:
        connection = RuntimeConnection(address)
        try:
            with pytest.raises(ConnectionResetError, match="the Runtime API closed"):
                await connection.request("POST", "/invocation/x/response", (), b"hello")
        finally:
            await connection.close()


async def test_a_whole_reply_is_read() -> None:
    reply = b'HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{"status":"OK"}\n'
    async with peer_that_hangs_up(reply) as address:
        connection = RuntimeConnection(address)
        try:
            answer = await connection.request("POST", "/invocation/x/response", (), b"hello")
        finally:
            await connection.close()
    assert (answer.status, answer.body) == (202, b'{"status":"OK"}\n')
