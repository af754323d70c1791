"""Just enough HTTP/1.1 for the local emulators: requests with chunked bodies and trailers.

Why not h11 here: h11 copies every body byte twice more (into its receive buffer, then out
of it), which made the emulator the bottleneck of a streamed response at about 300 MiB/s.
Reading a chunk is one ``readexactly(size)`` on the reader (a
:class:`~streamway.local.socket_stream.SocketStream` receives it straight into the result).
Why not uvicorn: an ASGI server cannot hand request trailers to its app. The runtime side
keeps h11 (``streamway.aws_lambda.client``), so the two ends do not share a parser.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Protocol

_MAX_HEAD = 64 * 1024
_HEX_DIGITS = b"0123456789abcdefABCDEF"

REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    404: "Not Found",
    410: "Gone",
    413: "Payload Too Large",
}


class BadRequest(Exception):
    """The peer sent something that is not HTTP/1.1 as this server reads it."""


#: A piece of a body: ``bytes``, or the ``bytearray`` a socket received it into (not copied
#: to ``bytes``, which would cost a pass over every byte).
BodyBytes = bytes | bytearray


class ByteReader(Protocol):
    """What a request is read from: a ``SocketStream`` or an ``asyncio.StreamReader``."""

    async def readuntil(self, separator: bytes) -> bytes: ...

    async def readexactly(self, size: int, /) -> BodyBytes: ...


@dataclass
class Request:
    method: str
    target: str
    #: Lower-case names; repeated headers joined with ", " (RFC 9110 §5.3).
    headers: dict[str, str]
    reader: ByteReader
    trailers: dict[str, str] = field(default_factory=dict)
    keep_alive: bool = True

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    async def body(self) -> AsyncIterator[BodyBytes]:
        """The body, chunk by chunk as framed; trailers land in :attr:`trailers`. Read once."""
        async for size in self.frames():
            yield await self.reader.readexactly(size)

    async def frames(self) -> AsyncIterator[int]:
        """The size of each piece of the body as framed (each chunk, or the whole
        Content-Length body), with the reader left at the piece's first byte: the caller takes
        exactly that many bytes from the reader, by reading or by moving them elsewhere,
        before asking for the next. Trailers land in :attr:`trailers`. Read once."""
        if self.headers.get("transfer-encoding", "").lower() != "chunked":
            length = self.headers.get("content-length", "0").strip() or "0"
            if not (length.isascii() and length.isdigit()):
                raise BadRequest(f"bad content-length {length!r}")
            if int(length):
                yield int(length)
            return
        while True:
            line = await self.reader.readuntil(b"\r\n")
            digits = line.split(b";", 1)[0].strip()
            if not digits or digits.strip(_HEX_DIGITS):
                raise BadRequest(f"bad chunk size line {line!r}")
            size = int(digits, 16)
            if size == 0:
                self.trailers = _fields(await _read_fields(self.reader))
                return
            yield size
            if await self.reader.readexactly(2) != b"\r\n":
                raise BadRequest("a chunk does not end with CRLF")

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body; bytes past ``limit`` are read and dropped."""
        parts: list[BodyBytes] = []
        size = 0
        async for chunk in self.body():
            size += len(chunk)
            if limit is None or size <= limit:
                parts.append(chunk)
        return b"".join(parts)


async def read_request(reader: ByteReader) -> Request | None:
    """The next request's head, or None when the peer closed the connection between requests."""
    try:
        line = await reader.readuntil(b"\r\n")
    except asyncio.IncompleteReadError as closed:
        if closed.partial:
            raise BadRequest("the connection closed inside a request line") from None
        return None
    try:
        method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ")
    except ValueError:
        raise BadRequest(f"bad request line {line!r}") from None
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(f"unsupported version {version}")
    headers = _fields(await _read_fields(reader))
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    return Request(method, target, headers, reader, keep_alive=keep_alive)


async def _read_fields(reader: ByteReader) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    size = 0
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        size += len(line)
        if size > _MAX_HEAD:
            raise BadRequest("header section too large")
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"bad header line {line!r}")
        fields.append((name.lower(), value.strip()))
    return fields


def _fields(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def response_head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk_head(size: int) -> bytes:
    """The size line that opens a chunk of ``size`` bytes; :data:`CHUNK_END` closes it."""
    return b"%x\r\n" % size


CHUNK_END = b"\r\n"
#: The zero chunk with no trailers: the end of a chunked body.
LAST_CHUNK = b"0\r\n\r\n"


def chunk_parts(data: BodyBytes) -> tuple[BodyBytes, ...]:
    """One chunk of a chunked body as separate parts, so ``data`` itself is never copied."""
    return (chunk_head(len(data)), data, CHUNK_END) if data else ()
