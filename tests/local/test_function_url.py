"""Function URLs on ``streamway local`` (RESPONSE_STREAM), with curl and httpx.

The function is the parity matrix's Starlette app (tests/local/parity/starlette_app.py), the
same ASGI app that runs behind the gateway: ``GET /stream`` sends its first chunk, waits at a
named pipe the test opens once that chunk arrived (``?gate=``), then the rest; ``?fail=1``
raises where the rest would be.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.local.parity.produce import FIRST, REST
from tests.servers import RunningLocal, streamway_local

pytestmark = pytest.mark.timeout(120)

APP = "tests.local.parity.starlette_app:app"
WHOLE = (FIRST + "".join(REST)).encode()


@pytest.fixture(scope="module")
def local() -> Iterator[RunningLocal]:
    with streamway_local(args=("--app", APP)) as running:
        yield running


def function_url(running: RunningLocal, function: str = "StreamFunction") -> str:
    """The function's URL as ``/_local/functions`` lists it (without its final slash)."""
    return str(running.functions()[function]["function_url"]["url"]).rstrip("/")


def test_the_url_is_listed_and_logged(local: RunningLocal) -> None:
    url = local.functions()["StreamFunction"]["function_url"]
    assert url["invoke_mode"] == "RESPONSE_STREAM"
    assert url["auth_type"] == "NONE"
    assert url["cors"] is None
    logged = local.wait_for_log(lambda e: e.get("function") == "StreamFunction" and "url" in e)
    assert logged["url"] == url["url"]


def test_the_app_answers_through_its_url(local: RunningLocal) -> None:
    response = httpx.get(f"{function_url(local)}/stream", timeout=30)
    assert response.status_code == 200
    assert response.content == WHOLE
    assert response.headers["x-parity"] == "yes"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-amzn-requestid"]
    assert "x-amz-apigw-id" not in response.headers  # no API Gateway in front


def test_httpx_gets_chunks_as_they_are_produced(local: RunningLocal, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    received = b""
    url = f"{function_url(local)}/stream"
    with httpx.stream("GET", url, params={"gate": str(gate)}, timeout=60) as response:
        chunks = response.iter_raw()
        while FIRST.encode() not in received:
            received += next(chunks)
        assert b"chunk 1" not in received  # the rest does not exist yet
        gate.write_bytes(b"")  # opens the gate
        received += b"".join(chunks)
    assert received == WHOLE


def test_curl_gets_chunks_as_they_are_produced(local: RunningLocal, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    url = f"{function_url(local)}/stream?gate={gate}"
    with subprocess.Popen(
        ["curl", "--silent", "--show-error", "--no-buffer", "--max-time", "60", url],
        stdout=subprocess.PIPE,
    ) as curl:
        assert curl.stdout is not None
        first = curl.stdout.read(len(FIRST))  # returns once the first chunk arrived
        assert first == FIRST.encode()
        gate.write_bytes(b"")
        rest = curl.stdout.read()
        assert curl.wait(timeout=60) == 0
    assert first + rest == WHOLE


def test_a_failure_mid_stream_fails_curls_transfer(local: RunningLocal) -> None:
    result = subprocess.run(
        ["curl", "--silent", "--max-time", "60", f"{function_url(local)}/stream?fail=1"],
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert result.returncode in (18, 56), result  # the chunked body never ended
    assert result.stdout == FIRST.encode()


def test_a_failure_mid_stream_is_an_error_for_httpx(local: RunningLocal) -> None:
    received: list[bytes] = []
    url = f"{function_url(local)}/stream"
    with httpx.stream("GET", url, params={"fail": "1"}, timeout=60) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            received.extend(response.iter_raw())
    assert b"".join(received) == FIRST.encode()


def test_the_gateway_still_answers_beside_the_url(local: RunningLocal) -> None:
    response = httpx.get(f"{local.url}/stream", timeout=30)
    assert response.status_code == 200
    assert response.content == WHOLE
    assert "x-amz-apigw-id" in response.headers


def test_no_function_urls_serves_the_gateway_alone() -> None:
    with streamway_local(args=("--app", APP, "--no-function-urls")) as running:
        assert running.functions()["StreamFunction"]["function_url"] is None
        assert httpx.get(f"{running.url}/stream", timeout=30).content == WHOLE
        assert not [e for e in running.logs() if "function URL of" in e.get("message", "")]
