"""What tests read of the Runtime API emulator that production code does not need.

The emulator's classes carry only what streamway uses; a test that looks at its inner state
(how many invocations it holds, how full a body's queue is) or reads a streamed answer the
way a test wants it does so here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from streamway.aws_contract import PRELUDE_DELIMITER, PRELUDE_MAX_BYTES
from streamway.local.http1 import BodyBytes
from streamway.local.runtime_api import Invocation, RuntimeAPIServer, split_prelude
from streamway.local.runtime_api.body import QueuedBody


def in_flight(api: RuntimeAPIServer) -> int:
    """Invocations queued or running: the ones the emulator still holds."""
    return len(api.registry._active)


def backlog(invocation: Invocation) -> int:
    """Body chunks received and waiting for the caller (at most ``QUEUED_CHUNKS``)."""
    body = invocation._body
    assert isinstance(body, QueuedBody)
    return body._queue.qsize()


async def ended(invocation: Invocation) -> None:
    """Waits until the invocation ended (answered, failed, timed out or cancelled)."""
    await invocation._done.wait()


async def http_response(
    invocation: Invocation,
) -> tuple[dict[str, Any], AsyncIterator[BodyBytes]]:
    """A streamed HTTP integration response: its prelude, then the body as it arrives
    (status and headers as soon as the delimiter arrives, as an API Gateway front reads it)."""
    chunks = invocation.chunks()
    head = b""
    async for chunk in chunks:
        head += chunk
        if PRELUDE_DELIMITER in head[: PRELUDE_MAX_BYTES + len(PRELUDE_DELIMITER)]:
            break
        if len(head) > PRELUDE_MAX_BYTES + len(PRELUDE_DELIMITER):
            break
    prelude, rest = split_prelude(head)

    async def body() -> AsyncIterator[BodyBytes]:
        if rest:
            yield rest
        async for chunk in chunks:
            yield chunk

    return prelude, body()
