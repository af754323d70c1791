"""The runtime's side of the Lambda Runtime API: HTTP/1.1 over one keep-alive connection.

A streamed response that fails after its first byte ends with real HTTP *trailers*
(``Lambda-Runtime-Function-Error-Type``/``-Body``, docs/aws-behaviour.md §2), which the
standard library's client cannot send. h11 frames the chunks, writes
``EndOfMessage(headers=...)`` as trailers after the zero chunk, and
``send_with_data_passthrough`` hands body chunks to the socket without copying them. A client
serves one invocation at a time, so one connection serves ``next``, ``response`` and
``error`` in turn; under concurrency (:mod:`.concurrency`) each ``next`` loop has its own
client, and so its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import h11

from streamway.aws_contract import ERROR_TYPE_HEADER, REQUEST_ID_HEADER

log = logging.getLogger("streamway.aws_lambda")

API_PREFIX = "/2018-06-01/runtime"

_READ_SIZE = 64 * 1024
#: The most the writer lets the socket buffer hold before ``send()`` waits (plus the one
#: chunk being written): the app never runs ahead of the Runtime API connection.
WRITE_BUFFER_BYTES = 256 * 1024

Headers = Sequence[tuple[str, str]]


class RuntimeAPIError(Exception):
    """The Runtime API answered with an unexpected status."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class NextInvocation:
    """What ``GET .../invocation/next`` returned: the event and its headers."""

    headers: dict[str, str]
    body: bytes

    @property
    def request_id(self) -> str:
        return self.headers[REQUEST_ID_HEADER]

    def event(self) -> Any:
        return json.loads(self.body)


class RuntimeConnection:
    """One HTTP/1.1 client connection, reopened when the Runtime API closes it.

    ``address`` is ``AWS_LAMBDA_RUNTIME_API``: ``host:port``, optionally followed by a path
    that goes before every request's (streamway's emulator puts a per-sandbox secret there,
    as ``http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/...`` would in AWS's own clients).
    """

    def __init__(self, address: str) -> None:
        authority, slash, base_path = address.partition("/")
        host, _, port = authority.rpartition(":")
        self.authority = authority
        self.host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
        self.port = int(port)
        self.base_path = (slash + base_path).rstrip("/")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._conn = h11.Connection(h11.CLIENT)

    @property
    def closed(self) -> bool:
        """No connection, or the Runtime API hung it up (streamway's emulator does when an
        invocation's caller goes away)."""
        return self._writer is None or self._writer.transport.is_closing()

    async def _ensure_open(self) -> None:
        if not self.closed and self._conn.our_state is h11.IDLE:
            return
        await self.close()
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._writer.transport.set_write_buffer_limits(high=WRITE_BUFFER_BYTES)
        self._conn = h11.Connection(h11.CLIENT)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
            self._writer = None

    async def begin(self, method: str, path: str, headers: Headers) -> None:
        """Sends a request head; the body follows through :meth:`send` and :meth:`end`."""
        await self._ensure_open()
        request = h11.Request(
            method=method,
            target=self.base_path + API_PREFIX + path,
            headers=[("host", self.authority), *headers],
        )
        await self.send(request)

    async def send(self, event: h11.Request | h11.Data | h11.EndOfMessage) -> None:
        assert self._writer is not None
        if self._writer.transport.is_closing():
            # What the peer's hang-up is, whatever the loop: uvloop raises RuntimeError on a
            # closed transport, asyncio's drops the bytes and says nothing until drain().
            raise ConnectionResetError("the Runtime API closed the connection")
        # Piece by piece rather than writelines(), which joins (copies) a 1 MiB chunk first;
        # write() sends straight from the chunk and copies only what the socket cannot take.
        for piece in self._conn.send_with_data_passthrough(event) or ():
            self._writer.write(piece)
        # Backpressure: waits while the socket buffer is above WRITE_BUFFER_BYTES.
        await self._writer.drain()

    async def end(self, trailers: Headers = ()) -> Reply:
        """Ends the request body (with trailers, if any) and reads the reply."""
        await self.send(h11.EndOfMessage(headers=list(trailers)))
        return await self.read_reply()

    async def read_reply(self) -> Reply:
        status = 0
        headers: dict[str, str] = {}
        parts: list[bytes] = []
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as error:
                # The peer hung up before its reply was whole (streamway's emulator does when
                # the invocation's caller left just as the function ended): a reset, which the
                # streaming code takes as the caller gone, not a failure of the app.
                raise ConnectionResetError(
                    f"the Runtime API closed the connection: {error}"
                ) from None
            if event is h11.NEED_DATA:
                assert self._reader is not None
                self._conn.receive_data(await self._reader.read(_READ_SIZE))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionResetError("the Runtime API closed the connection")
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._conn.start_next_cycle()
        return Reply(status, headers, b"".join(parts))

    async def request(self, method: str, path: str, headers: Headers, body: bytes) -> Reply:
        await self.begin(method, path, [*headers, ("content-length", str(len(body)))])
        if body:
            await self.send(h11.Data(data=body))
        return await self.end()


class RuntimeAPIClient:
    """The calls a runtime makes: ``next``, ``response``, ``error`` and ``init/error``."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.connection = RuntimeConnection(address)

    async def next(self) -> NextInvocation:
        reply = await self.connection.request("GET", "/invocation/next", (), b"")
        if reply.status != 200:
            raise RuntimeAPIError(f"invocation/next answered {reply.status}: {reply.body!r}")
        return NextInvocation(reply.headers, reply.body)

    async def post_response(self, request_id: str, body: bytes, content_type: str) -> None:
        reply = await self.connection.request(
            "POST",
            f"/invocation/{request_id}/response",
            [("content-type", content_type)],
            body,
        )
        expect_accepted(reply, "response")

    async def post_error(self, request_id: str, error: dict[str, Any]) -> None:
        await self._post_error(f"/invocation/{request_id}/error", error)

    async def post_init_error(self, error: dict[str, Any]) -> None:
        await self._post_error("/init/error", error)

    async def _post_error(self, path: str, error: dict[str, Any]) -> None:
        reply = await self.connection.request(
            "POST",
            path,
            [("content-type", "application/json"), (ERROR_TYPE_HEADER, error["errorType"])],
            json.dumps(error).encode(),
        )
        expect_accepted(reply, path)

    async def close(self) -> None:
        await self.connection.close()


def expect_accepted(reply: Reply, what: str) -> None:
    if reply.status == 410:
        # The invocation ended without this answer (a timeout, or a caller that went
        # away): not the function's failure, and nothing more to do about it.
        log.warning("the Runtime API no longer takes a %s: the invocation is over", what)
    elif reply.status != 202:
        # Lambda refuses late (410), unknown (400) and oversized (413) responses; the
        # invocation is over either way, so this is logged and the loop goes on.
        log.error(
            "the Runtime API refused a %s", what, extra={"status": reply.status, "body": reply.body}
        )
