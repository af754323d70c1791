"""The parity matrix: each framework's app under uvicorn and under ``streamway local --app``.

Each app (one module per framework, in this package) is served twice at once: by uvicorn with
``--root-path /dev`` (so its scope is the one the Lambda runtime builds behind the ``dev``
stage: the same ``path`` and ``root_path``), and by ``streamway local --app`` through the
catch-all proxy in STREAM mode. Then, under both:

- the same status, headers and bytes, except for the headers API Gateway adds
  (:data:`GATEWAY_ADDS`) or drops (:data:`GATEWAY_DROPS`) and those the servers write
  themselves (:data:`SERVERS_WRITE`);
- chunks arrive as they are produced: the app sends its first chunk and waits on a named
  pipe the test opens only once that chunk arrived;
- an app that raises mid-stream leaves its client with a failed transfer
  (httpx's ``RemoteProtocolError``: the chunked body never ended).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.local.parity.produce import FIRST
from tests.servers import free_port, python_server, streamway_local

pytestmark = pytest.mark.timeout(120)

FRAMEWORKS = ("fastapi", "starlette", "sse", "litestar", "django", "quart")
STAGE = "dev"
#: API Gateway's request ids, on every answer.
GATEWAY_ADDS = frozenset({"x-amzn-requestid", "x-amz-apigw-id"})
#: Hop-by-hop headers of the app's (sse-starlette's ``Connection: keep-alive``): the gateway
#: drops them, as the connection to the client is its own (local/response_head.py).
GATEWAY_DROPS = frozenset({"connection", "keep-alive"})
#: Written by the server in front, not by the app (the local gateway has no Server header,
#: as API Gateway has none of its own).
SERVERS_WRITE = frozenset({"date", "server"})


@dataclass(frozen=True)
class Pair:
    """One app, served both ways: the base URLs its /stream is under."""

    uvicorn: str
    local: str

    def urls(self) -> dict[str, str]:
        return {"uvicorn": self.uvicorn, "local": self.local}


@pytest.fixture(scope="module", params=FRAMEWORKS)
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    app = f"tests.local.parity.{request.param}_app:app"
    port = free_port()
    uvicorn_args = ["-m", "uvicorn", app, "--port", str(port), "--root-path", f"/{STAGE}"]
    with ExitStack() as servers, ThreadPoolExecutor(2) as starting:
        # Both start at once (each waits for its port): the matrix stays under a minute.
        uvicorn = python_server(uvicorn_args, port, {}, log_prefix="parity-")
        started = starting.submit(servers.enter_context, uvicorn)
        local = servers.enter_context(streamway_local(args=("--app", app), stage=STAGE))
        started.result()
        yield Pair(f"http://127.0.0.1:{port}", local.url)


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    ignored = GATEWAY_ADDS | GATEWAY_DROPS | SERVERS_WRITE
    return sorted(
        (name.lower(), value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ignored
    )


def test_the_same_status_headers_and_bytes(pair: Pair) -> None:
    answers = {
        server: httpx.get(f"{base}/stream", timeout=30) for server, base in pair.urls().items()
    }
    uvicorn, local = answers["uvicorn"], answers["local"]
    assert local.status_code == uvicorn.status_code == 200
    assert _headers(local) == _headers(uvicorn)
    assert local.content == uvicorn.content
    assert FIRST.strip().encode() in local.content
    assert set(local.headers) >= GATEWAY_ADDS
    assert not GATEWAY_DROPS & set(local.headers)


@pytest.mark.parametrize("server", ["uvicorn", "local"])
def test_chunks_arrive_as_they_are_produced(pair: Pair, server: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    whole = httpx.get(f"{pair.urls()[server]}/stream", timeout=30).content
    received = b""
    url = f"{pair.urls()[server]}/stream"
    with httpx.stream("GET", url, params={"gate": str(gate)}, timeout=30) as response:
        chunks = response.iter_raw()
        while FIRST.strip().encode() not in received:
            received += next(chunks)
        # The rest does not exist yet: the app waits for the file created here.
        assert b"chunk 1" not in received
        gate.write_bytes(b"")  # opens the gate: the app's read of the FIFO ends
        received += b"".join(chunks)
    assert received == whole


@pytest.mark.parametrize("server", ["uvicorn", "local"])
def test_a_failure_mid_stream_fails_the_transfer(pair: Pair, server: str) -> None:
    received: list[bytes] = []
    url = f"{pair.urls()[server]}/stream"
    with httpx.stream("GET", url, params={"fail": "1"}, timeout=30) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            received.extend(response.iter_raw())
    assert FIRST.strip().encode() in b"".join(received)
    assert b"chunk 1" not in b"".join(received)
