"""API Gateway's and Lambda's size limits through ``streamway local``, each at the limit and
one byte past it.

The values are AWS's, written out here as docs/aws-behaviour.md gives them (§1, §2; "MB"
read as MiB), never taken from the code under test: 10 MiB = 10,485,760 bytes for a request,
16 KiB = 16,384 bytes for a stream's prelude, 6 MiB = 6,291,456 bytes for a buffered Lambda
payload and 200 MiB = 209,715,200 bytes for a streamed one. The function is
``tests.local.limits_app``, which answers at an exact size.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.local.limits_app import prelude_bytes
from tests.servers import RunningLocal, exchange, streamway_local

pytestmark = pytest.mark.timeout(300)

API = str(Path(__file__).with_name("api.yaml"))
LIMITS_API = ("--definition", API, "--app", "tests.local.limits_app:app")

REQUEST_LIMIT = 10_485_760  # API Gateway: request payload, 10 MB
PRELUDE_LIMIT = 16_384  # API Gateway STREAM: the delimiter within the first 16 KB
BUFFERED_PAYLOAD_LIMIT = 6_291_456  # Lambda: buffered response, 6 MB
STREAMED_LIMIT = 209_715_200  # Lambda: streamed response, 200 MB

TOO_LONG = b'{"message":"Request Too Long"}'
INTERNAL = b'{"message": "Internal server error"}'


@pytest.fixture(scope="module")
def gateway() -> Iterator[RunningLocal]:
    with streamway_local(args=LIMITS_API) as running:
        yield running


def post_head(path: str, framing: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nConnection: close\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


def send_body(gateway: RunningLocal, path: str, size: int, *, chunked: bool) -> bytes:
    """POSTs ``size`` bytes to ``path`` with Content-Length or in 1 MiB chunks; the answer."""
    piece = b"a" * (1 << 20)
    if chunked:
        parts = []
        left = size
        while left:
            data = piece[: min(left, len(piece))]
            left -= len(data)
            parts.append(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        head = post_head(f"/{gateway.stage}{path}", "Transfer-Encoding: chunked")
        return exchange(gateway.port, head, [*parts, b"0\r\n\r\n"])
    parts = [piece] * (size // len(piece)) + [piece[: size % len(piece)]]
    head = post_head(f"/{gateway.stage}{path}", f"Content-Length: {size}")
    return exchange(gateway.port, head, parts)


def _post_text(gateway: RunningLocal, body_size: int) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/buffered/body-size",
        content=b"a" * body_size,
        headers={"content-type": "text/plain"},
        timeout=60,
    )


# --- the request: 10 MB ----------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_10_mb_passes_the_gateway(gateway: RunningLocal, chunked: bool) -> None:
    answer = send_body(gateway, "/buffered/body-size", REQUEST_LIMIT, chunked=chunked)
    # What the function then makes of an event over Lambda's 6 MB is the next test's
    # question; here only the gateway's own refusal must not come.
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    assert TOO_LONG not in answer
    assert not answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_one_byte_over_10_mb_is_413(gateway: RunningLocal, chunked: bool) -> None:
    answer = send_body(gateway, "/buffered/body-size", REQUEST_LIMIT + 1, chunked=chunked)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.endswith(TOO_LONG)


def test_a_body_well_within_lambdas_6_mb_reaches_the_function(gateway: RunningLocal) -> None:
    size = BUFFERED_PAYLOAD_LIMIT - 64 * 1024  # room for the rest of the proxy event
    response = _post_text(gateway, size)
    assert response.status_code == 200
    assert response.json() == {"bytes": size}


def test_a_10_mb_body_is_an_event_over_lambdas_6_mb_and_never_reaches_the_function(
    gateway: RunningLocal,
) -> None:
    response = _post_text(gateway, REQUEST_LIMIT)
    # Lambda refuses an event over 6 MB before any function runs; API Gateway answers as it
    # does for a failed integration (docs/aws-behaviour.md §2).
    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error"}
    assert b'"bytes"' not in response.content


def test_a_declared_length_over_10_mb_is_413_before_any_body_byte(gateway: RunningLocal) -> None:
    # Only the head: the refusal comes from Content-Length, without waiting for the body.
    head = post_head(f"/{gateway.stage}/buffered/body-size", f"Content-Length: {REQUEST_LIMIT + 1}")
    answer = exchange(gateway.port, head, [])
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.endswith(TOO_LONG)


def test_a_5_mb_binary_body_is_an_event_over_lambdas_6_mb(gateway: RunningLocal) -> None:
    # Under 6 MB itself, but base64 in the event grows it by a third: 6,990,508 bytes.
    response = httpx.post(
        f"{gateway.url}/buffered/body-size",
        content=b"\x00" * 5_242_880,
        headers={"content-type": "application/octet-stream"},
        timeout=60,
    )
    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error"}


#: The gateway's execution-log line for an event over Lambda's 6 MB (API Gateway logs the
#: same sentence).
REFUSAL_LOG = re.compile(rf"Execution failed: (\d+) byte payload .* {BUFFERED_PAYLOAD_LIMIT} bytes")


def _refused_event_size(gateway: RunningLocal, accept: Callable[[int], bool]) -> int:
    """The event size of the first refusal in the log that ``accept`` takes."""

    def size(entry: dict[str, Any]) -> int | None:
        found = REFUSAL_LOG.search(str(entry.get("message", "")))
        return int(found.group(1)) if found else None

    entry = gateway.wait_for_log(lambda e: (n := size(e)) is not None and accept(n), timeout_s=30)
    result = size(entry)
    assert result is not None
    return result


def test_an_event_of_exactly_6_mb_reaches_the_function_and_one_byte_more_does_not(
    gateway: RunningLocal,
) -> None:
    # Lambda's 6 MB is the event's size, so the body is sized to the byte against the rest of
    # the proxy event: one refused body tells the overhead (an ASCII text body adds one byte
    # to the event per byte, and every other field keeps its length between requests).
    probe = BUFFERED_PAYLOAD_LIMIT
    assert _post_text(gateway, probe).status_code == 500
    event = _refused_event_size(gateway, lambda n: probe < n < probe + 64 * 1024)
    exact = probe - (event - probe)
    response = _post_text(gateway, exact)
    assert response.status_code == 200, response.text[:200]
    assert response.json() == {"bytes": exact}
    over = _post_text(gateway, exact + 1)
    assert over.status_code == 500
    assert over.json() == {"message": "Internal server error"}
    _refused_event_size(gateway, lambda n: n == BUFFERED_PAYLOAD_LIMIT + 1)


# --- STREAM: the prelude's delimiter within 16 KB ----------------------------------------------


def curl_status(url: str) -> tuple[int, bytes]:
    """Status and body by curl: a 16 KB response header is past httpx's (h11's) head limit."""
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--write-out", "\n%{http_code}", url],
        capture_output=True,
        timeout=60,
        check=False,
    )
    body, _, status = result.stdout.rpartition(b"\n")
    return int(status), body


def test_a_prelude_of_16_kb_is_streamed(gateway: RunningLocal) -> None:
    status, body = curl_status(f"{gateway.url}/stream/prelude?bytes={PRELUDE_LIMIT}")
    assert (status, body) == (200, b"ok")


def test_a_prelude_one_byte_over_16_kb_is_500(gateway: RunningLocal) -> None:
    status, body = curl_status(f"{gateway.url}/stream/prelude?bytes={PRELUDE_LIMIT + 1}")
    assert (status, body) == (500, INTERNAL)


# --- BUFFERED: Lambda's 6 MB payload ----------------------------------------------------------


def test_a_buffered_payload_of_exactly_6_mb_is_answered(gateway: RunningLocal) -> None:
    response = httpx.get(
        f"{gateway.url}/buffered/payload?bytes={BUFFERED_PAYLOAD_LIMIT}", timeout=60
    )
    assert response.status_code == 200
    assert set(response.content) == {ord("b")}


def test_a_buffered_payload_one_byte_over_6_mb_is_502(gateway: RunningLocal) -> None:
    response = httpx.get(
        f"{gateway.url}/buffered/payload?bytes={BUFFERED_PAYLOAD_LIMIT + 1}", timeout=60
    )
    assert response.status_code == 502
    assert response.content == INTERNAL
    failure = "request failed: function error: Function.ResponseSizeTooLarge"
    gateway.wait_for_log(lambda e: e.get("message") == failure)


# --- STREAM: Lambda's 200 MB -------------------------------------------------------------------


def read_streamed(url: str) -> tuple[int, int, httpx.HTTPError | None]:
    """Status, body bytes and the error that cut the body, if one did."""
    received = 0
    with httpx.Client(timeout=120) as client, client.stream("GET", url) as response:
        try:
            for chunk in response.iter_raw():
                received += len(chunk)
        except httpx.HTTPError as error:
            return response.status_code, received, error
    return response.status_code, received, None


def test_a_stream_of_exactly_200_mb_arrives_whole(gateway: RunningLocal) -> None:
    status, received, error = read_streamed(
        f"{gateway.url}/stream/stream-total?bytes={STREAMED_LIMIT}"
    )
    assert (status, error) == (200, None)
    # The 200 MB count the prelude and its delimiter too; the client gets the body.
    assert received == STREAMED_LIMIT - prelude_bytes({"content-type": "text/plain"}) - 8


def test_a_stream_one_byte_over_200_mb_is_cut(gateway: RunningLocal) -> None:
    status, received, error = read_streamed(
        f"{gateway.url}/stream/stream-total?bytes={STREAMED_LIMIT + 1}"
    )
    assert status == 200
    assert isinstance(error, httpx.RemoteProtocolError)
    assert received < STREAMED_LIMIT
