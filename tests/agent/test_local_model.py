"""The embedded model's prompt evaluation: in batches a client can stop, bounded in size and
time. Real ``streamway serve`` processes with the real model; the server's log says what the
model did."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import RunningServer, streamway_server


def long_prompt(sentences: int) -> str:
    """About 14 tokens a sentence; numbered so that no two sentences are alike."""
    return " ".join(
        f"Note {n}: the keeper climbed the tower and lit the lamp at dusk."
        for n in range(sentences)
    )


def post_head(port: int, body: bytes, request_id: str) -> bytes:
    return (
        f"POST /streaming HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Request-Id: {request_id}\r\n\r\n"
    ).encode()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    # Small batches: many cancellation points in a prompt the test can afford.
    env = {"STREAMWAY_PROMPT_BATCH_TOKENS": "32", "STREAMWAY_MODEL_SLOT_DIR": str(tmp_path)}
    with streamway_server(env) as running:
        yield running


def test_a_long_prompt_stops_evaluating_when_its_client_leaves(server: RunningServer) -> None:
    """Issue 15, item 2: a long prompt kept the model for its whole evaluation after its
    client had gone, and the next request waited for it."""
    body = json.dumps({"request": long_prompt(100)}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(post_head(server.port, body, "long-prompt") + body)
        started = server.wait_for_log(
            lambda e: e["message"] == "evaluating the prompt" and e["request_id"] == "long-prompt",
            timeout_s=60,
        )
    # The client is gone while the prompt is being evaluated. The next request gets the model:
    answer = httpx.post(f"{server.url}/streaming", json={"request": "Hi"}, timeout=240)
    assert answer.status_code == 200
    assert answer.text

    stopped = server.wait_for_log(
        lambda e: e["message"] == "prompt evaluation cancelled" and e["request_id"] == "long-prompt"
    )
    # Stopped between two batches: most of the prompt was never evaluated.
    assert started["prompt_tokens"] > 1000
    assert stopped["evaluated_tokens"] < started["prompt_tokens"] // 2, stopped
    assert stopped["remaining"] > 0
    ended = server.wait_for_log(
        lambda e: e["message"] == "generation ended" and e["request_id"] == "long-prompt"
    )
    assert ended["outcome"] == "cancelled"


def test_a_prompt_over_the_token_limit_is_413(tmp_path: Path) -> None:
    env = {"STREAMWAY_MAX_PROMPT_TOKENS": "100", "STREAMWAY_MODEL_SLOT_DIR": str(tmp_path)}
    with streamway_server(env) as server:
        refused = httpx.post(
            f"{server.url}/streaming",
            json={"request": long_prompt(10)},  # under the character limit, over 100 tokens
            headers={"x-request-id": "too-many-tokens"},
            timeout=120,
        )
        assert refused.status_code == 413
        error = refused.json()["error"]
        assert error["code"] == "prompt_too_long"
        assert error["limit_tokens"] == 100
        assert error["request_id"] == "too-many-tokens"
        assert "STREAMWAY_MAX_PROMPT_TOKENS" in error["message"]
        logged = server.wait_for_log(
            lambda e: (
                e["message"] == "prompt refused: too many tokens"
                and e.get("request_id") == "too-many-tokens"
            )
        )
        assert logged["prompt_tokens"] > 100
        assert not server.errors("too-many-tokens")  # the client's mistake, not the server's

        # Within the limit, the same server answers.
        assert httpx.post(f"{server.url}/streaming", json={"request": "Hi"}, timeout=120)


def test_prompt_evaluation_is_bounded_in_time(tmp_path: Path) -> None:
    env = {
        "STREAMWAY_PROMPT_BATCH_TOKENS": "16",
        # Far less than one batch takes: the deadline has passed after the first one.
        "STREAMWAY_PROMPT_EVAL_TIMEOUT_S": "0.000001",
        "STREAMWAY_MODEL_SLOT_DIR": str(tmp_path),
    }
    with streamway_server(env) as server:
        late = httpx.post(
            f"{server.url}/streaming",
            json={"request": long_prompt(10)},
            headers={"x-request-id": "slow-prompt"},
            timeout=120,
        )
        assert late.status_code == 503
        error = late.json()["error"]
        assert error["code"] == "model_unavailable"
        assert "STREAMWAY_PROMPT_EVAL_TIMEOUT_S" in error["message"]
        stopped = server.wait_for_log(
            lambda e: (
                e["message"] == "prompt evaluation timed out" and e["request_id"] == "slow-prompt"
            )
        )
        assert 0 < stopped["evaluated_tokens"] < stopped["prompt_tokens"]
