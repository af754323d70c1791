"""Lambda's size limits in the Runtime API emulator alone, at the limit and one byte past it.

``test_gateway_limits.py`` checks the same limits through the gateway, which has checks of
its own in front of the emulator's; these tests keep the emulator's honest on their own.
The runtime is a real function process serving ``tests.local.limits_app``. The values are
AWS's (docs/aws-behaviour.md §2; "MB" read as MiB), written out rather than imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import pytest

from streamway.local.runtime_api import split_prelude
from tests.aws_lambda.fixtures import rest_event
from tests.servers import RunningFunction, lambda_function

pytestmark = pytest.mark.timeout(300)

INVOKE_LIMIT = 6_291_456  # Lambda: request (event) payload, 6 MB
BUFFERED_LIMIT = 6_291_456  # Lambda: buffered response, 6 MB
STREAMED_LIMIT = 209_715_200  # Lambda: streamed response, 200 MB
PRELUDE_LIMIT = 16_384  # API Gateway STREAM: the delimiter within the first 16 KB

BUFFERED = {"AWS_LWA_INVOKE_MODE": "buffered"}


async def settled(function: RunningFunction) -> None:
    """One more invocation, answered: the runtime has reconnected after a refusal (which
    closes its connection) before the emulator closes, rather than while it does."""
    result = await (await function.api.invoke(rest_event("/body-size"))).result()
    assert result.ok, result.error


@pytest.mark.parametrize(("size", "ok"), [(BUFFERED_LIMIT, True), (BUFFERED_LIMIT + 1, False)])
async def test_a_buffered_response_may_be_6_mb_and_not_one_byte_more(size: int, ok: bool) -> None:
    async with lambda_function("tests.local.limits_app:app", env=BUFFERED) as function:
        event = rest_event("/payload")
        event["queryStringParameters"] = {"bytes": str(size)}
        result = await (await function.api.invoke(event)).result()
        await settled(function)

    if ok:
        assert result.ok, result.error
        assert len(result.body) == size
    else:
        assert result.error is not None
        assert result.error["errorType"] == "Function.ResponseSizeTooLarge"


@pytest.mark.parametrize(("size", "ok"), [(STREAMED_LIMIT, True), (STREAMED_LIMIT + 1, False)])
async def test_a_stream_may_be_200_mb_and_not_one_byte_more(size: int, ok: bool) -> None:
    async with lambda_function("tests.local.limits_app:app") as function:
        event = rest_event("/stream-total")
        event["queryStringParameters"] = {"bytes": str(size)}
        invocation = await function.api.invoke(event)
        received = 0
        async for chunk in invocation.chunks():
            received += len(chunk)
        result = await invocation.result()
        await settled(function)

    if ok:
        assert result.ok, result.error
        assert received == size
    else:
        assert result.error is not None
        assert result.error["errorType"] == "Function.ResponseSizeTooLarge"
        assert received <= STREAMED_LIMIT


@pytest.mark.parametrize(("size", "ok"), [(PRELUDE_LIMIT, True), (PRELUDE_LIMIT + 1, False)])
async def test_the_delimiter_may_follow_a_prelude_of_16_kb_and_no_more(size: int, ok: bool) -> None:
    async with lambda_function("tests.local.limits_app:app") as function:
        event = rest_event("/prelude")
        event["queryStringParameters"] = {"bytes": str(size)}
        result = await (await function.api.invoke(event)).result()
        await settled(function)

    assert result.ok, result.error
    assert result.body.index(b"\x00" * 8) == size  # the app made the prelude it meant to
    if ok:
        prelude, body = split_prelude(result.body)
        assert (prelude["statusCode"], body) == (200, b"ok")
    else:
        with pytest.raises(ValueError, match="16 KB"):
            split_prelude(result.body)


def invoke_over_http(url: str, payload: bytes) -> bytes:
    """POSTs ``payload`` to the emulator's HTTP invoke endpoint; the status line and body."""
    host, _, rest = url.removeprefix("http://").partition("/")
    address, _, port = host.partition(":")
    head = (
        f"POST /{rest} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((address, int(port)), timeout=60) as sock:
        sock.sendall(head)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(payload)  # may be refused from the header alone
        answer = b""
        while data := sock.recv(65536):
            answer += data
    return answer


@pytest.mark.parametrize(("size", "ok"), [(INVOKE_LIMIT, True), (INVOKE_LIMIT + 1, False)])
async def test_an_invoke_payload_may_be_6_mb_and_not_one_byte_more(size: int, ok: bool) -> None:
    # A JSON string of exactly `size` bytes: the event is the payload as a whole.
    payload = json.dumps("e" * (size - 2)).encode()
    assert len(payload) == size
    async with lambda_function("tests.local.limits_app:app", env=BUFFERED) as function:
        # In a thread: the emulator runs on this test's event loop.
        answer = await asyncio.to_thread(invoke_over_http, function.api.invoke_url, payload)
        await settled(function)

    status = answer.split(b" ", 2)[1]
    if ok:
        assert status == b"200", answer[:300]
    else:
        assert status == b"413", answer[:300]
        assert b"RequestTooLargeException" in answer
