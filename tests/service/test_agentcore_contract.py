"""streamway's /invocations and /ping beside the real bedrock-agentcore SDK app, same input.

Both run as real servers on loopback with the same model: the embedded one for answers, and
a scripted OpenAI-compatible peer that drops its connection mid-answer for the error event.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx
import pytest

from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import OpenAIChatPeer
from tests.servers import TEST_ENV, RunningServer, free_port, streamway_server, wait_until_listening
from tests.streams import StreamedAnswer

SESSION = "x-amzn-bedrock-agentcore-runtime-session-id"
# One `data: <json>` line and a blank line per event, nothing else: the SDK's framing.
SDK_FRAMING = re.compile(r"(data: [^\n]+\n\n)+")
# streamway's: the same, each event numbered by an `id:` line before its data, the first
# led by `retry:` (fields any SSE client reads past).
NUMBERED_FRAMING = re.compile(r"retry: 3000\n(id: \d+\ndata: [^\n]+\n\n)+")
ENV = {**TEST_ENV, "STREAMWAY_MAX_TOKENS": "16"}


@contextmanager
def sdk_app(mode: str, env: Mapping[str, str]) -> Iterator[str]:
    """tests/peers/agentcore_sdk_app.py: BedrockAgentCoreApp under uvicorn, in a subprocess."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.peers.agentcore_sdk_app", mode, str(port)],
        env={**_os_environ(), **env},
    )
    try:
        wait_until_listening(port, process, timeout_s=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _os_environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def invoke(
    base_url: str, payload: object, accept: str | None = None, **headers: str
) -> StreamedAnswer:
    if accept is not None:
        headers["accept"] = accept
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", f"{base_url}/invocations", json=payload, headers=headers) as response,
    ):
        answer = StreamedAnswer(response.status_code, response.headers)
        for chunk in response.iter_raw():
            answer.chunks.append(chunk)
    return answer


def data_events(answer: StreamedAnswer) -> list[object]:
    """The SDK's events: data lines only."""
    assert SDK_FRAMING.fullmatch(answer.text), answer.text
    return [json.loads(block.removeprefix("data: ")) for block in answer.text.split("\n\n")[:-1]]


def numbered_events(answer: StreamedAnswer) -> list[object]:
    """streamway's events: the SDK's framing, with ids 1, 2, 3... and a retry first."""
    assert NUMBERED_FRAMING.fullmatch(answer.text), answer.text
    blocks = answer.text.removeprefix("retry: 3000\n").split("\n\n")[:-1]
    ids, data = zip(*(block.split("\n") for block in blocks), strict=True)
    assert ids == tuple(f"id: {n}" for n in range(1, len(blocks) + 1))
    return [json.loads(line.removeprefix("data: ")) for line in data]


@pytest.fixture(scope="module")
def local_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    sessions = tmp_path_factory.mktemp("sessions")
    with (
        streamway_server({**ENV, "STREAMWAY_SESSIONS_DIR": str(sessions)}) as ours,
        sdk_app("stream", ENV) as sdk,
    ):
        yield ours, sdk


def test_sse_framing_and_content_type_match_the_sdk(local_pair: tuple[RunningServer, str]) -> None:
    ours, sdk = local_pair
    prompt = {"prompt": "Say hello to Ann."}
    theirs = invoke(sdk, prompt, "text/event-stream")
    mine = invoke(ours.url, prompt, "text/event-stream")

    assert theirs.status == mine.status == 200
    assert theirs.headers["content-type"] == mine.headers["content-type"]
    assert mine.headers["content-type"] == "text/event-stream; charset=utf-8"

    sdk_text = data_events(theirs)
    events = numbered_events(mine)
    # The SDK sends whatever the entrypoint yields (here the text); streamway sends typed,
    # JSON-safe events: deltas, then one done with usage.
    assert all(isinstance(text, str) for text in sdk_text)
    *deltas, done = events
    assert deltas
    assert all(isinstance(d, dict) and d.keys() == {"type", "text"} for d in deltas)
    assert isinstance(done, dict)
    assert done["type"] == "done"
    assert done["usage"]["output_tokens"] == len(deltas)
    # Same model, same seed, same prompt: the same words.
    assert "".join(d["text"] for d in deltas if isinstance(d, dict)) == "".join(
        str(text) for text in sdk_text
    )


def test_request_without_accept_streams_by_default(local_pair: tuple[RunningServer, str]) -> None:
    ours, sdk = local_pair
    theirs = invoke(sdk, {"prompt": "Hi"})
    mine = invoke(ours.url, {"prompt": "Hi"})
    assert theirs.headers["content-type"] == mine.headers["content-type"]
    numbered_events(mine)


def test_ping_body_matches_the_sdk(local_pair: tuple[RunningServer, str]) -> None:
    ours, sdk = local_pair
    theirs = httpx.get(f"{sdk}/ping")
    mine = httpx.get(f"{ours.url}/ping")
    assert theirs.headers["content-type"] == mine.headers["content-type"] == "application/json"
    assert theirs.json().keys() == mine.json().keys() == {"status", "time_of_last_update"}
    assert mine.json()["status"] == theirs.json()["status"] == "Healthy"
    assert isinstance(mine.json()["time_of_last_update"], int)
    # The timestamp is when the status last changed, not the time of the ping.
    assert httpx.get(f"{ours.url}/ping").json() == mine.json()


def test_json_answer_matches_the_sdk_non_streaming_entrypoint(
    local_pair: tuple[RunningServer, str],
) -> None:
    ours, _ = local_pair
    prompt = {"prompt": "Say hello to Ann."}
    with sdk_app("json", ENV) as sdk:
        theirs = httpx.post(f"{sdk}/invocations", json=prompt, timeout=60)
    mine = httpx.post(
        f"{ours.url}/invocations", json=prompt, headers={"accept": "application/json"}, timeout=60
    )
    assert theirs.status_code == mine.status_code == 200
    assert theirs.headers["content-type"] == mine.headers["content-type"] == "application/json"
    assert mine.json()["result"].strip() == theirs.json()["result"].strip()
    assert mine.json()["usage"]["output_tokens"] >= 1


@pytest.mark.parametrize(
    ("payload", "field", "says"),
    [
        ({}, "prompt", "is required"),
        ({"prompt": 42}, "prompt", "must be a string"),
        ({"prompt": "  "}, "prompt", "must not be empty"),
        (["Hi"], "body", "must be inside a JSON object"),
    ],
)
def test_bad_prompts_say_what_to_send(
    local_pair: tuple[RunningServer, str], payload: object, field: str, says: str
) -> None:
    ours, _ = local_pair
    response = httpx.post(f"{ours.url}/invocations", json=payload)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == field
    assert says in error["message"]
    assert '{"prompt": "<prompt>"}' in error["message"]


def test_invalid_json_is_400_on_both(local_pair: tuple[RunningServer, str]) -> None:
    ours, sdk = local_pair
    for url in (sdk, ours.url):
        response = httpx.post(f"{url}/invocations", content=b"{not json")
        assert response.status_code == 400
    assert '{"prompt": "<prompt>"}' in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"prompt": ' + b"7" * 5000 + b"}",
        b'{"prompt": "Hi", "extra": ' + b"-" + b"1" * 5000 + b"}",
    ],
)
def test_hostile_json_is_400_not_500(local_pair: tuple[RunningServer, str], body: bytes) -> None:
    ours, _ = local_pair
    response = httpx.post(f"{ours.url}/invocations", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert '{"prompt": "<prompt>"}' in response.json()["error"]["message"]


def test_agentcore_request_id_is_honoured(local_pair: tuple[RunningServer, str]) -> None:
    ours, _ = local_pair
    headers = {"x-amzn-bedrock-agentcore-runtime-request-id": "ac-req-1"}
    response = httpx.post(f"{ours.url}/invocations", json={}, headers=headers)
    assert response.headers["x-request-id"] == "ac-req-1"
    assert response.json()["error"]["request_id"] == "ac-req-1"


def test_mid_stream_failure_ends_with_the_sdk_error_event(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    peer = OpenAIChatPeer()
    peer.mode = "drop_mid_stream"
    with serve_in_thread(peer) as peer_url:
        env = {
            **ENV,
            "STREAMWAY_MODEL": "openai:peer-model",
            "STREAMWAY_OPENAI_BASE_URL": f"{peer_url}/v1",
            "STREAMWAY_SESSIONS_DIR": str(tmp_path_factory.mktemp("sessions")),
        }
        with streamway_server(env) as ours, sdk_app("stream", env) as sdk:
            prompt = {"prompt": "Hi"}
            theirs = data_events(invoke(sdk, prompt, "text/event-stream", **{"x-request-id": "x"}))
            answer = invoke(ours.url, prompt, "text/event-stream", **{"x-request-id": "fail-1"})
            mine = numbered_events(answer)
            logged = ours.wait_for_log(lambda e: e["message"] == "model failed mid-stream")

    assert answer.status == 200
    sdk_error, my_error = theirs[-1], mine[-1]
    assert isinstance(sdk_error, dict)
    assert isinstance(my_error, dict)
    assert my_error.keys() == sdk_error.keys() == {"error", "error_type", "message"}
    assert my_error["message"] == sdk_error["message"] == "An error occurred during streaming"
    assert my_error["error_type"] == sdk_error["error_type"]
    assert my_error["error"] == sdk_error["error"]
    # The text before the failure came through on both sides.
    assert theirs[:-1] == [m["text"] for m in mine[:-1] if isinstance(m, dict)]
    assert logged["request_id"] == "fail-1"
