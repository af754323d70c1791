"""``streamway local --max-concurrency N``: one function process serves N requests at once,
as an execution environment of Lambda Managed Instances does."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.aws_lambda.concurrent_app import body_of
from tests.servers import streamway_local

pytestmark = pytest.mark.timeout(180)

APP = "tests.aws_lambda.concurrent_app:app"


async def _stream(client: httpx.AsyncClient, url: str, arrived: asyncio.Event) -> bytes:
    """One request: its first line, then (once all four have theirs) the rest."""
    async with client.stream("GET", url) as response:
        assert response.status_code == 200
        chunks = response.aiter_raw()
        body = b""
        async for chunk in chunks:
            body += chunk
            if b"\n" in body:
                break
        arrived.set()
        async for chunk in chunks:
            body += chunk
        return body


async def test_four_concurrent_requests_share_one_sandbox() -> None:
    args = ("--app", APP, "--concurrency", "1", "--max-concurrency", "4")
    with streamway_local(args=args) as running:
        async with httpx.AsyncClient(timeout=120) as client:
            # Each request's first chunk waits in the app until all four sent theirs: they
            # finish only if one process (the only one allowed) serves them at once.
            arrived = [asyncio.Event() for _ in range(4)]
            requests = [
                asyncio.ensure_future(
                    _stream(client, f"{running.url}/gate?group=L&n=4&id=L-{n}", arrived[n])
                )
                for n in range(4)
            ]
            await asyncio.gather(*(event.wait() for event in arrived))
            during = running.functions()["StreamFunction"]
            bodies = await asyncio.gather(*requests)
        after = running.functions()["StreamFunction"]

    for number, body in enumerate(bodies):
        first, rest = body.split(b"\n", 1)
        assert json.loads(first)["at"] == "first"
        assert rest.startswith(body_of(f"L-{number}"))
        assert json.loads(rest[64 * 1024 :])["at"] == "last"
    assert (during["max_concurrency"], after["max_concurrency"]) == (4, 4)
    [sandbox] = during["sandboxes"]
    assert sandbox["max_concurrency"] == 4
    assert sandbox["in_flight"] <= 4  # some may have ended since they passed the gate
    assert after["cold_starts"] == 1
    assert after["throttles"] == 0
    [sandbox] = after["sandboxes"]
    assert sandbox["invocations"] == 4
