"""An invocation's states, and the registry that holds invocations for a function."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from streamway.aws_contract import error_object
from streamway.local.runtime_api import RECENT_IDS, FunctionConfig, State
from streamway.local.runtime_api.registry import Registry
from streamway.local.runtime_api.socket_stream import SocketStream

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
async def connection() -> AsyncIterator[SocketStream]:
    """The emulator's end of a function's connection (the function's end stays open)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        function = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
    stream = SocketStream(accepted)
    try:
        yield stream
    finally:
        function.close()
        stream.close()


async def test_an_invocation_goes_queued_running_responding_ended(
    connection: SocketStream,
) -> None:
    registry = Registry(FunctionConfig(timeout_s=60))
    invocation = registry.invoke({"n": 1})
    assert invocation.state is State.QUEUED
    assert registry.answerable(invocation.request_id) is None  # not handed out yet

    assert await registry.next_invocation() is invocation
    invocation.hand_out(connection)
    assert invocation.state is State.RUNNING
    assert invocation.deadline_ms is not None
    assert registry.answerable(invocation.request_id) is invocation

    invocation.start_response("buffered", {"content-type": "application/json"}, connection)
    assert invocation.state is State.RESPONDING
    assert await invocation.response_started() == "buffered"

    await invocation.end(None, trailers={"x": "y"})
    result = await invocation.result()
    assert invocation.state is State.ENDED
    assert (result.ok, result.trailers, result.mode) == (True, {"x": "y"}, "buffered")
    assert registry.answerable(invocation.request_id) is None
    assert registry.finished(invocation.request_id)
    assert registry.next_calls  # the `next` was counted


async def test_an_ended_invocation_cannot_be_handed_out_and_keeps_how_it_ended(
    connection: SocketStream,
) -> None:
    registry = Registry(FunctionConfig())
    invocation = registry.invoke({})
    invocation.cancel(error_object("Gateway.Abandoned", "gone"))
    assert invocation.state is State.ENDED
    with pytest.raises(RuntimeError):
        invocation.hand_out(connection)
    invocation.start_response(None, {"late": "1"}, None)  # an /error after the end: ignored
    await invocation.end(error_object("Other", "later"))
    assert invocation.response_headers == {}
    assert invocation.error == error_object("Gateway.Abandoned", "gone")

    # A cancelled invocation is skipped by `next`: the function gets the following one.
    following = registry.invoke({"n": 2})
    assert await asyncio.wait_for(registry.next_invocation(), 1) is following


async def test_the_body_is_read_once() -> None:
    invocation = Registry(FunctionConfig()).invoke({})
    chunks = invocation.chunks()
    invocation.end_now(error_object("X", "y"))
    assert [chunk async for chunk in chunks] == []
    with pytest.raises(RuntimeError):
        await anext(invocation.chunks())


async def test_cancelling_a_running_invocation_hangs_up_the_function(
    connection: SocketStream,
) -> None:
    registry = Registry(FunctionConfig())
    invocation = registry.invoke({})
    (await registry.next_invocation()).hand_out(connection)
    invocation.cancel(error_object("Caller.Disconnected", "gone"))
    assert invocation.stopped
    with pytest.raises(ConnectionResetError):
        await invocation.take_body(connection, 1)
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await connection.readexactly(1)  # the connection was reset


async def test_the_deadline_ends_a_running_invocation_as_timed_out(
    connection: SocketStream,
) -> None:
    registry = Registry(FunctionConfig())
    invocation = registry.invoke({}, timeout_s=0.05)
    (await registry.next_invocation()).hand_out(connection)
    result = await asyncio.wait_for(invocation.result(), 2)
    assert result.error is not None
    assert result.error["errorType"] == "Sandbox.Timedout"


async def test_the_registry_remembers_only_the_latest_finished_ids() -> None:
    registry = Registry(FunctionConfig())
    first = registry.invoke({})
    first.end_now(error_object("X", "y"))
    for _ in range(RECENT_IDS):
        registry.invoke({}).end_now(error_object("X", "y"))
    assert not registry.finished(first.request_id)  # now as unknown as a made-up id
    running = registry.invoke({})
    registry.end_all(error_object("Emulator.Closed", "closed"))
    assert running.done
    assert registry.finished(running.request_id)
