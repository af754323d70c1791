"""A plain handler and Node's ``streamifyResponse`` handler give the caller the same bytes.

The Node.js function is AWS's own runtime interface client (npm ``aws-lambda-ric``) with
tests/local/node_function/index.mjs; ``tests.aws_lambda.handlers.like_node`` is the same
handler in Python. Both run against the Runtime API emulator, and the invocations' streams
(prelude, delimiter and body), and how a failure after the first write ends, must match.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streamway.local.runtime_api import InvocationResult, RuntimeAPIServer
from tests.aws_lambda.fixtures import http_event
from tests.local.test_node_ric import _start, node_function, ric_entry
from tests.servers import lambda_function, stop_process

__all__ = ["node_function", "ric_entry"]  # fixtures, found by pytest in this module

EVENTS = (http_event("/ok"), http_event("/fail"))


async def _node_results(entry: Path, env: dict[str, str]) -> list[InvocationResult]:
    async with RuntimeAPIServer() as api:
        process = _start(entry, {**api.function_env(with_secret=False), **env})
        api.admit(process.pid)
        try:
            return [await (await api.invoke(event)).result() for event in EVENTS]
        finally:
            await asyncio.to_thread(stop_process, process)


async def _python_results() -> list[InvocationResult]:
    env = {"STREAMWAY_HANDLER": "tests.aws_lambda.handlers.like_node"}
    async with lambda_function(None, env=env) as function:
        return [await (await function.api.invoke(event)).result() for event in EVENTS]


@pytest.mark.timeout(1500)
async def test_a_plain_handler_streams_what_node_streams(
    node_function: tuple[Path, dict[str, Any]],
) -> None:
    node_ok, node_failed = await _node_results(*node_function)
    ok, failed = await _python_results()

    assert ok.ok, ok.error
    assert node_ok.ok, node_ok.error
    assert ok.body == node_ok.body
    for name in ("lambda-runtime-function-response-mode", "content-type", "transfer-encoding"):
        assert ok.response_headers[name] == node_ok.response_headers[name], name
    # A failure after the first write: the same bytes, then error trailers in both.
    assert failed.body == node_failed.body
    assert set(failed.trailers) == set(node_failed.trailers)
    assert failed.error is not None
    assert node_failed.error is not None
    assert failed.error["errorMessage"] == node_failed.error["errorMessage"] == "boom"
