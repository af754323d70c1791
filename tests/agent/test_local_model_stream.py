"""The embedded model's token loop, driven in this process with the real model: the cancel
signal's bound, the end of the tokens and the usage count. (The service's tests stop
generations by disconnecting; these read the model's own events.)"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from streamway.agent.local_model import LocalLlamaModel

pytestmark = pytest.mark.timeout(300)

PROMPT = [{"role": "user", "content": [{"text": "Tell me a long story about a lighthouse."}]}]


@pytest.fixture(scope="module")
def model() -> LocalLlamaModel:
    # A fixed seed and a greedy sampler: the same answer each run. No machine slot: this
    # process holds the model alone.
    return LocalLlamaModel(context_tokens=1024, seed=7, temperature=0.0, max_tokens=12)


def deltas(events: list[Any]) -> list[str]:
    return [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]


def stop_reason(events: list[Any]) -> str:
    return str(next(e["messageStop"]["stopReason"] for e in events if "messageStop" in e))


def usage(events: list[Any]) -> dict[str, int]:
    return next(e["metadata"]["usage"] for e in events if "metadata" in e)


def test_an_answer_read_to_its_end_stops_at_max_tokens_and_counts_its_tokens(
    model: LocalLlamaModel,
) -> None:
    async def read_all() -> list[Any]:
        return [event async for event in model.stream(PROMPT)]  # type: ignore[arg-type]

    events = asyncio.run(read_all())
    pieces = deltas(events)
    assert pieces
    assert "".join(pieces).strip()
    # Twelve tokens at most; each delta is one token with text.
    assert len(pieces) <= 12
    assert stop_reason(events) in {"max_tokens", "end_turn"}
    counted = usage(events)
    assert counted["outputTokens"] == len(pieces)
    assert counted["totalTokens"] == counted["inputTokens"] + counted["outputTokens"]
    assert counted["inputTokens"] > 0


def test_the_cancel_signal_stops_the_answer_before_the_next_token(
    model: LocalLlamaModel,
) -> None:
    signal = threading.Event()

    async def read_until_signalled() -> list[Any]:
        events: list[Any] = []
        async for event in model.stream(PROMPT, cancel_signal=signal):  # type: ignore[arg-type]
            events.append(event)
            if "contentBlockDelta" in event:
                signal.set()  # the loop checks it before it asks llama.cpp for a token
        return events

    events = asyncio.run(read_until_signalled())
    assert len(deltas(events)) == 1
    assert stop_reason(events) == "cancelled"
    assert usage(events)["outputTokens"] == 1
