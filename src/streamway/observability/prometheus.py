"""Prometheus text at ``GET /metrics`` for ``streamway serve`` (``STREAMWAY_METRICS_ENDPOINT``).

``prometheus_client`` (the ``obs`` extra) is imported only when the endpoint is turned on,
and each app has its own registry, so two apps in one process (tests) never share counts.
Labels are low-cardinality by construction: the route's template (``/download/{key}``, not
the key), the method from a fixed list, the outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamway.observability.request_metrics import RequestMetrics

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

#: Seconds to the first token: a small local model answers in tens of milliseconds, a remote
#: one waiting for a slot in tens of seconds.
_TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_TPS_BUCKETS = (1, 5, 10, 25, 50, 100, 200, 400, 800)
_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class PrometheusMetrics:
    """A :class:`~streamway.observability.request_metrics.MetricsSink` over its own registry."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry: CollectorRegistry = CollectorRegistry()
        labels = ("route",)
        self.requests = Counter(
            "streamway_requests",
            "Requests by route, method and outcome (complete, cancelled, failed, cut).",
            ("route", "method", "outcome"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "streamway_request_duration_seconds",
            "From the request's arrival to its response's end.",
            labels,
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.response_bytes = Counter(
            "streamway_response_bytes",
            "Response body bytes sent.",
            labels,
            registry=self.registry,
        )
        self.time_to_first_token = Histogram(
            "streamway_time_to_first_token_seconds",
            "From the request's arrival to the agent's first piece of text.",
            labels,
            buckets=_TTFT_BUCKETS,
            registry=self.registry,
        )
        self.tokens_per_second = Histogram(
            "streamway_tokens_per_second",
            "Output tokens per second of an answer, from its first token to its end.",
            labels,
            buckets=_TPS_BUCKETS,
            registry=self.registry,
        )
        self.output_tokens = Counter(
            "streamway_output_tokens",
            "Tokens the model generated (text pieces streamed, for an unfinished answer).",
            labels,
            registry=self.registry,
        )

    def record(self, metrics: RequestMetrics, request_id: str) -> None:
        route = metrics.route
        self.requests.labels(route, metrics.method_label, metrics.outcome).inc()
        if metrics.duration_ms is not None:
            self.duration.labels(route).observe(metrics.duration_ms / 1000)
        self.response_bytes.labels(route).inc(metrics.bytes)
        if metrics.agent:
            if metrics.time_to_first_token_ms is not None:
                self.time_to_first_token.labels(route).observe(
                    metrics.time_to_first_token_ms / 1000
                )
            self.output_tokens.labels(route).inc(metrics.output_tokens)
            if metrics.tokens_per_second is not None:
                self.tokens_per_second.labels(route).observe(metrics.tokens_per_second)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    @property
    def content_type(self) -> str:
        from prometheus_client import CONTENT_TYPE_LATEST

        return str(CONTENT_TYPE_LATEST)
