"""``/metrics`` under ``streamway serve``: off by default; when on, scraped over HTTP and
parsed by the Prometheus client's own parser."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.servers import RunningServer, streamway_server

pytestmark = [pytest.mark.model, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def metered() -> Iterator[RunningServer]:
    with streamway_server({"STREAMWAY_METRICS_ENDPOINT": "true"}) as running:
        yield running


def scrape(server: RunningServer) -> dict[str, list[Sample]]:
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def scrape_until(
    server: RunningServer, *, route: str, method: str, timeout_s: float = 10
) -> dict[str, list[Sample]]:
    """Scrapes until a request on ``route`` by ``method`` was counted: the middleware counts
    a request after its last byte went out, which can be after the client has it."""
    deadline = time.monotonic() + timeout_s
    while True:
        samples = scrape(server)
        counted = [
            s
            for s in samples.get("streamway_requests_total", [])
            if s.labels["route"] == route and s.labels["method"] == method
        ]
        if counted:
            return samples
        assert time.monotonic() < deadline, f"{method} {route} was never counted"
        time.sleep(0.02)


def value(samples: dict[str, list[Sample]], name: str, **labels: str) -> float:
    matching = [s.value for s in samples.get(name, []) if labels.items() <= s.labels.items()]
    assert len(matching) == 1, (name, labels, samples.get(name))
    return matching[0]


def test_metrics_are_off_by_default(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/metrics", timeout=10).status_code == 404


def test_a_streamed_answer_is_counted_with_the_done_events_figures(
    metered: RunningServer,
) -> None:
    response = httpx.post(
        f"{metered.url}/streaming",
        json={"request": "Name three colours."},
        headers={"Accept": "text/event-stream"},
        timeout=120,
    )
    assert response.status_code == 200
    done = json.loads(response.text.split("event: done\ndata: ")[1].split("\n")[0])
    httpx.get(f"{metered.url}/download/%2e%2e-no-such-key", timeout=10)

    scrape_until(metered, route="/streaming", method="POST")
    samples = scrape_until(metered, route="/download/{key:anypath}", method="GET")
    streaming = {"route": "/streaming"}
    assert (
        value(samples, "streamway_requests_total", **streaming, method="POST", outcome="complete")
        == 1
    )
    assert (
        value(samples, "streamway_output_tokens_total", **streaming)
        == (done["usage"]["output_tokens"])
    )
    assert value(samples, "streamway_response_bytes_total", **streaming) == len(response.content)
    # One observation each, of the figures the `done` event carried.
    assert value(samples, "streamway_time_to_first_token_seconds_count", **streaming) == 1
    assert value(samples, "streamway_time_to_first_token_seconds_sum", **streaming) == (
        pytest.approx(done["time_to_first_token_ms"] / 1000)
    )
    assert value(samples, "streamway_tokens_per_second_sum", **streaming) == pytest.approx(
        done["tokens_per_second"]
    )
    assert value(samples, "streamway_request_duration_seconds_count", **streaming) == 1
    # Labels are templates, never raw paths.
    routes = {s.labels["route"] for s in samples["streamway_requests_total"]}
    assert "/download/{key:anypath}" in routes
    assert not any("no-such-key" in route for route in routes)


def test_an_invented_method_does_not_make_a_new_series(metered: RunningServer) -> None:
    answer = httpx.request("PROPFIND", f"{metered.url}/ping", timeout=10)
    assert answer.status_code == 405
    # Counted under its route's template (a 405 still matched the path) and "OTHER".
    samples = scrape_until(metered, route="/ping", method="OTHER")
    methods = {s.labels["method"] for s in samples["streamway_requests_total"]}
    assert "PROPFIND" not in methods
    assert "OTHER" in methods
