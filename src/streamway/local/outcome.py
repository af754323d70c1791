"""What an integration decides for one request, for the request cycle to send.

Three outcomes, one type each: the relay already streamed the response
(:class:`Streamed`), the function's whole answer is ready (:class:`BufferedAnswer`), or API
Gateway answers itself (:class:`GatewayAnswer`, with the reason for the gateway's log).
"""

from __future__ import annotations

from dataclasses import dataclass

from streamway.local.gateway_responses import GatewayResponse


@dataclass(frozen=True)
class Streamed:
    """The relay sent the status, the headers and the whole body itself."""


@dataclass(frozen=True)
class BufferedAnswer:
    """A function's proxy response, shaped as the client gets it."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True)
class GatewayAnswer:
    """API Gateway's own response instead of the function's."""

    response: GatewayResponse
    #: Why, for the gateway's log (with the request id); None when nothing went wrong, as
    #: for an unknown route.
    reason: str | None = None


Outcome = Streamed | BufferedAnswer | GatewayAnswer
