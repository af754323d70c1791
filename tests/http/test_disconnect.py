"""until_disconnect and send_or_gone against a real uvicorn server on loopback: a client that
leaves cancels the work, and the work's own end or failure comes back unchanged."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from streamway.http.disconnect import ClientGone, send_or_gone, until_disconnect
from tests.peers.loopback import serve_in_thread


class Recorder:
    """An ASGI app whose handler works until the client leaves, and says how it ended."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.ended = threading.Event()
        self.outcome = ""
        self.cancelled = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await receive()  # the (empty) body
        path = scope["path"]
        try:
            if path == "/forever":
                self.outcome = await until_disconnect(self._forever(send), receive)
            elif path == "/waits":
                await until_disconnect(self._waits(send), receive)
            elif path == "/value":
                self.outcome = await until_disconnect(self._value(send), receive)
            elif path == "/fails":
                await until_disconnect(self._fails(), receive)
        except ClientGone:
            self.outcome = "client gone"
        except ValueError as error:
            self.outcome = f"failed: {error}"
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        finally:
            self.ended.set()

    async def _forever(self, send: Send) -> str:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        self.started.set()
        try:
            while True:
                # The next piece is produced between two sends, as a model's token is.
                await asyncio.sleep(0)
                body = {"type": "http.response.body", "body": b"x" * 65536, "more_body": True}
                await send_or_gone(send, body)
        except asyncio.CancelledError:
            self.outcome = "cancelled"
            raise

    async def _waits(self, send: Send) -> None:
        """Waits for something that never comes (a model slot, a first token)."""
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    async def _value(self, send: Send) -> str:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        return "returned"

    async def _fails(self) -> None:
        raise ValueError("the work failed")


@pytest.fixture
def served() -> Iterator[tuple[Recorder, int]]:
    app = Recorder()
    with serve_in_thread(app) as url:
        yield app, int(url.rsplit(":", 1)[1])


def _request(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        if data.endswith(b"0\r\n\r\n"):  # the last chunk of a chunked body
            break
    return data


def _start_and_leave(app: Recorder, port: int, path: str) -> None:
    """Starts ``path``, closes the connection once the work has begun, and waits for its end."""
    sock = _request(port, path)
    assert sock.recv(1024).startswith(b"HTTP/1.1 200")
    assert app.started.wait(10)
    sock.close()
    assert app.ended.wait(10)


def test_a_client_that_leaves_ends_the_work_as_client_gone(served: tuple[Recorder, int]) -> None:
    app, port = served
    _start_and_leave(app, port, "/forever")
    # Either the watcher saw http.disconnect first (the work was cancelled) or a send failed
    # first: both end as ClientGone, never as a finished answer.
    assert app.outcome == "client gone"


def test_a_client_that_leaves_cancels_work_that_sends_nothing(
    served: tuple[Recorder, int],
) -> None:
    app, port = served
    _start_and_leave(app, port, "/waits")
    assert app.cancelled
    assert app.outcome == "client gone"


def test_work_that_ends_returns_its_value(served: tuple[Recorder, int]) -> None:
    app, port = served
    with _request(port, "/value") as sock:
        assert _read_all(sock).endswith(b"done\r\n0\r\n\r\n")
    assert app.ended.wait(10)
    assert app.outcome == "returned"


def test_work_that_fails_raises_its_own_error(served: tuple[Recorder, int]) -> None:
    app, port = served
    with _request(port, "/fails") as sock:
        assert sock.recv(1024).startswith(b"HTTP/1.1 500")
    assert app.ended.wait(10)
    assert app.outcome == "failed: the work failed"


async def test_send_or_gone_turns_a_servers_oserror_into_client_gone() -> None:
    async def gone(message: Any) -> None:
        raise OSError("connection lost")

    with pytest.raises(ClientGone):
        await send_or_gone(gone, {"type": "http.response.body", "body": b""})
