"""FastAPI: a ``StreamingResponse``."""

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from tests.local.parity.produce import HEADER, MEDIA_TYPE, chunks

app = FastAPI()


@app.get("/stream")
async def stream(gate: str | None = None, fail: str | None = None) -> StreamingResponse:
    body = chunks(gate, fail is not None)
    return StreamingResponse(body, media_type=MEDIA_TYPE, headers=dict([HEADER]))
