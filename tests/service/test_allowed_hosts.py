"""STREAMWAY_ALLOWED_HOSTS against a real server on loopback, with httpx and a WebSocket client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.service.downloads_server import ThreadServer, downloads_server


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    store = tmp_path_factory.mktemp("store")
    (store / "hello.txt").write_text("hello\n")
    hosts = ["api.example.test", "*.apps.example.test", "127.0.0.1", "[::1]"]
    with downloads_server(store_url=f"file://{store}", allowed_hosts=hosts) as running:
        yield running


@pytest.mark.parametrize(
    "host",
    ["api.example.test", "API.Example.Test:8080", "one.apps.example.test", "127.0.0.1:9", "[::1]"],
)
def test_allowed_hosts_are_served(guarded: ThreadServer, host: str) -> None:
    response = httpx.get(f"{guarded.url}/download/hello.txt", headers={"Host": host})
    assert response.status_code == 200
    assert response.text == "hello\n"


@pytest.mark.parametrize(
    "host", ["evil.example", "apps.example.test", "api.example.test.evil", "[::2]", ""]
)
def test_other_hosts_get_a_json_400(guarded: ThreadServer, host: str) -> None:
    response = httpx.get(
        f"{guarded.url}/download/hello.txt", headers={"Host": host, "X-Request-Id": "host-1"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == {
        "code": "invalid_host",
        "message": "The Host header names a host this service does not answer for "
        "(STREAMWAY_ALLOWED_HOSTS).",
        "request_id": "host-1",
    }


async def test_websocket_upgrades_from_other_hosts_are_refused(guarded: ThreadServer) -> None:
    port = int(guarded.url.rsplit(":", 1)[1])
    with pytest.raises(InvalidStatus) as refused:
        # The URI names the host the client claims; host= and port= say where it connects.
        async with websockets.connect(f"ws://evil.example:{port}/ws", host="127.0.0.1", port=port):
            pass
    assert refused.value.response.status_code == 403


def test_by_default_any_host_is_served(tmp_path_factory: pytest.TempPathFactory) -> None:
    store = tmp_path_factory.mktemp("store")
    (store / "hello.txt").write_text("hello\n")
    with downloads_server(store_url=f"file://{store}") as running:
        response = httpx.get(f"{running.url}/download/hello.txt", headers={"Host": "any.example"})
    assert response.status_code == 200
