"""The Lambda API on ``streamway local``'s port: ``Invoke`` and ``InvokeWithResponseStream``
at the paths and headers botocore's service model gives them, outside the stage.

- ``POST /2015-03-31/functions/{FunctionName}/invocations``: ``X-Amz-Invocation-Type``
  RequestResponse (the default), Event (202, run in the background) or DryRun (204);
- ``POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations``:
  RequestResponse or DryRun, answered as an event stream.

The functions are the pools ``streamway local`` runs (StreamFunction, BufferedFunction), by
name, ARN and qualifier (:mod:`streamway.local.lambda_api.names`). The request is checked as
Lambda checks it before any function runs: the function exists, the invocation type, the
payload's size (6 MB; 1 MB for Event) and that it is JSON. With auth configured for the API
the Lambda API is off (403 AccessDeniedException): it cannot check the API's credentials.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from streamway.aws_contract import LAMBDA_MAX_ASYNC_REQUEST_BYTES, LAMBDA_MAX_REQUEST_BYTES
from streamway.http.disconnect import ClientGone
from streamway.local.functions import FunctionPool
from streamway.local.lambda_api import errors
from streamway.local.lambda_api.invoke import (
    EXECUTED_VERSION,
    invoke_buffered,
    invoke_in_background,
    invoke_streamed,
)
from streamway.local.lambda_api.names import FunctionRef, parse_function_name
from streamway.local.request_body import BodyStalled, BodyTooLarge, read_body
from streamway.local.runtime_api import SerializedEvent

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import Receive, Scope, Send

_INVOKE = re.compile(r"/2015-03-31/functions/(?P<name>[^/]+)/invocations/?")
_STREAM = re.compile(r"/2021-11-15/functions/(?P<name>[^/]+)/response-streaming-invocations/?")
_PREFIXES = ("/2015-03-31/functions/", "/2021-11-15/functions/")
#: Each operation's enum of invocation types, as its validation message lists it.
_INVOCATION_TYPES = {
    "Invoke": ("Event", "RequestResponse", "DryRun"),
    "InvokeWithResponseStream": ("RequestResponse", "DryRun"),
}
_LOG_TYPES = ("None", "Tail")


@dataclass(frozen=True)
class _Call:
    operation: str
    function: FunctionRef
    invocation_type: str
    #: ``LogType=Tail``: the answer carries the invocation's log tail.
    tail: bool = False


class LambdaApi:
    """The ASGI side of the Lambda API, over the functions' pools."""

    def __init__(
        self, pools: Iterable[FunctionPool], *, body_timeout_s: float = 30.0, guarded: bool = False
    ) -> None:
        self.functions = {pool.spec.name: pool for pool in pools}
        self.body_timeout_s = body_timeout_s
        #: The API's routes need credentials (--api-key, --jwks): the Lambda API, which has
        #: no way to check them (SigV4 is boto3's Authorization), would be a way around them.
        self.guarded = guarded
        self._background: set[asyncio.Task[None]] = set()

    @staticmethod
    def serves(path: str) -> bool:
        """Whether a (percent-decoded) path is the Lambda API's rather than the stage's."""
        return path.startswith(_PREFIXES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        try:
            if self.guarded:
                raise errors.access_denied()
            call = _call(scope)
            pool = self.functions.get(call.function.name)
            if pool is None:
                raise errors.function_not_found(call.function.arn())
            event = await self._event(scope, receive, call)
            await self._run(call, pool, event, receive, send)
        except errors.LambdaApiError as refused:
            await refused.send(send, request_id)
        except ClientGone:
            pass  # the invocation was cancelled on the way out

    async def _event(self, scope: Scope, receive: Receive, call: _Call) -> SerializedEvent:
        """The payload, checked to be JSON, as the function's event byte for byte, as Lambda
        passes it on (none: ``{}``)."""
        declared = _header(scope, "content-length") or ""
        size = int(declared) if declared.isdigit() else None
        limit, too_large = LAMBDA_MAX_REQUEST_BYTES, errors.request_too_large()
        if call.invocation_type == "Event":
            limit = LAMBDA_MAX_ASYNC_REQUEST_BYTES
            too_large = errors.event_too_large(size, limit)
        if size is not None and size > limit:
            raise too_large
        try:
            body = await read_body(receive, limit, self.body_timeout_s)
        except BodyTooLarge:
            raise too_large from None
        except BodyStalled:
            raise errors.invalid_content("the request body stalled") from None
        if not body.strip():
            return SerializedEvent(b"{}")
        try:
            json.loads(body)
        except ValueError as error:  # UnicodeDecodeError too
            raise errors.invalid_content(str(error)) from None
        return SerializedEvent(body)

    async def _run(
        self,
        call: _Call,
        pool: FunctionPool,
        event: SerializedEvent,
        receive: Receive,
        send: Send,
    ) -> None:
        if call.invocation_type == "DryRun":
            await errors.send_whole(send, 204, [], b"")
        elif call.invocation_type == "Event":
            task = asyncio.ensure_future(invoke_in_background(pool, event))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            await errors.send_whole(
                send, 202, [(b"x-amzn-requestid", str(uuid.uuid4()).encode())], b""
            )
        elif call.operation == "InvokeWithResponseStream":
            await invoke_streamed(pool, event, receive, send, tail=call.tail)
        else:
            answer = await invoke_buffered(pool, event, receive, tail=call.tail)
            headers = [
                (b"content-type", b"application/json"),
                (b"x-amzn-requestid", answer.request_id.encode()),
                (b"x-amz-executed-version", EXECUTED_VERSION),
            ]
            if answer.function_error:
                headers.append((b"x-amz-function-error", b"Unhandled"))
            if answer.log_result is not None:
                headers.append((b"x-amz-log-result", answer.log_result.encode()))
            await errors.send_whole(send, 200, headers, answer.payload)

    async def close(self) -> None:
        """Cancels the asynchronous invocations still running."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)


def _call(scope: Scope) -> _Call:
    """The operation and its parameters, or the service's refusal."""
    path: str = scope["path"]
    operation = "Invoke"
    match = _INVOKE.fullmatch(path)
    if match is None:
        operation, match = "InvokeWithResponseStream", _STREAM.fullmatch(path)
    if match is None or scope["method"] != "POST":
        raise errors.unknown_operation()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    qualifier = query.get("Qualifier", [None])[-1]
    function = parse_function_name(match.group("name"), qualifier)
    invocation_type = _header(scope, "x-amz-invocation-type") or "RequestResponse"
    if invocation_type not in _INVOCATION_TYPES[operation]:
        allowed = _INVOCATION_TYPES[operation]
        raise errors.invalid_enum("invocationType", invocation_type, allowed)
    log_type = _header(scope, "x-amz-log-type") or "None"
    if log_type not in _LOG_TYPES:
        raise errors.invalid_enum("logType", log_type, _LOG_TYPES)
    return _Call(operation, function, invocation_type, tail=log_type == "Tail")


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope["headers"]:
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return None
