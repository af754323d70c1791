"""The cutting proxy the resume tests rely on, against a real streamway server and httpx:
a cut connection breaks after N bytes, and the next one goes through."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import OpenAIChatPeer
from tests.servers import RunningServer, streamway_server
from tests.tcp_proxy import cutting_proxy


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with streamway_server({}) as running:
        yield running


def test_the_armed_proxy_cuts_one_connection_then_lets_the_next_through(
    server: RunningServer,
) -> None:
    with cutting_proxy(server.port) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/stats"
        whole = httpx.get(url, headers={"Connection": "close"})
        assert whole.status_code == 200
        proxy.cut_after(40)
        # 40 bytes end inside the status line and headers: the response breaks.
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(url, headers={"Connection": "close"})
        assert proxy.cuts == 1
        after = httpx.get(url, headers={"Connection": "close"})
        assert after.status_code == 200
        assert after.json().keys() == whole.json().keys()
        assert proxy.connections == 3


def test_a_cut_can_move_the_proxy_to_another_server(server: RunningServer) -> None:
    # The other server: the scripted peer, which answers 404 to anything but its chat route.
    with serve_in_thread(OpenAIChatPeer()) as other, cutting_proxy(server.port) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/stats"
        with httpx.Client() as keep_alive:
            assert keep_alive.get(url).status_code == 200  # its connection stays open, idle
            proxy.cut_after(40, then_upstream=int(other.rsplit(":", 1)[1]))
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.get(url, headers={"Connection": "close"})
            # The idle connection went with the cut: the next request reaches the other server.
            assert keep_alive.get(url).status_code == 404
        assert proxy.cuts == 1
        assert proxy.connections == 3
