"""Metrics and traces of each request (see docs/observability.md; logs are in ``streamway.logs``).

- :mod:`.request_metrics`: the one per-request record every signal reads from: time to first
  token, tokens per second, output tokens, bytes, duration and outcome;
- :mod:`.emf`: CloudWatch embedded-metric-format lines (on Lambda);
- :mod:`.prometheus`: Prometheus text at ``/metrics`` (``streamway serve``, opt-in);
- :mod:`.tracing`: OpenTelemetry spans over OTLP, only when the ``OTEL_*`` variables ask.

Nothing here imports an optional library at import time: ``prometheus_client`` and the OTLP
exporter (the ``obs`` extra) are imported when a setting turns them on.
"""
