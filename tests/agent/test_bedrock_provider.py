"""``STREAMWAY_MODEL=bedrock:...`` end to end: streamway -> botocore -> a Bedrock Runtime peer.

The peer (tests/peers/bedrock_runtime.py) checks SigV4 signatures and answers with a
recorded ConverseStream in the real event-stream framing, so everything between streamway's
HTTP client and Bedrock is exercised except AWS itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.peers.bedrock_runtime import BedrockRuntimePeer
from tests.peers.loopback import serve_in_thread
from tests.peers.sigv4 import parse_authorization
from tests.servers import RunningServer, streamway_server
from tests.streams import post_prompt

MODEL_ID = "jp.anthropic.claude-haiku-4-5-20251001-v1:0"
ACCESS_KEY = "AKIDTEST"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "ap-northeast-1"
PROMPT = "Why stream an answer?"


@pytest.fixture(scope="module")
def bedrock_peer() -> Iterator[tuple[BedrockRuntimePeer, str]]:
    peer = BedrockRuntimePeer(SECRET_KEY)
    with serve_in_thread(peer) as url:
        yield peer, url


@pytest.fixture(scope="module")
def server(
    bedrock_peer: tuple[BedrockRuntimePeer, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    _, peer_url = bedrock_peer
    missing = tmp_path_factory.mktemp("aws") / "absent"
    env = {
        "STREAMWAY_MODEL": f"bedrock:{MODEL_ID}",
        "STREAMWAY_BEDROCK_ENDPOINT_URL": peer_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        # Nothing from this machine's AWS setup may leak in: no config, no instance role.
        "AWS_CONFIG_FILE": str(missing),
        "AWS_SHARED_CREDENTIALS_FILE": str(missing),
        "AWS_EC2_METADATA_DISABLED": "true",
        # botocore retries throttling itself; one retry keeps the throttling test quick.
        "AWS_MAX_ATTEMPTS": "2",
    }
    with pytest.MonkeyPatch.context() as patch:
        # A session token, profile or Bedrock API key in the environment would change how
        # botocore authenticates; the server process inherits this process's environment.
        for name in os.environ:
            if name.startswith("AWS_") and name not in env:
                patch.delenv(name)
        with streamway_server(env) as running:
            yield running


@pytest.fixture
def peer(bedrock_peer: tuple[BedrockRuntimePeer, str]) -> BedrockRuntimePeer:
    peer, _ = bedrock_peer
    peer.mode = "answer"
    peer.requests.clear()
    return peer


def test_text_answer_is_the_recorded_text_streamed_over_time(
    server: RunningServer, peer: BedrockRuntimePeer
) -> None:
    answer = post_prompt(server.url, PROMPT)

    assert answer.status == 200
    assert answer.error is None
    assert answer.text == peer.recording.text
    # The peer pauses between events; a buffered relay would deliver one or two chunks.
    assert len(answer.chunks) >= 5
    assert answer.spread_s >= 5 * peer.delay_s


def test_request_is_a_signed_converse_stream_call(
    server: RunningServer, peer: BedrockRuntimePeer
) -> None:
    post_prompt(server.url, PROMPT)

    [request] = peer.requests
    assert request.method == "POST"
    assert (
        request.raw_path == "/model/jp.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse-stream"
    )
    credential = parse_authorization(request.headers["authorization"])
    assert credential is not None
    assert (credential.access_key, credential.region, credential.service) == (
        ACCESS_KEY,
        REGION,
        "bedrock",
    )
    assert request.headers["x-amz-date"].startswith(credential.date)
    assert request.signed, "the signature does not match the request the peer received"
    converse = request.json()
    assert converse["messages"] == [{"role": "user", "content": [{"text": PROMPT}]}]
    assert converse["inferenceConfig"]["maxTokens"] == 64
    assert converse["system"][0]["text"]


def test_sse_done_event_carries_the_recorded_usage(
    server: RunningServer, peer: BedrockRuntimePeer
) -> None:
    answer = post_prompt(server.url, PROMPT, accept="text/event-stream")

    assert answer.status == 200
    events = answer.sse_events()
    *texts, (name, done) = events
    assert [n for n, _ in texts] == ["message"] * len(texts)
    assert "".join(data["text"] for _, data in texts) == peer.recording.text
    assert name == "done"
    assert done["stop_reason"] == "end_turn"
    usage = peer.recording.usage
    assert done["usage"] == {
        "input_tokens": usage["inputTokens"],
        "output_tokens": usage["outputTokens"],
        "total_tokens": usage["totalTokens"],
    }


def test_validation_error_before_streaming_is_a_502_json_error(
    server: RunningServer, peer: BedrockRuntimePeer
) -> None:
    peer.mode = "validation_error"

    answer = post_prompt(server.url, PROMPT, accept="text/event-stream")

    assert answer.status == 502
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert error["code"] == "model_failed"
    assert "ValidationException" in error["message"]
    assert error["request_id"] == answer.headers["x-request-id"]
    assert len(peer.requests) == 1, "a 400 is not worth a retry"


def test_stream_error_mid_answer_ends_sse_with_an_error_event(
    server: RunningServer, peer: BedrockRuntimePeer
) -> None:
    peer.mode = "stream_error"

    answer = post_prompt(server.url, PROMPT, accept="text/event-stream")

    assert answer.status == 200
    assert answer.error is None
    *texts, (name, data) = answer.sse_events()
    assert texts, "the error should come after some text"
    assert {n for n, _ in texts} == {"message"}
    assert name == "error"
    assert data["error"]["code"] == "model_failed"
    assert data["error"]["status"] == 502
    assert "modelStreamErrorException" in data["error"]["message"]


def test_stream_error_mid_answer_aborts_a_text_answer(
    server: RunningServer, peer: BedrockRuntimePeer
) -> None:
    peer.mode = "stream_error"
    request_id = "bedrock-stream-error-1"

    answer = post_prompt(server.url, PROMPT, request_id=request_id)

    assert answer.status == 200
    assert isinstance(answer.error, httpx.RemoteProtocolError)
    assert answer.text, "some text arrived before the failure"
    assert peer.recording.text.startswith(answer.text)
    assert answer.text != peer.recording.text
    errors = server.errors(request_id)
    assert [entry["message"] for entry in errors] == ["model failed mid-stream"]
    assert "modelStreamErrorException" in errors[0]["exception"]


def test_throttled_before_streaming_is_a_prompt_503(
    server: RunningServer, peer: BedrockRuntimePeer
) -> None:
    peer.mode = "throttled"

    answer = post_prompt(server.url, PROMPT, timeout_s=30)

    assert answer.status == 503
    assert answer.json()["error"]["code"] == "model_unavailable"
    # botocore's own retry (AWS_MAX_ATTEMPTS=2) and nothing more: Strands' default would
    # retry for minutes (4 s, 8 s, ... 64 s) while the client waits for headers.
    assert len(peer.requests) == 2


def test_throttled_mid_answer_is_not_retried_into_the_same_body(
    server: RunningServer, peer: BedrockRuntimePeer
) -> None:
    peer.mode = "throttled_mid_stream"

    answer = post_prompt(server.url, PROMPT, accept="text/event-stream", timeout_s=30)

    *texts, (name, data) = answer.sse_events()
    # A retry would stream the answer again from its start into the same body.
    sent = "".join(d["text"] for _, d in texts)
    assert sent
    assert peer.recording.text.startswith(sent)
    assert name == "error"
    assert data["error"]["status"] == 503
    assert len(peer.requests) == 1
