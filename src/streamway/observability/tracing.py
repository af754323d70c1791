"""OpenTelemetry traces, only when the standard ``OTEL_*`` variables ask for them.

:func:`setup` (idempotent, once per process) builds a ``TracerProvider`` with a batching
OTLP/HTTP exporter, made global so that Strands' own spans (it asks the global provider)
join the same trace. Without ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its ``_TRACES_`` form) it
does nothing, imports nothing, and every hook below returns at its first line: the hot path
pays one ``is None`` check.

The hooks:

- :func:`start_request_span` / :func:`end_request_span`: the app's request span (middleware);
- :func:`lambda_invocation`: the native runtime's invocation span, its parent taken from
  ``_X_AMZN_TRACE_ID`` (X-Ray's header) when sampled, else from the event's ``traceparent``;
- :func:`start_gateway_span` / :func:`end_gateway_span` / :func:`propagate_into_event` /
  :func:`lambda_trace_header`: ``streamway local``'s gateway hop, and the context it hands
  to the function, both ways AWS does (event headers and the invocation's trace header).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from streamway.observability.request_metrics import RequestMetrics

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger("streamway.tracing")

_tracer: Tracer | None = None
_provider: TracerProvider | None = None
_configured = False

_XRAY_HEADER = re.compile(
    r"Root=1-(?P<time>[0-9a-f]{8})-(?P<unique>[0-9a-f]{24})"
    r"(?:;Parent=(?P<parent>[0-9a-f]{16}))?(?:;Sampled=(?P<sampled>[01]))?",
    re.IGNORECASE,
)


def wanted(env: Mapping[str, str]) -> bool:
    """Whether the environment asks for traces (an OTLP endpoint, and not switched off)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def setup(env: Mapping[str, str] | None = None) -> bool:
    """Turns tracing on if the environment asks; True when it is on. Once per process."""
    global _tracer, _provider, _configured
    if _configured:
        return _tracer is not None
    _configured = True
    if not wanted(os.environ if env is None else env):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed; "
            "install streamway[obs] for traces"
        )
        return False
    # Resource.create() reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; the exporter
    # reads the endpoint, headers, timeout and compression variables; the sampler comes from
    # OTEL_TRACES_SAMPLER (parent-based always-on by default).
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = provider.get_tracer("streamway")
    log.info("tracing on: spans go to the OTLP endpoint")
    return True


def enabled() -> bool:
    return _tracer is not None


def flush(timeout_ms: int = 5000) -> None:
    """Exports the spans held in the batch (blocking): the Lambda runtime calls it after each
    invocation, since Lambda freezes the process between invocations."""
    if _provider is not None:
        _provider.force_flush(timeout_ms)


# --- the app's request span -----------------------------------------------------------


def start_request_span(scope: Mapping[str, Any]) -> tuple[Span, object] | None:
    """Starts and activates the request's span: a child of the span already active (the
    Lambda invocation's), else of the caller's ``traceparent``."""
    if _tracer is None:
        return None
    from opentelemetry import context, trace

    parent = None
    if not trace.get_current_span().get_span_context().is_valid:
        parent = _extract(scope.get("headers", ()))
    method = scope.get("method", "WS")
    span = _tracer.start_span(
        f"{method} {scope.get('path', '')}",
        context=parent,
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": method, "url.path": scope.get("path", "")},
    )
    token = context.attach(trace.set_span_in_context(span))
    return span, token


def end_request_span(handle: tuple[Span, object], metrics: RequestMetrics) -> None:
    from opentelemetry import context, trace

    span, token = handle
    try:
        span.update_name(f"{metrics.method_label} {metrics.route}")
        attributes: dict[str, Any] = {
            "http.route": metrics.route,
            "http.response.status_code": metrics.status,
            "streamway.response.bytes": metrics.bytes,
            "streamway.outcome": metrics.outcome,
        }
        if metrics.time_to_first_byte_ms is not None:
            attributes["streamway.time_to_first_byte_ms"] = metrics.time_to_first_byte_ms
        if metrics.agent:
            attributes["streamway.time_to_first_token_ms"] = metrics.time_to_first_token_ms
            attributes["streamway.output_tokens"] = metrics.output_tokens
            if metrics.tokens_per_second is not None:
                attributes["streamway.tokens_per_second"] = metrics.tokens_per_second
        span.set_attributes(attributes)
        if metrics.status >= 500 or metrics.outcome in ("failed", "cut"):
            span.set_status(trace.StatusCode.ERROR, metrics.outcome)
        span.end()
    finally:
        context.detach(token)  # type: ignore[arg-type]


def _extract(raw_headers: Any) -> Any:
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    for name, value in raw_headers:
        key = name.decode("latin-1").lower() if isinstance(name, bytes) else str(name).lower()
        if key in ("traceparent", "tracestate", "baggage"):
            carrier[key] = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return propagate.extract(carrier) if carrier else None


# --- the Lambda invocation ------------------------------------------------------------


def context_from_xray(header: str | None) -> Any:
    """An OpenTelemetry context whose remote parent is X-Ray's ``Root``/``Parent``, read as
    OpenTelemetry's X-Ray propagator reads them; None without a sampled parent (Lambda's
    header says ``Sampled=0`` when active tracing is off: nothing to join)."""
    match = _XRAY_HEADER.search(header or "")
    if match is None or not match["parent"] or match["sampled"] != "1":
        return None
    from opentelemetry import trace

    span_context = trace.SpanContext(
        trace_id=int(match["time"] + match["unique"], 16),
        span_id=int(match["parent"], 16),
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


@contextlib.contextmanager
def lambda_invocation(
    request_id: str,
    trace_header: str | None,
    event_headers: Any,
    *,
    cold_start: bool,
    function_name: str,
) -> Iterator[Span | None]:
    """The invocation's span, active while the app handles it."""
    if _tracer is None:
        yield None
        return
    from opentelemetry import context, trace

    parent = context_from_xray(trace_header) or _extract(_header_pairs(event_headers))
    span = _tracer.start_span(
        f"{function_name or 'function'} invocation",
        context=parent,
        kind=trace.SpanKind.SERVER,
        attributes={
            "faas.invocation_id": request_id,
            "faas.coldstart": cold_start,
            "faas.name": function_name,
            "cloud.provider": "aws",
        },
    )
    token = context.attach(trace.set_span_in_context(span))
    try:
        yield span
    finally:
        span.end()
        context.detach(token)


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items() if isinstance(v, str)]
    return []


# --- streamway local's gateway hop ----------------------------------------------------


def start_gateway_span(scope: Mapping[str, Any]) -> tuple[Span, object] | None:
    """API Gateway's span for one request: a child of the caller's ``traceparent``."""
    if _tracer is None:
        return None
    from opentelemetry import context, trace

    method = scope.get("method", "GET")
    span = _tracer.start_span(
        f"API Gateway {method}",
        context=_extract(scope.get("headers", ())),
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": method, "url.path": scope.get("path", "")},
    )
    return span, context.attach(trace.set_span_in_context(span))


def end_gateway_span(
    handle: tuple[Span, object],
    *,
    method: str,
    resource: str | None,
    status: int,
    bytes_out: int,
) -> None:
    from opentelemetry import context, trace

    span, token = handle
    try:
        if resource:
            span.update_name(f"API Gateway {method} {resource}")
            span.set_attribute("http.route", resource)
        span.set_attributes(
            {"http.response.status_code": status, "streamway.response.bytes": bytes_out}
        )
        if status >= 500:
            span.set_status(trace.StatusCode.ERROR)
        span.end()
    finally:
        context.detach(token)  # type: ignore[arg-type]


def propagate_into_event(event: MutableMapping[str, Any]) -> None:
    """Puts the active span's context in a proxy event's headers: ``traceparent`` (W3C) and
    ``X-Amzn-Trace-Id`` (what API Gateway adds with tracing on)."""
    header = lambda_trace_header()
    if header is None:
        return
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    carrier["X-Amzn-Trace-Id"] = header
    for key in ("headers", "multiValueHeaders"):
        if not isinstance(event.get(key), MutableMapping):
            event[key] = {}
    for name, value in carrier.items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]


def lambda_trace_header() -> str | None:
    """X-Ray's form of the active span (``Root=1-<8>-<24>;Parent=<16>;Sampled=1``), the
    invocation's ``Lambda-Runtime-Trace-Id``; None when nothing is traced."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    trace_id = f"{span_context.trace_id:032x}"
    sampled = 1 if span_context.trace_flags.sampled else 0
    return (
        f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={span_context.span_id:016x};Sampled={sampled}"
    )
