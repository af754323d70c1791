"""One keep-alive connection to an emulator, from a runtime or an HTTP invoker.

It reads a request head within a time limit, checks what the request may reach
(:mod:`.access`), and hands it to its route. Bad input is answered, not dropped: a malformed
request gets 400 (501 for a transfer coding other than chunked), a body over its route's
limit 413 before the bytes over it are read (6 MB for a request or a buffered response,
200 MB for a streamed one), each with a Lambda style JSON body, and the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from streamway.aws_contract import (
    LAMBDA_MAX_BUFFERED_RESPONSE_BYTES,
    error_object,
)
from streamway.local.http1 import BadRequest, Request, read_request
from streamway.local.runtime_api import runtime_routes
from streamway.local.runtime_api.access import Access, Peer
from streamway.local.runtime_api.invoke_route import invoke_over_http
from streamway.local.runtime_api.registry import Registry
from streamway.local.runtime_api.responder import Responder
from streamway.local.runtime_api.socket_stream import SocketStream
from streamway.local.runtime_api.wire import API_PREFIX, refusal

log = logging.getLogger("streamway.local.runtime_api")

#: What a request that should have no body (``next``) may still carry, read and dropped.
_MAX_EMPTY_BODY = 64 * 1024
#: After a refusal, how much of what the peer still sends is read and dropped, and for how
#: long, before the connection closes (see ``SocketStream.discard``).
_LINGER_BYTES = 1024 * 1024
_LINGER_S = 2.0


@dataclass(frozen=True)
class Limits:
    #: How long a new connection may wait before its first byte, and a request head may take
    #: from its first byte to its end (idle time between requests is not limited).
    head_timeout_s: float
    #: The largest streamed response; None: no limit.
    max_streamed_bytes: int | None


class Connection:
    """Serves the requests of one connection until it closes or must be closed."""

    def __init__(
        self, stream: SocketStream, registry: Registry, access: Access, limits: Limits
    ) -> None:
        self.stream = stream
        self._registry = registry
        self._access = access
        self._limits = limits
        self._peer = Peer(access, stream.sock)
        self._responder = Responder(stream)
        #: The invocation the current request is about, for the log line of a refusal.
        self._request_id: str | None = None

    async def run(self) -> None:
        first = True
        while True:
            self._responder.next_request()
            self._request_id = None
            try:
                request = await self._read_head(first)
                if request is None:
                    return
                first = False
                keep_alive = await self._route(request) and request.keep_alive
            except BadRequest as error:
                await self._refuse(error)
                await self._linger()
                return
            if not keep_alive:
                return

    async def _read_head(self, first: bool) -> Request | None:
        """The next request's head, within the head timeout (see :class:`Limits`)."""
        timeout = self._limits.head_timeout_s
        try:
            if not first:
                await self.stream.wait_for_data()  # idle between requests: no limit
            async with asyncio.timeout(timeout):
                return await read_request(self.stream)
        except asyncio.IncompleteReadError as closed:
            if closed.partial:
                raise BadRequest("the connection closed inside a request head") from None
            return None
        except TimeoutError:
            raise BadRequest(f"no complete request head within {timeout:g} s", 408) from None

    async def _linger(self) -> None:
        """Before a refused connection closes: let the peer read the answer (bounded)."""
        if not self._responder.answered:
            return
        self.stream.shut_write()
        with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
            async with asyncio.timeout(_LINGER_S):
                await self.stream.discard(_LINGER_BYTES)

    async def _refuse(self, error: BadRequest) -> None:
        """Answers a refused request (Lambda-style JSON, ``Connection: close``) and logs it;
        the caller then closes the connection."""
        log.warning(
            "runtime API request refused: %s",
            error,
            extra={"status": error.status, "request_id": self._request_id},
        )
        if self._responder.answered:
            return
        with contextlib.suppress(OSError):  # a peer that already left needs no answer
            await self._responder.reply(error.status, refusal(error), close=True)

    async def _route(self, request: Request) -> bool:
        """Handles one request; False when the connection must close after it."""
        authorized = self._access.authorize(request.target, self._peer)
        if authorized is None:
            # Nothing else: no body read, no invocation touched, no `next` counted.
            log.warning(
                "runtime API request without the sandbox's secret refused",
                extra={"method": request.method, "peer": _peer_name(self.stream)},
            )
            message = "this Runtime API answers only its own sandbox and caller"
            await self._responder.reply(
                403, error_object("AccessDeniedException", message), close=True
            )
            await self._linger()
            return False
        role, path = authorized
        if role == "invoke":
            if request.method != "POST":
                await request.read(_MAX_EMPTY_BODY)
                await self._responder.not_found()
                return True
            await invoke_over_http(self._responder, self._registry, request)
            return True
        await self._runtime_route(request, path)
        return True

    async def _runtime_route(self, request: Request, path: str) -> None:
        """A request to the Runtime API proper (``path`` without the secret)."""
        method = request.method
        parts = path.removeprefix(API_PREFIX).strip("/").split("/")
        if method == "GET" and path == f"{API_PREFIX}/invocation/next":
            await request.read(_MAX_EMPTY_BODY)
            await runtime_routes.next_event(self._responder, self._registry)
        elif method == "POST" and parts[:1] == ["invocation"] and len(parts) == 3:
            await self._answer(request, parts[1], parts[2])
        elif method == "POST" and path == f"{API_PREFIX}/init/error":
            await runtime_routes.init_error(self._responder, self._registry, request)
        else:
            await request.read(_MAX_EMPTY_BODY)
            await self._responder.not_found()

    async def _answer(self, request: Request, request_id: str, action: str) -> None:
        """``invocation/<id>/response`` or ``.../error``, for an invocation in flight."""
        self._request_id = request_id[:64]
        invocation = self._registry.answerable(request_id)
        if invocation is None:
            await request.read(LAMBDA_MAX_BUFFERED_RESPONSE_BYTES)
            status = 410 if self._registry.finished(request_id) else 400
            await self._responder.reply(
                status, error_object("InvalidRequestID", "unknown or finished")
            )
        elif action == "response":
            max_streamed = self._limits.max_streamed_bytes
            await runtime_routes.response(self._responder, invocation, request, max_streamed)
        elif action == "error":
            await runtime_routes.error(self._responder, invocation, request)
        else:
            await request.read(_MAX_EMPTY_BODY)
            await self._responder.not_found()


def _peer_name(stream: SocketStream) -> str:
    with contextlib.suppress(OSError):
        host, port = stream.sock.getpeername()[:2]
        return f"{host}:{port}"
    return "?"
