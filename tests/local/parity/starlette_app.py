"""Starlette: a ``StreamingResponse``."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from tests.local.parity.produce import HEADER, MEDIA_TYPE, chunks


async def stream(request: Request) -> StreamingResponse:
    body = chunks(request.query_params.get("gate"), "fail" in request.query_params)
    return StreamingResponse(body, media_type=MEDIA_TYPE, headers=dict([HEADER]))


app = Starlette(routes=[Route("/stream", stream)])
