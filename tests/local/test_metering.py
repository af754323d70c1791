"""Metering: billed requests, GB-seconds and cost, with numbers worked out by hand."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from streamway.aws_contract import MiB as MB
from streamway.local.metering import (
    ACCESS_LOG_VARIABLES,
    GB,
    RECENT_REQUESTS,
    Meter,
    Prices,
    RequestRecord,
    access_log_entry,
)
from streamway.logs import JsonLinesFormatter


def rec(**overrides: object) -> RequestRecord:
    base = RequestRecord(
        request_id="req-1",
        method="GET",
        path="/download/a.bin",
        resource="/download/{proxy+}",
        stage="local",
        status=200,
        transfer_mode="STREAMED",
        bytes_out=1000,
        time_to_all_headers_ms=12.4,
        time_to_first_content_ms=15.6,
        latency_ms=250.5,
        function_duration_ms=240.2,
        memory_mb=1024,
        cold_start=False,
        source_ip="127.0.0.1",
        completed=True,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "nbytes", "billed"),
    [
        ("STREAMED", 0, 1),
        ("STREAMED", 1, 1),
        ("STREAMED", 10 * MB, 1),
        ("STREAMED", 10 * MB + 1, 2),
        ("STREAMED", 200 * MB, 20),
        ("BUFFERED", 10 * MB, 1),
    ],
)
def test_a_streamed_response_is_billed_per_10_mb_started(
    mode: str, nbytes: int, billed: int
) -> None:
    assert rec(transfer_mode=mode, bytes_out=nbytes).billed_requests == billed


def test_lambda_bills_streamed_bytes_past_the_first_6_mb() -> None:
    assert rec(bytes_out=6 * MB).streamed_bytes_billed == 0
    assert rec(bytes_out=6 * MB + 5).streamed_bytes_billed == 5
    assert rec(transfer_mode="BUFFERED", bytes_out=9 * MB).streamed_bytes_billed == 0
    assert rec(bytes_out=9 * MB, function_duration_ms=None).streamed_bytes_billed == 0


def test_duration_rounds_up_to_the_millisecond() -> None:
    assert rec(function_duration_ms=240.2).billed_duration_ms == 241
    assert rec(function_duration_ms=240.0).billed_duration_ms == 240
    assert rec(function_duration_ms=None).billed_duration_ms == 0


def test_summary_adds_up_exactly() -> None:
    meter = Meter()
    meter.record(rec(bytes_out=25 * MB, function_duration_ms=1999.1, memory_mb=512))
    meter.record(
        rec(
            transfer_mode="BUFFERED",
            bytes_out=300,
            function_duration_ms=0.4,
            cold_start=True,
            memory_mb=2048,
        )
    )
    meter.record(rec(status=403, bytes_out=23, function_duration_ms=None, cold_start=True))
    meter.record(rec(bytes_out=2 * MB, completed=False, function_duration_ms=10.0))
    summary = meter.summary()
    # 25 MB streamed = 3 billed; buffered 1; refused 1 (streamed route, 23 bytes); 2 MB = 1.
    assert summary["requests"] == 4
    assert summary["requests_billed"] == 6
    assert summary["requests_incomplete"] == 1
    assert summary["invocations"] == 3
    assert summary["cold_starts"] == 1  # the refused request never started a function
    assert summary["bytes_out"] == 27 * MB + 323
    assert summary["bytes_streamed"] == 27 * MB + 23
    assert summary["streamed_bytes_billed"] == 19 * MB
    # 2000 ms x 512 MB + 1 ms x 2048 MB + 10 ms x 1024 MB = 1,036,288 MB-ms
    assert summary["lambda_gb_seconds"] == 1_036_288 / 1_024_000
    cost = summary["estimated_cost_usd"]
    assert cost["api_gateway_requests"] == pytest.approx(6 * 3.50 / 1e6)
    assert cost["lambda_requests"] == pytest.approx(3 * 0.20 / 1e6)
    assert cost["lambda_duration"] == pytest.approx(1.012 * 0.0000166667)
    assert cost["lambda_streamed_bytes"] == pytest.approx(19 / 1024 * 0.008)
    assert cost["total"] == pytest.approx(
        6 * 3.50 / 1e6 + 3 * 0.20 / 1e6 + 1.012 * 0.0000166667 + 19 / 1024 * 0.008
    )


def test_an_empty_meter_costs_nothing() -> None:
    summary = Meter().summary()
    assert summary["requests"] == 0
    assert summary["estimated_cost_usd"]["total"] == 0


def test_prices_come_from_name_value_assignments() -> None:
    prices = Prices.from_assignments(
        ["api_gateway_per_million_requests=1.51", " streamed_bytes_per_gb = 0"]
    )
    assert prices.api_gateway_per_million_requests == 1.51
    assert prices.streamed_bytes_per_gb == 0
    assert prices.lambda_per_million_requests == 0.20  # untouched default
    meter = Meter(prices)
    meter.record(rec(bytes_out=16 * MB))
    cost = meter.summary()["estimated_cost_usd"]
    assert cost["api_gateway_requests"] == pytest.approx(2 * 1.51 / 1e6)
    assert cost["lambda_streamed_bytes"] == 0


@pytest.mark.parametrize(
    ("assignment", "error"),
    [
        ("lambda_price=1", "among"),
        ("api_gateway_per_million_requests", "among"),
        ("lambda_per_gb_second=cheap", "not a number"),
        ("lambda_per_gb_second=-1", ">= 0"),
        ("lambda_per_gb_second=nan", ">= 0"),
    ],
)
def test_bad_price_assignments_are_refused(assignment: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Prices.from_assignments([assignment])


def test_the_access_log_line_matches_the_deployed_access_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = rec(bytes_out=11 * MB, cold_start=True, request_time=1764478800.25)
    with caplog.at_level(logging.INFO, logger="streamway.local.access"):
        Meter().record(record)
    (logged,) = caplog.records
    line = json.loads(JsonLinesFormatter().format(logged))
    assert line["logger"] == "streamway.local.access"
    assert line["message"] == f"GET /download/a.bin 200 {11 * MB} bytes 250.5 ms"
    # As API Gateway fills the deploy stack's format in: strings, whatever the variable.
    assert {k: line[k] for k in ACCESS_LOG_VARIABLES} == {
        "requestId": "req-1",
        "ip": "127.0.0.1",
        "requestTime": "30/Nov/2025:05:00:00 +0000",
        "httpMethod": "GET",
        "resourcePath": "/download/{proxy+}",
        "status": "200",
        "responseLength": str(11 * MB),
        "responseLatency": "250",
        "responseTransferMode": "STREAMED",
        "timeToAllHeaders": "12",
        "timeToFirstContent": "16",
        "integrationLatency": "250",
    }
    assert {k: v for k, v in line.items() if k.startswith("streamway.")} == {
        "streamway.path": "/local/download/a.bin",
        "streamway.stage": "local",
        "streamway.billedRequests": 2,
        "streamway.functionDurationMs": 240.2,
        "streamway.memoryMb": 1024,
        "streamway.coldStart": True,
        "streamway.completed": True,
    }


def test_every_gateway_field_is_a_documented_context_variable() -> None:
    entry = access_log_entry(rec())
    assert {k for k in entry if not k.startswith("streamway.")} == set(ACCESS_LOG_VARIABLES)


def test_empty_variables_are_a_dash_as_api_gateway_writes_them() -> None:
    entry = access_log_entry(rec(bytes_out=0, time_to_first_content_ms=None))
    assert entry["timeToFirstContent"] == "-"
    assert entry["requestTime"] == "-"


def test_summary_text_shows_each_cost_line() -> None:
    meter = Meter()
    meter.record(rec(bytes_out=16 * MB, function_duration_ms=1000.0, cold_start=True))
    text = meter.summary_text()
    assert "1 requests (2 billed by API Gateway, 0 incomplete)" in text
    assert "1 Lambda invocations (1 cold), 16.0 MiB streamed" in text
    assert "2 x $3.5/M" in text
    assert "1.000 GB-s x $0.0000166667" in text
    assert f"{10 * MB / GB:.4f} GB x $0.008/GB" in text
    total = meter.summary()["estimated_cost_usd"]["total"]
    assert text.splitlines()[-1].endswith(f"${total:.6f}")


def test_a_long_run_keeps_totals_and_a_bounded_tail_not_every_record() -> None:
    """Issue 15 item 9: every record was kept for the whole run (+35 MiB per 60,000)."""
    meter = Meter()
    count = 20_000
    for n in range(count):
        meter.record(rec(request_id=f"req-{n}", bytes_out=n % 7, function_duration_ms=1.0))

    def sizes(value: object) -> list[int]:
        """Lengths of every container the meter holds, one level into its attributes."""
        found = []
        for attribute in vars(value).values():
            if isinstance(attribute, list | dict | set | tuple) or hasattr(attribute, "maxlen"):
                found.append(len(attribute))
            elif hasattr(attribute, "__dict__"):
                found.extend(sizes(attribute))
        return found

    assert max(sizes(meter)) <= RECENT_REQUESTS
    summary = meter.summary()
    assert summary["requests"] == count
    assert summary["invocations"] == count
    assert summary["bytes_out"] == sum(n % 7 for n in range(count))
    assert summary["lambda_gb_seconds"] == count * 1 * 1024 / 1_024_000
    recent = summary["recent"]
    assert [entry["requestId"] for entry in recent] == [
        f"req-{n}" for n in range(count - RECENT_REQUESTS, count)
    ]
