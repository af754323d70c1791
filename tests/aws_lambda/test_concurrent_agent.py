"""streamway's own app under Managed Instances: many chat invocations in one runtime process
still go through the model's bounded admission, and the OpenAI-compatible provider streams
them concurrently (a scripted peer over loopback)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.types import Send

from streamway.local.runtime_api import FunctionConfig, split_prelude
from tests.aws_lambda.fixtures import http_event
from tests.emulator import ended
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import lambda_function

pytestmark = pytest.mark.timeout(180)


class GatedPeer(OpenAIChatPeer):
    """Streams nothing until :attr:`gate` is set: the answers it has begun stay in flight."""

    def __init__(self) -> None:
        super().__init__(delay_s=0.001)
        self.gate = threading.Event()
        #: Released once per answer that reached the gate.
        self.arrivals = threading.Semaphore(0)

    async def _stream(self, send: Send, completion: dict[str, Any]) -> None:
        self.arrivals.release()
        await asyncio.to_thread(self.gate.wait)
        await super()._stream(send, completion)


@pytest.fixture
def peer() -> Iterator[tuple[GatedPeer, str]]:
    scripted = GatedPeer()
    with serve_in_thread(scripted) as url:
        yield scripted, url
        scripted.gate.set()


def _chat_event() -> dict[str, Any]:
    event = http_event("/streaming", method="POST", body=json.dumps({"request": "Hello"}))
    event["headers"] = {"content-type": "application/json", "accept": "text/plain"}
    return event


async def test_admission_bounds_the_answers_of_one_process(peer: tuple[GatedPeer, str]) -> None:
    scripted, url = peer
    env = {
        "STREAMWAY_MODEL": "openai:scripted",
        "STREAMWAY_OPENAI_BASE_URL": f"{url}/v1",
        "STREAMWAY_OPENAI_API_KEY": "sk-test",
        # Two answers at once, one waiting: the fourth of four is refused.
        "STREAMWAY_CONCURRENCY": "2",
        "STREAMWAY_QUEUE_SIZE": "1",
        "STREAMWAY_QUEUE_TIMEOUT_S": "120",
    }
    config = FunctionConfig(max_concurrency=4)
    async with lambda_function("streamway.service.asgi:app", env, config=config) as function:
        invocations = [await function.api.invoke(_chat_event()) for _ in range(4)]
        # All four are in the one process: two reach the model (held at the peer), one
        # waits for a slot, one is refused at once.
        endings = [asyncio.ensure_future(ended(invocation)) for invocation in invocations]
        done, _ = await asyncio.wait(endings, return_when=asyncio.FIRST_COMPLETED)
        for _ in range(2):
            assert await asyncio.to_thread(scripted.arrivals.acquire, timeout=60)
        assert len(done) == 1
        assert len(scripted.requests) == 2  # the waiting one cannot reach it yet
        scripted.gate.set()
        results = [await invocation.result() for invocation in invocations]

    statuses = []
    answers = [result.body for result in results]
    for result in results:
        assert result.ok, result.error
        prelude, body = split_prelude(result.body)
        statuses.append(prelude["statusCode"])
        if prelude["statusCode"] == 200:
            assert body.decode() == "".join(ANSWER)
    assert sorted(statuses) == [200, 200, 200, 503], answers
    assert len(scripted.requests) == 3
