"""What ``/invocations``, ``/ws`` and ``/ping`` share of AgentCore Runtime's contract.

The session header, an answer's events continuing a session's conversation, and the JSON
messages an answer is told in (``/ping``'s status: agentcore_health.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from streamway.agent.events import AgentEvent, Finished, TextDelta
from streamway.agent.runner import AgentRunner
from streamway.agent.sessions import SessionStore
from streamway.service.failures import session_refusals

SESSION_HEADER = "x-amzn-bedrock-agentcore-runtime-session-id"


async def answer(
    runner: AgentRunner, sessions: SessionStore, prompt: str, session_id: str | None
) -> AsyncIterator[AgentEvent]:
    """The answer's events, continuing ``session_id``'s conversation when one is given.

    Session refusals surface as :class:`ApiError` before the first event. The order matters:
    an invalid or busy session is refused at once (that changes nothing), then the request
    waits for a generation slot, and only then is the session acquired, which may create it
    and evict the least recently used idle one. A request refused as busy (503) therefore
    never costs another client their conversation.
    """
    if session_id is None:
        async for event in runner.stream(prompt):
            yield event
        return
    with session_refusals():
        sessions.check(session_id)
    with session_refusals():  # acquire's refusals come before the first event
        async for event in runner.stream(prompt, lambda: sessions.acquire(session_id)):
            yield event


def delta_message(delta: TextDelta) -> dict[str, Any]:
    return {"type": "delta", "text": delta.text}


def done_message(event: Finished, timings: dict[str, float | None]) -> dict[str, Any]:
    return {
        "type": "done",
        "stop_reason": event.stop_reason,
        "usage": event.usage.to_json(),
        **timings,
    }


def stream_error_message(error: BaseException) -> dict[str, Any]:
    """The bedrock-agentcore SDK's event for a failure after the stream began."""
    return {
        "error": str(error),
        "error_type": type(error).__name__,
        "message": "An error occurred during streaming",
    }
