"""Just enough HTTP/1.1 for the local emulators: requests with chunked bodies and trailers.

It is its own rather than an HTTP library's or an ASGI server's for two reasons. Request
trailers reach the caller (an ASGI server cannot hand them to its app). And a body byte is
not copied in user space: reading a chunk is one ``readexactly(size)`` per piece of at most
:data:`MAX_PIECE` bytes, which the emulator's
:class:`~streamway.local.runtime_api.socket_stream.SocketStream` receives straight into the
result, where a parser's receive buffer would copy each byte in and out again. The runtime
side writes with h11 (``streamway.aws_lambda.client``), so the two ends do not share a parser.

It reads strictly (RFC 9112), because whatever it accepts that another parser would read
differently is a way to smuggle a request: CRLF line ends only, one framing per message
(Content-Length *or* chunked), no transfer coding but ``chunked``, size fields checked before
``int()``, a 64 KiB header section, and bodies capped by the caller before they are read.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Protocol

_MAX_HEAD = 64 * 1024
_HEX_DIGITS = b"0123456789abcdefABCDEF"
#: The most bytes of a body handed over at once. A larger chunk (or Content-Length body) is
#: cut into pieces this size, so what a reader allocates is bounded whatever the peer
#: declares (a declared 512 MiB chunk once meant a 512 MiB ``bytearray`` up front). 1 MiB is
#: also the relay pipe's size and the chunk size of a streamed download: no extra moves.
MAX_PIECE = 1024 * 1024
#: Digits of a size field: 16 hex digits is already 2**64; 18 decimal digits is over an
#: exabyte. Longer ones are refused before ``int()`` (which raises ValueError past 4300
#: decimal digits, and a bignum is no size anyway).
_MAX_HEX_DIGITS = 16
_MAX_DECIMAL_DIGITS = 18
#: RFC 9110 §5.6.2: a token (method, header name).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Control characters a field value must not hold (HTAB is allowed; CR and LF end the line).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    410: "Gone",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
}


class BadRequest(Exception):
    """The peer sent something that is not HTTP/1.1 as this server reads it: answered with
    :attr:`status` (400 unless said otherwise), then the connection is closed, because after a
    framing error nothing says where the next request would begin."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class PayloadTooLarge(BadRequest):
    """A body over the limit its route allows, refused before its bytes are read."""

    status = 413

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


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
    #: The body's framing, checked by :func:`read_request`: chunked, or this many bytes.
    chunked: bool = False
    content_length: int = 0

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    async def body(self, limit: int | None) -> AsyncIterator[BodyBytes]:
        """The body in pieces of at most :data:`MAX_PIECE` bytes; trailers land in
        :attr:`trailers`. Read once. See :meth:`frames` for ``limit``."""
        async for size in self.frames(limit):
            yield await self.reader.readexactly(size)

    async def frames(self, limit: int | None) -> AsyncIterator[int]:
        """The size of each piece of the body (at most :data:`MAX_PIECE`), with the reader
        left at the piece's first byte: the caller takes exactly that many bytes from the
        reader, by reading or by moving them elsewhere, before asking for the next. Trailers
        land in :attr:`trailers`. Read once.

        A body over ``limit`` bytes (None: no limit) raises :class:`PayloadTooLarge` before
        the bytes over it are read: at once for a Content-Length, and at the chunk whose
        declared size passes it for a chunked body.
        """
        if not self.chunked:
            if limit is not None and self.content_length > limit:
                raise PayloadTooLarge(
                    f"a body of {self.content_length} bytes is over the limit of {limit}", limit
                )
            for piece in _pieces(self.content_length):
                yield piece
            return
        total = 0
        while True:
            line = await _read_line(self.reader)
            # RFC 9112 §7.1: chunk-size [ BWS ; chunk-ext ] CRLF. Extensions are ignored.
            digits = line[:-2].split(b";", 1)[0].rstrip(b" \t")
            if not digits or digits.strip(_HEX_DIGITS) or len(digits) > _MAX_HEX_DIGITS:
                raise BadRequest(f"bad chunk size line {line[:64]!r}")
            size = int(digits, 16)
            if size == 0:
                self.trailers = _fields(await _read_fields(self.reader))
                return
            total += size
            if limit is not None and total > limit:
                raise PayloadTooLarge(f"a chunked body over the limit of {limit} bytes", limit)
            for piece in _pieces(size):
                yield piece
            if await self.reader.readexactly(2) != b"\r\n":
                raise BadRequest("a chunk does not end with CRLF")

    async def read(self, limit: int | None) -> bytes:
        """The whole body; over ``limit`` bytes it raises :class:`PayloadTooLarge`."""
        return b"".join([piece async for piece in self.body(limit)])


def _pieces(size: int) -> Iterable[int]:
    while size > 0:
        piece = min(size, MAX_PIECE)
        yield piece
        size -= piece


async def _read_line(reader: ByteReader) -> bytes:
    """One line ending in CRLF. RFC 9112 §2.2 lets a server take a bare LF as a line end, but
    a proxy in front that does not would see a different message (request smuggling), so a
    bare LF or CR is refused, as is a line past the reader's limit."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise BadRequest("a line of the request is too long", 431) from None
    if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
        raise BadRequest(f"a line not ended by CRLF: {line[:64]!r}")
    return line


async def read_request(reader: ByteReader) -> Request | None:
    """The next request's head, or None when the peer closed the connection between requests.

    Its framing is checked here, before anyone reads the body (RFC 9112 §6): Content-Length
    with Transfer-Encoding, a transfer coding other than ``chunked``, differing or malformed
    Content-Lengths are refused, as is anything a proxy might read differently.
    """
    try:
        line = await _read_line(reader)
    except asyncio.IncompleteReadError as closed:
        if closed.partial:
            raise BadRequest("the connection closed inside a request line") from None
        return None
    parts = line[:-2].decode("latin-1").split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1].startswith("/"):
        raise BadRequest(f"bad request line {line[:64]!r}")
    method, target, version = parts
    if _CONTROL.search(target):
        raise BadRequest("control characters in the request target")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(f"unsupported version {version[:16]!r}")
    pairs = await _read_fields(reader)
    headers = _fields(pairs)
    hosts = sum(1 for name, _ in pairs if name == "host")
    if hosts > 1 or (version == "HTTP/1.1" and not hosts):
        raise BadRequest("an HTTP/1.1 request needs exactly one Host header")  # RFC 9112 §3.2
    chunked, content_length = _framing(headers, version)
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    return Request(
        method,
        target,
        headers,
        reader,
        keep_alive=keep_alive,
        chunked=chunked,
        content_length=content_length,
    )


def _framing(headers: dict[str, str], version: str) -> tuple[bool, int]:
    """(chunked, Content-Length) of a request's body, or :class:`BadRequest` (RFC 9112 §6)."""
    coding = headers.get("transfer-encoding")
    length = headers.get("content-length")
    if coding is not None:
        if length is not None:
            # §6.3: either may be what an intermediary used; the message cannot be trusted.
            raise BadRequest("Content-Length together with Transfer-Encoding")
        if version == "HTTP/1.0":
            raise BadRequest("Transfer-Encoding in an HTTP/1.0 request")
        codings = [part.strip().lower() for part in coding.split(",")]
        if codings[-1] != "chunked" or codings.count("chunked") > 1:
            # §6.3: chunked not last (or twice): the body's length cannot be known.
            raise BadRequest(f"bad Transfer-Encoding {coding[:64]!r}")
        if len(codings) > 1:
            raise BadRequest(f"unsupported transfer coding {coding[:64]!r}", 501)
        return True, 0
    if length is None:
        return False, 0
    # Repeated Content-Length headers arrive joined ("5, 5"); identical ones are one length.
    values = {value.strip() for value in length.split(",")}
    if len(values) != 1:
        raise BadRequest(f"differing Content-Length values {length[:64]!r}")
    (value,) = values
    if not (value.isascii() and value.isdigit()) or len(value) > _MAX_DECIMAL_DIGITS:
        raise BadRequest(f"bad Content-Length {value[:32]!r}")
    return False, int(value)


async def _read_fields(reader: ByteReader) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    size = 0
    while (line := await _read_line(reader)) != b"\r\n":
        size += len(line)
        if size > _MAX_HEAD:
            raise BadRequest("header section too large", 431)
        name, sep, value = line[:-2].decode("latin-1").partition(":")
        # No whitespace before the colon, no obs-fold (a line starting with SP or HTAB).
        if not sep or not _TOKEN.fullmatch(name):
            raise BadRequest(f"bad header line {line[:64]!r}")
        value = value.strip(" \t")
        if _CONTROL.search(value):
            raise BadRequest(f"control characters in header {name[:64]!r}")
        fields.append((name.lower(), value))
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
