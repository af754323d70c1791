"""A client that leaves stops the model; requests beyond capacity queue (bounded) or get 503.

The servers run with ``STREAMWAY_RESUME_GRACE=0`` (resume off), the setting "a client that
leaves stops the model within a token" is promised for; with resume on, an SSE answer waits
for a reconnection during the grace period (test_resume.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.servers import RunningServer, streamway_server

# SmolLM2 writes several hundred tokens (seconds of work) for this prompt with seed 7.
LONG_PROMPT = {"request": "Write a very long story about a lighthouse keeper."}
NO_RESUME = {"STREAMWAY_RESUME_GRACE": "0"}


def eventually(check: Callable[[], Any], timeout_s: float = 5) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.02)


@pytest.fixture
def long_answers() -> Iterator[RunningServer]:
    env = {**NO_RESUME, "STREAMWAY_MAX_TOKENS": "1500", "STREAMWAY_QUEUE_SIZE": "1"}
    with streamway_server(env) as running:
        yield running


def open_stream(
    client: httpx.Client, server: RunningServer, chunks: int = 1
) -> tuple[httpx.Response, Iterator[bytes]]:
    """Starts a long answer and reads ``chunks`` pieces of it; the response stays open.

    The piece iterator is returned because dropping it would close the response.
    """
    request = client.build_request("POST", f"{server.url}/streaming", json=LONG_PROMPT)
    response = client.send(request, stream=True)
    assert response.status_code == 200
    pieces = response.iter_raw()
    for _ in range(chunks):
        next(pieces)
    return response, pieces


def test_client_that_leaves_stops_generation_within_a_token(long_answers: RunningServer) -> None:
    with httpx.Client(timeout=30) as client:
        response, _pieces = open_stream(client, long_answers, chunks=5)
        assert long_answers.stats()["generations"]["active"] == 1
        response.close()  # the client goes away mid-answer

    # The request's access line is written once its generation was stopped and awaited.
    line = long_answers.wait_for_log(
        lambda e: e.get("message") == "request" and e.get("path") == "/streaming", timeout_s=60
    )
    assert line["outcome"] == "cancelled"
    stats = long_answers.stats()
    assert stats["generations"]["active"] == 0
    assert stats["generations"]["cancelled"] == 1
    assert stats["generations"]["completed"] == 0
    stopped_at = stats["model"]["tokens_generated"]
    # Every token generated was handed to the connection (the access line's count), but for
    # at most the one in progress when the client left.
    assert stopped_at <= line["output_tokens"] + 1, (stopped_at, line["output_tokens"])
    long_answers.wait_for_log(
        lambda e: e["logger"] == "streamway.stream" and "disconnected" in e["message"]
    )

    # The slot is free again: the next request is answered at once, and the tokens counted
    # since are that answer's own (nothing went on generating for the client that left).
    answer = httpx.post(
        f"{long_answers.url}/streaming",
        json={"request": "Hi"},
        headers={"accept": "text/event-stream"},
        timeout=60,
    )
    assert answer.status_code == 200
    done = json.loads(answer.text.split("event: done\ndata: ", 1)[1])
    generated = long_answers.stats()["model"]["tokens_generated"]
    assert generated == stopped_at + done["usage"]["output_tokens"]


def test_requests_beyond_capacity_wait_in_a_bounded_queue(long_answers: RunningServer) -> None:
    with httpx.Client(timeout=60) as client:
        first, _pieces = open_stream(client, long_answers)

        waiting_result: dict[str, Any] = {}

        def second_request() -> None:
            with (
                httpx.Client(timeout=60) as other,
                other.stream(
                    "POST", f"{long_answers.url}/streaming", json={"request": "Say hi."}
                ) as response,
            ):
                waiting_result["status"] = response.status_code
                waiting_result["body"] = response.read()

        waiter = threading.Thread(target=second_request)
        waiter.start()
        eventually(lambda: long_answers.stats()["queue"]["waiting"] == 1)

        # One answering, one waiting, queue size 1: the third is refused at once, without
        # joining the queue.
        refused = client.post(f"{long_answers.url}/streaming", json={"request": "And me?"})
        assert refused.status_code == 503
        assert "already waiting" in refused.json()["error"]["message"]
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "model_busy"

        first.close()  # frees the slot; the waiting request is served next
        waiter.join(timeout=60)
        assert waiting_result["status"] == 200
        assert waiting_result["body"]

    queue = long_answers.stats()["queue"]
    assert queue["refused"] == 1
    assert queue["waiting"] == 0


def test_queue_wait_is_bounded_in_time() -> None:
    env = {**NO_RESUME, "STREAMWAY_MAX_TOKENS": "1500", "STREAMWAY_QUEUE_TIMEOUT_S": "0.5"}
    with streamway_server(env) as server, httpx.Client(timeout=30) as client:
        first, _pieces = open_stream(client, server)
        late = client.post(f"{server.url}/streaming", json={"request": "Hello?"})
        # The first answer still holds the slot: the late request gave up waiting for it.
        assert server.stats()["generations"]["active"] == 1
        first.close()
    assert late.status_code == 503
    assert late.json()["error"]["code"] == "model_busy"
    assert "No generation slot came free within 0.5 s" in late.json()["error"]["message"]
