"""CloudWatch embedded metric format (EMF): one JSON line per request that CloudWatch Logs
turns into metrics, the convention Powertools for AWS Lambda uses.

Each line is written at once, to the given stream, with only the configured dimensions and
nothing looked up in the environment, so it costs the same under the Lambda runtime, under
``streamway serve`` and in a container (docs/observability.md says why not the
``aws-embedded-metrics`` library). The format is one small JSON object
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):

    {"_aws": {"Timestamp": <ms>, "CloudWatchMetrics": [{"Namespace": ...,
              "Dimensions": [[<names>]], "Metrics": [{"Name": ..., "Unit": ...}]}]},
     <each dimension name>: <string>, <each metric name>: <number>, <other properties>}

Dimensions are a closed, low-cardinality set (``service``, ``function``, ``route`` as the
route's template, ``method`` from a fixed list, ``outcome``); the request id and status go
in as plain properties, searchable in Logs Insights but never a dimension.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from streamway.observability.request_metrics import RequestMetrics

#: Dimension name in settings -> (name in the line, its value for a request).
DIMENSIONS: dict[str, tuple[str, Callable[[RequestMetrics, Mapping[str, str]], str]]] = {
    "service": ("Service", lambda _, env: env.get("OTEL_SERVICE_NAME") or "streamway"),
    "function": ("FunctionName", lambda _, env: env.get("AWS_LAMBDA_FUNCTION_NAME") or "-"),
    "route": ("Route", lambda m, _: m.route),
    "method": ("Method", lambda m, _: m.method_label),
    "outcome": ("Outcome", lambda m, _: m.outcome),
}

#: Counted once per request: Requests, and one of these by outcome.
_OUTCOME_METRICS = {
    "complete": "Completed",
    "cancelled": "Cancelled",
    "failed": "Failed",
    "cut": "Cut",
}


def parse_dimensions(text: str) -> tuple[str, ...]:
    """``"service,route"`` -> the dimension names; refuses names outside :data:`DIMENSIONS`."""
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in DIMENSIONS]
    if unknown:
        raise ValueError(
            f"unknown metric dimension(s) {unknown}; choose from {', '.join(DIMENSIONS)}"
        )
    return tuple(dict.fromkeys(names))


class EmfWriter:
    """A :class:`~streamway.observability.request_metrics.MetricsSink` writing EMF lines.

    Written to stdout and flushed per line: on Lambda stdout goes to CloudWatch Logs, where
    each line is one log event; left buffered, a line could wait for the next invocation.
    """

    def __init__(
        self,
        namespace: str,
        dimensions: Sequence[str],
        *,
        stream: TextIO | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.namespace = namespace
        self.dimensions = tuple(dimensions)
        self.stream = stream
        self.env = os.environ if env is None else env

    def line(self, metrics: RequestMetrics, request_id: str) -> dict[str, Any]:
        values: dict[str, float | int] = {
            "Requests": 1,
            _OUTCOME_METRICS[metrics.outcome]: 1,
            "ResponseBytes": metrics.bytes,
        }
        units = {"Requests": "Count", _OUTCOME_METRICS[metrics.outcome]: "Count"}
        units["ResponseBytes"] = "Bytes"
        if metrics.duration_ms is not None:
            values["Duration"] = metrics.duration_ms
            units["Duration"] = "Milliseconds"
        if metrics.agent:
            ttft = metrics.time_to_first_token_ms
            if ttft is not None:
                values["TimeToFirstToken"] = ttft
                units["TimeToFirstToken"] = "Milliseconds"
            values["OutputTokens"] = metrics.output_tokens
            units["OutputTokens"] = "Count"
            tps = metrics.tokens_per_second
            if tps is not None:
                values["TokensPerSecond"] = tps
                units["TokensPerSecond"] = "Count/Second"
        dimension_values = {
            DIMENSIONS[name][0]: DIMENSIONS[name][1](metrics, self.env)[:1024] or "-"
            for name in self.dimensions
        }
        entry: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [list(dimension_values)],
                        "Metrics": [{"Name": name, "Unit": unit} for name, unit in units.items()],
                    }
                ],
            },
            **dimension_values,
            **values,
            # Properties: searchable in Logs Insights, not dimensions (unbounded values).
            "requestId": request_id,
            "status": metrics.status,
            "outcome": metrics.outcome,
            "method": metrics.method_label,
            "route": metrics.route,
        }
        return entry

    def record(self, metrics: RequestMetrics, request_id: str) -> None:
        stream = self.stream or sys.stdout
        try:
            stream.write(json.dumps(self.line(metrics, request_id), separators=(",", ":")) + "\n")
            stream.flush()
        except (OSError, ValueError):  # a closed stdout must not fail the request
            pass
