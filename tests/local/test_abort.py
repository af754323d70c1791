"""Clients that leave mid-response behind ``streamway local`` (issue 15): the function stops,
its sandbox goes back to warm, the next request is served, and the function logs the
departure once, as a warning, not as a string of errors.

streamway's own app (downloads from a directory store, answers from a scripted model) runs
in the functions, as ``streamway local`` runs it; clients are raw sockets that close with a
reset (SO_LINGER 0) or an ordinary close after reading the head and a few bytes, or more.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import OpenAIChatPeer
from tests.servers import RunningLocal, streamway_local
from tests.tcp_state import zero_window_probes

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024
KEY = "large.bin"
#: Far more than the pipe from the function to the client holds (the function's and the
#: emulator's socket buffers, the emulator's queue, the gateway's and the client's buffers),
#: so every abort leaves the function blocked in a write.
SIZE = 96 * MiB
#: How long a sandbox may take to be warm again. It only turns a hang into a failure: a
#: stopped function is back in `next` in milliseconds, a hung one took 60 to 110 s.
IDLE_WITHIN_S = 20.0


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store")
    block = os.urandom(MiB)
    with (root / KEY).open("wb") as file:
        for index in range(SIZE // MiB):
            file.write(bytes([index]) + block[1:])
    return root


@pytest.fixture(scope="module")
def local(store: Path) -> Iterator[RunningLocal]:
    # A slow answer (a piece every 0.2 s), so that a client can leave in the middle of it.
    with serve_in_thread(OpenAIChatPeer(delay_s=0.2)) as peer:
        env = {
            "STREAMWAY_STORE_URL": f"file://{store}",
            "STREAMWAY_MODEL": "openai:scripted",
            "STREAMWAY_OPENAI_BASE_URL": f"{peer}/v1",
        }
        # One sandbox: a function that does not stop leaves none for the next request.
        with streamway_local(env, args=("--concurrency", "1")) as running:
            assert httpx.head(f"{running.url}/download/{KEY}", timeout=120).status_code == 200
            yield running


def leave(
    local: RunningLocal, head: bytes, after: int, *, reset: bool, when_blocked: bool = False
) -> None:
    """Sends ``head``, reads the response head and ``after`` bytes of the body, then closes:
    with a reset (SO_LINGER 0), or an ordinary close (a FIN, or a reset from the kernel if
    bytes were left unread, as a browser's cancelled download does). ``when_blocked``: not
    before the function is blocked in a write behind the client that stopped reading."""
    with socket.create_connection(("127.0.0.1", local.port), timeout=60) as sock:
        sock.sendall(head)
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            assert data, f"closed before the response head: {received!r}"
            received += data
        status_line = received.split(b"\r\n", 1)[0]
        assert b" 200 " in status_line, status_line
        body = len(received) - received.index(b"\r\n\r\n") - 4
        while body < after:
            data = sock.recv(min(1 << 20, after - body))
            assert data, "the response ended early"
            body += len(data)
        if when_blocked:
            wait_until_blocked(local)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def wait_until_blocked(local: RunningLocal) -> None:
    """Waits until the function's connection to its Runtime API waits on a shut receive
    window: every buffer between the client and the function is full, and the function is
    blocked in a write. The state in which a hang-up has to reach a function that is not
    reading (Linux only, from /proc)."""
    [sandbox] = local.functions()["StreamFunction"]["sandboxes"]
    deadline = time.monotonic() + IDLE_WITHIN_S
    while zero_window_probes(pid=sandbox["pid"]) is None:
        assert time.monotonic() < deadline, "the function never blocked behind the client"
        time.sleep(0.02)


def download_head(request_id: str) -> bytes:
    return (
        f"GET /dev/download/{KEY} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: {request_id}\r\n\r\n"
    ).encode()


def stream_head(request_id: str) -> bytes:
    body = json.dumps({"request": "What is response streaming?"}).encode()
    return (
        "POST /dev/streaming HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        f"X-Request-Id: {request_id}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def wait_until_warm(local: RunningLocal, function: str = "StreamFunction") -> None:
    deadline = time.monotonic() + IDLE_WITHIN_S
    while True:
        sandboxes = local.functions()[function]["sandboxes"]
        if sandboxes and all(sandbox["state"] == "warm" for sandbox in sandboxes):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{function} not idle within {IDLE_WITHIN_S} s: {sandboxes}")
        time.sleep(0.05)


def check_a_range(local: RunningLocal, store: Path, start: int) -> None:
    """A following request on the same function is served, byte for byte."""
    end = start + 99_999
    response = httpx.get(
        f"{local.url}/download/{KEY}", headers={"range": f"bytes={start}-{end}"}, timeout=60
    )
    assert response.status_code == 206, response.content[:200]
    with (store / KEY).open("rb") as file:
        file.seek(start)
        assert response.content == file.read(end - start + 1)


#: Where the client leaves: in the first bytes (as the soak's clients do), after a chunk or
#: two, or deep into the download.
POINTS = [1, 64, 70_000, MiB + 1, 16 * MiB]


def test_aborted_downloads_stop_their_function_and_free_its_sandbox(
    local: RunningLocal, store: Path
) -> None:
    """The client leaves at once (as the soak's do), or once the function is blocked behind
    it: the case that hung the function for a minute or two."""
    for blocked in (False, True):
        for index, after in enumerate(POINTS):
            for reset in (True, False):
                request_id = f"abort-{blocked}-{index}-{reset}"
                leave(local, download_head(request_id), after, reset=reset, when_blocked=blocked)
                wait_until_warm(local)
                check_a_range(local, store, (index * 7 + blocked) * MiB)
    functions = local.functions()["StreamFunction"]
    assert functions["throttles"] == 0
    assert functions["cold_starts"] == 1  # no process was killed or replaced


def test_a_client_that_leaves_an_answer_and_asks_again_at_once_is_served(
    local: RunningLocal, store: Path
) -> None:
    """With one sandbox, the next request comes while the abandoned function is between two
    pieces of its answer: it waits the moment until the function's next write fails and it
    is back in ``next``, rather than being throttled (API Gateway's 500)."""
    wait_until_warm(local)
    throttles = local.functions()["StreamFunction"]["throttles"]
    start = len(local.logs())
    leave(local, stream_head("leaves-and-asks-again"), 1, reset=True)
    # The gateway has cancelled the invocation (its access line is written after that).
    local.wait_for_log(lambda _: len(_gone(local.logs()[start:])) == 1, timeout_s=10)
    check_a_range(local, store, 0)
    assert local.functions()["StreamFunction"]["throttles"] == throttles


def test_an_abort_is_one_warning_in_the_functions_log_and_no_error(local: RunningLocal) -> None:
    start = len(local.logs())
    leave(local, download_head("leaves-a-download"), 2 * MiB, reset=True)
    wait_until_warm(local)
    leave(local, download_head("leaves-a-download-2"), 100, reset=False)
    wait_until_warm(local)
    leave(local, stream_head("leaves-an-answer"), 1, reset=True)
    wait_until_warm(local)
    leave(local, stream_head("leaves-an-answer-2"), 1, reset=False)
    wait_until_warm(local)
    # The gateway's access lines come last; wait for the fourth.
    local.wait_for_log(lambda _: len(_gone(local.logs()[start:])) == 4, timeout_s=10)

    logs = local.logs()[start:]
    # Lines without a level are the functions' metric (EMF) lines.
    errors = [entry for entry in logs if entry.get("level") in ("ERROR", "CRITICAL")]
    assert errors == []
    for gone in _gone(logs):
        invocation = gone["lambda_request_id"]
        said = [
            entry
            for entry in logs
            # The function logs in Lambda's own field names (requestId).
            if invocation in (entry.get("request_id"), entry.get("requestId"))
            and entry.get("level", "INFO") != "INFO"
        ]
        assert [entry["level"] for entry in said] == ["WARNING"], said
        assert "ended the invocation" in said[0]["message"]


def _gone(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The gateway's "the client went away" lines (each names the Lambda request id)."""
    return [entry for entry in logs if entry.get("message") == _CLIENT_WENT_AWAY]


_CLIENT_WENT_AWAY = "request failed: the client went away"
