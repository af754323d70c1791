"""The STREAM relay on its own: a runtime written with bytes answers through the Runtime API
emulator, and ``relay_stream`` turns what it streams into the ASGI messages a recording
``send`` keeps. Each test writes the stream's bytes exactly (an empty prelude, a run of bytes
without the delimiter, nothing at all), which no real runtime would; the 16 KB bound itself is
tested end to end in ``test_gateway_limits.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest

from streamway.local import gateway_responses as responses
from streamway.local.outcome import GatewayAnswer, Streamed
from streamway.local.runtime_api import Invocation, RuntimeAPIServer
from streamway.local.stream_relay import StreamCut, StreamLimits, relay_stream
from tests.local.runtime_api.test_server import NEXT, STREAM_HEAD, RawClient

pytestmark = pytest.mark.timeout(120)

DELIMITER = b"\x00" * 8
#: API Gateway: the delimiter within the first 16 KB (docs/aws-behaviour.md §1), written out.
PRELUDE_LIMIT = 16_384
#: Longest a test waits for the relay or the function to act; far beyond any of their steps.
PATIENCE_S = 30.0
PATIENT = StreamLimits(total_s=PATIENCE_S, idle_s=PATIENCE_S)


@dataclass
class Recorded:
    """The relay's ``send`` and its ``Progress``: what went to the client, and what it said."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    heads: list[tuple[int, int | None]] = field(default_factory=list)
    head_sent: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = field(default_factory=time.perf_counter)
    content_complete: bool = False

    async def send(self, message: Any) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.start":
            self.head_sent.set()

    def headers_sent(self, status: int, *, content_bytes: int | None = None) -> None:
        self.heads.append((status, content_bytes))

    def content_sent(self, nbytes: int) -> None:
        pass

    @property
    def body(self) -> bytes:
        return b"".join(m["body"] for m in self.messages if m["type"] == "http.response.body")


Function = Callable[[RawClient, str, Recorded], Coroutine[Any, Any, None]]


async def relayed(
    function: Function, *, limits: StreamLimits = PATIENT, head_request: bool = False
) -> tuple[Streamed | GatewayAnswer, Recorded]:
    """Invokes a runtime written as ``function`` (given the client, the request id and the
    recording) and relays its answer; the relay's outcome and the recording."""
    recorded = Recorded()
    async with RuntimeAPIServer() as api:
        client = await RawClient.connect(api)
        invocation: Invocation = await api.invoke({})
        _, headers, _ = await client.exchange(NEXT)
        request_id = headers["lambda-runtime-aws-request-id"]
        runtime = asyncio.create_task(function(client, request_id, recorded))
        try:
            relay = partial(relay_stream, invocation, recorded.send, recorded, limits)
            # Only a HEAD says so: the default is a request with a body.
            if head_request:
                outcome = await relay(gateway_headers=[], head_request=True)
            else:
                outcome = await relay(gateway_headers=[])
            await asyncio.wait_for(runtime, PATIENCE_S)
        finally:
            runtime.cancel()
            await client.close()
    return outcome, recorded


async def stream(client: RawClient, request_id: str, *pieces: bytes) -> None:
    client.write(STREAM_HEAD.format(id=request_id).encode())
    for piece in pieces:
        await stream_more(client, piece)


async def stream_more(client: RawClient, piece: bytes) -> None:
    client.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
    await client.writer.drain()


async def end(client: RawClient) -> None:
    status, _, _ = await client.exchange(b"0\r\n\r\n")
    assert status == 202


def streaming(*pieces: bytes) -> Function:
    async def function(client: RawClient, request_id: str, recorded: Recorded) -> None:
        await stream(client, request_id, *pieces)
        await end(client)

    return function


@pytest.mark.parametrize(("prelude", "status"), [(b"", 200), (b'{"statusCode":201}', 201)])
async def test_the_head_goes_out_on_the_delimiter_then_the_body_and_its_end(
    prelude: bytes, status: int
) -> None:
    async def function(client: RawClient, request_id: str, recorded: Recorded) -> None:
        await stream(client, request_id, prelude + DELIMITER)
        # The head goes out on the delimiter alone, before any body byte is written.
        await asyncio.wait_for(recorded.head_sent.wait(), PATIENCE_S)
        await stream_more(client, b"ok")
        await end(client)

    outcome, recorded = await relayed(function)

    assert isinstance(outcome, Streamed)
    assert recorded.messages[0] == {"type": "http.response.start", "status": status, "headers": []}
    assert recorded.body == b"ok"
    assert recorded.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_a_function_error_before_any_byte_is_502() -> None:
    async def function(client: RawClient, request_id: str, recorded: Recorded) -> None:
        error = b'{"errorMessage":"bad","errorType":"KeyError","stackTrace":[]}'
        status, _, _ = await client.exchange(
            f"POST /2018-06-01/runtime/invocation/{request_id}/error HTTP/1.1\r\n"
            "Host: x\r\nLambda-Runtime-Function-Error-Type: KeyError\r\n"
            f"Content-Length: {len(error)}\r\n\r\n".encode()
            + error
        )
        assert status == 202

    outcome, recorded = await relayed(function)

    assert outcome == GatewayAnswer(responses.BAD_GATEWAY, "function error: KeyError")
    assert recorded.messages == []


@pytest.mark.parametrize("size", [PRELUDE_LIMIT + 8, 20_000])
async def test_16_kb_and_8_bytes_without_the_delimiter_are_500_without_reading_on(
    size: int,
) -> None:
    """The relay decides on the first 16 KB + 8 bytes: a function that then goes quiet (and
    would only be cut by the timeouts) does not hold the answer back."""
    gone_quiet = asyncio.Event()

    async def function(client: RawClient, request_id: str, recorded: Recorded) -> None:
        await stream(client, request_id, b"{" + b" " * (size - 2) + b"}")
        gone_quiet.set()

    outcome, recorded = await relayed(function)

    assert gone_quiet.is_set()
    assert outcome == GatewayAnswer(
        responses.INTERNAL_ERROR, "no 8-NUL delimiter within the first 16 KB"
    )
    assert recorded.messages == []


async def test_a_function_silent_before_its_prelude_is_an_integration_timeout() -> None:
    async def function(client: RawClient, request_id: str, recorded: Recorded) -> None:
        client.write(STREAM_HEAD.format(id=request_id).encode())
        await client.writer.drain()

    outcome, recorded = await relayed(function, limits=StreamLimits(total_s=0.5, idle_s=0.5))

    assert outcome == GatewayAnswer(
        responses.INTEGRATION_TIMEOUT, "integration timeout before the prelude"
    )
    assert recorded.messages == []


@pytest.mark.parametrize(
    ("prelude", "head_request", "content_bytes"),
    [
        (b'{"headers":{"content-length":"2"}}', False, 2),
        (b'{"headers":{"content-length":"2"}}', True, 0),
        (b"{}", False, None),
        (b"{}", True, 0),
    ],
)
async def test_the_progress_learns_the_bodys_length_and_a_head_request_has_none(
    prelude: bytes, head_request: bool, content_bytes: int | None
) -> None:
    outcome, recorded = await relayed(
        streaming(prelude + DELIMITER, b"ok"), head_request=head_request
    )

    assert isinstance(outcome, Streamed)
    assert recorded.heads == [(200, content_bytes)]


async def test_a_stream_that_ends_before_its_delimiter_is_500() -> None:
    outcome, recorded = await relayed(streaming(b'{"statusCode":201}'))

    assert outcome == GatewayAnswer(
        responses.INTERNAL_ERROR, "no 8-NUL delimiter within the first 16 KB"
    )
    assert recorded.messages == []


async def test_a_prelude_that_is_not_a_json_object_is_500() -> None:
    outcome, recorded = await relayed(streaming(b"[]" + DELIMITER, b"ok"))

    assert isinstance(outcome, GatewayAnswer)
    assert outcome.response == responses.INTERNAL_ERROR
    assert (outcome.reason or "").startswith("bad prelude: ")
    assert recorded.messages == []


async def test_body_bytes_that_come_with_the_prelude_follow_its_delimiter() -> None:
    # One chunk, a prelude of 14 bytes: the body starts at byte 14 + 8.
    outcome, recorded = await relayed(streaming(b'{"headers":{}}' + DELIMITER + b"ok"))

    assert isinstance(outcome, Streamed)
    assert recorded.body == b"ok"


async def test_a_stream_that_goes_quiet_after_its_head_is_cut() -> None:
    async def function(client: RawClient, request_id: str, recorded: Recorded) -> None:
        await stream(client, request_id, b"{}" + DELIMITER, b"ok")

    with pytest.raises(StreamCut, match="timed out"):
        await relayed(function, limits=StreamLimits(total_s=PATIENCE_S, idle_s=0.5))
