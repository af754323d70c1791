"""Heartbeats: a marker whenever an answer's events fall silent for a while.

Edges cut a stream that says nothing for too long (API Gateway's edge-optimized endpoints
after 30 s, proxies and load balancers sooner), while an agent calling a slow tool says
nothing for minutes. :func:`with_heartbeats` passes a source's items through and yields
:data:`HEARTBEAT` each time the source has been silent for ``every_s`` seconds since the
consumer last asked; an SSE response writes it as a comment line.

The source is never cancelled for a heartbeat: its pending step keeps running and the
next wait resumes it. Each step runs in a task of its own (so it can be waited on with a
timeout), all steps in one shared context, so a context variable set in one step and
reset in another (OpenTelemetry's ``use_span`` in Strands) stays consistent. When the
consumer stops (closes the wrapper, or is cancelled as when the client leaves), the
pending step is cancelled and awaited and the source is closed.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Final, TypeVar

T = TypeVar("T")


class Heartbeat:
    """The type of :data:`HEARTBEAT`."""

    def __repr__(self) -> str:
        return "HEARTBEAT"


#: What :func:`with_heartbeats` yields during silence.
HEARTBEAT: Final = Heartbeat()


async def with_heartbeats(
    source: AsyncIterator[T], every_s: float
) -> AsyncGenerator[T | Heartbeat, None]:
    """``source``'s items, and :data:`HEARTBEAT` after each ``every_s`` of silence
    (``every_s <= 0``: never). Closing this closes ``source``."""
    pending: asyncio.Future[T] | None = None
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    try:
        if every_s <= 0:  # off: the source runs in the consumer's task, as without this
            async for item in source:
                yield item
            return
        while True:
            if pending is None:
                pending = loop.create_task(_step(source), context=context)
            done, _ = await asyncio.wait({pending}, timeout=every_s)
            if not done:
                yield HEARTBEAT
                continue
            step, pending = pending, None
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        await _close(source)


async def _step(source: AsyncIterator[T]) -> T:
    return await anext(source)


async def _close(source: Any) -> None:
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        await aclose()
