"""Managed Instances: one runtime process serving many invocations at once, against the
Runtime API emulator over loopback (``AWS_LAMBDA_MAX_CONCURRENCY`` from its config)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streamway.local.http1 import BodyBytes
from streamway.local.runtime_api import FunctionConfig, Invocation, RuntimeAPIServer
from tests.aws_lambda.concurrent_app import body_of
from tests.aws_lambda.fixtures import http_event, log_records
from tests.emulator import http_response
from tests.servers import lambda_function, start_function_process, stop_process

pytestmark = pytest.mark.timeout(120)

APP = "tests.aws_lambda.concurrent_app:app"


def _trace(number: int) -> str:
    return f"Root=1-5f000000-{number:024x};Parent={number:016x};Sampled=1"


async def _invoke_gated(
    api: RuntimeAPIServer,
    group: str,
    count: int,
    *,
    extra: dict[int, str] | None = None,
    released: bool = False,
) -> list[Invocation]:
    """``count`` streams of the gated app; they wait for each other, or with ``released`` for
    a ``/release`` invocation."""
    extra = extra or {}
    invocations = []
    wanted = 0 if released else count
    for number in range(count):
        query = f"group={group}&n={wanted}&id={group}-{number}" + extra.get(number, "")
        event = http_event("/gate", query=query)
        timeout = 3.0 if "hang=1" in extra.get(number, "") else None
        invocations.append(await api.invoke(event, trace_id=_trace(number), timeout_s=timeout))
    return invocations


async def _first_chunks(
    invocations: list[Invocation],
) -> list[tuple[dict[str, Any], AsyncIterator[BodyBytes]]]:
    """Each invocation's first line (what it saw first) and the rest of its body, read
    concurrently: returns once every invocation sent its first chunk."""

    async def first(invocation: Invocation) -> tuple[dict[str, Any], AsyncIterator[BodyBytes]]:
        prelude, body = await http_response(invocation)
        assert prelude["statusCode"] == 200
        line = b""
        async for chunk in body:
            line += chunk
            if b"\n" in line:
                break
        head, _, rest = line.partition(b"\n")
        assert not rest
        return json.loads(head), body

    return list(await asyncio.gather(*(first(invocation) for invocation in invocations)))


def _ids(seen: dict[str, Any], invocation: Invocation, number: int) -> None:
    assert seen["request_id"] == invocation.request_id
    assert seen["trace_id"] == seen["trace_var"] == _trace(number)
    # Under concurrency the process-wide variable is never one invocation's.
    assert seen["trace_env"] is None


async def test_16_concurrent_streams_in_one_process_interleave_and_keep_their_ids() -> None:
    # 16 streams, and one more loop for the invocation that lets them finish.
    config = FunctionConfig(max_concurrency=17)
    async with lambda_function(APP, config=config) as function:
        invocations = await _invoke_gated(function.api, "a", 16, released=True)
        # Every stream sent its first chunk and none sent its last (they wait to be released):
        # they run at the same time, in one process.
        firsts = await _first_chunks(invocations)
        assert not any(invocation.done for invocation in invocations)
        assert function.api.in_flight == 16
        release = await function.api.invoke(http_event("/release", query="group=a"))
        assert (await release.result()).ok
        rests = [b"".join([chunk async for chunk in body]) for _, body in firsts]
        results = [await invocation.result() for invocation in invocations]
        output = function.output()

    for number, (invocation, (seen, _), rest, result) in enumerate(
        zip(invocations, firsts, rests, results, strict=True)
    ):
        assert result.ok, result.error
        assert seen["at"] == "first"
        _ids(seen, invocation, number)
        middle, last = rest[: 64 * 1024], rest[64 * 1024 :]
        assert middle == body_of(f"a-{number}")
        last_seen = json.loads(last)
        assert last_seen["at"] == "last"
        _ids(last_seen, invocation, number)
    # The app's own log line carries its invocation's request id, never another's.
    said = {
        record["id"]: record["requestId"]
        for record in log_records(output)
        if record.get("message") == "first chunk sent"
    }
    assert said == {f"a-{n}": invocations[n].request_id for n in range(16)}


async def test_a_failure_and_a_deadline_end_only_their_own_invocation() -> None:
    config = FunctionConfig(max_concurrency=4)
    async with lambda_function(APP, config=config) as function:
        invocations = await _invoke_gated(function.api, "b", 4, extra={0: "&fail=1", 1: "&hang=1"})
        firsts = await _first_chunks(invocations)
        rests = [b"".join([chunk async for chunk in body]) for _, body in firsts]
        failed, timed_out, *fine = [await invocation.result() for invocation in invocations]
        # Every loop is free again: four more gated streams need all four at once.
        again = await _invoke_gated(function.api, "c", 4)
        again_results = [await invocation.result() for invocation in again]
        # Each loop logs its access line before it asks again: 4 first asks, 8 more.
        await function.api.wait_for_next_call(12)
        output = function.output()

    assert failed.error is not None
    assert failed.error["errorType"] == "RuntimeError"
    assert rests[0] == b""
    assert timed_out.error is not None
    assert timed_out.error["errorType"] == "Sandbox.Timedout"
    for number, result in enumerate(fine, start=2):
        assert result.ok, result.error
        assert rests[number].startswith(body_of(f"b-{number}"))
    assert all(result.ok for result in again_results)
    # The runtime cancelled the overrunning invocation at its deadline, and only it.
    cancelled = [r for r in log_records(output) if r.get("message") == "cancelled"]
    assert [record["id"] for record in cancelled] == ["b-1"]
    access = {
        record["requestId"]: record["outcome"]
        for record in log_records(output)
        if record.get("logger") == "streamway.aws_lambda.access"
    }
    assert access[invocations[1].request_id] == "timeout"
    assert access[invocations[0].request_id] == "cut"
    assert [access[invocation.request_id] for invocation in invocations[2:] + again] == [
        "complete"
    ] * 6


class DroppingProxy:
    """A loopback TCP relay between the runtime and the emulator that can cut every
    connection it carries, as a network fault between them would."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    async def __aenter__(self) -> DroppingProxy:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        self.drop_all()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def drop_all(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


async def test_a_dropped_runtime_api_connection_is_retried_by_its_loop() -> None:
    config = FunctionConfig(max_concurrency=4)
    async with RuntimeAPIServer(config) as api, DroppingProxy(api.address) as proxy:
        secret = api.runtime_api.partition("/")[2]
        env = {"AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{proxy.port}/{secret}"}
        process, log_path = start_function_process(api.function_env(), APP, env)
        try:
            await api.wait_for_next_call(4)
            proxy.drop_all()  # every loop's long poll is cut
            await api.wait_for_next_call(8)  # and each asks again on a new connection
            invocations = await _invoke_gated(api, "d", 4)
            results = [await invocation.result() for invocation in invocations]
        finally:
            stop_process(process)
        output = log_path.read_text()

    assert all(result.ok for result in results), [result.error for result in results]
    assert proxy.connections >= 8
    retries = [r for r in log_records(output) if "retrying" in str(r.get("message"))]
    assert len(retries) >= 4
    assert process.returncode is not None


async def test_an_app_not_safe_for_concurrency_is_served_one_at_a_time() -> None:
    """``STREAMWAY_MAX_CONCURRENCY=1`` under a Lambda maximum of 4: one loop, and
    ``_X_AMZN_TRACE_ID`` set per invocation again, as Lambda's runtimes do."""
    config = FunctionConfig(max_concurrency=4)
    env = {"STREAMWAY_MAX_CONCURRENCY": "1"}
    async with lambda_function(APP, env, config=config) as function:
        invocations = [
            await function.api.invoke(
                http_event("/gate", query=f"group=e{number}&n=1&id=e-{number}"),
                trace_id=_trace(number),
            )
            for number in range(3)
        ]
        results = [await invocation.result() for invocation in invocations]
        await function.api.wait_for_next_call(4)
        output = function.output()

    for number, (invocation, result) in enumerate(zip(invocations, results, strict=True)):
        assert result.ok, result.error
        lines = result.body.split(b"\x00" * 8, 1)[1].split(b"\n")
        for seen in (json.loads(lines[0]), json.loads(lines[1][64 * 1024 :])):
            assert seen["request_id"] == invocation.request_id
            assert seen["trace_id"] == seen["trace_var"] == seen["trace_env"] == _trace(number)
    assert "serving invocations concurrently" not in output
