"""Plain handlers (``STREAMWAY_HANDLER``) in a real runtime process against the Runtime API
emulator: the three shapes, for REST proxy, function URL and direct events, streamed and
buffered, their failures, a caller that leaves, and the init errors."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from streamway.local.runtime_api import Invocation, split_prelude
from tests.aws_lambda.fixtures import http_event, log_records, rest_event
from tests.emulator import http_response
from tests.servers import RunningFunction, lambda_function

pytestmark = pytest.mark.timeout(90)

FORMS = ("async_generator", "generator", "stream")
KINDS = ("rest", "url", "direct")


@asynccontextmanager
async def handler_function(
    name: str, env: Mapping[str, str] | None = None, **options: Any
) -> AsyncIterator[RunningFunction]:
    """The runtime serving ``tests.aws_lambda.handlers.<name>`` (and no STREAMWAY_APP)."""
    handler_env = {"STREAMWAY_HANDLER": f"tests.aws_lambda.handlers.{name}", **(env or {})}
    async with lambda_function(None, env=handler_env, **options) as function:
        yield function


def event_of(kind: str, **params: object) -> dict[str, Any]:
    """A REST proxy, function URL or direct event carrying ``params`` for the handler."""
    values = {name: str(value) for name, value in params.items()}
    if kind == "direct":
        return {"job": "direct", **values}
    event = rest_event("/stream") if kind == "rest" else http_event("/stream")
    event["queryStringParameters"] = values
    event["multiValueQueryStringParameters"] = {name: [v] for name, v in values.items()}
    if kind == "url":
        event["rawQueryString"] = urlencode(values)
    return event


class Gate:
    """A loopback port a handler waits at (it reads one byte) until :meth:`open`."""

    def __init__(self) -> None:
        self.port = 0
        self._waiting: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def __aenter__(self) -> Gate:
        self._server = await asyncio.start_server(self._arrived, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()

    async def _arrived(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._waiting.put(writer)

    async def open(self) -> None:
        writer = await self._waiting.get()
        writer.write(b"go")
        await writer.drain()
        writer.close()


async def first_then_rest(
    invocation: Invocation, kind: str, gate: Gate
) -> tuple[dict[str, Any] | None, bytes, bytes]:
    """(prelude, first chunk, the rest): the rest only after the first arrived and the
    gate the handler waits at was opened."""
    prelude: dict[str, Any] | None = None
    if kind == "direct":
        body = invocation.chunks()
    else:
        prelude, body = await http_response(invocation)
    first = await anext(body)
    # The handler is at the gate: the first chunk left before the handler finished.
    assert not invocation.done
    await gate.open()
    rest = b"".join([chunk async for chunk in body])
    return prelude, first, rest


def expected_head(form: str) -> tuple[int, dict[str, str], list[str]]:
    """The status, single headers and cookies each form answers with."""
    if form == "stream":
        headers = {"content-type": "text/event-stream", "x-handler": "stream"}
        return 201, headers, ["a=1; Path=/", "b=2"]
    text = form == "async_generator"  # it yields str; the generator yields bytes
    content_type = "text/plain; charset=utf-8" if text else "application/octet-stream"
    return 200, {"content-type": content_type}, []


@pytest.mark.parametrize("form", FORMS)
async def test_each_form_streams_each_event_kind_as_it_is_produced(form: str) -> None:
    status, headers, cookies = expected_head(form)
    async with handler_function(form) as function:
        for kind in KINDS:
            async with Gate() as gate:
                invocation = await function.api.invoke(event_of(kind, gate=gate.port))
                prelude, first, rest = await first_then_rest(invocation, kind, gate)
            result = await invocation.result()

            assert result.ok, (kind, result.error)
            assert (first, rest) == (b"first ", b"second"), kind
            assert result.mode == "streaming"
            if kind == "direct":
                # No prelude: the bytes are the result, under the handler's content type.
                assert prelude is None
                assert result.response_headers["content-type"] == headers["content-type"]
                continue
            assert result.response_headers["content-type"] == (
                "application/vnd.awslambda.http-integration-response"
            )
            expected: dict[str, Any] = {"statusCode": status, "headers": headers}
            if cookies:
                expected["cookies"] = cookies
            assert prelude == expected, kind


@pytest.mark.parametrize("form", FORMS)
async def test_a_failure_before_the_first_byte_is_a_function_error_after_it_trailers(
    form: str,
) -> None:
    async with handler_function(form) as function:
        early = {kind: await _result(function, event_of(kind, fail="early")) for kind in KINDS}
        late = {kind: await _result(function, event_of(kind, fail="late")) for kind in KINDS}
        after = await _result(function, event_of("url"))  # the function goes on

    for kind, result in early.items():
        assert result.mode is None, kind  # /error, not a response
        assert result.response_headers["lambda-runtime-function-error-type"] == "ValueError"
        assert result.error is not None
        assert (result.error["errorType"], result.error["errorMessage"]) == (
            "ValueError",
            "no answer for this one",
        )
    for kind, result in late.items():
        # What was sent stays sent; the failure is in real trailers.
        body = result.body if kind == "direct" else split_prelude(result.body)[1]
        assert body == b"first ", kind
        assert result.trailers["lambda-runtime-function-error-type"] == "RuntimeError"
        error = json.loads(base64.b64decode(result.trailers["lambda-runtime-function-error-body"]))
        assert (error["errorType"], error["errorMessage"]) == (
            "RuntimeError",
            "broke after the first chunk",
        )
        assert result.error == error
    assert after.ok, after.error


async def _result(function: RunningFunction, event: dict[str, Any]) -> Any:
    return await (await function.api.invoke(event)).result()


@pytest.mark.parametrize("form", FORMS)
async def test_buffered_mode_collects_the_output_into_the_proxy_response(form: str) -> None:
    status, headers, cookies = expected_head(form)
    env = {"STREAMWAY_LAMBDA_INVOKE_MODE": "buffered"}
    async with handler_function(form, env) as function:
        rest, url, direct, failed = [
            await _result(function, event)
            for event in (
                event_of("rest"),
                event_of("url"),
                event_of("direct"),
                event_of("url", fail="late"),
            )
        ]

    text = headers["content-type"] != "application/octet-stream"
    body = "first second" if text else base64.b64encode(b"first second").decode()
    assert rest.mode == url.mode == direct.mode == "buffered"
    assert json.loads(rest.body) == {
        "statusCode": status,
        "headers": headers,
        "multiValueHeaders": {"set-cookie": cookies} if cookies else {},
        "body": body,
        "isBase64Encoded": not text,
    }
    assert json.loads(url.body) == {
        "statusCode": status,
        "headers": headers,
        "cookies": cookies,
        "body": body,
        "isBase64Encoded": not text,
    }
    assert direct.body == b"first second"
    # Nothing left the function yet: a failure at any point is a function error.
    assert failed.error is not None
    assert failed.error["errorType"] == "RuntimeError"


@pytest.mark.parametrize("name", ["endless_async", "endless", "endless_stream"])
async def test_a_caller_that_goes_away_stops_the_handler(name: str) -> None:
    async with handler_function(name) as function:
        invocation = await function.api.invoke(event_of("url"))
        _, body = await http_response(invocation)
        await anext(body)  # the handler is streaming
        invocation.cancel({"errorType": "Gateway.Abandoned", "errorMessage": "the client left"})
        # One invocation at a time: the next one is served after the first was stopped.
        following = await _result(function, event_of("direct", count=1))
        output = function.output()

    assert following.ok, following.error
    assert following.body == b"x" * 1024 * 1024
    records = log_records(output)
    said = [
        record["message"]
        for record in records
        if invocation.request_id in (record.get("requestId"), record.get("request_id"))
        and record.get("level") != "INFO"
    ]
    assert len(said) == 2, said
    assert said[0] == f"{name} closed"  # the handler stopped first, then the runtime said why
    assert "ended the invocation" in said[1]
    assert not [record for record in records if record.get("level") == "ERROR"]


async def test_a_generator_runs_in_the_worker_thread_not_on_the_event_loop() -> None:
    async with handler_function("thread_name") as function:
        result = await _result(function, event_of("direct"))
    assert result.body.startswith(b"streamway-handler"), result.body


async def test_a_chunk_that_is_neither_bytes_nor_str_is_a_function_error() -> None:
    async with handler_function("yields_a_number") as function:
        result = await _result(function, event_of("url"))
    assert result.error is not None
    assert result.error["errorType"] == "TypeError"
    assert "bytes or str, not int" in result.error["errorMessage"]


async def test_a_buffered_body_past_6_mb_fails_as_lambda_fails_it_and_stops_the_handler() -> None:
    env = {"STREAMWAY_LAMBDA_INVOKE_MODE": "buffered"}
    async with handler_function("endless", env) as function:
        invocation = await function.api.invoke(event_of("rest", count=100))
        result = await invocation.result()
        output = function.output()
    assert result.error is not None
    assert result.error["errorType"] == "Function.ResponseSizeTooLarge"
    assert "6291456 bytes" in result.error["errorMessage"]
    # Refused at the chunk that passed the limit: the generator was closed there, not run
    # to its end with the body held in memory.
    [closed] = [r for r in log_records(output) if r.get("message") == "endless closed"]
    assert closed["sent"] == 6


# --- start-up failures: Lambda's init error, and one log line that names the cause -----------

BROKEN = "def handler(event, context:\n    yield b''\n"


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("tests.aws_lambda.no_such_module.handler", "Runtime.ImportModuleError", "no_such"),
        ("tests.aws_lambda.handlers.missing", "Runtime.HandlerNotFound", "no attribute"),
        ("tests.aws_lambda.handlers:NOT_CALLABLE", "Runtime.HandlerNotFound", "not callable"),
        (
            "tests.aws_lambda.handlers.plain_function",
            "Runtime.MalformedStreamingHandler",
            "(event, context, stream)",
        ),
        (
            "tests.aws_lambda.handlers.two_arguments",
            "Runtime.MalformedStreamingHandler",
            "(event, context, stream)",
        ),
        ("handler_without_a_module", "Runtime.MalformedHandlerName", "module.function"),
        ("broken_syntax.handler", "Runtime.UserCodeSyntaxError", "broken_syntax"),
        ("both", "Runtime.MalformedHandlerName", "both set"),
    ],
)
async def test_a_handler_that_cannot_start_posts_the_init_error_lambda_expects(
    handler: str, error_type: str, message: str, tmp_path: Path
) -> None:
    (tmp_path / "broken_syntax.py").write_text(BROKEN)
    env = {"STREAMWAY_HANDLER": handler, "PYTHONPATH": f"{tmp_path}:{Path.cwd()}"}
    app = None
    if handler == "both":
        app, env["STREAMWAY_HANDLER"] = (
            "tests.aws_lambda.apps:app",
            "tests.aws_lambda.handlers.stream",
        )
    async with lambda_function(app, env=env) as function:
        error = await asyncio.wait_for(function.api.wait_for_init_error(), 30)
        assert await asyncio.to_thread(function.process.wait, 10) == 1
        output = function.output()
    assert function.api.init_error_type == error_type
    assert error["errorType"] == error_type
    assert message in error["errorMessage"]
    assert function.api.next_calls == []
    _assert_one_line_naming(output, error_type, message)


@pytest.mark.parametrize(
    ("app", "error_type", "message"),
    [
        ("tests.aws_lambda.apps:missing", "Runtime.ImportModuleError", "has no attribute"),
        ("tests.aws_lambda.apps:failing_lifespan", "LifespanFailed", "model file is missing"),
        ("tests.aws_lambda.apps:lifespan_crash", "RuntimeError", "connect to the database"),
    ],
)
async def test_an_app_that_cannot_start_is_one_log_line(
    app: str, error_type: str, message: str
) -> None:
    async with lambda_function(app) as function:
        await asyncio.wait_for(function.api.wait_for_init_error(), 30)
        assert await asyncio.to_thread(function.process.wait, 10) == 1
        output = function.output()
    _assert_one_line_naming(output, error_type, message)


def _assert_one_line_naming(output: str, error_type: str, message: str) -> None:
    """One ERROR record, whose message names the error type and the cause; no traceback
    printed on its own lines (a crash's trace is the record's ``stackTrace`` field)."""
    [record] = [record for record in log_records(output) if record.get("level") == "ERROR"]
    assert error_type in record["message"], record
    assert message in record["message"], record
    assert not [line for line in output.splitlines() if line.startswith("Traceback")], output
