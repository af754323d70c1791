"""The request cycle's steps before a function runs, in-process: route, payload limit,
auth, body, sandbox; each ends in the gateway's answer and one metering record. (The
invoke and relay steps run against real function processes in test_gateway.py.)"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from starlette.types import Message

from streamway.local.gateway import LocalGateway
from streamway.local.options import LocalOptions
from streamway.local.request_cycle import path_in_stage
from streamway.local.server import build_gateway
from tests.local.asgi_driver import call

API = Path(__file__).with_name("api.yaml")
MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'


def gateway(**options: object) -> LocalGateway:
    return build_gateway(LocalOptions(definition=API, **options))  # type: ignore[arg-type]


async def test_an_unknown_route_is_403_and_one_record_without_an_invocation() -> None:
    local = gateway()
    reply = await call(local, "GET", "/dev/nope")

    assert (reply.status, reply.body) == (403, MISSING_TOKEN)
    assert reply.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    (record,) = local.meter.recent
    assert record.request_id == reply.headers["x-amzn-requestid"]
    assert (record.path, record.resource, record.stage) == ("/nope", "-", "dev")
    assert (record.status, record.bytes_out) == (403, len(MISSING_TOKEN))
    assert record.function_duration_ms is None
    assert record.completed


async def test_a_path_outside_the_stage_is_recorded_as_sent() -> None:
    local = gateway()
    reply = await call(local, "GET", "/prod/stream/x")
    assert reply.status == 403
    assert local.meter.recent[-1].path == "/prod/stream/x"


async def test_a_declared_length_over_the_limit_is_413_on_the_matched_route() -> None:
    local = gateway(max_request_bytes=10)
    reply = await call(local, "POST", "/dev/stream/x", headers=[("content-length", "11")])

    assert (reply.status, reply.body) == (413, b'{"message":"Request Too Long"}')
    record = local.meter.recent[-1]
    assert (record.resource, record.transfer_mode) == ("/stream/{proxy+}", "STREAMED")


async def test_a_chunked_body_is_413_once_it_passes_the_limit() -> None:
    local = gateway(max_request_bytes=10)
    pieces: list[Message] = [
        {"type": "http.request", "body": b"x" * 6, "more_body": True},
        {"type": "http.request", "body": b"x" * 6, "more_body": True},
    ]
    reply = await call(local, "POST", "/dev/buffered/x", messages=pieces)
    assert reply.status == 413
    assert local.meter.recent[-1].transfer_mode == "BUFFERED"


async def test_a_stalled_body_is_408_and_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    local = gateway(body_timeout_s=0.05)
    first: list[Message] = [{"type": "http.request", "body": b"x", "more_body": True}]
    with caplog.at_level(logging.WARNING, logger="streamway.local.gateway"):
        reply = await call(local, "POST", "/dev/buffered/x", messages=first)

    assert (reply.status, reply.headers["connection"]) == (408, "close")
    (line,) = [r for r in caplog.records if r.getMessage().startswith("request failed")]
    assert "no part of the request body arrived for 0.05 s" in line.getMessage()
    assert line.__dict__["request_id"] == reply.headers["x-amzn-requestid"]


async def test_a_client_gone_while_the_body_comes_is_an_incomplete_record() -> None:
    local = gateway()
    messages: list[Message] = [
        {"type": "http.request", "body": b"x", "more_body": True},
        {"type": "http.disconnect"},
    ]
    reply = await call(local, "POST", "/dev/buffered/x", messages=messages)

    assert reply.status == 0  # nothing was sent
    record = local.meter.recent[-1]
    assert (record.status, record.completed) == (0, False)


async def test_a_function_at_its_concurrency_limit_is_500_with_its_memory_metered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    local = gateway(concurrency=0, memory_mb=512)
    with caplog.at_level(logging.WARNING, logger="streamway.local.gateway"):
        reply = await call(local, "GET", "/dev/buffered/x")

    assert (reply.status, reply.body) == (500, b'{"message": "Internal server error"}')
    record = local.meter.recent[-1]
    assert (record.memory_mb, record.function_duration_ms) == (512, None)
    assert any("Lambda throttled" in r.getMessage() for r in caplog.records)


async def test_auth_refuses_before_the_body_is_read(caplog: pytest.LogCaptureFixture) -> None:
    local = gateway(api_keys=("key-1",))
    with caplog.at_level(logging.WARNING, logger="streamway.local.gateway"):
        reply = await call(local, "GET", "/dev/buffered/x")

    assert (reply.status, reply.body) == (403, b'{"message":"Forbidden"}')
    assert reply.headers["x-amzn-errortype"] == "ForbiddenException"
    assert any("refused by auth" in r.getMessage() for r in caplog.records)


async def test_control_routes_take_the_apis_credentials_on_any_spelling() -> None:
    local = gateway(api_keys=("key-1",))
    refused = await call(local, "GET", "/_local/metering", raw_path=b"/%5Flocal/metering")
    allowed = await call(local, "GET", "/_local/functions", headers=[("x-api-key", "key-1")])
    missing = await call(local, "GET", "/_local/nothing", headers=[("x-api-key", "key-1")])

    assert (refused.status, refused.body) == (403, b'{"message":"Forbidden"}')
    assert allowed.status == 200
    assert b'"function": "StreamFunction"' in allowed.body
    assert missing.status == 404
    # The control plane is not the API: nothing of it is metered.
    assert list(local.meter.recent) == []


@pytest.mark.parametrize(
    ("raw_path", "expected"),
    [
        ("/dev", "/"),
        ("/dev/", "/"),
        ("/dev/a%20b", "/a%20b"),
        ("/development/x", None),
        ("/prod/x", None),
    ],
)
def test_the_path_in_the_stage(raw_path: str, expected: str | None) -> None:
    assert path_in_stage(raw_path, "dev") == expected
