"""A BUFFERED function URL (BufferedFunction, ``--buffered``) and the URLs' request limit.

Through the URL: the function's 2.0 response as the client gets it, Lambda's 502 for a
function error, and the 6 MB request payload limit (on the event, so a binary body counts
base64-encoded). Without it, :func:`~streamway.local.function_url.answers.buffered_answer`
reads the payloads a function written without the runtime may return.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from streamway.aws_contract import LAMBDA_MAX_REQUEST_BYTES
from streamway.local.function_url.answers import buffered_answer
from tests.local.test_function_url import function_url
from tests.servers import RunningLocal, streamway_local

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def local() -> Iterator[RunningLocal]:
    with streamway_local(args=("--app", "tests.local.apps:app", "--buffered")) as running:
        yield running


def url(running: RunningLocal, path: str) -> str:
    return f"{function_url(running, 'BufferedFunction')}{path}"


def test_the_url_is_buffered(local: RunningLocal) -> None:
    assert local.functions()["BufferedFunction"]["function_url"]["invoke_mode"] == "BUFFERED"


def test_status_headers_and_cookies_of_the_response(local: RunningLocal) -> None:
    response = httpx.get(url(local, "/x/headers"), timeout=30)
    assert response.status_code == 201
    assert response.text == "hello"
    assert response.headers["x-repeated"] == "one,two"  # 2.0 joins a repeated header
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert response.headers["content-length"] == "5"


def test_a_binary_body_arrives_decoded(local: RunningLocal) -> None:
    response = httpx.get(url(local, "/x/base64"), timeout=30)
    assert response.status_code == 200
    assert response.content == bytes(range(256))
    assert response.headers["content-type"] == "image/png"


def test_a_function_error_is_502_internal_server_error(local: RunningLocal) -> None:
    response = httpx.get(url(local, "/x/fail-early"), timeout=30)
    assert response.status_code == 502
    assert response.text == "Internal Server Error"


def test_a_response_over_6_mb_is_502(local: RunningLocal) -> None:
    response = httpx.get(url(local, "/x/large"), params={"mib": "7"}, timeout=60)
    assert response.status_code == 502
    assert response.text == "Internal Server Error"


def test_a_request_over_6_mb_is_413(local: RunningLocal) -> None:
    body = b"x" * (LAMBDA_MAX_REQUEST_BYTES + 1)
    response = httpx.post(url(local, "/x/event"), content=body, timeout=60)
    assert response.status_code == 413
    assert response.headers["x-amzn-errortype"] == "RequestTooLargeException"
    assert "smaller than 6291456 bytes" in response.json()["Message"]


def test_the_limit_is_on_the_event_so_binary_counts_base64_encoded(local: RunningLocal) -> None:
    # 5 MB of bytes is under 6 MB as a body but about 6.7 MB once base64 in the event.
    body = b"\x00" * (5 * 1024 * 1024)
    headers = {"content-type": "application/octet-stream"}
    response = httpx.post(url(local, "/x/event"), content=body, headers=headers, timeout=60)
    assert response.status_code == 413
    text = httpx.post(url(local, "/x/event"), content=b"a" * 1024, timeout=60)
    assert text.status_code == 200


@pytest.mark.parametrize(
    ("payload", "status", "content_type", "body"),
    [
        # A JSON object without statusCode is the body of a 200 JSON response.
        (b'{"message": "hi"}', 200, "application/json", b'{"message": "hi"}'),
        # A JSON string is the body's text itself.
        (b'"Hello (world)"', 200, "application/json", b"Hello (world)"),
        (b"[1, 2]", 200, "application/json", b"[1, 2]"),
        # With statusCode it is a response; without a content type, JSON.
        (b'{"statusCode": 404, "body": "gone"}', 404, "application/json", b"gone"),
        (
            b'{"statusCode": 200, "headers": {"Content-Type": "text/plain"}, '
            b'"body": "aGk=", "isBase64Encoded": true}',
            200,
            "text/plain",
            b"hi",
        ),
        (b"not json", 502, "text/plain; charset=utf-8", b"Internal Server Error"),
        (b'{"statusCode": "x"}', 502, "text/plain; charset=utf-8", b"Internal Server Error"),
    ],
)
def test_how_a_buffered_payload_is_read(
    payload: bytes, status: int, content_type: str, body: bytes
) -> None:
    answer = buffered_answer(payload)
    assert (answer.status, answer.body) == (status, body)
    assert dict(answer.headers)[b"content-type"] == content_type.encode()


def test_cookies_of_a_buffered_payload_become_set_cookie() -> None:
    payload = {"statusCode": 200, "cookies": ["a=1", "b=2"], "body": ""}
    answer = buffered_answer(json.dumps(payload).encode())
    assert [v for n, v in answer.headers if n == b"set-cookie"] == [b"a=1", b"b=2"]
