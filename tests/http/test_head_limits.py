"""Request heads over API Gateway's caps get 431 from `streamway serve` and `streamway local`.

Both run as real subprocesses on loopback; the requests are hand-built so that a header can be
any size. Neither server runs a model here: the refusals come before any route.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from streamway.http.head_limits import MAX_HEAD_BYTES, MAX_HEADER_VALUE_BYTES, check_head
from tests.servers import RunningLocal, RunningServer, raw_http, streamway_local, streamway_server

NO_MODEL = {"STREAMWAY_MODEL": "openai:unused"}


@pytest.fixture(scope="module")
def serve() -> Iterator[RunningServer]:
    with streamway_server(NO_MODEL) as running:
        yield running


@pytest.fixture(scope="module")
def local() -> Iterator[RunningLocal]:
    with streamway_local(NO_MODEL) as running:
        yield running


def get(path: str, *headers: tuple[str, bytes]) -> bytes:
    lines = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers)
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + lines + b"\r\n"


def split(answer: bytes) -> tuple[int, dict[str, str], object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, json.loads(body) if body else None


# API Gateway's quota on one header value ("Header value size", Amazon API Gateway quotas),
# and streamway's bound on a whole head (docs/configuration.md): literal, not the constants
# under test.
HEADER_VALUE_CAP = 10240
HEAD_BOUND = 32 * 1024

# The case: 625 KiB of If-None-Match used to hold the event loop for seconds.
HUGE_ETAGS = b'"abcdefghij", ' * (625 * 1024 // 14)


def test_serve_refuses_a_huge_header_value_with_431_json(serve: RunningServer) -> None:
    answer = raw_http(
        serve.port,
        get(
            "/download/anything.bin",
            ("If-None-Match", HUGE_ETAGS),
            ("X-Request-Id", b"head-too-large-1"),
        ),
    )
    status, headers, body = split(answer)
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] == "head-too-large-1"
    assert body == {
        "error": {
            "code": "request_header_too_large",
            "message": f"The if-none-match header has {len(HUGE_ETAGS)} bytes; the most this "
            f"API accepts in one header is {HEADER_VALUE_CAP}.",
            "limit_bytes": HEADER_VALUE_CAP,
            "header": "if-none-match",
            "request_id": "head-too-large-1",
        }
    }
    logged = serve.wait_for_log(
        lambda e: e.get("request_id") == "head-too-large-1" and e["logger"] == "streamway.access"
    )
    assert logged["status"] == 431
    assert serve.wait_for_log(
        lambda e: (
            e["message"] == "request head too large" and e.get("request_id") == "head-too-large-1"
        )
    )


def test_the_limits_are_api_gateways_cap_and_32_kib() -> None:
    assert (MAX_HEADER_VALUE_BYTES, MAX_HEAD_BYTES) == (HEADER_VALUE_CAP, HEAD_BOUND)


def test_serve_accepts_a_header_value_at_the_limit(serve: RunningServer) -> None:
    value = b"x" * HEADER_VALUE_CAP
    status, _, body = split(raw_http(serve.port, get("/ping", ("X-Padding", value))))
    assert status == 200
    assert isinstance(body, dict)
    assert body["status"] == "Healthy"


def test_serve_refuses_a_header_value_one_byte_over_the_limit(serve: RunningServer) -> None:
    value = b"x" * (HEADER_VALUE_CAP + 1)
    status, _, body = split(raw_http(serve.port, get("/ping", ("X-Padding", value))))
    assert status == 431
    assert isinstance(body, dict)
    assert (body["error"]["limit_bytes"], body["error"]["header"]) == (
        HEADER_VALUE_CAP,
        "x-padding",
    )


def test_a_refusals_log_line_keeps_the_first_256_characters_of_the_path(
    serve: RunningServer,
) -> None:
    path = "/" + "p" * 299
    value = b"x" * (HEADER_VALUE_CAP + 1)
    status, _, _ = split(raw_http(serve.port, get(path, ("X-Long-Path", value))))
    assert status == 431
    logged = serve.wait_for_log(
        lambda e: e["message"] == "request head too large" and e["path"].startswith("/ppp")
    )
    assert logged["path"] == path[:256]


def test_a_head_of_exactly_the_bound_passes_and_one_byte_more_is_refused() -> None:
    # The request line as it came ("GET " + path + "?" + query + " HTTP/1.1"), then each
    # header as "name: value" and CRLF.
    line = len("GET /p?q HTTP/1.1")
    header = len("x-pad: ") + len("\r\n")
    value = HEAD_BOUND - line - header
    scope = {
        "type": "http",
        "method": "GET",
        "raw_path": b"/p",
        "query_string": b"q",
        "headers": [(b"x-pad", b"v" * value)],
    }
    assert check_head(scope, value, HEAD_BOUND) is None
    scope["headers"] = [(b"x-pad", b"v" * (value + 1))]
    refusal = check_head(scope, value + 1, HEAD_BOUND)
    assert refusal is not None
    assert (refusal.limit_bytes, refusal.header) == (HEAD_BOUND, None)
    assert f"have {HEAD_BOUND + 1} bytes together" in refusal.message


def test_serve_refuses_a_head_whose_headers_add_up_past_the_bound(serve: RunningServer) -> None:
    # Each header is under the per-header cap; together they are not.
    count = HEAD_BOUND // 8000 + 1
    headers = [(f"X-Part-{n}", b"y" * 8000) for n in range(count)]
    status, _, body = split(raw_http(serve.port, get("/ping", *headers)))
    assert status == 431
    assert isinstance(body, dict)
    assert body["error"]["code"] == "request_header_too_large"
    assert body["error"]["limit_bytes"] == HEAD_BOUND
    assert "header" not in body["error"]


async def test_serve_refuses_a_websocket_upgrade_with_a_huge_head(serve: RunningServer) -> None:
    # Headers under 8 KiB each (the WebSocket parser's own line limit) that add up past the
    # bound: the upgrade is refused before the endpoint accepts it.
    headers = {f"X-Part-{n}": "z" * 8000 for n in range(HEAD_BOUND // 8000 + 1)}
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            f"ws://127.0.0.1:{serve.port}/ws", additional_headers=headers, open_timeout=10
        ):
            pass
    assert refused.value.response.status_code == 403
    serve.wait_for_log(lambda e: e["message"] == "request head too large" and e["path"] == "/ws")


def test_local_refuses_a_huge_header_value_as_api_gateway_would(local: RunningLocal) -> None:
    answer = raw_http(local.port, get("/dev/download/anything.bin", ("If-None-Match", HUGE_ETAGS)))
    status, headers, body = split(answer)
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert body == {"message": "Request Header Fields Too Large"}
    # Refused at the edge: no function was started for it.
    assert all(entry["invocations"] == 0 for entry in local.functions().values())


def test_local_refuses_a_header_value_one_byte_over_the_limit(local: RunningLocal) -> None:
    value = b"x" * (HEADER_VALUE_CAP + 1)
    status, _, body = split(raw_http(local.port, get("/dev/nope", ("X-Padding", value))))
    assert status == 431
    assert body == {"message": "Request Header Fields Too Large"}


def test_local_passes_a_header_value_at_the_limit(local: RunningLocal) -> None:
    value = b"x" * HEADER_VALUE_CAP
    status, _, body = split(raw_http(local.port, get("/dev/nope", ("X-Padding", value))))
    # Past the head check: the gateway's own answer for an unknown route.
    assert status == 403
    assert body == {"message": "Missing Authentication Token"}


def test_a_head_without_raw_path_counts_the_path_and_names_at_most_64_characters() -> None:
    name = "x-" + "n" * 98
    scope = {"type": "http", "method": "GET", "path": "/p", "headers": [(name.encode(), b"v")]}
    # "GET" + "/p" + 11 + the header line (100 + 1 + 4): 121 bytes.
    assert check_head(scope, 10, 121) is None
    refusal = check_head(scope, 10, 120)
    assert refusal is not None
    assert "have 121 bytes together" in refusal.message
    refusal = check_head(scope, 0, HEAD_BOUND)
    assert refusal is not None
    assert refusal.header == name[:64]
