"""Timeouts and a connection cap for the uvicorn servers (`streamway serve` and `streamway local`).

uvicorn bounds the time *between* requests (``timeout_keep_alive``) but not the time a
request takes to arrive: its keep-alive timer is cancelled by the first byte of the next
request, and nothing is armed when a connection opens, so a client that sends a head one
byte at a time (or nothing at all) holds its connection forever (slowloris). Two pieces
close the gap:

* :func:`head_timeout_protocol`: uvicorn's httptools protocol with one more timer, armed
  when a connection opens and after each response, and disarmed when a request head is
  complete. When it fires, the connection is closed: with a 408 if part of a head had
  arrived, silently if nothing had (an idle connection, as a keep-alive timeout closes it).
  No ASGI middleware can do this: the app is only called once the head is complete.
* :class:`BodyTimeout`: pure ASGI, around the app. While a request body is still expected,
  each ``receive()`` waits at most ``timeout_s`` for the next piece; if none comes, the
  reader gets the exception ``stalled()`` makes (the service answers it as a JSON 408 with
  the request id, as it answers a body over the size limit). Waits after the body (for a
  disconnect) are not timed.

Connections are capped with uvicorn's ``limit_concurrency``: a request that arrives while
the cap is reached is answered 503 by uvicorn itself, and its connection closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from streamway.config import ServeSettings

log = logging.getLogger("streamway.limits")


@dataclass(frozen=True)
class ServerLimits:
    """What both servers take from the serve group of the settings (docs/configuration.md)."""

    head_timeout_s: float
    body_timeout_s: float
    max_connections: int
    keep_alive_timeout_s: int

    @classmethod
    def from_settings(cls, settings: ServeSettings) -> ServerLimits:
        return cls(
            head_timeout_s=settings.request_head_timeout_s,
            body_timeout_s=settings.request_body_timeout_s,
            max_connections=settings.max_connections,
            keep_alive_timeout_s=settings.keep_alive_timeout_s,
        )

    def uvicorn_options(self, timeout_body: bytes) -> dict[str, Any]:
        """``uvicorn.run`` keyword arguments; ``timeout_body`` is the head-timeout 408's JSON."""
        return {
            "http": head_timeout_protocol(self.head_timeout_s, timeout_body),
            # uvicorn counts the connection asking among the open ones (503 once
            # connections >= limit), so N connections served need a limit of N + 1.
            "limit_concurrency": self.max_connections + 1,
            "timeout_keep_alive": self.keep_alive_timeout_s,
        }


def head_timeout_protocol(timeout_s: float, timeout_body: bytes) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol that closes a connection whose request head does not
    complete within ``timeout_s`` (counted from the connection, or from the last response)."""
    response = (
        b"HTTP/1.1 408 Request Timeout\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(timeout_body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + timeout_body
    )
    return type(
        "HeadTimeoutProtocol",
        (_HeadTimeoutProtocol,),
        {"head_timeout_s": timeout_s, "timeout_response": response},
    )


class _HeadTimeoutProtocol(HttpToolsProtocol):
    head_timeout_s: ClassVar[float]
    timeout_response: ClassVar[bytes]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_begun = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is not None and data:
            self._head_begun = True
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()  # also for an upgrade: the WebSocket protocol takes over
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # uvicorn arms its keep-alive timer exactly when it waits for the next head (not
        # when it started a pipelined request); that first byte cancels it, this timer not.
        if self.timeout_keep_alive_task is not None:
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_begun = False
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_begun:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
            log.warning(
                "request head incomplete after %g s: connection closed with 408",
                self.head_timeout_s,
                extra={"client": client, "status": 408},
            )
            self.transport.write(self.timeout_response)
        self.transport.close()


class BodyTimeout:
    """Bounds the silence while a request body is read; see the module docstring."""

    def __init__(
        self, app: ASGIApp, *, timeout_s: float, stalled: Callable[[float], Exception]
    ) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.stalled = stalled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_pending = True
        timed_out = False

        async def timed_receive() -> Message:
            nonlocal body_pending, timed_out
            if timed_out:
                return {"type": "http.disconnect"}
            if not body_pending:
                return await receive()  # waiting for a disconnect: as long as it takes
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                timed_out = True
                raise self.stalled(self.timeout_s) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_pending = False
            return message

        await self.app(scope, timed_receive, send)
