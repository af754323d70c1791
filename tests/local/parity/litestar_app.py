"""Litestar: a ``Stream`` response."""

from litestar import Litestar, get
from litestar.response import Stream

from tests.local.parity.produce import HEADER, MEDIA_TYPE, chunks


@get("/stream")
async def stream(gate: str | None = None, fail: str | None = None) -> Stream:
    return Stream(chunks(gate, fail is not None), media_type=MEDIA_TYPE, headers=dict([HEADER]))


app = Litestar(route_handlers=[stream])
