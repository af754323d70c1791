"""The runtime in a real process against the Runtime API emulator, over loopback sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest

from streamway.local.runtime_api import FunctionConfig, split_prelude
from tests.aws_lambda.fixtures import http_event, log_records, rest_event
from tests.emulator import http_response
from tests.servers import lambda_function
from tests.tcp_state import zero_window_probes

DELIMITER = b"\x00" * 8
STREAMING_REQUEST_HEADERS = {
    "lambda-runtime-function-response-mode": "streaming",
    "transfer-encoding": "chunked",
    "trailer": "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
    "content-type": "application/vnd.awslambda.http-integration-response",
}

pytestmark = pytest.mark.timeout(60)


def _without_host(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name != "host"}


async def test_prelude_delimiter_and_body_exact_bytes() -> None:
    async with lambda_function() as function:
        result = await (await function.api.invoke(http_event("/headers"))).result()
        rest = await (await function.api.invoke(rest_event("/headers"))).result()

    assert result.ok, result.error
    assert result.mode == "streaming"
    assert _without_host(result.response_headers) == STREAMING_REQUEST_HEADERS
    # Payload 2.0: repeated headers joined, Set-Cookie in `cookies`; then 8 NULs, then the body.
    assert result.chunks == [
        b'{"statusCode":201,"headers":{"content-type":"text/plain; charset=utf-8",'
        b'"x-repeated":"one,two"},"cookies":["a=1; Path=/","b=2; HttpOnly"]}',
        DELIMITER,
        b"hello",
    ]
    # REST (payload 1.0): single values in `headers`, repeats in `multiValueHeaders`.
    assert rest.ok, rest.error
    assert rest.body == (
        b'{"statusCode":201,"headers":{"content-type":"text/plain; charset=utf-8"},'
        b'"multiValueHeaders":{"x-repeated":["one","two"]},'
        b'"cookies":["a=1; Path=/","b=2; HttpOnly"]}' + DELIMITER + b"hello"
    )
    assert split_prelude(rest.body) == (
        {
            "statusCode": 201,
            "headers": {"content-type": "text/plain; charset=utf-8"},
            "multiValueHeaders": {"x-repeated": ["one", "two"]},
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
        },
        b"hello",
    )


async def test_first_body_byte_leaves_before_the_handler_finishes() -> None:
    async with lambda_function() as function:
        invocation = await function.api.invoke(http_event("/slow", query="pause=1.5"))
        prelude, body = await http_response(invocation)
        first = await anext(body)
        first_at = time.perf_counter()
        assert (prelude, first) == (
            {"statusCode": 200, "headers": {"content-type": "text/plain"}},
            b"first",
        )
        # The app is still sleeping: the invocation has not finished.
        assert not invocation.done
        assert [chunk async for chunk in body] == [b"last"]
        ended_at = time.perf_counter()
        await invocation.result()
    # A lower bound (the app pauses 1.5 s between its chunks), which a slow machine can only
    # lengthen: the first chunk was not held back until the end.
    assert ended_at - first_at > 1.0


async def test_failure_mid_stream_ends_with_error_trailers() -> None:
    async with lambda_function() as function:
        result = await (await function.api.invoke(http_event("/abort"))).result()
        incomplete = await (await function.api.invoke(http_event("/incomplete"))).result()

    prelude, body = split_prelude(result.body)
    assert prelude["statusCode"] == 200
    # What was sent stays sent; the failure is in real trailers, not in the body.
    assert body == b"partial answer"
    assert set(result.trailers) == {
        "lambda-runtime-function-error-type",
        "lambda-runtime-function-error-body",
    }
    assert result.trailers["lambda-runtime-function-error-type"] == "StreamAborted"
    error = json.loads(base64.b64decode(result.trailers["lambda-runtime-function-error-body"]))
    assert error["errorType"] == "StreamAborted"
    assert error["errorMessage"] == "the model failed after the response started"
    assert isinstance(error["trace"], list)
    assert any("raise StreamAborted" in line for line in error["trace"])
    assert result.error == error

    # An app that returns without finishing its body has failed too.
    assert split_prelude(incomplete.body)[1] == b"cut"
    assert incomplete.trailers["lambda-runtime-function-error-type"] == "IncompleteResponse"


async def test_failure_before_streaming_uses_the_error_endpoint() -> None:
    async with lambda_function() as function:
        result = await (await function.api.invoke(http_event("/fail-early"))).result()
        # The function goes on serving after a failed invocation.
        after = await (await function.api.invoke(http_event("/headers"))).result()

    assert result.mode is None
    assert result.body == b""
    assert result.response_headers["lambda-runtime-function-error-type"] == "ValueError"
    assert result.error is not None
    assert result.error["errorType"] == "ValueError"
    assert result.error["errorMessage"] == "failed before any response"
    assert after.ok


@pytest.mark.parametrize(
    ("app", "error_type", "message"),
    [
        ("tests.aws_lambda.apps:missing", "Runtime.ImportModuleError", "has no attribute"),
        ("tests.aws_lambda.apps:failing_lifespan", "LifespanFailed", "model file is missing"),
        ("tests.aws_lambda.apps:lifespan_crash", "RuntimeError", "connect to the database"),
    ],
)
async def test_start_up_failure_uses_init_error(app: str, error_type: str, message: str) -> None:
    async with lambda_function(app) as function:
        error = await asyncio.wait_for(function.api.wait_for_init_error(), 30)
        assert await asyncio.to_thread(function.process.wait, 10) == 1
    assert function.api.init_error_type == error_type
    assert error["errorType"] == error_type
    assert message in error["errorMessage"]
    assert function.api.next_calls == []


async def test_an_app_without_lifespan_support_is_served() -> None:
    async with lambda_function("tests.aws_lambda.apps:no_lifespan") as function:
        result = await (await function.api.invoke(http_event("/"))).result()
    assert split_prelude(result.body)[1] == b"no lifespan needed"


async def test_empty_body_still_sends_prelude_and_delimiter() -> None:
    async with lambda_function() as function:
        result = await (await function.api.invoke(http_event("/empty"))).result()
    assert result.ok
    assert result.chunks == [b'{"statusCode":204,"headers":{}}', DELIMITER]


async def test_binary_body_streamed_as_is_and_base64_when_buffered() -> None:
    expected = bytes(range(256)) * 4 + DELIMITER + b"\xff\xfe"
    async with lambda_function() as function:
        streamed = await (await function.api.invoke(rest_event("/binary"))).result()
    async with lambda_function(env={"STREAMWAY_LAMBDA_INVOKE_MODE": "buffered"}) as function:
        buffered = await (await function.api.invoke(rest_event("/binary"))).result()

    prelude, body = split_prelude(streamed.body)
    assert prelude == {"statusCode": 200, "headers": {"content-type": "application/octet-stream"}}
    assert body == expected
    assert buffered.mode == "buffered"
    assert buffered.response_headers["content-type"] == "application/json"
    assert json.loads(buffered.body) == {
        "statusCode": 200,
        "headers": {"content-type": "application/octet-stream"},
        "multiValueHeaders": {},
        "body": base64.b64encode(expected).decode(),
        "isBase64Encoded": True,
    }


async def test_buffered_mode_and_non_http_events() -> None:
    async with lambda_function(env={"AWS_LWA_INVOKE_MODE": "buffered"}) as function:
        rest = await (await function.api.invoke(rest_event("/headers"))).result()
        url = await (await function.api.invoke(http_event("/headers"))).result()
        sqs = await (await function.api.invoke({"Records": [{"body": "hi"}]})).result()

    assert json.loads(rest.body) == {
        "statusCode": 201,
        "headers": {"content-type": "text/plain; charset=utf-8"},
        "multiValueHeaders": {
            "x-repeated": ["one", "two"],
            "set-cookie": ["a=1; Path=/", "b=2; HttpOnly"],
        },
        "body": "hello",
        "isBase64Encoded": False,
    }
    assert json.loads(url.body) == {
        "statusCode": 201,
        "headers": {"content-type": "text/plain; charset=utf-8", "x-repeated": "one,two"},
        "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
        "body": "hello",
        "isBase64Encoded": False,
    }
    # Non-HTTP events go to the pass-through path as JSON; the response body is the result.
    answer = json.loads(sqs.body)
    assert (answer["method"], answer["path"]) == ("POST", "/events")
    assert json.loads(answer["body"]) == {"Records": [{"body": "hi"}]}


async def test_context_trace_id_and_one_lifespan_per_process() -> None:
    async with lambda_function() as function:
        invocations = [await function.api.invoke(http_event("/context")) for _ in range(3)]
        results = [await invocation.result() for invocation in invocations]

    answers = [json.loads(split_prelude(result.body)[1]) for result in results]
    for invocation, answer in zip(invocations, answers, strict=True):
        assert answer["request_id"] == invocation.request_id
        assert answer["trace_id_env"] == invocation.trace_id
        assert answer["deadline_ms"] == invocation.deadline_ms
        assert answer["function_arn"] == function.api.config.arn
        assert 0 < answer["remaining_ms"] <= function.api.config.timeout_s * 1000
    assert {answer["pid"] for answer in answers} == {function.process.pid}
    assert [answer["lifespan_startups"] for answer in answers] == [1, 1, 1]
    assert [answer["event_loops"] for answer in answers] == [1, 1, 1]


@pytest.mark.parametrize(
    ("setting", "module"), [("auto", "uvloop"), ("uvloop", "uvloop"), ("asyncio", "asyncio")]
)
async def test_the_loop_setting_picks_the_event_loop(setting: str, module: str) -> None:
    async with lambda_function(env={"STREAMWAY_LOOP": setting}) as function:
        result = await (await function.api.invoke(http_event("/context"))).result()
    assert result.ok, result.error
    assert json.loads(split_prelude(result.body)[1])["loop_module"].split(".")[0] == module


async def test_100_mb_body_streams_with_bounded_memory() -> None:
    size = 100 * 1024 * 1024
    async with lambda_function() as function:
        await asyncio.wait_for(function.api.wait_for_first_next(), 30)
        idle_rss = function.peak_rss_kib()
        invocation = await function.api.invoke(http_event("/large", query="mib=100"))
        prelude, body = await http_response(invocation)
        received = 0
        async for chunk in body:
            if received == 0:
                # A reader that stalls: the function must wait, not buffer the rest. It
                # waits once its connection probes the reader's shut receive window.
                await _blocked_in_a_write(function.process.pid)
            received += len(chunk)
        result = await invocation.result()
        peak_rss = function.peak_rss_kib()

    assert result.ok, result.error
    assert prelude["statusCode"] == 200
    assert received == size
    # The app's 1 MiB chunk, the socket buffer bound and some slack; not the 100 MB body.
    assert peak_rss - idle_rss < 16 * 1024, (idle_rss, peak_rss)


async def _blocked_in_a_write(pid: int, timeout_s: float = 60) -> None:
    """Waits until a process's connection probes its peer's shut receive window; the timeout
    only turns a hang into a failure."""
    deadline = time.monotonic() + timeout_s
    while zero_window_probes(pid=pid) is None:
        assert time.monotonic() < deadline, f"the function did not block within {timeout_s} s"
        await asyncio.sleep(0.02)


# --- when the Runtime API ends an invocation (streamway local's caller left) ---------------


def _said(output: str, request_id: str) -> list[tuple[object, object]]:
    """(level, message) of the runtime's non-INFO lines about one invocation (in Lambda's
    JSON log fields: ``requestId``; lines without a level are metric lines)."""
    return [
        (record["level"], record["message"])
        for record in log_records(output)
        if request_id in (record.get("request_id"), record.get("requestId"))
        and record.get("level", "INFO") != "INFO"
    ]


async def test_a_hung_up_stream_is_one_warning_and_the_runtime_goes_on() -> None:
    """The emulator hangs up a streaming answer whose caller left (its connection is reset):
    the app stops as it does for a client that left, the runtime says so once as a warning
    (no error trailers, no /error that would get 410) and takes the next invocation."""
    async with lambda_function() as function:
        invocation = await function.api.invoke(http_event("/large", query="mib=200"))
        _, body = await http_response(invocation)
        await anext(body)  # the app is streaming
        invocation.cancel({"errorType": "Gateway.Abandoned", "errorMessage": "the client left"})
        following = await (await function.api.invoke(http_event("/headers"))).result()
        output = function.output()

    assert following.ok, following.error
    [(level, message)] = _said(output, invocation.request_id)
    assert level == "WARNING"
    assert "ended the invocation" in str(message)
    assert not [record for record in log_records(output) if record.get("level") == "ERROR"]


async def test_a_buffered_answer_after_its_invocation_ended_is_a_warning() -> None:
    """A buffered function that answers after its invocation timed out gets 410 Gone, which
    the runtime notes as a warning (the invocation is over, through no fault of the
    function's answer), not as an error, and it goes on to the next invocation."""
    env = {"STREAMWAY_LAMBDA_INVOKE_MODE": "buffered"}
    async with lambda_function(env=env, config=FunctionConfig(timeout_s=0.5)) as function:
        invocation = await function.api.invoke(http_event("/slow", query="pause=1.5"))
        timed_out = await invocation.result()
        following = await (await function.api.invoke(http_event("/headers"))).result()
        output = function.output()

    assert (timed_out.error or {}).get("errorType") == "Sandbox.Timedout"
    assert following.ok, following.error
    [(level, message)] = _said(output, invocation.request_id)
    assert level == "WARNING"
    assert "no longer takes" in str(message)
    assert not [record for record in log_records(output) if record.get("level") == "ERROR"]
