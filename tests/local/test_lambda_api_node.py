"""AWS's own Node.js runtime interface client (npm ``aws-lambda-ric``) as a function behind
the Lambda API, read with the real boto3 client.

The function is tests/local/node_function/lambda_api.mjs: ``stream`` (``streamifyResponse``)
and ``buffered``. Its pool is a ``FunctionSpec`` whose ``command`` is the Node client, and the
Lambda API (the same ``LambdaApi`` ``streamway local`` mounts) is served by uvicorn in the
test's loop; boto3 runs in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from streamway.local.functions import FunctionPool, FunctionSpec
from streamway.local.lambda_api import LambdaApi
from tests.local.test_lambda_api import lambda_client_at
from tests.local.test_node_ric import FUNCTION, ric_entry

__all__ = ["ric_entry"]  # a fixture, found by pytest in this module

pytestmark = pytest.mark.timeout(1500)  # the first run builds the client (test_node_ric.py)

NAME = "NodeFunction"


@asynccontextmanager
async def node_function(entry: Path, handler: str) -> AsyncIterator[Any]:
    """boto3's ``lambda`` client, pointed at a Lambda API whose one function, ``NodeFunction``,
    runs ``lambda_api.<handler>`` in AWS's Node.js client."""
    spec = FunctionSpec(
        name=NAME,
        invoke_mode="response_stream",
        concurrency=1,
        timeout_s=60,
        command=("node", str(entry)),
        env={"LAMBDA_TASK_ROOT": str(FUNCTION), "_HANDLER": f"lambda_api.{handler}"},
    )
    pool = FunctionPool(spec)
    api = LambdaApi([pool])
    listener = socket.create_server(("127.0.0.1", 0))  # listening: connections queue at once
    port = listener.getsockname()[1]
    config = uvicorn.Config(api, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[listener]))
    try:
        yield lambda_client_at(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await serving
        await api.close()
        await pool.close()
        listener.close()


def _events(response: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for event in response["EventStream"]:
        ((kind, value),) = event.items()
        yield kind, value


async def test_a_node_stream_arrives_chunk_by_chunk_then_invoke_complete(
    ric_entry: Path,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as gate:
        gate.setblocking(False)
        payload = json.dumps({"gate": gate.getsockname()[1], "name": "boto3"})
        async with node_function(ric_entry, "stream") as client:

            def first_chunk() -> tuple[dict[str, Any], Iterator[tuple[str, Any]], bytes]:
                response = client.invoke_with_response_stream(FunctionName=NAME, Payload=payload)
                events = _events(response)
                kind, value = next(events)
                assert kind == "PayloadChunk"
                return response, events, value["Payload"]

            response, events, first = await asyncio.to_thread(first_chunk)
            # The handler now waits at its gate: "world" is not written yet.
            connection, _ = await asyncio.get_running_loop().sock_accept(gate)
            with connection:
                connection.sendall(b"x")
                rest = await asyncio.to_thread(list, events)
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert first == b"hello "
    assert rest == [("PayloadChunk", {"Payload": b"world"}), ("InvokeComplete", {})]


async def test_a_node_stream_that_throws_ends_with_the_error(ric_entry: Path) -> None:
    async with node_function(ric_entry, "stream") as client:

        def read() -> list[tuple[str, Any]]:
            payload = json.dumps({"fail": True})
            response = client.invoke_with_response_stream(FunctionName=NAME, Payload=payload)
            return list(_events(response))

        events = await asyncio.to_thread(read)
    assert events[0] == ("PayloadChunk", {"Payload": b"hello "})
    kind, complete = events[-1]
    assert kind == "InvokeComplete"
    assert (complete["ErrorCode"], complete["ErrorDetails"]) == ("Error", "boom")


async def test_a_node_stream_s_log_tail_has_the_client_s_own_lines(ric_entry: Path) -> None:
    """The Node client formats console.log as Lambda's log does (time, request id, level)."""
    async with node_function(ric_entry, "stream") as client:

        def read() -> tuple[str, list[tuple[str, Any]]]:
            response = client.invoke_with_response_stream(
                FunctionName=NAME, Payload=b'{"name": "tail"}', LogType="Tail"
            )
            return response["ResponseMetadata"]["RequestId"], list(_events(response))

        request_id, events = await asyncio.to_thread(read)
    kind, complete = events[-1]
    assert kind == "InvokeComplete"
    lines = base64.b64decode(complete["LogResult"]).decode().splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert any(line.endswith(f"\t{request_id}\tINFO\tstreaming for tail") for line in lines), lines
    assert lines[-2] == f"END RequestId: {request_id}"
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")


async def test_a_buffered_node_handler_answers_invoke(ric_entry: Path) -> None:
    async with node_function(ric_entry, "buffered") as client:

        def call(event: dict[str, Any]) -> dict[str, Any]:
            response: dict[str, Any] = client.invoke(FunctionName=NAME, Payload=json.dumps(event))
            response["Payload"] = json.loads(response["Payload"].read())
            return response

        ok = await asyncio.to_thread(call, {"name": "boto3"})
        failed = await asyncio.to_thread(call, {"fail": True})
    assert ok["StatusCode"] == 200
    assert "FunctionError" not in ok
    assert ok["Payload"] == {"greeting": "hello boto3"}
    assert failed["StatusCode"] == 200
    assert failed["FunctionError"] == "Unhandled"
    assert (failed["Payload"]["errorType"], failed["Payload"]["errorMessage"]) == (
        "TypeError",
        "no answer",
    )
