"""Metrics as CloudWatch embedded-metric-format lines, from a real ``streamway local`` run:
the function processes run the native Lambda runtime, which is "on Lambda", so they write
EMF; the lines are read back by the format's rules and compared with what the client saw."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.observability.emf_format import emf_lines, metrics_of
from tests.servers import RunningLocal, streamway_local

pytestmark = [pytest.mark.model, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def local() -> Iterator[RunningLocal]:
    env = {
        "STREAMWAY_METRICS_NAMESPACE": "streamway-test",
        "STREAMWAY_METRICS_DIMENSIONS": "service,function,route",
        "OTEL_SERVICE_NAME": "emf-test",
    }
    with streamway_local(env) as running:
        yield running


def wait_for_emf(local: RunningLocal, request_id: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        text = local.log_path.read_text(encoding="utf-8", errors="replace")
        for document in emf_lines(text):
            if document.get("requestId") == request_id:
                return document
        if time.monotonic() > deadline:
            raise AssertionError(f"no EMF line for {request_id} within {timeout_s} s")
        time.sleep(0.05)


def test_a_streamed_answer_is_one_emf_line_with_the_done_events_figures(
    local: RunningLocal,
) -> None:
    response = httpx.post(
        f"{local.url}/streaming",
        json={"request": "Name three colours."},
        headers={"Accept": "text/event-stream", "X-Request-Id": "emf-stream-1"},
        timeout=120,
    )
    assert response.status_code == 200
    done = json.loads(response.text.split("event: done\ndata: ")[1].split("\n")[0])

    document = wait_for_emf(local, "emf-stream-1")
    metrics = metrics_of(document)
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "streamway-test"
    assert directive["Dimensions"] == [["Service", "FunctionName", "Route"]]
    assert (document["Service"], document["FunctionName"], document["Route"]) == (
        "emf-test",
        "StreamFunction",
        "/streaming",
    )
    # The same figures the client's `done` event reports: one record feeds both.
    assert metrics["TimeToFirstToken"] == (done["time_to_first_token_ms"], "Milliseconds")
    assert metrics["TokensPerSecond"] == (done["tokens_per_second"], "Count/Second")
    assert metrics["OutputTokens"] == (done["usage"]["output_tokens"], "Count")
    assert metrics["ResponseBytes"] == (len(response.content), "Bytes")
    assert metrics["Duration"][1] == "Milliseconds"
    assert metrics["Duration"][0] >= done["total_time_ms"]
    assert metrics["Requests"] == (1, "Count")
    assert metrics["Completed"] == (1, "Count")
    assert document["outcome"] == "complete"
    assert document["status"] == 200


def test_a_download_and_a_refusal_have_no_token_metrics(local: RunningLocal) -> None:
    response = httpx.get(
        f"{local.url}/download/no-such-file.bin",
        headers={"X-Request-Id": "emf-404-1"},
        timeout=60,  # a cold start on a busy machine
    )
    assert response.status_code == 404
    document = wait_for_emf(local, "emf-404-1")
    metrics = metrics_of(document)
    # The route's template, never the raw path: one series whatever keys clients ask for.
    assert document["Route"] == "/download/{key:anypath}"
    assert document["FunctionName"] == "StreamFunction"
    assert metrics["ResponseBytes"] == (len(response.content), "Bytes")
    assert "TimeToFirstToken" not in metrics
    assert "OutputTokens" not in metrics
    assert document["status"] == 404
