"""One function URL: an ASGI app over a function's pool.

A request goes through the steps Lambda takes for a function URL: CORS preflight (answered
by the URL itself), ``AWS_IAM`` auth, the 6 MB request payload limit, the 2.0 event, a
sandbox, and the invocation's answer, streamed (``RESPONSE_STREAM``: the prelude's status,
headers and cookies, then the body as the function sends it, up to 200 MB) or whole
(``BUFFERED``: up to 6 MB, read as :func:`~.answers.buffered_answer` reads it).

A streamed response that fails after its headers went out (a function error, its death, its
timeout, the 200 MB cap) cuts the connection without the chunked body's end, as the gateway's
STREAM relay does (:mod:`streamway.local.stream_relay`): the client sees a failed transfer.
A client that leaves cancels the invocation.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from streamway.aws_contract import (
    LAMBDA_MAX_REQUEST_BYTES,
    LAMBDA_MAX_STREAMED_RESPONSE_BYTES,
    error_object,
)
from streamway.http.disconnect import ClientGone, until_disconnect
from streamway.local.buffered_relay import whole_payload
from streamway.local.exchange import Exchange
from streamway.local.function_url import answers
from streamway.local.function_url.answers import Answer
from streamway.local.function_url.config import UrlConfig
from streamway.local.function_url.event import build_event, new_request_id
from streamway.local.function_url.iam import Caller, NotSigned, check_signature
from streamway.local.functions import ABANDONED, FunctionPool, InitFailed, Lease, Throttled
from streamway.local.outcome import GatewayAnswer
from streamway.local.request_body import BodyStalled, BodyTooLarge, read_body
from streamway.local.rest_event import ClientRequest
from streamway.local.runtime_api import Invocation, SerializedEvent
from streamway.local.stream_relay import StreamCut, StreamLimits, relay_stream

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger("streamway.local.function_url")


class _Refused(Exception):
    """A step's own answer: the request goes no further."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.reason)
        self.answer = answer


class SizeCap:
    """A pacer that cuts a streamed response past Lambda's 200 MB."""

    def __init__(self, limit: int = LAMBDA_MAX_STREAMED_RESPONSE_BYTES) -> None:
        self.limit = limit
        self.sent = 0

    async def pace(self, nbytes: int) -> None:
        self.sent += nbytes
        if self.sent > self.limit:
            raise StreamCut(f"the streamed response passed {self.limit} bytes")


class FunctionUrlApp:
    """The ASGI app of one function's URL."""

    def __init__(self, url: UrlConfig, pool: FunctionPool, *, body_timeout_s: float = 30.0):
        self.url = url
        self.pool = pool
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = new_request_id()
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"]]
        lowered = {name.lower(): value for name, value in headers}
        cors = self.url.settings.cors
        if cors is not None and cors.is_preflight(scope["method"], lowered):
            # Answered by the URL itself: the function never sees a preflight.
            preflight = cors.preflight_headers(lowered.get("origin"))
            await _send_whole(send, Answer(200, preflight, b""), request_id)
            return
        send = self._with_cors(send, lowered.get("origin"))
        try:
            answer = await self._answer(scope, receive, send, headers, request_id)
        except _Refused as refused:
            answer = refused.answer
        except ClientGone:
            return
        except StreamCut as cut:
            log.error("function URL stream cut: %s", cut, extra=self._ids(request_id))
            raise
        if answer is not None:
            if answer.reason is not None:
                log.warning(
                    "function URL request failed: %s", answer.reason, extra=self._ids(request_id)
                )
            await _send_whole(send, answer, request_id)

    def _ids(self, request_id: str) -> dict[str, Any]:
        return {"function": self.url.function, "lambda_request_id": request_id}

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: list[tuple[str, str]],
        request_id: str,
    ) -> Answer | None:
        """The steps; None once the stream relay sent the response itself."""
        caller = self._authorize({name.lower(): value for name, value in headers})
        request = await self._read(scope, receive, headers)
        event = build_event(request, self.url, request_id, caller)
        payload = SerializedEvent(json.dumps(event, separators=(",", ":")).encode())
        if len(payload) > LAMBDA_MAX_REQUEST_BYTES:
            return answers.too_large(len(payload))
        lease = await self._lease(receive)
        invocation: Invocation | None = None
        exchange = Exchange(
            request_id, request.method, request.raw_path, "$default", request.source_ip
        )
        try:
            invocation = await lease.invoke(payload)
            relay = self._relay(invocation, send, exchange, request_id)
            return await until_disconnect(relay, receive)
        finally:
            if invocation is not None and not exchange.content_complete:
                invocation.cancel(error_object(ABANDONED, "no one is reading"))
            lease.release()

    def _authorize(self, lowered: dict[str, str]) -> Caller | None:
        if self.url.settings.auth_type != "AWS_IAM":
            return None
        try:
            return check_signature(lowered)
        except NotSigned as unsigned:
            raise _Refused(answers.forbidden(str(unsigned))) from None

    async def _read(
        self, scope: Scope, receive: Receive, headers: list[tuple[str, str]]
    ) -> ClientRequest:
        declared = dict((n.lower(), v) for n, v in headers).get("content-length", "")
        if declared.isdigit() and int(declared) > LAMBDA_MAX_REQUEST_BYTES:
            raise _Refused(answers.too_large(int(declared)))
        try:
            body = await read_body(receive, LAMBDA_MAX_REQUEST_BYTES, self.body_timeout_s)
        except BodyTooLarge:
            raise _Refused(answers.too_large()) from None
        except BodyStalled:
            raise _Refused(answers.timed_out()) from None
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        client = scope.get("client") or ("127.0.0.1", 0)
        return ClientRequest(
            method=scope["method"],
            raw_path=raw_path.split("?", 1)[0],
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            source_ip=client[0],
            server_port=(scope.get("server") or ("", 0))[1] or 0,
            protocol=f"HTTP/{scope.get('http_version', '1.1')}",
        )

    async def _lease(self, receive: Receive) -> Lease:
        try:
            return await until_disconnect(self.pool.acquire(), receive)
        except Throttled:
            raise _Refused(answers.throttled()) from None
        except InitFailed as failed:
            raise _Refused(answers.bad_gateway(f"function init failed: {failed}")) from None

    async def _relay(
        self, invocation: Invocation, send: Send, exchange: Exchange, request_id: str
    ) -> Answer | None:
        if self.url.invoke_mode == "BUFFERED":
            payload = await whole_payload(invocation)
            if payload is None:
                return answers.bad_gateway("the function's payload is over Lambda's 6 MB")
            exchange.content_complete = True  # read to its end: nothing to cancel
            if invocation.error is not None:
                return answers.bad_gateway(f"function error: {invocation.error.get('errorType')}")
            return answers.buffered_answer(payload)
        timeout_s = self.pool.spec.timeout_s
        outcome = await relay_stream(
            invocation,
            send,
            exchange,
            StreamLimits(total_s=timeout_s, idle_s=timeout_s),
            gateway_headers=[(b"x-amzn-requestid", request_id.encode())],
            pacers=(SizeCap(),),
            head_request=exchange.method == "HEAD",
        )
        if isinstance(outcome, GatewayAnswer):  # nothing went out yet
            return answers.bad_gateway(outcome.reason or "the stream failed before its headers")
        return None

    def _with_cors(self, send: Send, origin: str | None) -> Send:
        """``send`` with the URL's CORS headers put on the response's start."""
        cors = self.url.settings.cors
        if cors is None:
            return send

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = cors.response_headers(origin, message.get("headers", []))
                message = {**message, "headers": headers}
            await send(message)

        return sending


async def _send_whole(send: Send, answer: Answer, request_id: str) -> None:
    headers = [(n, v) for n, v in answer.headers if n.lower() != b"content-length"]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    headers.append((b"x-amzn-requestid", request_id.encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
