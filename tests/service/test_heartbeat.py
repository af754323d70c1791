"""Heartbeats: comment lines while an SSE answer is silent, so idle-cutting edges keep it;
and the SSE answers' numbering around them (retry: first, ids 1, 2, 3...).

The wrapper on its own (a source that falls silent, a consumer that stops), then the real
service (``streamway serve`` and ``streamway local``) answering from the scripted model,
which holds after its first piece until the test opens its gate.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from streamway.service.heartbeat import HEARTBEAT, with_heartbeats
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import RunningServer, streamway_local, streamway_server
from tests.service.test_agentcore_health import ENTRYPOINT_ENV, Gate
from tests.service.test_disconnects_and_load import eventually

pytestmark = pytest.mark.timeout(300)

# --- the wrapper ------------------------------------------------------------------------------


class Source:
    """Yields "a", waits for :attr:`go`, yields "b"; records how it ended."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.ended: str | None = None

    async def items(self) -> AsyncIterator[str]:
        try:
            yield "a"
            await self.go.wait()
            yield "b"
            self.ended = "exhausted"
        except asyncio.CancelledError:
            self.ended = "cancelled"
            raise
        except GeneratorExit:
            self.ended = "closed"
            raise


async def test_a_silent_source_gets_heartbeats_and_then_goes_on() -> None:
    source = Source()
    seen: list[object] = []
    async for item in with_heartbeats(source.items(), 0.01):
        seen.append(item)
        if seen.count(HEARTBEAT) == 3:
            source.go.set()
    assert seen[0] == "a"
    assert seen[-1] == "b"
    assert seen[1:-1] == [HEARTBEAT] * (len(seen) - 2)
    assert len(seen) >= 5
    # The heartbeats did not cancel the pending step: it went on to the end.
    assert source.ended == "exhausted"


async def test_off_means_no_heartbeats() -> None:
    off, on = Source(), Source()

    async def consume(source: Source, every_s: float) -> list[object]:
        seen: list[object] = []
        async for item in with_heartbeats(source.items(), every_s):
            seen.append(item)
            if seen.count(HEARTBEAT) == 3:  # both have been silent for three heartbeats
                off.go.set()
                on.go.set()
        return seen

    silent = asyncio.create_task(consume(off, 0))
    assert HEARTBEAT in await consume(on, 0.01)
    assert await silent == ["a", "b"]


async def test_a_consumer_that_stops_during_silence_closes_the_source() -> None:
    source = Source()
    async with aclosing(with_heartbeats(source.items(), 0.01)) as items:
        assert await anext(items) == "a"
        assert await anext(items) is HEARTBEAT
    # The step waiting for `go` was cancelled and awaited before the close returned.
    assert source.ended == "cancelled"


async def test_a_consumer_that_stops_between_items_closes_the_source() -> None:
    source = Source()
    async with aclosing(with_heartbeats(source.items(), 0.01)) as items:
        assert await anext(items) == "a"
    assert source.ended == "closed"


async def test_a_cancelled_consumer_cancels_the_pending_step() -> None:
    source = Source()
    reached_silence = asyncio.Event()

    async def consume() -> None:
        async for item in with_heartbeats(source.items(), 0.01):
            if item is HEARTBEAT:
                reached_silence.set()

    consumer = asyncio.create_task(consume())
    await reached_silence.wait()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert source.ended == "cancelled"


async def test_the_sources_steps_share_one_context() -> None:
    # Strands sets OpenTelemetry's context in one step and resets it in a later one.
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outside")
    go = asyncio.Event()

    async def items() -> AsyncIterator[str]:
        token = var.set("inside")
        yield var.get()
        await go.wait()
        yield var.get()
        var.reset(token)  # raises ValueError if this step ran in another context
        yield var.get()

    seen = []
    async for item in with_heartbeats(items(), 0.01):
        if item is HEARTBEAT:
            go.set()
        else:
            seen.append(item)
    assert seen == ["inside", "inside", "outside"]
    assert var.get() == "outside"


# --- the service -----------------------------------------------------------------------------

PROMPT = "Call a slow tool."
STREAMING = ("/streaming", {"request": PROMPT})
INVOCATIONS = ("/invocations", {"prompt": PROMPT})


@dataclass
class HeldAnswer:
    """An SSE answer's lines as a client read them; the read's error if it was cut."""

    lines: list[str] = field(default_factory=list)
    error: httpx.HTTPError | None = None
    first_piece: threading.Event = field(default_factory=threading.Event)

    @property
    def comments(self) -> list[str]:
        return [line for line in self.lines if line.startswith(":")]

    @property
    def ids(self) -> list[int]:
        return [int(line.removeprefix("id: ")) for line in self.lines if line.startswith("id:")]

    def numbered_from_one(self) -> bool:
        """Opens with retry:, and every event (one data line each here) has the next id."""
        return self.lines[0] == "retry: 3000" and self.ids == list(range(1, len(self.data) + 1))

    @property
    def data(self) -> list[str]:
        return [line.removeprefix("data: ") for line in self.lines if line.startswith("data:")]


def read_held(
    base_url: str,
    route: tuple[str, dict[str, Any]],
    open_gate: Callable[[], None] | None,
    *,
    after_comments: int = 0,
    into: HeldAnswer | None = None,
) -> HeldAnswer:
    """Reads an SSE answer line by line; calls ``open_gate`` once ``after_comments`` comments
    arrived (None: someone else opens it)."""
    answer = into or HeldAnswer()
    path, payload = route
    headers = {"accept": "text/event-stream"}
    with (
        httpx.Client(timeout=120) as client,
        client.stream("POST", f"{base_url}{path}", json=payload, headers=headers) as response,
    ):
        assert response.status_code == 200
        try:
            for line in response.iter_lines():
                answer.lines.append(line)
                if line.startswith("data:"):
                    answer.first_piece.set()
                if open_gate is not None and len(answer.comments) == after_comments:
                    open_gate()
                    open_gate = None
        except httpx.HTTPError as error:
            answer.error = error
    return answer


def opener(peer: OpenAIChatPeer) -> Callable[[], None]:
    assert peer.gate is not None
    return peer.gate.set


def whole_text(answer: HeldAnswer) -> str:
    events = [json.loads(data) for data in answer.data]
    return "".join(event["text"] for event in events if isinstance(event.get("text"), str))


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[OpenAIChatPeer, str]]:
    peer = OpenAIChatPeer()
    with serve_in_thread(peer) as url:
        yield peer, url


def scripted_env(url: str, heartbeat: str) -> dict[str, str]:
    return {
        "STREAMWAY_MODEL": "openai:scripted",
        "STREAMWAY_OPENAI_BASE_URL": f"{url}/v1",
        "STREAMWAY_SSE_HEARTBEAT": heartbeat,
        # Resumable answers (their readers send the heartbeats); a client that leaves stops
        # the generation when this grace ends, without waiting for the default 30 s.
        "STREAMWAY_RESUME_GRACE": "1",
    }


@pytest.fixture(scope="module")
def beating(scripted: tuple[OpenAIChatPeer, str]) -> Iterator[RunningServer]:
    with streamway_server(scripted_env(scripted[1], "0.2")) as running:
        yield running


@pytest.fixture(scope="module")
def silent(scripted: tuple[OpenAIChatPeer, str]) -> Iterator[RunningServer]:
    with streamway_server(scripted_env(scripted[1], "0")) as running:
        yield running


@pytest.fixture
def peer(scripted: tuple[OpenAIChatPeer, str]) -> Iterator[OpenAIChatPeer]:
    peer = scripted[0]
    peer.gate = threading.Event()
    try:
        yield peer
    finally:
        peer.gate.set()
        peer.gate = None


@pytest.mark.parametrize("route", [STREAMING, INVOCATIONS], ids=["streaming", "invocations"])
def test_a_silent_answer_gets_comments_then_the_rest(
    beating: RunningServer, peer: OpenAIChatPeer, route: tuple[str, dict[str, Any]]
) -> None:
    answer = read_held(beating.url, route, opener(peer), after_comments=3)
    assert answer.error is None
    assert len(answer.comments) >= 3
    # The comments came during the hold: after the first piece, before the second.
    first = answer.lines.index(next(line for line in answer.lines if line.startswith("data:")))
    assert answer.lines[first + 2].startswith(":")
    assert whole_text(answer) == "".join(ANSWER)
    # Comments are no events: the ids go on by one across them.
    assert answer.numbered_from_one(), answer.lines


def test_a_client_that_leaves_during_the_heartbeats_stops_the_generation(
    beating: RunningServer, peer: OpenAIChatPeer
) -> None:
    def cancelled() -> int:
        return int(beating.stats()["generations"]["cancelled"])

    before = cancelled()
    path, payload = STREAMING
    headers = {"accept": "text/event-stream"}
    with (
        httpx.Client(timeout=120) as client,
        client.stream("POST", f"{beating.url}{path}", json=payload, headers=headers) as response,
    ):
        comments = 0
        for line in response.iter_lines():
            comments += line.startswith(":")
            if comments == 2:
                break  # and the client closes the connection, the model still held
    # The heartbeats kept nothing alive: the held generation was cancelled, while the gate
    # is still closed.
    eventually(lambda: cancelled() > before, timeout_s=60)
    assert peer.gate is not None
    assert not peer.gate.is_set()


def test_with_heartbeats_off_a_silent_answer_gets_none(
    beating: RunningServer, silent: RunningServer, peer: OpenAIChatPeer
) -> None:
    # Both answers are held by the same gate; the silent server's hold begins first and
    # ends when the other server has sent three comments.
    quiet = HeldAnswer()
    reader = threading.Thread(
        target=read_held,
        args=(silent.url, STREAMING, None),
        kwargs={"into": quiet},
    )
    reader.start()
    try:
        assert quiet.first_piece.wait(60)
        loud = read_held(beating.url, STREAMING, opener(peer), after_comments=3)
    finally:
        assert peer.gate is not None
        peer.gate.set()
        reader.join(120)
    assert len(loud.comments) >= 3
    assert quiet.comments == []
    assert whole_text(quiet) == "".join(ANSWER)
    assert quiet.numbered_from_one(), quiet.lines


def test_an_entrypoints_silent_stream_gets_comments_then_the_rest() -> None:
    gate = Gate()
    with streamway_server({**ENTRYPOINT_ENV, "STREAMWAY_SSE_HEARTBEAT": "0.2"}) as server:
        route = ("/invocations", {"do": "stream", "gate": gate.port})
        answer = read_held(server.url, route, gate.open, after_comments=3)
    assert answer.error is None
    assert answer.data == ['{"text": "first"}', '{"text": "last"}']
    assert len(answer.comments) >= 3
    assert answer.numbered_from_one(), answer.lines


# --- through streamway local: the edge's idle timeout --------------------------------------
# Scaled down (2 s, 0.5 s heartbeats); bench/heartbeat.py runs it at AWS's figures (30 s, 15 s).


@pytest.mark.parametrize("heartbeat", ["0.5", "0"], ids=["heartbeats", "off"])
def test_an_edge_idle_timeout_is_kept_off_by_heartbeats(
    scripted: tuple[OpenAIChatPeer, str], peer: OpenAIChatPeer, heartbeat: str
) -> None:
    env = scripted_env(scripted[1], heartbeat)
    with streamway_local(env, args=("--stream-idle-timeout", "2")) as local:
        if heartbeat == "0":
            # Held until the gateway cuts the silent stream, as API Gateway would.
            answer = read_held(local.url, STREAMING, None)
            assert isinstance(answer.error, httpx.RemoteProtocolError)
            assert answer.comments == []
            assert not any("stop_reason" in line for line in answer.data)
        else:
            # Held for six heartbeats: three seconds, past the two-second idle timeout.
            answer = read_held(local.url, STREAMING, opener(peer), after_comments=6)
            assert answer.error is None
            assert whole_text(answer) == "".join(ANSWER)
