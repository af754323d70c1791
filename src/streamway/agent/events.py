"""The only events that leave the agent layer: small, frozen and JSON-safe.

Strands' ``stream_async`` events carry live objects (the Agent, OpenTelemetry spans, UUIDs);
serialising them yields Python reprs at best. :func:`json_safe_events` keeps only the text
and the figures a client can use, so encoders at the edge (SSE, plain text, AgentCore) never
see a Strands object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from strands.types.exceptions import EventLoopException, MaxTokensReachedException


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.total_tokens + other.total_tokens,
        )

    @classmethod
    def from_strands(cls, usage: Mapping[str, Any]) -> Usage:
        return cls(
            input_tokens=int(usage.get("inputTokens", 0)),
            output_tokens=int(usage.get("outputTokens", 0)),
            total_tokens=int(usage.get("totalTokens", 0)),
        )

    def to_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer, as the model generated it."""

    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The answer is complete. ``stop_reason`` is Strands' (end_turn, max_tokens, ...)."""

    stop_reason: str
    usage: Usage


AgentEvent = TextDelta | Finished


def unwrap_model_error(error: BaseException) -> BaseException:
    """Strands wraps some provider errors in EventLoopException; callers want the original."""
    while isinstance(error, EventLoopException):
        error = error.original_exception
    return error


async def json_safe_events(
    strands_events: AsyncIterator[Mapping[str, Any]],
) -> AsyncIterator[AgentEvent]:
    """Translate ``Agent.stream_async`` events into :class:`TextDelta` and one :class:`Finished`."""
    usage = Usage()
    stop_reason = "end_turn"
    try:
        async for event in strands_events:
            text = event.get("data")
            if isinstance(text, str):
                if text:
                    yield TextDelta(text)
                continue
            raw = event.get("event")
            if isinstance(raw, Mapping):
                if "metadata" in raw:
                    usage = usage + Usage.from_strands(raw["metadata"].get("usage", {}))
                elif "messageStop" in raw:
                    stop_reason = str(raw["messageStop"].get("stopReason", stop_reason))
    except MaxTokensReachedException:
        # Strands raises once the model stops at max_tokens, after every token was streamed.
        # For a streaming answer that is a normal, truncated end, not a failure.
        stop_reason = "max_tokens"
    except EventLoopException as error:
        raise unwrap_model_error(error) from error
    yield Finished(stop_reason, usage)
