"""Where the function URLs listen, and the streamed response's 200 MB cap.

No process runs here: a pool starts its sandboxes only when a request needs one.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from streamway.aws_contract import LAMBDA_MAX_STREAMED_RESPONSE_BYTES
from streamway.local.function_url import UrlSettings, function_urls, listen
from streamway.local.function_url.app import SizeCap
from streamway.local.functions import FunctionPool, FunctionSpec
from streamway.local.stream_relay import StreamCut
from tests.servers import free_port

POOLS = [
    FunctionPool(FunctionSpec("StreamFunction", "response_stream")),
    FunctionPool(FunctionSpec("BufferedFunction", "buffered")),
]


def test_a_url_per_function_on_consecutive_ports_with_the_functions_mode() -> None:
    urls = function_urls(POOLS, UrlSettings(), 4001)
    assert {port: (app.url.function, app.url.invoke_mode) for port, app in urls.items()} == {
        4001: ("StreamFunction", "RESPONSE_STREAM"),
        4002: ("BufferedFunction", "BUFFERED"),
    }


def test_a_default_port_that_is_taken_moves_and_an_asked_for_one_fails() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        wanted = taken.getsockname()[1]
        urls = function_urls(POOLS[:1], UrlSettings(), wanted)
        sockets, bound = listen("127.0.0.1", free_port(), urls, strict=False)
        try:
            ((port, app),) = bound.items()
            assert port != wanted
            assert app.url.port == port == sockets[1].getsockname()[1]
        finally:
            for sock in sockets:
                sock.close()
        urls = function_urls(POOLS[:1], UrlSettings(), wanted)
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{wanted}"):
            listen("127.0.0.1", free_port(), urls, strict=True)


def test_a_streamed_response_is_cut_past_200_mb() -> None:
    cap = SizeCap()

    async def send(sizes: list[int]) -> None:
        for size in sizes:
            await cap.pace(size)

    asyncio.run(send([LAMBDA_MAX_STREAMED_RESPONSE_BYTES - 1, 1]))  # exactly 200 MB passes
    with pytest.raises(StreamCut, match="passed"):
        asyncio.run(send([1]))
