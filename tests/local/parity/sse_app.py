"""sse-starlette: an ``EventSourceResponse`` (one event per piece)."""

from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from tests.local.parity.produce import HEADER, pieces


async def events(gate: str | None, fail: bool) -> AsyncIterator[dict[str, str]]:
    async for piece in pieces(gate, fail):
        yield {"event": "piece", "data": piece.strip()}


async def stream(request: Request) -> EventSourceResponse:
    body = events(request.query_params.get("gate"), "fail" in request.query_params)
    return EventSourceResponse(body, headers=dict([HEADER]))


app = Starlette(routes=[Route("/stream", stream)])
