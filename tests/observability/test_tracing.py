"""Traces over OTLP/HTTP to a real receiver on loopback: the request span with the agent's
spans (from Strands) as children under ``streamway serve``, and one trace from the client
through ``streamway local``'s gateway into the function."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.observability.otlp_receiver import ReceivedSpan, Receiver, otlp_receiver
from tests.servers import streamway_local, streamway_server

pytestmark = [pytest.mark.model, pytest.mark.timeout(240)]

SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


def otel_env(receiver: Receiver, service: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": service,
        # Export each batch within 100 ms rather than 5 s.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


def a_traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def descends_from(span: ReceivedSpan, ancestor: ReceivedSpan, spans: list[ReceivedSpan]) -> bool:
    by_id = {s.span_id: s for s in spans if s.trace_id == span.trace_id}
    current: ReceivedSpan | None = span
    for _ in range(len(by_id) + 1):
        if current is None:
            return False
        if current.parent_span_id == ancestor.span_id:
            return True
        current = by_id.get(current.parent_span_id)
    return False


def test_the_request_span_has_the_agents_spans_as_children(receiver: Receiver) -> None:
    traceparent, trace_id, caller_span = a_traceparent()
    with streamway_server(otel_env(receiver, "traced-serve")) as server:
        response = httpx.post(
            f"{server.url}/streaming",
            json={"request": "Say hello."},
            headers={"traceparent": traceparent},
            timeout=120,
        )
        assert response.status_code == 200
        request = receiver.wait_for(
            lambda s: s.trace_id == trace_id and s.name == "POST /streaming"
        )
        agent = receiver.wait_for(
            lambda s: s.trace_id == trace_id and s.name.startswith("invoke_agent")
        )
        model = receiver.wait_for(lambda s: s.trace_id == trace_id and s.name == "chat")

    assert request.parent_span_id == caller_span  # the caller's traceparent is its parent
    assert request.kind == SERVER_KIND
    assert request.scope == "streamway"
    # One request span: FastAPI's own (0.16x) is turned off rather than duplicated.
    assert [s.scope for s in receiver.spans if s.name == "POST /streaming"] == ["streamway"]
    assert request.service == "traced-serve"
    assert request.attributes["http.route"] == "/streaming"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["streamway.response.bytes"] == len(response.content)
    assert request.attributes["streamway.time_to_first_byte_ms"] > 0
    assert request.attributes["streamway.output_tokens"] > 0
    # Strands' spans, children of the request span.
    assert agent.parent_span_id == request.span_id
    assert agent.scope.startswith("strands")
    assert descends_from(model, request, receiver.spans)


def test_the_functions_span_shares_the_gateways_trace(receiver: Receiver) -> None:
    traceparent, trace_id, caller_span = a_traceparent()
    with streamway_local(otel_env(receiver, "traced-local")) as local:
        response = httpx.get(
            f"{local.url}/download/no-such-file.bin",
            headers={"traceparent": traceparent},
            timeout=120,
        )
        assert response.status_code == 404
        gateway = receiver.wait_for(
            lambda s: s.trace_id == trace_id and s.name.startswith("API Gateway GET")
        )
        invocation = receiver.wait_for(
            lambda s: s.trace_id == trace_id and s.name == "StreamFunction invocation"
        )
        request = receiver.wait_for(
            lambda s: s.trace_id == trace_id and s.name == "GET /download/{key:anypath}"
        )

    assert gateway.parent_span_id == caller_span
    assert gateway.attributes["http.response.status_code"] == 404
    # Carried to the function as Lambda carries it: the invocation's parent is the gateway.
    assert invocation.parent_span_id == gateway.span_id
    assert invocation.attributes["faas.invocation_id"]
    assert invocation.attributes["faas.coldstart"] is True
    assert request.parent_span_id == invocation.span_id
    assert request.attributes["http.response.status_code"] == 404


def test_nothing_is_exported_without_the_otel_variables(receiver: Receiver) -> None:
    traceparent, trace_id, _ = a_traceparent()
    with streamway_server() as server:
        httpx.get(f"{server.url}/ping", headers={"traceparent": traceparent}, timeout=10)
        server.wait_for_log(lambda e: e.get("path") == "/ping")
        # The server knows no endpoint: nothing of this trace can reach the receiver.
        assert not [s for s in receiver.spans if s.trace_id == trace_id]
        assert not [e for e in server.logs() if e.get("logger") == "streamway.tracing"]
