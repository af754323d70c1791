"""Which process holds the other end of a loopback connection, asked of the real kernel."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from streamway.local.runtime_api import peer

pytestmark = pytest.mark.skipif(not peer.CAN_CHECK, reason="needs Linux's /proc/net/tcp")


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side, client side) of a loopback connection, both held by this process."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        with client, server:
            yield server, client


def test_the_process_holding_the_client_socket_is_recognised(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    server, _ = connection
    assert peer.owned_by(server, {os.getpid()})


def test_any_other_process_is_not(connection: tuple[socket.socket, socket.socket]) -> None:
    server, _ = connection
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert not peer.owned_by(server, {other.pid})
        assert not peer.owned_by(server, set())
        assert not peer.owned_by(server, {2**22 + 7})  # no such process
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait()


def test_a_socket_whose_peer_left_is_nobodys(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    server, client = connection
    client.close()
    assert not peer.owned_by(server, {os.getpid()})
