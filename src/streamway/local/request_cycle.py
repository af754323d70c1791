"""One request through the local API Gateway, as API Gateway REST relays it to Lambda.

A :class:`RequestCycle` per request owns the request's ids (``x-amzn-RequestId``,
``x-amz-apigw-id``), its trace span and its :class:`~streamway.local.exchange.Exchange`, and
takes the steps in API Gateway's order:

1. **route**: the stage and route from the shared API definition (none: 403 Missing
   Authentication Token, as API Gateway answers an unknown resource or method), and the
   request payload limit (10 MB: 413), from ``Content-Length`` before reading a byte;
2. **authorize**, where the definition's security asks for it (API key, JWT);
3. **invoke**: the body, the REST proxy event (:mod:`streamway.local.rest_event`), a
   sandbox of the route's function (StreamFunction for STREAM routes, BufferedFunction for
   BUFFERED ones; none free at the limit: Lambda throttles and API Gateway answers 500), and
   the relay (:mod:`streamway.local.stream_relay` or :mod:`streamway.local.buffered_relay`),
   watched for the client leaving, which cancels the invocation;
4. **respond**: the outcome of the steps above (:mod:`streamway.local.outcome`) goes to the
   client, unless the stream relay already sent it; then the exchange is metered, which
   writes the access log line.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from streamway.api.definition import API_KEY_SCHEME, ApiDefinition, Route
from streamway.aws_contract import LAMBDA_MAX_REQUEST_BYTES, TransferMode, error_object
from streamway.http.disconnect import ClientGone, until_disconnect
from streamway.local import gateway_responses as responses
from streamway.local.buffered_relay import collect
from streamway.local.exchange import Exchange
from streamway.local.functions import ABANDONED, FunctionPool, InitFailed, Lease, Throttled
from streamway.local.gateway_responses import send_gateway_response
from streamway.local.metering import Meter
from streamway.local.outcome import BufferedAnswer, GatewayAnswer, Outcome, Streamed
from streamway.local.request_body import BodyStalled, BodyTooLarge, read_body
from streamway.local.rest_event import ClientRequest, RequestIds, StageContext, build_event
from streamway.local.runtime_api import Invocation, SerializedEvent
from streamway.local.stream_relay import StreamCut, StreamLimits, relay_stream
from streamway.local.throttle import Pacer
from streamway.observability import tracing

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from streamway.local.auth import GatewayAuth

# One logger for the whole gateway, whichever module writes (bench/soak_watch.py reads it).
log = logging.getLogger("streamway.local.gateway")


@dataclass(frozen=True)
class GatewayConfig:
    """What every request's cycle reads: the API, its stage, the functions and the limits."""

    definition: ApiDefinition
    stage: StageContext
    #: The function that serves each transfer mode.
    pools: Mapping[TransferMode, FunctionPool]
    stream_idle_timeout_s: float
    max_request_bytes: int
    #: Override the routes' integration timeouts (timeoutInMillis) when set.
    stream_timeout_s: float | None = None
    buffered_timeout_s: float | None = None
    body_timeout_s: float = 30.0
    #: Bandwidth caps for one streamed response, made anew for each.
    pacers: Callable[[], Sequence[Pacer]] = tuple
    auth: GatewayAuth | None = None


class _Routed(NamedTuple):
    route: Route
    path_in_stage: str
    path_parameters: dict[str, str]


class _Grant(NamedTuple):
    """What auth lets through to the event: the token's claims and the API key."""

    claims: dict[str, Any] | None = None
    api_key: str | None = None


class RequestCycle:
    """One request: route, authorize, invoke, respond (see the module docstring)."""

    def __init__(
        self, config: GatewayConfig, meter: Meter, scope: Scope, receive: Receive, send: Send
    ) -> None:
        self.config = config
        self.meter = meter
        self.scope = scope
        self.receive = receive
        self.send = send
        self.ids = RequestIds.new()
        raw_path = _raw_path(scope)
        client = scope.get("client") or ("127.0.0.1", 0)
        self.exchange = Exchange(
            self.ids.request_id,
            scope["method"],
            raw_path,
            config.stage.stage,
            client[0],
            path_in_stage=path_in_stage(raw_path, config.stage.stage),
        )
        #: The request's headers, names and values as sent, repeats kept.
        self.headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]
        ]
        #: What API Gateway adds to every answer that passed through the integration.
        self.gateway_headers = [
            (b"x-amzn-requestid", self.ids.request_id.encode()),
            (b"x-amz-apigw-id", self.ids.extended_request_id.encode()),
        ]

    async def run(self) -> None:
        """Answers the request, then meters it; a stream cut after its headers propagates
        (the server then drops the connection)."""
        span = tracing.start_gateway_span(self.scope)  # None unless OTEL_* asks for traces
        exchange = self.exchange
        try:
            await self._respond(await self._outcome())
        except ClientGone:
            if exchange.content_complete:
                exchange.end(completed=True)
            else:
                exchange.end(completed=False, error="the client went away")
        except StreamCut as cut:
            exchange.end(completed=False, error=str(cut))
            log.error(
                "stream cut after its headers: %s", cut, extra={"request_id": self.ids.request_id}
            )
            raise
        finally:
            if exchange.ended_at is None:
                exchange.end(completed=False)
            self._meter()
            if span is not None:
                tracing.end_gateway_span(
                    span,
                    method=exchange.method,
                    resource=exchange.resource,
                    status=exchange.status,
                    bytes_out=exchange.bytes_out,
                )

    async def _outcome(self) -> Outcome:
        """The steps up to the response; the first gateway answer ends them."""
        routed = self._route()
        if isinstance(routed, GatewayAnswer):
            return routed
        granted = self._authorize(routed.route)
        if isinstance(granted, GatewayAnswer):
            return granted
        request = await self._read_request()
        if isinstance(request, GatewayAnswer):
            return request
        event = build_event(
            request,
            routed.route,
            routed.path_in_stage,
            routed.path_parameters,
            self.config.stage,
            self.ids,
            claims=granted.claims,
            api_key=granted.api_key,
        )
        tracing.propagate_into_event(event)  # traceparent + X-Amzn-Trace-Id, when tracing
        # Serialized once: measured here, handed to the function as these bytes.
        payload = SerializedEvent(json.dumps(event, separators=(",", ":")).encode())
        if too_large := _over_lambdas_request_limit(payload):
            return too_large
        lease = await self._lease(routed.route)
        if isinstance(lease, GatewayAnswer):
            return lease
        return await self._invoke(routed.route, lease, payload, request)

    # --- the steps ---------------------------------------------------------------------

    def _route(self) -> _Routed | GatewayAnswer:
        """The route, and the payload limit as ``Content-Length`` declares it."""
        in_stage = self.exchange.path_in_stage
        definition = self.config.definition
        if in_stage is None or (found := definition.find(self.exchange.method, in_stage)) is None:
            return GatewayAnswer(responses.MISSING_AUTHENTICATION_TOKEN)
        route, path_parameters = found
        self.exchange.routed(route)
        declared = dict(self.headers).get("content-length", "")
        if declared.isdigit() and int(declared) > self.config.max_request_bytes:
            return GatewayAnswer(responses.REQUEST_TOO_LARGE)
        return _Routed(route, in_stage, path_parameters)

    def _authorize(self, route: Route) -> _Grant | GatewayAnswer:
        """The claims and API key for the event, or API Gateway's refusal (401/403)."""
        auth = self.config.auth
        if auth is None or not route.security:
            return _Grant()
        # Only with auth configured: its JWT checks need the `gateway` extra (pyjwt).
        from streamway.local.auth import GatewayDenied

        lowered = {name.lower(): value for name, value in self.headers}
        try:
            claims = auth.check(route, lowered)
        except GatewayDenied as denied:
            return GatewayAnswer(denied.response, "refused by auth")
        api_key = lowered.get("x-api-key") if API_KEY_SCHEME in route.security else None
        return _Grant(claims, api_key)

    async def _read_request(self) -> ClientRequest | GatewayAnswer:
        """The request with its whole body, or the gateway's answer to a body too large
        or too slow."""
        timeout_s = self.config.body_timeout_s
        try:
            body = await read_body(self.receive, self.config.max_request_bytes, timeout_s)
        except BodyTooLarge:
            return GatewayAnswer(responses.REQUEST_TOO_LARGE)
        except BodyStalled:
            reason = f"no part of the request body arrived for {timeout_s:g} s"
            return GatewayAnswer(responses.REQUEST_TIMEOUT, reason)
        scope = self.scope
        return ClientRequest(
            method=scope["method"],
            raw_path=self.exchange.path,
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=self.headers,
            body=body,
            source_ip=self.exchange.source_ip,
            server_port=(scope.get("server") or ("", 0))[1] or 0,
            protocol=f"HTTP/{scope.get('http_version', '1.1')}",
            received_at=self.exchange.received_at,
        )

    async def _lease(self, route: Route) -> Lease | GatewayAnswer:
        """A sandbox of the route's function, or the gateway's answer when none comes."""
        pool = self.config.pools[route.transfer_mode]
        self.exchange.memory_mb = pool.spec.memory_mb
        try:
            lease = await until_disconnect(pool.acquire(), self.receive)
        except Throttled:
            reason = "Lambda throttled the invocation (concurrency limit)"
            return GatewayAnswer(responses.INTERNAL_ERROR, reason)
        except InitFailed as error:
            return GatewayAnswer(responses.BAD_GATEWAY, f"function init failed: {error}")
        self.exchange.cold_start = lease.cold_start
        self.exchange.init_ms = lease.init_ms
        return lease

    async def _invoke(
        self, route: Route, lease: Lease, event: SerializedEvent, request: ClientRequest
    ) -> Outcome:
        """The invocation, relayed until its outcome or until the client leaves; the
        sandbox is handed back either way."""
        invocation: Invocation | None = None
        try:
            invocation = await lease.invoke(event)
            self.exchange.lambda_request_id = invocation.request_id
            return await until_disconnect(self._relay(route, invocation, request), self.receive)
        finally:
            if invocation is not None:
                self._settle(invocation)
            lease.release()

    def _relay(
        self, route: Route, invocation: Invocation, request: ClientRequest
    ) -> Awaitable[Outcome]:
        if route.streams:
            limits = StreamLimits(
                total_s=self.config.stream_timeout_s or route.timeout_ms / 1000,
                idle_s=self.config.stream_idle_timeout_s,
            )
            return relay_stream(
                invocation,
                self.send,
                self.exchange,
                limits,
                gateway_headers=self.gateway_headers,
                pacers=self.config.pacers(),
                head_request=request.method == "HEAD",
            )
        timeout_s = self.config.buffered_timeout_s or route.timeout_ms / 1000
        return collect(
            invocation,
            self.exchange.started + timeout_s,
            accept=request.header("accept"),
            binary_media_types=self.config.stage.binary_media_types,
        )

    def _settle(self, invocation: Invocation) -> None:
        self.exchange.function_ms = _function_ms(invocation)
        if not self.exchange.content_complete:
            # Whatever ended the relay early (the client, a timeout, a cut), the function's
            # answer has no reader any more. A client that already has every byte (and hung
            # up before the stream's formal end) lets the function finish instead.
            invocation.cancel(error_object(ABANDONED, "no one is reading"))

    async def _respond(self, outcome: Outcome) -> None:
        """Sends the outcome, unless the stream relay already did."""
        exchange = self.exchange
        if isinstance(outcome, Streamed):
            exchange.end(completed=True)
            return
        if isinstance(outcome, GatewayAnswer):
            if outcome.reason is not None:
                exchange.fail(outcome.reason)
            await send_gateway_response(self.send, outcome.response, self.ids.request_id)
            status, size = outcome.response.status, len(outcome.response.body())
        else:
            await self._send_answer(outcome)
            status, size = outcome.status, len(outcome.body)
        exchange.headers_sent(status)
        exchange.content_sent(size)
        exchange.end(completed=True)

    async def _send_answer(self, answer: BufferedAnswer) -> None:
        headers = [*answer.headers, *self.gateway_headers]
        await self.send(
            {"type": "http.response.start", "status": answer.status, "headers": headers}
        )
        await self.send({"type": "http.response.body", "body": answer.body})

    def _meter(self) -> None:
        """Meters the request (which writes API Gateway's access log line); a failure's
        reason goes to the gateway's own log with the request id."""
        exchange = self.exchange
        self.meter.record(exchange.record())
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


def _over_lambdas_request_limit(payload: SerializedEvent) -> GatewayAnswer | None:
    """API Gateway takes a body of up to 10 MB, but Lambda takes an event of at most 6 MB:
    a larger one is refused before any function runs, and API Gateway answers 500 with
    "Execution failed: N byte payload is too large..." in its execution log
    (docs/aws-behaviour.md §2). The Lambda API's own Invoke refuses the same payload with
    413 (:mod:`streamway.local.lambda_api`)."""
    size = len(payload)
    if size <= LAMBDA_MAX_REQUEST_BYTES:
        return None
    reason = (
        f"Execution failed: {size} byte payload is too large for the RequestResponse "
        f"invocation type (limit {LAMBDA_MAX_REQUEST_BYTES} bytes)"
    )
    return GatewayAnswer(responses.INTERNAL_ERROR, reason)


def path_in_stage(raw_path: str, stage: str) -> str | None:
    """``/dev/download/x`` -> ``/download/x`` for stage ``dev``; None outside the stage."""
    prefix = f"/{stage}"
    if raw_path == prefix:
        return "/"
    if raw_path.startswith(prefix + "/"):
        return raw_path[len(prefix) :]
    return None


def _raw_path(scope: Scope) -> str:
    raw: bytes | None = scope.get("raw_path")
    if raw is None:
        return quote(scope["path"])
    return raw.decode("latin-1").split("?", 1)[0]


def _function_ms(invocation: Invocation) -> float | None:
    if invocation.received_at is None:
        return None
    return round((time.perf_counter() - invocation.received_at) * 1000, 3)
