"""streamway's own app, on the real local model, through the runtime and the emulator."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.aws_lambda.fixtures import rest_event
from tests.emulator import http_response
from tests.servers import lambda_function

pytestmark = [pytest.mark.model, pytest.mark.timeout(120)]


async def test_streaming_route_streams_tokens_through_the_runtime() -> None:
    event = rest_event("/streaming", method="POST")
    event["body"] = json.dumps({"request": "Name three colours."})
    event["multiValueHeaders"]["Content-Type"] = ["application/json"]

    # The default STREAMWAY_APP is streamway's own app.
    async with lambda_function("streamway.service.asgi:app", {"STREAMWAY_MAX_TOKENS": "32"}) as fn:
        # Start-up (loading the model) happens before the first `next`.
        await asyncio.wait_for(fn.api.wait_for_first_next(), 60)
        invocation = await fn.api.invoke(event)
        prelude, body = await asyncio.wait_for(http_response(invocation), 60)
        arrivals: list[tuple[float, bytes]] = []
        async for chunk in body:
            arrivals.append((time.perf_counter(), chunk))
        result = await invocation.result()

    assert result.ok, result.error
    assert prelude["statusCode"] == 200
    assert prelude["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert prelude["headers"]["x-request-id"]
    text = b"".join(chunk for _, chunk in arrivals).decode()
    assert text.strip()
    # Token by token: many chunks, spread over time rather than one buffered body.
    assert len(arrivals) >= 8
    # A lower bound, which a slow machine only lengthens.
    assert arrivals[-1][0] - arrivals[0][0] > 0.01
