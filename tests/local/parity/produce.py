"""What every parity app streams, whatever its framework: the same bytes, the same gate.

``GET /stream`` sends :data:`FIRST`, then, when ``?gate=FIFO`` is given, waits until the test
opens that named pipe for writing and closes it, which the test does only once the first
chunk reached it (so the rest did not exist yet), then the other chunks. ``?fail=1`` raises
where the other chunks would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

FIRST = "first chunk\n"
REST = tuple(f"chunk {n}\n" for n in range(1, 4))
HEADER = ("x-parity", "yes")
MEDIA_TYPE = "text/plain; charset=utf-8"


class Failure(RuntimeError):
    """Raised mid-stream on purpose."""


async def pieces(gate: str | None, fail: bool) -> AsyncIterator[str]:
    yield FIRST
    if gate:
        # Opening a FIFO to read blocks until a writer opens it; reading ends when it closes.
        await asyncio.to_thread(Path(gate).read_bytes)
    if fail:
        raise Failure("the app failed mid-stream (on purpose)")
    for piece in REST:
        yield piece


async def chunks(gate: str | None, fail: bool) -> AsyncIterator[bytes]:
    async for piece in pieces(gate, fail):
        yield piece.encode()
