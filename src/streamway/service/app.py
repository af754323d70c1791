"""``create_app(settings)``: the one ASGI app for uvicorn, the Lambda runtime and LWA."""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Response

from streamway import __version__
from streamway.config import ObservabilitySettings, Settings
from streamway.http.head_limits import HeadLimitMiddleware, HeadTooLarge
from streamway.observability import tracing
from streamway.observability.request_metrics import MetricsSink
from streamway.service import (
    agentcore,
    agentcore_entrypoint,
    agentcore_ws,
    downloads,
    objects,
    page,
    streaming,
    tus,
)
from streamway.service.errors import error_body, install_error_handlers
from streamway.service.middleware import AllowedHostsMiddleware, RequestContextMiddleware
from streamway.service.services import ServicesDep, services_lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    tracing.setup()  # only with OTEL_EXPORTER_OTLP_ENDPOINT set (docs/observability.md)

    app = FastAPI(
        title="streamway",
        version=__version__,
        lifespan=services_lifespan(settings),
        # FastAPI's own spans (0.16x) would duplicate streamway's request span, which carries
        # the stream's figures and the Lambda invocation as its parent (observability.md).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.include_router(streaming.router)
    app.include_router(downloads.router)
    if settings.agentcore.agentcore_entrypoint:  # your own agent answers /invocations
        app.include_router(agentcore_entrypoint.router)
    else:
        app.include_router(agentcore.router)
    app.include_router(agentcore.health_router)
    app.include_router(agentcore_ws.router)
    app.include_router(objects.router)
    app.include_router(tus.router)
    app.include_router(page.router)

    @app.get("/stats", summary="Counters for generations, the admission queue and resumes")
    async def stats(services: ServicesDep) -> dict[str, Any]:
        return {
            **services.runner.stats(),
            "sessions": services.sessions.stats(),
            "resume": services.streams.stats(),
        }

    # Added innermost first: Starlette runs the last one added outermost. The request id and
    # the access log wrap the refusals of the head and host checks too.
    app.add_middleware(AllowedHostsMiddleware, allowed_hosts=settings.serve.allowed_hosts)
    app.add_middleware(
        HeadLimitMiddleware,
        max_header_bytes=settings.serve.max_header_bytes,
        max_head_bytes=settings.serve.max_head_bytes,
        body=_head_too_large,
    )
    app.add_middleware(
        RequestContextMiddleware,
        max_request_bytes=settings.serve.max_request_bytes,
        sinks=_metrics_sinks(app, settings.observability),
    )
    return app


def _metrics_sinks(app: FastAPI, settings: ObservabilitySettings) -> list[MetricsSink]:
    """EMF lines on Lambda, Prometheus at /metrics when asked (docs/observability.md)."""
    sinks: list[MetricsSink] = []
    if settings.metrics_endpoint:
        try:
            from streamway.observability.prometheus import PrometheusMetrics

            prometheus = PrometheusMetrics()
        except ImportError as error:
            raise RuntimeError(
                "STREAMWAY_METRICS_ENDPOINT needs the obs extra: pip install 'streamway[obs]'"
            ) from error
        sinks.append(prometheus)

        @app.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(prometheus.exposition(), media_type=prometheus.content_type)

    emf = settings.metrics_emf
    if emf is None:
        emf = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    if emf:
        from streamway.observability.emf import EmfWriter, parse_dimensions

        sinks.append(
            EmfWriter(settings.metrics_namespace, parse_dimensions(settings.metrics_dimensions))
        )
    return sinks


def _head_too_large(refusal: HeadTooLarge) -> dict[str, Any]:
    details: dict[str, Any] = {"limit_bytes": refusal.limit_bytes}
    if refusal.header is not None:
        details["header"] = refusal.header
    return error_body("request_header_too_large", refusal.message, **details)
