"""The entrypoint the AgentCore tests serve (``STREAMWAY_AGENTCORE_ENTRYPOINT``).

``payload["do"]`` picks what it does: ``stream`` (``first``, then a *gate*, then ``last``),
``background`` (answers at once; background work waits at the gate), ``framed`` (its own
SSE events and values holding objects with no JSON form), ``fail`` (fails mid-stream),
``json`` (a whole answer holding a date). A gate is a loopback port the test listens on: the
entrypoint connects and waits for one byte, which the test sends when it is ready.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Any

from streamway.service.agentcore_entrypoint import InvocationContext
from streamway.service.agentcore_health import health
from streamway.service.sse import SseEvent

_background: set[asyncio.Task[None]] = set()


async def wait_at_gate(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readexactly(1)
    writer.close()


class Opaque:
    """An object with no JSON form (as Strands' Agent in its events)."""


async def entrypoint(payload: dict[str, Any], context: InvocationContext) -> Any:
    if payload["do"] == "background":
        return start_background(payload["gate"])
    if payload["do"] == "json":
        return {"session": context.session_id, "when": datetime.date(2026, 1, 2), "x": Opaque()}
    return streaming(payload)


def start_background(gate: int) -> dict[str, bool]:
    @health.async_task
    async def job() -> None:
        await wait_at_gate(gate)

    task = asyncio.get_running_loop().create_task(job())
    _background.add(task)
    task.add_done_callback(_background.discard)
    return {"started": True}


async def streaming(payload: dict[str, Any]) -> AsyncIterator[Any]:
    if payload["do"] == "stream":
        yield {"text": "first"}
        await wait_at_gate(payload["gate"])
        yield {"text": "last"}
    elif payload["do"] == "framed":
        yield SseEvent({"pct": 50}, event="progress", id="1")
        yield SseEvent("plain text\nsecond line", event="note", retry_ms=2000)
        yield {
            "text": "hi",
            "agent": Opaque(),
            "when": datetime.datetime(2026, 1, 2, 3, 4, 5),
            "id": uuid.UUID(int=1),
            "items": [Opaque(), 1, float("nan")],
        }
        yield Opaque()  # nothing of it can be sent
        yield "done"
    elif payload["do"] == "fail":
        yield "a"
        raise RuntimeError("boom")
