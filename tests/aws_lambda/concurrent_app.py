"""An ASGI app for the concurrency tests, run in a real function process.

``GET /gate?group=G&n=N&id=I`` streams a first chunk, then waits until N invocations of
group G have sent theirs (an event in the process, no timing), or with ``n=0`` until an
invocation of ``GET /release?group=G``, then streams a body and a last chunk. Every chunk
says which request and trace ids the invocation sees at that moment: from its context
object, and from the runtime's context variable after the other invocations ran in between.
``fail=1`` raises after the first chunk; ``hang=1`` never goes past the gate (its deadline
must end it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import defaultdict

from starlette.types import Message, Receive, Scope, Send

from streamway.aws_lambda import current_trace_id

log = logging.getLogger("tests.concurrent_app")

_arrived: dict[str, int] = defaultdict(int)
_gates: dict[str, asyncio.Event] = defaultdict(asyncio.Event)


def body_of(invocation_id: str) -> bytes:
    """The middle of invocation ``invocation_id``'s body: 64 KiB that differ per invocation."""
    seed = invocation_id.encode() * 8
    return (seed * (64 * 1024 // len(seed) + 1))[: 64 * 1024]


def _chunk(data: bytes, more: bool = True) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


def _ids(scope: Scope, label: str) -> bytes:
    context = scope["aws.context"]
    seen = {
        "at": label,
        "request_id": context.aws_request_id,
        "trace_id": context.trace_id,
        "trace_var": current_trace_id(),
        "trace_env": os.environ.get("_X_AMZN_TRACE_ID"),
    }
    return json.dumps(seen).encode() + b"\n"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http", "no lifespan support (none needed)"
    await receive()
    query = dict(part.split("=", 1) for part in scope["query_string"].decode().split("&"))
    if scope["path"].endswith("/release"):
        _gates[query["group"]].set()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send(_chunk(b"", more=False))
        return
    group, wanted, name = query["group"], int(query["n"]), query["id"]
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send(_chunk(_ids(scope, "first")))
    log.info("first chunk sent", extra={"id": name})
    _arrived[group] += 1
    if _arrived[group] == wanted:
        _gates[group].set()
    if query.get("fail") == "1":
        raise RuntimeError(f"invocation {name} fails mid-stream")
    try:
        await _gates[group].wait()
        if query.get("hang") == "1":
            await asyncio.Event().wait()
    except asyncio.CancelledError:
        log.warning("cancelled", extra={"id": name})
        raise
    await send(_chunk(body_of(name)))
    await send(_chunk(_ids(scope, "last"), more=False))
