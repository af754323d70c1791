"""Which requests an emulator's access check lets through, and to what."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from streamway.local.runtime_api import INVOKE_PATH
from streamway.local.runtime_api.access import Access, Peer
from streamway.local.runtime_api.peer import CAN_CHECK

NEXT = "/2018-06-01/runtime/invocation/next"


@pytest.fixture
def accepted() -> Iterator[socket.socket]:
    """The server side of a loopback connection this process holds the other end of."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        yield server


def test_each_secret_opens_its_own_door(accepted: socket.socket) -> None:
    access = Access(invoke_over_http=True)
    who = Peer(access, accepted)
    runtime, invoke = access.runtime_secret, access.invoke_secret
    assert access.authorize(f"/{runtime}{NEXT}?x=1", who) == ("runtime", NEXT)
    assert access.authorize(f"/{invoke}{INVOKE_PATH}", who) == ("invoke", INVOKE_PATH)
    assert access.authorize(f"/{runtime}{INVOKE_PATH}", who) is None
    assert access.authorize(f"/{invoke}{NEXT}", who) is None
    assert access.authorize(f"/{runtime[:-1]}{NEXT}", who) is None
    assert access.authorize(NEXT, who) is None  # no secret, and not admitted
    shut = Access(invoke_over_http=False)
    assert shut.authorize(f"/{shut.invoke_secret}{INVOKE_PATH}", Peer(shut, accepted)) is None


@pytest.mark.skipif(not CAN_CHECK, reason="needs /proc/net/tcp")
def test_an_admitted_process_needs_no_secret(accepted: socket.socket) -> None:
    access = Access(invoke_over_http=True)
    access.admit(os.getpid())
    assert access.authorize(NEXT, Peer(access, accepted)) == ("runtime", NEXT)
