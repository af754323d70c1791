"""How an agent's answer is written as it streams: one encoder per media type.

``text/plain`` sends the text as it comes; SSE sends ``data: {"text": ...}`` events, then
``event: done`` with usage and timings, or ``event: error`` if the model fails mid-answer,
numbered ``id:`` 1, 2, 3... after an opening ``retry:``, and a comment line as a heartbeat
during silence (plain text has no room for one).
AgentCore's framing is in agentcore.py.
"""

from __future__ import annotations

from typing import Any

from streamway.agent.events import Finished, TextDelta
from streamway.agent.providers import upstream_status
from streamway.service.errors import error_body
from streamway.service.sse import SseEvent, SseStream


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

    #: Can the stream carry a heartbeat (see :meth:`heartbeat`)?
    carries_heartbeats = False

    def heartbeat(self) -> bytes:
        """Bytes that say nothing but keep a silent stream alive."""
        raise NotImplementedError


class PlainTextEncoder(StreamEncoder):
    media_type = "text/plain; charset=utf-8"

    def text(self, delta: TextDelta) -> bytes:
        return delta.text.encode()


class SseEncoder(StreamEncoder):
    """An SSE answer: events numbered by its :class:`SseStream`, comments as heartbeats."""

    media_type = "text/event-stream; charset=utf-8"
    carries_heartbeats = True

    def __init__(self) -> None:
        self.stream = SseStream()

    def event(self, data: Any, event: str | None = None) -> bytes:
        return self.stream.event(SseEvent(data, event=event))

    def heartbeat(self) -> bytes:
        return self.stream.comment()


class ServerSentEventsEncoder(SseEncoder):
    def text(self, delta: TextDelta) -> bytes:
        return self.event({"text": delta.text})

    def finished(self, event: Finished, timings: dict[str, float | None]) -> bytes:
        return self.event(
            {"stop_reason": event.stop_reason, "usage": event.usage.to_json(), **timings},
            event="done",
        )

    def error(self, error: BaseException) -> bytes:
        status = upstream_status(error)
        return self.event(
            error_body("model_failed", f"The model failed mid-answer: {error}", status=status),
            event="error",
        )
