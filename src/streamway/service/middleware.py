"""Pure ASGI middleware for what every request needs: an id, a size limit and an access log line,
and the check of the ``Host`` header against ``STREAMWAY_ALLOWED_HOSTS``.

Written as plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` because that one
re-streams response bodies through a queue, which adds latency to every token and hides
client disconnects from the app.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamway.http.head_limits import send_json_refusal
from streamway.logs import request_id_var
from streamway.observability import tracing
from streamway.observability.request_metrics import (
    UNMATCHED_ROUTE,
    MetricsSink,
    RequestMetrics,
    current_request,
)
from streamway.service.errors import ApiError, error_body

REQUEST_ID_HEADER = "x-request-id"
#: AgentCore Runtime sends its own id for each invocation; a caller's x-request-id wins.
AGENTCORE_REQUEST_ID_HEADER = "x-amzn-bedrock-agentcore-runtime-request-id"
_REQUEST_ID_HEADERS = (REQUEST_ID_HEADER.encode(), AGENTCORE_REQUEST_ID_HEADER.encode())

# Accept a caller's id only when it is short and plain, so it is safe in logs and headers.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

access_log = logging.getLogger("streamway.access")
log = logging.getLogger("streamway.errors")


def _request_id_from(scope: Scope) -> str:
    offered = dict.fromkeys(_REQUEST_ID_HEADERS, "")
    for name, value in scope.get("headers", ()):
        if name in offered and not offered[name]:
            offered[name] = value.decode("latin-1")
    for candidate in offered.values():
        if _SAFE_REQUEST_ID.fullmatch(candidate):
            return candidate
    return uuid.uuid4().hex


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _route_template(scope: Scope) -> str:
    """The matched route's template (``/download/{key}``), never the raw path: metric labels
    and dimensions must stay few whatever paths clients send."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def payload_too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"The request body is larger than {limit} bytes, the most this API accepts.",
        limit_bytes=limit,
    )


class RequestContextMiddleware:
    """Tags the request with an id, bounds its body, and when it ends logs one access line and
    hands its figures (:class:`RequestMetrics`) to the metrics sinks and its span."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_request_bytes: int,
        sinks: Sequence[MetricsSink] = (),
    ) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.sinks = tuple(sinks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        request_id = _request_id_from(scope)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        metrics = RequestMetrics(method=scope.get("method", "WS"))
        metrics_token = current_request.set(metrics)
        span = tracing.start_request_span(scope)
        status = 0
        completed = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, completed
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            elif message["type"] == "http.response.body":
                metrics.sent(len(message.get("body", b"")))
                completed = not message.get("more_body", False)
            await send(message)

        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_request_bytes:
                    # Raised into whoever reads the body; the error handler answers 413.
                    raise payload_too_large(self.max_request_bytes)
            return message

        raised = False
        try:
            declared = _content_length(scope) if scope["type"] == "http" else None
            if declared is not None and declared > self.max_request_bytes:
                # Refuse before reading a byte of the body.
                await self._refuse(send_with_id, payload_too_large(self.max_request_bytes))
            else:
                await self.app(scope, bounded_receive, send_with_id)
        except BaseException:
            raised = True
            raise
        finally:
            metrics.route = _route_template(scope)
            metrics.end(
                status,
                completed=completed or scope["type"] == "websocket",
                raised=raised,
            )
            self._report(scope, metrics, request_id, span)
            current_request.reset(metrics_token)
            request_id_var.reset(token)

    def _report(self, scope: Scope, metrics: RequestMetrics, request_id: str, span: Any) -> None:
        """The access line, the metrics sinks and the span; none may fail the request."""
        for sink in self.sinks:
            try:
                sink.record(metrics, request_id)
            except Exception:
                access_log.exception("a metrics sink failed")
        if span is not None:
            tracing.end_request_span(span, metrics)
        # Under the native Lambda runtime the runtime writes the invocation's one access
        # line (with Lambda's request id); a second one here would count it twice.
        if "aws.context" in scope:
            return
        fields: dict[str, Any] = {
            "method": scope.get("method", "WS"),
            "path": scope["path"],
            "status": metrics.status,
            "bytes": metrics.bytes,
            "duration_ms": metrics.duration_ms,
            "outcome": metrics.outcome,
        }
        if metrics.agent:
            fields["time_to_first_token_ms"] = metrics.time_to_first_token_ms
            fields["output_tokens"] = metrics.output_tokens
            fields["tokens_per_second"] = metrics.tokens_per_second
        access_log.info("request", extra=fields)

    @staticmethod
    async def _refuse(send: Send, error: ApiError) -> None:
        body = json.dumps(error_body(error.code, error.message, **error.details)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class AllowedHostsMiddleware:
    """Answers 400 to a request whose ``Host`` is not one of ``allowed_hosts``.

    The patterns are Starlette's ``TrustedHostMiddleware``'s: a name, ``*.example.com`` for
    any subdomain of it, or ``*`` for any host (the default, which checks nothing). Unlike
    that middleware it answers with the service's JSON error, and it reads IPv6 literals
    (``[::1]:8080``) whole. Requests without a ``Host`` match only ``*``.
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allowed = [pattern.lower() for pattern in allowed_hosts]
        self.any_host = "*" in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.any_host or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = host_name(scope)
        if host is not None and any(_host_matches(host, p) for p in self.allowed):
            await self.app(scope, receive, send)
            return
        error = ApiError(
            400,
            "invalid_host",
            "The Host header names a host this service does not answer for "
            "(STREAMWAY_ALLOWED_HOSTS).",
        )
        log.info("request refused", extra={"status": error.status, "code": error.code})
        await send_json_refusal(
            scope, receive, send, error.status, error_body(error.code, error.message)
        )


def host_name(scope: Scope) -> str | None:
    """The host of the ``Host`` header, lower case and without its port; None if absent."""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host: str = value.decode("latin-1").strip().lower()
            if host.startswith("["):  # an IPv6 literal: [::1]:8080
                return host.partition("]")[0] + "]"
            return host.partition(":")[0]
    return None


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern
