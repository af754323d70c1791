"""``streamway local --handler``: plain handlers in their three shapes behind the catch-all,
streaming as they produce (tests/aws_lambda/handlers.py: ``first `` and, once the test opens
the handler's gate, ``second``)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import RunningLocal, streamway_local

pytestmark = pytest.mark.timeout(120)

SHAPES = ("async_generator", "generator", "stream")


@pytest.fixture(scope="module", params=SHAPES)
def local(request: pytest.FixtureRequest) -> Iterator[tuple[str, RunningLocal]]:
    args = ("--handler", f"tests.aws_lambda.handlers.{request.param}")
    with streamway_local(args=args) as running:
        yield request.param, running


def test_each_shape_streams_as_it_produces(local: tuple[str, RunningLocal]) -> None:
    shape, running = local
    with socket.create_server(("127.0.0.1", 0)) as gate:
        port = gate.getsockname()[1]
        url = f"{running.url}/any/path"
        with httpx.stream("GET", url, params={"gate": port}, timeout=30) as response:
            pieces = response.iter_raw()
            received = next(pieces)
            assert received == b"first "  # the handler now waits at its gate
            connection, _ = gate.accept()
            with connection:
                connection.sendall(b"x")
                received += b"".join(pieces)
    assert received == b"first second"
    assert response.status_code == (201 if shape == "stream" else 200)
    if shape == "stream":
        assert response.headers["x-handler"] == "stream"
        assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]


def test_a_failure_after_the_first_chunk_fails_the_transfer(
    local: tuple[str, RunningLocal],
) -> None:
    _, running = local
    received: list[bytes] = []
    url = f"{running.url}/"
    with (
        httpx.stream("GET", url, params={"fail": "late"}, timeout=30) as response,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        received.extend(response.iter_raw())
    assert b"".join(received) == b"first "


def test_a_failure_before_it_is_api_gateways_502(local: tuple[str, RunningLocal]) -> None:
    _, running = local
    response = httpx.get(f"{running.url}/", params={"fail": "early"}, timeout=30)
    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}
