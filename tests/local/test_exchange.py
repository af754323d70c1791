"""The exchange: what the gateway learns of one request, and the record it makes of it."""

from __future__ import annotations

from streamway.api.definition import Route
from streamway.local.exchange import Exchange
from streamway.local.stream_relay import Progress


def exchange() -> Exchange:
    return Exchange("req-1", "GET", "/dev/stream/a", "dev", "10.0.0.1", path_in_stage="/stream/a")


def test_the_record_of_a_cold_invocation_bills_its_init_phase() -> None:
    ex = exchange()
    ex.routed(Route("GET", "/stream/{proxy+}", "STREAM", 900_000, ""))
    ex.memory_mb, ex.cold_start, ex.init_ms, ex.function_ms = 1024, True, 300.0, 50.5
    ex.headers_sent(200)
    ex.content_sent(10)
    ex.end(completed=True)

    record = ex.record()
    assert (record.request_id, record.method, record.source_ip) == ("req-1", "GET", "10.0.0.1")
    assert (record.path, record.resource, record.stage) == ("/stream/a", "/stream/{proxy+}", "dev")
    assert (record.status, record.transfer_mode, record.bytes_out) == (200, "STREAMED", 10)
    assert record.function_duration_ms == 350.5
    assert (record.memory_mb, record.cold_start, record.completed) == (1024, True, True)
    assert record.request_time == ex.received_at
    assert 0 <= record.time_to_all_headers_ms <= record.latency_ms
    assert record.time_to_first_content_ms is not None


def test_a_request_never_routed_or_invoked() -> None:
    ex = Exchange("req-2", "GET", "/elsewhere", "dev", "10.0.0.1")
    ex.end(completed=False)
    record = ex.record()
    assert (record.path, record.resource, record.transfer_mode) == ("/elsewhere", "-", "BUFFERED")
    assert record.function_duration_ms is None
    assert record.time_to_first_content_ms is None
    assert record.time_to_all_headers_ms == 0.0
    assert not record.completed


def test_content_is_complete_when_the_declared_length_went_out() -> None:
    progress: Progress = exchange()
    progress.headers_sent(200, content_bytes=5)
    assert not progress.content_complete
    progress.content_sent(3)
    assert not progress.content_complete
    progress.content_sent(2)
    assert progress.content_complete


def test_a_head_response_is_complete_with_its_headers() -> None:
    ex = exchange()
    ex.headers_sent(200, content_bytes=0)
    assert ex.content_complete


def test_without_a_length_only_the_streams_end_completes_it() -> None:
    ex = exchange()
    ex.headers_sent(200)
    ex.content_sent(1 << 20)
    assert not ex.content_complete


def test_the_first_reason_for_a_failure_is_kept() -> None:
    ex = exchange()
    ex.fail("integration timeout")
    ex.end(completed=False, error="the client went away")
    assert ex.error == "integration timeout"
    assert ex.ended_at is not None
