"""The emulator's HTTP/1.1 reader (``streamway.local.http1``), spoken to with raw bytes over a
real socket: strict framing (RFC 9112) and sizes bounded before anything is allocated."""

from __future__ import annotations

import asyncio
import json
import logging
import os

import pytest

from streamway.local.http1 import MAX_PIECE
from streamway.local.runtime_api import RuntimeAPIServer
from tests.emulator import in_flight
from tests.servers import proc_status_kib

pytestmark = pytest.mark.timeout(60)

#: Lambda's 6 MB and 200 MB are far below what a client may declare.
HALF_GIB = 512 * 1024 * 1024


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def error_type(self) -> str:
        error_type: str = json.loads(self.body)["errorType"]
        return error_type


class Raw:
    """A connection to the emulator that sends exactly the bytes it is given."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, api: RuntimeAPIServer) -> Raw:
        host, port = api.address.split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def send(self, raw: bytes) -> None:
        self.writer.write(raw)
        await self.writer.drain()

    async def reply(self) -> Reply:
        """The next response (the emulator's answers all carry a Content-Length)."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return Reply(int(status_line.split(" ")[1]), headers, body)

    async def closed(self) -> bool:
        """Whether the emulator closed the connection (EOF after what it answered)."""
        return await asyncio.wait_for(self.reader.read(1), 10) == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def runtime(api: RuntimeAPIServer) -> str:
    """The Runtime API's path prefix for the sandbox, with its secret."""
    return "/" + api.runtime_api.partition("/")[2] + "/2018-06-01/runtime"


async def _next(api: RuntimeAPIServer, raw: Raw) -> str:
    await raw.send(f"GET {runtime(api)}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return (await raw.reply()).headers["lambda-runtime-aws-request-id"]


# Each request goes to init/error, a route that reads a body; {p} is the secret path.
MALFORMED = {
    "content-length with chunked": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "a coding before chunked": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        "0\r\n\r\n",
        501,
    ),
    "chunked not last": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
    ),
    "chunked twice": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "an unknown coding": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
        400,
    ),
    "chunked in HTTP/1.0": (
        "POST {p}/init/error HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "a bare LF ending the request line": (
        "POST {p}/init/error HTTP/1.1\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}",
        400,
    ),
    "bare LFs ending the headers": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\nContent-Length: 2\n\n{{}}",
        400,
    ),
    "a bare CR in a header": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\rContent-Length: 2\r\n\r\n{{}}",
        400,
    ),
    "differing content-lengths": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        "Content-Length: 3\r\n\r\n{{}}",
        400,
    ),
    "a negative content-length": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        400,
    ),
    "a signed content-length": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{{}}",
        400,
    ),
    # int() raises ValueError past 4300 digits: once an uncaught error and no answer.
    "a 5000-digit content-length": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: " + "9" * 5000 + "\r\n\r\n",
        400,
    ),
    "a chunk size that is not hex": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
    # Once a bytearray of that size: OverflowError or MemoryError, uncaught, no answer.
    "a 40-digit chunk size": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "f" * 40
        + "\r\n",
        400,
    ),
    "a chunk not ended by CRLF": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "2\r\n{{}}XX0\r\n\r\n",
        400,
    ),
    "no host": ("POST {p}/init/error HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}", 400),
    "two hosts": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 2\r\n\r\n{{}}",
        400,
    ),
    "an obs-fold line": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n"
        "Content-Length: 2\r\n\r\n{{}}",
        400,
    ),
    "a space before the colon": (
        "POST {p}/init/error HTTP/1.1\r\nHost : x\r\nContent-Length: 2\r\n\r\n{{}}",
        400,
    ),
    "a header section over 64 KiB": (
        "POST {p}/init/error HTTP/1.1\r\nHost: x\r\n"
        + "".join(f"X-{n}: {'a' * 1000}\r\n" for n in range(70))
        + "Content-Length: 2\r\n\r\n{{}}",
        431,
    ),
    "a request line over 64 KiB": (
        "POST {p}/init/error?" + "a" * 70_000 + " HTTP/1.1\r\nHost: x\r\n\r\n",
        431,
    ),
}


@pytest.mark.parametrize("name", MALFORMED)
async def test_malformed_requests_are_answered_and_the_connection_closed(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    raw_request, status = MALFORMED[name]
    async with RuntimeAPIServer() as api:
        raw = await Raw.connect(api)
        await raw.send(raw_request.format(p=runtime(api)).encode("latin-1"))
        reply = await raw.reply()
        closed = await raw.closed()
        await raw.close()
        assert api.init_error is None  # the request had no effect

    assert reply.status == status
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["connection"] == "close"
    assert reply.error_type() in {"BadRequest", "NotImplemented", "RequestHeaderFieldsTooLarge"}
    assert closed
    assert any("refused" in record.getMessage() for record in caplog.records)


async def test_identical_repeated_content_lengths_are_one_length() -> None:
    """RFC 9112 §6.3 allows a repeated Content-Length whose values are all the same."""
    async with RuntimeAPIServer() as api:
        raw = await Raw.connect(api)
        await raw.send(
            f"POST {runtime(api)}/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
            "Content-Length: 2\r\n\r\n{}".encode()
        )
        reply = await raw.reply()
        await raw.close()
        assert api.init_error == {}
    assert reply.status == 202


async def test_a_declared_512_mib_response_is_413_before_any_body_is_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only the head is sent: the answer cannot wait for the body, nor allocate for it
    (before the fix, a 512 MiB bytearray, then a wait for bytes that never come)."""
    caplog.set_level(logging.WARNING, "streamway.local.runtime_api")
    async with RuntimeAPIServer() as api:
        raw = await Raw.connect(api)
        invocation = await api.invoke({})
        request_id = await _next(api, raw)
        await raw.send(
            f"POST {runtime(api)}/invocation/{request_id}/response HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {HALF_GIB}\r\n\r\n".encode()
        )
        reply = await raw.reply()
        closed = await raw.closed()
        result = await asyncio.wait_for(invocation.result(), 10)
        await raw.close()

    assert reply.status == 413
    assert reply.error_type() == "Function.ResponseSizeTooLarge"
    assert closed
    assert result.error is not None
    assert result.error["errorType"] == "Function.ResponseSizeTooLarge"
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert logged, "the refusal is logged with the invocation's id"


async def test_a_streamed_chunk_declared_past_200_mb_is_413_before_it_is_read() -> None:
    async with RuntimeAPIServer() as api:
        raw = await Raw.connect(api)
        invocation = await api.invoke({})
        request_id = await _next(api, raw)
        await raw.send(
            f"POST {runtime(api)}/invocation/{request_id}/response HTTP/1.1\r\nHost: x\r\n"
            "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
            f"a\r\n{{}}\0\0\0\0\0\0\0\0\r\n{HALF_GIB:x}\r\n".encode()
        )
        reply = await raw.reply()
        result = await asyncio.wait_for(invocation.result(), 10)
        await raw.close()

    assert reply.status == 413
    assert reply.error_type() == "Function.ResponseSizeTooLarge"
    assert result.body == b"{}" + b"\0" * 8  # what came before the limit was delivered
    assert result.error is not None
    assert result.error["errorType"] == "Function.ResponseSizeTooLarge"


async def test_an_invocation_over_6_mb_is_413_before_it_is_read() -> None:
    async with RuntimeAPIServer() as api:
        raw = await Raw.connect(api)
        target = "/" + api.invoke_url.split("/", 3)[3]
        await raw.send(
            f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {HALF_GIB}\r\n\r\n".encode()
        )
        reply = await raw.reply()
        closed = await raw.closed()
        await raw.close()
        assert in_flight(api) == 0

    assert reply.status == 413
    assert reply.error_type() == "RequestTooLargeException"
    assert json.loads(reply.body)["errorMessage"] == "Request must be smaller than 6291456 bytes"
    assert closed


async def test_a_large_chunk_is_read_in_bounded_pieces() -> None:
    """A streamed chunk may declare 100 MiB (within Lambda's 200 MB): the emulator reads it
    a piece at a time, handing each on as it arrives, instead of allocating the declared size
    and waiting for all of it."""
    declared = 100 * 1024 * 1024
    sent = MAX_PIECE + 12_345
    async with RuntimeAPIServer() as api:
        raw = await Raw.connect(api)
        invocation = await api.invoke({})
        request_id = await _next(api, raw)
        rss_before = proc_status_kib(os.getpid(), "VmRSS")
        await raw.send(
            f"POST {runtime(api)}/invocation/{request_id}/response HTTP/1.1\r\nHost: x\r\n"
            "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
            + f"{declared:x}\r\n".encode()
            + os.urandom(sent)
        )
        chunks = invocation.chunks()
        first = await asyncio.wait_for(anext(chunks), 10)
        rss_after = proc_status_kib(os.getpid(), "VmRSS")
        invocation.cancel({"errorType": "Test.Done", "errorMessage": "enough"})
        await raw.close()

    assert len(first) == MAX_PIECE
    # Nowhere near the declared 100 MiB (the pieces are 1 MiB; the rest is noise).
    assert rss_after - rss_before < 32 * 1024


async def test_a_peer_that_does_not_send_a_whole_head_is_cut_off() -> None:
    """A connection that sends nothing, or half a head, is answered 408 and closed after the
    head timeout, instead of holding a socket and a task of the emulator for ever."""
    async with RuntimeAPIServer(head_timeout_s=0.2) as api:
        silent = await Raw.connect(api)
        slow = await Raw.connect(api)
        await slow.send(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHo")
        replies = [await silent.reply(), await slow.reply()]
        closed = [await silent.closed(), await slow.closed()]
        await silent.close()
        await slow.close()
        assert api.next_calls == []

    assert [reply.status for reply in replies] == [408, 408]
    assert [reply.error_type() for reply in replies] == ["RequestTimeout", "RequestTimeout"]
    assert closed == [True, True]
