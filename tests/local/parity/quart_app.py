"""Quart: an async generator as the response body."""

from collections.abc import AsyncIterator

from quart import Quart, request

from tests.local.parity.produce import HEADER, MEDIA_TYPE, chunks

app = Quart(__name__)


@app.get("/stream")
async def stream() -> tuple[AsyncIterator[bytes], int, dict[str, str]]:
    body = chunks(request.args.get("gate"), "fail" in request.args)
    return body, 200, {"content-type": MEDIA_TYPE, HEADER[0]: HEADER[1]}
