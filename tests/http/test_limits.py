"""Timeouts and the connection cap of `streamway serve`, with raw sockets on loopback.

Each check waits for the server's action (the connection closed, a response read) with a
generous client timeout; none asserts how long anything took. The limits are made small
through the same STREAMWAY_* settings a deployment sets.
"""

from __future__ import annotations

import asyncio
import json
import re
import select
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from streamway.http.limits import BodyTimeout, ServerLimits
from tests.servers import RunningServer, streamway_server
from tests.service.test_disconnects_and_load import eventually

pytestmark = pytest.mark.timeout(120)

#: Downloads and /ping never touch the model; a remote model id keeps llama.cpp out.
NO_MODEL = {"STREAMWAY_MODEL": "openai:unused"}
#: Longest a client here waits for the server to act; far beyond every configured limit.
PATIENCE_S = 30.0


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; ``TimeoutError`` if it never does."""
    sock.settimeout(PATIENCE_S)
    received = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data


def send_and_wait_for_close(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S) as sock:
        if data:
            sock.sendall(data)
        return read_until_closed(sock)


def trickle_until_closed(port: int, head: bytes) -> bytes:
    """Sends ``head`` a byte at a time (slowloris) until the server closes the connection;
    fails if the server is still reading after :data:`PATIENCE_S`."""
    deadline = time.monotonic() + PATIENCE_S
    with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S) as sock:
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                return b""
            # The pause between bytes is the attacker's pace; the server's answer ends it.
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                return read_until_closed(sock)
            assert time.monotonic() < deadline, "the server kept reading a trickled head"
    raise AssertionError("the whole head was sent: make it longer than the timeout allows")


def json_of(answer: bytes) -> dict[str, object]:
    _, _, body = answer.partition(b"\r\n\r\n")
    payload: dict[str, object] = json.loads(body)
    return payload


def slow_head(host_header: bytes = b"x") -> bytes:
    return b"GET /ping HTTP/1.1\r\nHost: " + host_header + b"\r\nX-Pad: " + b"a" * 100_000


@pytest.fixture(scope="module")
def impatient() -> Iterator[RunningServer]:
    env = {
        **NO_MODEL,
        "STREAMWAY_REQUEST_HEAD_TIMEOUT_S": "0.5",
        "STREAMWAY_REQUEST_BODY_TIMEOUT_S": "0.5",
    }
    with streamway_server(env) as server:
        yield server


def test_a_request_head_that_never_completes_is_closed_with_408(impatient: RunningServer) -> None:
    answer = send_and_wait_for_close(impatient.port, b"GET /ping HTTP/1.1\r\nHost: x\r\n")
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer
    assert json_of(answer)["error"] == {
        "code": "request_timeout",
        "message": "The request head did not arrive within 0.5 s.",
    }
    record = impatient.wait_for_log(
        lambda e: e.get("message", "").startswith("request head incomplete")
    )
    assert record["status"] == 408
    assert re.fullmatch(r"127\.0\.0\.1:\d+", str(record["client"]))


def test_a_connection_that_sends_nothing_is_closed(impatient: RunningServer) -> None:
    assert send_and_wait_for_close(impatient.port, b"") == b""


def test_a_head_trickled_a_byte_at_a_time_is_cut_off(impatient: RunningServer) -> None:
    answer = trickle_until_closed(impatient.port, slow_head())
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")


def test_the_head_timer_rearms_for_the_next_request_on_a_kept_alive_connection(
    impatient: RunningServer,
) -> None:
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=PATIENCE_S) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        head, _, body = first.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(body) < length:  # the body may come in a segment of its own
            body += sock.recv(65536)
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")  # the second head never ends
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")


def test_a_body_that_stalls_gets_a_json_408_with_the_request_id(impatient: RunningServer) -> None:
    head = (
        b"POST /streaming HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Request-Id: stalled-body-1\r\nContent-Length: 100\r\n\r\n"
    )
    answer = send_and_wait_for_close(impatient.port, head + b'{"request": "Hi')
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer.lower()
    error = json_of(answer)["error"]
    assert error == {
        "code": "request_timeout",
        "message": "No part of the request body arrived for 0.5 s.",
        "request_id": "stalled-body-1",
    }
    impatient.wait_for_log(
        lambda e: e.get("request_id") == "stalled-body-1" and e.get("status") == 408
    )


def test_a_body_that_arrives_in_time_is_not_cut(impatient: RunningServer) -> None:
    # Each piece comes well within the timeout, so the request is answered as usual.
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=PATIENCE_S) as sock:
        body = b'{"request": ""}'
        sock.sendall(
            b"POST /streaming HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        sock.sendall(body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 422 ")  # validated, not timed out


@pytest.fixture(scope="module")
def capped() -> Iterator[RunningServer]:
    env = {
        **NO_MODEL,
        "STREAMWAY_MAX_CONNECTIONS": "2",
        # Long enough that the held connections stay open for the whole test.
        "STREAMWAY_KEEP_ALIVE_TIMEOUT_S": "120",
        "STREAMWAY_REQUEST_HEAD_TIMEOUT_S": "120",
    }
    with streamway_server(env) as server:
        yield server


def held_connection(port: int) -> socket.socket:
    """A kept-alive connection the server has certainly accepted (it answered on it)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S)
    sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    return sock


def test_connections_over_the_cap_are_answered_503(capped: RunningServer) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(held_connection(capped.port))
        stack.enter_context(held_connection(capped.port))
        over = httpx.get(f"{capped.url}/ping", timeout=PATIENCE_S)
        assert over.status_code == 503
        assert over.headers["connection"] == "close"
        first.close()
        # Once the server has seen one go, a new connection is served again.
        eventually(
            lambda: httpx.get(f"{capped.url}/ping", timeout=PATIENCE_S).status_code == 200,
            timeout_s=PATIENCE_S,
        )


# BodyTimeout on its own: the cases no client of a running server can reach in a bounded
# time. The receive functions stand in for uvicorn's; the middleware is the real one.

BODY_TIMEOUT_S = 0.05


class Stalled(Exception):
    pass


async def _never() -> dict[str, object]:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def _queued(*messages: dict[str, object]) -> Callable[[], Awaitable[dict[str, object]]]:
    """A receive that hands out ``messages`` in order, then waits forever."""
    pending = list(messages)

    async def receive() -> dict[str, object]:
        if pending:
            return pending.pop(0)
        return await _never()

    return receive


def _late(message: dict[str, object], ready: asyncio.Event) -> Callable[[], Awaitable[Any]]:
    """A receive whose first message comes only once ``ready`` is set."""

    async def receive() -> dict[str, object]:
        await ready.wait()
        return message

    return receive


async def _run_app(
    scope_type: str, receive: Callable[[], Awaitable[Any]], reads: int
) -> list[object]:
    """Runs BodyTimeout around an app that calls ``receive`` ``reads`` times and records
    each message or the exception it raised."""
    seen: list[object] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        for _ in range(reads):
            try:
                seen.append(await receive())
            except Stalled as error:
                seen.append(error)

    async def send(message: Any) -> None:
        pass

    middleware = BodyTimeout(app, timeout_s=BODY_TIMEOUT_S, stalled=lambda s: Stalled(s))
    await middleware({"type": scope_type}, receive, send)
    return seen


def test_max_connections_served_sets_uvicorns_limit_one_higher() -> None:
    # uvicorn answers 503 once open connections >= its limit, counting the one asking.
    for served in (1, 2, 3, 8):
        limits = ServerLimits(1.0, 1.0, served, 5)
        assert limits.uvicorn_options(b"{}")["limit_concurrency"] == served + 1


def test_after_a_stall_the_next_receive_is_a_disconnect_at_once() -> None:
    seen = asyncio.run(_run_app("http", _never, reads=2))
    assert isinstance(seen[0], Stalled)
    assert seen[1] == {"type": "http.disconnect"}


def test_a_stall_after_a_first_chunk_is_cut() -> None:
    chunk = {"type": "http.request", "body": b"a", "more_body": True}
    seen = asyncio.run(_run_app("http", _queued(chunk), reads=2))
    assert seen[0] == chunk
    assert isinstance(seen[1], Stalled)


@pytest.mark.parametrize(
    "last_body",
    [
        {"type": "http.request", "body": b"{}", "more_body": False},
        # ASGI: "more_body" defaults to False; servers other than uvicorn leave it out.
        {"type": "http.request", "body": b"{}"},
    ],
    ids=["more_body-false", "more_body-absent"],
)
def test_the_wait_for_a_disconnect_after_the_whole_body_is_not_timed(
    last_body: dict[str, object],
) -> None:
    async def scenario() -> list[object]:
        body_read = asyncio.Event()
        disconnect_may_come = asyncio.Event()
        messages = [last_body]

        async def receive() -> dict[str, object]:
            if messages:
                body_read.set()
                return messages.pop(0)
            await disconnect_may_come.wait()
            return {"type": "http.disconnect"}

        running = asyncio.create_task(_run_app("http", receive, reads=2))
        await body_read.wait()
        # Several body timeouts pass while the app waits for the disconnect.
        await asyncio.sleep(BODY_TIMEOUT_S * 5)
        disconnect_may_come.set()
        return await running

    assert asyncio.run(scenario()) == [last_body, {"type": "http.disconnect"}]


@pytest.mark.parametrize("scope_type", ["websocket", "lifespan"])
def test_other_scopes_are_never_timed(scope_type: str) -> None:
    first: dict[str, object] = {"type": f"{scope_type}.connect"}

    async def scenario() -> list[object]:
        ready = asyncio.Event()
        running = asyncio.create_task(_run_app(scope_type, _late(first, ready), reads=1))
        await asyncio.sleep(BODY_TIMEOUT_S * 5)
        ready.set()
        return await running

    assert asyncio.run(scenario()) == [first]
