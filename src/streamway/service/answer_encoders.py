"""How an agent's answer is written as it streams: one encoder per media type.

``text/plain`` sends the text as it comes; SSE sends ``data: {"text": ...}`` events, then
``event: done`` with usage and timings, or ``event: error`` if the model fails mid-answer,
and a comment line as a heartbeat during silence (plain text has no room for one).
AgentCore's framing is in agentcore.py.
"""

from __future__ import annotations

import json
from typing import Any

from streamway.agent.events import Finished, TextDelta
from streamway.agent.providers import upstream_status
from streamway.service.errors import error_body


class StreamEncoder:
    """Turns agent events into bytes for one media type."""

    media_type: str

    def text(self, delta: TextDelta) -> bytes:
        raise NotImplementedError

    def finished(self, event: Finished, timings: dict[str, float | None]) -> bytes:
        return b""

    def error(self, error: BaseException) -> bytes | None:
        """Bytes that tell the client the stream failed, or None to abort the connection."""
        return None

    def heartbeat(self) -> bytes | None:
        """Bytes that say nothing but keep a silent stream alive, or None if there are none."""
        return None


class PlainTextEncoder(StreamEncoder):
    media_type = "text/plain; charset=utf-8"

    def text(self, delta: TextDelta) -> bytes:
        return delta.text.encode()


#: An SSE comment: every client ignores it, every edge sees bytes.
SSE_HEARTBEAT = b": keep-alive\n\n"


def sse_event(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class ServerSentEventsEncoder(StreamEncoder):
    media_type = "text/event-stream; charset=utf-8"

    def text(self, delta: TextDelta) -> bytes:
        return sse_event({"text": delta.text})

    def heartbeat(self) -> bytes:
        return SSE_HEARTBEAT

    def finished(self, event: Finished, timings: dict[str, float | None]) -> bytes:
        return sse_event(
            {"stop_reason": event.stop_reason, "usage": event.usage.to_json(), **timings},
            event="done",
        )

    def error(self, error: BaseException) -> bytes:
        status = upstream_status(error)
        return sse_event(
            error_body("model_failed", f"The model failed mid-answer: {error}", status=status),
            event="error",
        )
