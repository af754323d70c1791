"""``STREAMWAY_MODEL=openai:...`` end to end: streamway -> the openai client -> a server.

Two servers: llama-cpp-python's real OpenAI-compatible server running SmolLM2, for the
protocol as someone else implemented it, and a scripted peer for the faults a real server
will not produce on demand (a dropped connection mid-answer, a 500).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from streamway.agent.events import Finished
from streamway.agent.runner import AgentRunner
from tests.peers.llama_cpp_server import llama_cpp_server
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, USAGE, OpenAIChatPeer
from tests.servers import RunningServer, free_port, proc_status_kib, streamway_server
from tests.settings import flat_settings
from tests.streams import post_prompt

PROMPT = "Name three colours."
API_KEY = "sk-test-streamway"


def openai_env(base_url: str, model: str = "smollm2") -> dict[str, str]:
    return {
        "STREAMWAY_MODEL": f"openai:{model}",
        "STREAMWAY_OPENAI_BASE_URL": base_url,
        "STREAMWAY_OPENAI_API_KEY": API_KEY,
    }


# --- a real OpenAI-compatible server ------------------------------------------------------


@pytest.fixture(scope="module")
def llama_server() -> Iterator[RunningServer]:
    with llama_cpp_server("smollm2") as base_url, streamway_server(openai_env(base_url)) as running:
        yield running


@pytest.mark.model
def test_real_server_answer_streams_in_many_chunks(llama_server: RunningServer) -> None:
    answer = post_prompt(llama_server.url, PROMPT)

    assert answer.status == 200
    assert answer.error is None
    assert answer.text.strip()
    assert len(answer.chunks) >= 5


@pytest.mark.model
def test_real_server_sse_ends_with_done_and_usage_fields(llama_server: RunningServer) -> None:
    answer = post_prompt(llama_server.url, PROMPT, accept="text/event-stream")

    assert answer.status == 200
    *texts, (name, done) = answer.sse_events()
    assert len(texts) >= 5
    assert "".join(data["text"] for _, data in texts).strip()
    assert name == "done"
    assert done["stop_reason"] in {"end_turn", "max_tokens"}
    # llama_cpp.server ignores stream_options.include_usage, so the figures are zeros here;
    # the scripted peer below checks that figures a server does send reach the client.
    assert set(done["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    assert all(isinstance(value, int) for value in done["usage"].values())


# --- a scripted peer ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scripted_peer() -> Iterator[tuple[OpenAIChatPeer, str]]:
    peer = OpenAIChatPeer()
    with serve_in_thread(peer) as url:
        yield peer, url


@pytest.fixture(scope="module")
def server(scripted_peer: tuple[OpenAIChatPeer, str]) -> Iterator[RunningServer]:
    _, url = scripted_peer
    with streamway_server(openai_env(f"{url}/v1", model="scripted")) as running:
        yield running


@pytest.fixture
def peer(scripted_peer: tuple[OpenAIChatPeer, str]) -> OpenAIChatPeer:
    peer, _ = scripted_peer
    peer.mode = "answer"
    peer.requests.clear()
    return peer


def test_answer_and_usage_reach_the_client(server: RunningServer, peer: OpenAIChatPeer) -> None:
    answer = post_prompt(server.url, PROMPT, accept="text/event-stream")

    assert answer.status == 200
    *texts, (name, done) = answer.sse_events()
    assert "".join(data["text"] for _, data in texts) == "".join(ANSWER)
    assert name == "done"
    assert done["stop_reason"] == "end_turn"
    assert done["usage"] == {
        "input_tokens": USAGE["prompt_tokens"],
        "output_tokens": USAGE["completion_tokens"],
        "total_tokens": USAGE["total_tokens"],
    }
    [request] = peer.requests
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    completion = request.body
    assert completion["model"] == "scripted"
    assert completion["stream"] is True
    assert completion["stream_options"] == {"include_usage": True}
    assert completion["max_tokens"] == 64
    # Plain strings, not content-part lists: servers that render a chat template need them.
    system, user = completion["messages"]
    assert system["role"] == "system"
    assert isinstance(system["content"], str)
    assert user == {"role": "user", "content": PROMPT}


async def test_answers_leave_no_native_memory_behind(
    scripted_peer: tuple[OpenAIChatPeer, str],
) -> None:
    # Strands opens a fresh OpenAI client per answer unless given one; each left about 20 KB
    # of native memory (SSL context, pool) that no garbage collection returns: 300 answers
    # grew the process by 4 to 6 MiB. With one client per process the growth is none.
    peer, url = scripted_peer
    settings = flat_settings(
        model="openai:scripted", openai_base_url=f"{url}/v1", openai_api_key=API_KEY
    ).model
    runner = AgentRunner.from_settings(settings)

    async def answers(count: int) -> None:
        for number in range(count):
            events = [event async for event in runner.stream(f"Question {number}")]
            assert isinstance(events[-1], Finished)
            peer.requests.clear()

    delay_s, peer.delay_s = peer.delay_s, 0.0  # no pauses between chunks: only the count matters
    try:
        await answers(50)  # warm-up: imports, caches, the pool's first connection
        before = proc_status_kib(os.getpid(), "VmRSS")
        await answers(300)
        grown_kib = proc_status_kib(os.getpid(), "VmRSS") - before
    finally:
        peer.delay_s = delay_s
    assert grown_kib < 2048, f"the process grew {grown_kib} KiB over 300 answers"


def test_connection_dropped_mid_answer_ends_sse_with_an_error_event(
    server: RunningServer, peer: OpenAIChatPeer
) -> None:
    peer.mode = "drop_mid_stream"

    answer = post_prompt(server.url, PROMPT, accept="text/event-stream")

    assert answer.status == 200
    assert answer.error is None
    *texts, (name, data) = answer.sse_events()
    # Chunk 0 only carries the role; the next ones carry text.
    assert "".join(d["text"] for _, d in texts) == "".join(ANSWER[: peer.chunks_before_drop - 1])
    assert name == "error"
    assert data["error"]["code"] == "model_failed"
    assert data["error"]["status"] == 502


def test_connection_dropped_mid_answer_aborts_a_text_answer(
    server: RunningServer, peer: OpenAIChatPeer
) -> None:
    peer.mode = "drop_mid_stream"
    request_id = "openai-drop-1"

    answer = post_prompt(server.url, PROMPT, request_id=request_id)

    assert answer.status == 200
    assert isinstance(answer.error, httpx.RemoteProtocolError)
    assert answer.text == "".join(ANSWER[: peer.chunks_before_drop - 1])
    errors = server.errors(request_id)
    assert [entry["message"] for entry in errors] == ["model failed mid-stream"]
    # Logged once, by streamway with the request id; not again by uvicorn without it.
    assert not [e for e in server.logs() if "Exception in ASGI application" in e["message"]]


def test_server_error_before_streaming_is_a_502(
    server: RunningServer, peer: OpenAIChatPeer
) -> None:
    peer.mode = "server_error"

    answer = post_prompt(server.url, PROMPT)

    assert answer.status == 502
    error = answer.json()["error"]
    assert error["code"] == "model_failed"
    assert error["request_id"] == answer.headers["x-request-id"]
    # The openai client retries a 5xx twice with short backoff before giving up; Strands adds
    # no retries of its own for it. Worth it while the client still waits for headers.
    assert len(peer.requests) == 3


def test_unreachable_server_is_a_503_model_unavailable() -> None:
    closed_port = free_port()
    with streamway_server(openai_env(f"http://127.0.0.1:{closed_port}/v1")) as running:
        answer = post_prompt(running.url, PROMPT)
        failures = [e for e in running.logs() if e.get("level") == "ERROR"]

    assert answer.status == 503
    error = answer.json()["error"]
    assert error["code"] == "model_unavailable"
    # Connection refused is retried briefly by the client, then reported once.
    assert [e["message"] for e in failures] == ["model failed before the first token"]
