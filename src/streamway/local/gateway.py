"""The local API Gateway: an ASGI app (served by uvicorn) that relays each request to a
function process through its Runtime API emulator, as API Gateway REST relays to Lambda.

Per request, in API Gateway's order:

1. the stage and route from the shared API definition (none: 403 Missing Authentication
   Token, as API Gateway answers for an unknown resource or method);
2. the request payload limit (10 MB: 413), from ``Content-Length`` before reading a byte;
3. auth where the definition's security asks for it (API key, JWT);
4. the REST proxy event (:mod:`streamway.local.rest_event`);
5. a sandbox of the route's function: StreamFunction (response_stream mode) for STREAM
   routes, BufferedFunction (buffered mode) for BUFFERED ones
   (:mod:`streamway.local.functions`); none free at the limit: Lambda throttles, and API
   Gateway answers 500;
6. the relay (:mod:`streamway.local.stream_integration` or
   :mod:`streamway.local.buffered_integration`), watched for the client leaving, which
   cancels the invocation.

``GET /_local/functions`` (outside any stage) shows the sandboxes, ``GET /_local/metering``
what the run would have cost on AWS (:mod:`streamway.local.metering`, which also writes the
access log line of every request). They are recognised on the *decoded* path, as API Gateway
routes on it, so ``/%5Flocal/...`` is the same endpoint and never a way around its checks;
with an API key or a JWT configured they require the same credentials as the API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.types import Message, Receive, Scope, Send

from streamway.api.definition import ApiDefinition, Route
from streamway.aws_contract import TransferMode, error_object
from streamway.http.disconnect import ClientGone, until_disconnect
from streamway.local import gateway_responses as responses
from streamway.local.buffered_integration import BufferedAnswer, collect
from streamway.local.exchange import Exchange
from streamway.local.functions import ABANDONED, FunctionPool, InitFailed, Lease, Throttled
from streamway.local.gateway_responses import GatewayResponse
from streamway.local.metering import Meter, RequestRecord
from streamway.local.rest_event import ClientRequest, RequestIds, StageContext, build_event
from streamway.local.runtime_api import Invocation
from streamway.local.stream_integration import Pacer, StreamLimits, relay_stream
from streamway.observability import tracing

if TYPE_CHECKING:
    from streamway.local.auth import GatewayAuth

log = logging.getLogger("streamway.local.gateway")
metering_log = logging.getLogger("streamway.local.metering")


LOCAL_PREFIX = "/_local/"


class _TooLarge(Exception):
    pass


class _BodyStalled(Exception):
    pass


class LocalGateway:
    """The ASGI app. ``pools`` maps a transfer mode to the function that serves it."""

    def __init__(
        self,
        definition: ApiDefinition,
        stage: StageContext,
        pools: Mapping[TransferMode, FunctionPool],
        *,
        stream_timeout_s: float | None = None,
        buffered_timeout_s: float | None = None,
        stream_idle_timeout_s: float,
        max_request_bytes: int,
        body_timeout_s: float = 30.0,
        pacers: Callable[[], Sequence[Pacer]] = tuple,
        auth: GatewayAuth | None = None,
        meter: Meter | None = None,
    ) -> None:
        self.definition = definition
        self.stage = stage
        self.pools = pools
        self.stream_timeout_s = stream_timeout_s
        self.buffered_timeout_s = buffered_timeout_s
        self.stream_idle_timeout_s = stream_idle_timeout_s
        self.max_request_bytes = max_request_bytes
        self.body_timeout_s = body_timeout_s
        self.pacers = pacers
        self.auth = auth
        self.meter = meter or Meter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def close(self) -> None:
        """Stops every function process and logs what the run would have cost on AWS."""
        await asyncio.gather(*(pool.close() for pool in self.pools.values()))
        totals = {k: v for k, v in self.meter.summary().items() if k != "recent"}
        metering_log.info("metering summary\n%s", self.meter.summary_text(), extra=totals)

    # --- one request -------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # scope["path"] is percent-decoded (raw_path is not): decide on it, so that every
        # spelling of /_local/ (/%5Flocal/, /_local%2F...) reaches the same guarded endpoint.
        if scope["path"].startswith(LOCAL_PREFIX):
            await self._local_endpoint(scope, send)
            return
        span = tracing.start_gateway_span(scope)  # None unless OTEL_* asks for traces
        ids = RequestIds.new()
        raw_path = _raw_path(scope)
        client = scope.get("client") or ("127.0.0.1", 0)
        exchange = Exchange(ids.request_id, scope["method"], raw_path, self.stage.stage, client[0])
        gateway_headers = [
            (b"x-amzn-requestid", ids.request_id.encode()),
            (b"x-amz-apigw-id", ids.extended_request_id.encode()),
        ]
        try:
            answer = await self._answer(scope, receive, send, ids, exchange, gateway_headers)
            if isinstance(answer, GatewayResponse):
                await _send_gateway_response(send, answer, ids.request_id)
                exchange.headers_sent(answer.status)
                exchange.content_sent(len(answer.body()))
                exchange.end(completed=True)
            elif isinstance(answer, BufferedAnswer):
                await _send_answer(send, answer, gateway_headers)
                exchange.headers_sent(answer.status)
                exchange.content_sent(len(answer.body))
                exchange.end(completed=True)
        except ClientGone:
            if exchange.content_complete:
                exchange.end(completed=True)
            else:
                exchange.end(completed=False, error="the client went away")
        finally:
            if exchange.ended_at is None:
                exchange.end(completed=False)
            self._record(exchange)
            if span is not None:
                tracing.end_gateway_span(
                    span,
                    method=exchange.method,
                    resource=exchange.resource,
                    status=exchange.status,
                    bytes_out=exchange.bytes_out,
                )

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        ids: RequestIds,
        exchange: Exchange,
        gateway_headers: list[tuple[bytes, bytes]],
    ) -> GatewayResponse | BufferedAnswer | None:
        in_stage = _path_in_stage(exchange.path, self.stage.stage)
        found = self.definition.find(scope["method"], in_stage) if in_stage is not None else None
        if found is None or in_stage is None:
            return responses.MISSING_AUTHENTICATION_TOKEN
        route, path_parameters = found
        exchange.resource = route.resource
        exchange.transfer_mode = "STREAMED" if route.streams else "BUFFERED"
        headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]
        ]
        declared = dict(headers).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_request_bytes:
            return responses.REQUEST_TOO_LARGE
        granted = self._authorize(route, headers)
        if isinstance(granted, GatewayResponse):
            exchange.error = "refused by auth"
            return granted
        claims, api_key = granted
        try:
            body = await _read_body(receive, self.max_request_bytes, self.body_timeout_s)
        except _TooLarge:
            return responses.REQUEST_TOO_LARGE
        except _BodyStalled:
            exchange.error = f"no part of the request body arrived for {self.body_timeout_s:g} s"
            return responses.REQUEST_TIMEOUT
        request = ClientRequest(
            method=scope["method"],
            raw_path=exchange.path,
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            source_ip=exchange.source_ip,
            server_port=(scope.get("server") or ("", 0))[1] or 0,
            protocol=f"HTTP/{scope.get('http_version', '1.1')}",
            received_at=exchange.received_at,
        )
        event = build_event(
            request,
            route,
            in_stage,
            path_parameters,
            self.stage,
            ids,
            claims=claims,
            api_key=api_key,
        )
        tracing.propagate_into_event(event)  # traceparent + X-Amzn-Trace-Id, when tracing
        pool = self.pools[route.transfer_mode]
        exchange.memory_mb = pool.spec.memory_mb
        try:
            lease = await until_disconnect(pool.acquire(), receive)
        except Throttled:
            exchange.error = "Lambda throttled the invocation (concurrency limit)"
            return responses.INTERNAL_ERROR
        except InitFailed as error:
            exchange.error = f"function init failed: {error}"
            return responses.BAD_GATEWAY
        exchange.cold_start = lease.cold_start
        exchange.init_ms = lease.init_ms
        return await self._invoke(
            route, lease, event, request, exchange, receive, send, gateway_headers
        )

    async def _invoke(
        self,
        route: Route,
        lease: Lease,
        event: dict[str, Any],
        request: ClientRequest,
        exchange: Exchange,
        receive: Receive,
        send: Send,
        gateway_headers: list[tuple[bytes, bytes]],
    ) -> GatewayResponse | BufferedAnswer | None:
        invocation: Invocation | None = None
        try:
            invocation = await lease.invoke(event)
            exchange.lambda_request_id = invocation.request_id
            if route.streams:
                limits = StreamLimits(
                    total_s=self.stream_timeout_s or route.timeout_ms / 1000,
                    idle_s=self.stream_idle_timeout_s,
                )
                relay = relay_stream(
                    invocation,
                    send,
                    exchange,
                    limits,
                    gateway_headers=gateway_headers,
                    pacers=self.pacers(),
                    head_request=request.method == "HEAD",
                )
                return await until_disconnect(relay, receive)
            timeout_s = self.buffered_timeout_s or route.timeout_ms / 1000
            return await until_disconnect(
                collect(
                    invocation,
                    exchange,
                    timeout_s,
                    accept=request.header("accept"),
                    binary_media_types=self.stage.binary_media_types,
                ),
                receive,
            )
        finally:
            if invocation is not None:
                exchange.function_ms = _function_ms(invocation)
                if not exchange.content_complete:
                    # Whatever ended the relay early (the client, a timeout, a cut), the
                    # function's answer has no reader any more. A client that already has
                    # every byte (and hung up before the stream's formal end) lets the
                    # function finish instead.
                    invocation.cancel(error_object(ABANDONED, "no one is reading"))
            lease.release()

    def _authorize(
        self, route: Route, headers: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, Any] | None, str | None] | GatewayResponse:
        """(claims, API key) for the event, or API Gateway's refusal (401/403)."""
        if self.auth is None or not route.security:
            return None, None
        from streamway.api.definition import API_KEY_SCHEME
        from streamway.local.auth import GatewayDenied

        lowered = {name.lower(): value for name, value in headers}
        try:
            claims = self.auth.check(route, lowered)
        except GatewayDenied as denied:
            return GatewayResponse(denied.status, denied.message, denied.error_type)
        api_key = lowered.get("x-api-key") if API_KEY_SCHEME in route.security else None
        return claims, api_key

    # --- the rest ----------------------------------------------------------------------

    async def _local_endpoint(self, scope: Scope, send: Send) -> None:
        denied = self._authorize_local(scope)
        if denied is not None:
            request_id = RequestIds.new().request_id
            log.warning(
                "local endpoint refused: %s",
                denied.message,
                extra={"request_id": request_id, "status": denied.status, "path": scope["path"]},
            )
            await _send_gateway_response(send, denied, request_id)
            return
        if scope["method"] == "GET" and scope["path"] == "/_local/functions":
            payload: dict[str, Any] = {
                "functions": [pool.describe() for pool in self.pools.values()]
            }
            await _send_json(send, 200, payload)
        elif scope["method"] == "GET" and scope["path"] == "/_local/metering":
            await _send_json(send, 200, self.meter.summary())
        else:
            await _send_json(send, 404, {"message": "no such local endpoint"})

    def _authorize_local(self, scope: Scope) -> GatewayResponse | None:
        """The refusal of a /_local request, None to let it through. With auth configured,
        the control plane (which shows and may one day change the functions) takes every
        credential the API was given: the keys, and a JWT when a JWKS is set."""
        if self.auth is None:
            return None
        from streamway.api.definition import API_KEY_SCHEME, JWT_SCHEME
        from streamway.local.auth import GatewayDenied

        schemes = (API_KEY_SCHEME,) * bool(self.auth.api_keys) + (JWT_SCHEME,) * (
            self.auth.jwks is not None
        )
        route = Route(scope["method"], "/_local/{proxy+}", "BUFFERED", 0, "", security=schemes)
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        try:
            self.auth.check(route, headers)
        except GatewayDenied as denied:
            return GatewayResponse(denied.status, denied.message, denied.error_type)
        return None

    def _record(self, exchange: Exchange) -> None:
        """Meters the request (which writes API Gateway's access log line); a failure's
        reason goes to the gateway's own log with the request id."""
        in_stage = _path_in_stage(exchange.path, self.stage.stage)
        invoked = exchange.function_ms is not None
        self.meter.record(
            RequestRecord(
                request_id=exchange.request_id,
                method=exchange.method,
                path=in_stage if in_stage is not None else exchange.path,
                resource=exchange.resource or "-",
                stage=self.stage.stage,
                status=exchange.status,
                transfer_mode=exchange.transfer_mode,
                bytes_out=exchange.bytes_out,
                time_to_all_headers_ms=exchange.time_to_all_headers_ms or 0.0,
                time_to_first_content_ms=exchange.time_to_first_content_ms,
                latency_ms=exchange.latency_ms or 0.0,
                # Lambda bills the init phase of a cold start with the invocation.
                function_duration_ms=(exchange.function_ms or 0.0) + (exchange.init_ms or 0.0)
                if invoked
                else None,
                memory_mb=exchange.memory_mb or 0,
                cold_start=exchange.cold_start,
                source_ip=exchange.source_ip,
                completed=exchange.completed,
                request_time=exchange.received_at,
            )
        )
        if exchange.error is not None:
            log.warning(
                "request failed: %s",
                exchange.error,
                extra={
                    "request_id": exchange.request_id,
                    "status": exchange.status,
                    # Where to look in the function's own log lines.
                    "lambda_request_id": exchange.lambda_request_id,
                },
            )


def _raw_path(scope: Scope) -> str:
    raw: bytes | None = scope.get("raw_path")
    if raw is None:
        return quote(scope["path"])
    return raw.decode("latin-1").split("?", 1)[0]


def _path_in_stage(raw_path: str, stage: str) -> str | None:
    """``/dev/download/x`` -> ``/download/x`` for stage ``dev``; None outside the stage."""
    prefix = f"/{stage}"
    if raw_path == prefix:
        return "/"
    if raw_path.startswith(prefix + "/"):
        return raw_path[len(prefix) :]
    return None


async def _read_body(receive: Receive, limit: int, timeout_s: float) -> bytes:
    """The whole body, at most ``limit`` bytes; a silence of ``timeout_s`` between two pieces
    is :class:`_BodyStalled` (a body that never ends would hold a connection forever)."""
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), timeout_s)
        except TimeoutError:
            raise _BodyStalled() from None
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def _function_ms(invocation: Invocation) -> float | None:
    if invocation.received_at is None:
        return None
    return round((time.perf_counter() - invocation.received_at) * 1000, 3)


async def _send_gateway_response(send: Send, response: GatewayResponse, request_id: str) -> None:
    headers = response.headers(request_id)
    if response is responses.REQUEST_TIMEOUT:
        # The rest of a stalled body may still come: it must not be read as the next request.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body()})


async def _send_answer(
    send: Send, answer: BufferedAnswer, gateway_headers: Sequence[tuple[bytes, bytes]]
) -> None:
    start: Message = {
        "type": "http.response.start",
        "status": answer.status,
        "headers": [*answer.headers, *gateway_headers],
    }
    await send(start)
    await send({"type": "http.response.body", "body": answer.body})


async def _send_json(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload, indent=2).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
