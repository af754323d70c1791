"""``InvokeAgentRuntime`` on ``streamway local``'s port, outside the stage, at the path and
headers botocore's ``bedrock-agentcore`` model gives it:

``POST /runtimes/{agentRuntimeArn}/invocations[?qualifier=Q][&accountId=A]``, the payload as
the body, ``X-Amzn-Bedrock-AgentCore-Runtime-Session-Id``, ``Content-Type`` and ``Accept``.

Checked as the service checks it before the agent runs: the session id (33 to 256
characters; one is made when absent), the runtime (:data:`LOCAL_RUNTIME_ARN`, in any Region
and account, or its id with ``accountId``; the ``DEFAULT`` endpoint), the payload (at most
100 MB). Then the agent's ``/invocations`` answers (:mod:`streamway.local.agentcore.relay`).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from streamway.http.disconnect import ClientGone, until_disconnect
from streamway.local.agentcore import errors
from streamway.local.agentcore.relay import Invocation, relay
from streamway.local.agentcore.runtime import AgentRuntime, RuntimeUnavailable
from streamway.local.request_body import BodyStalled, BodyTooLarge, read_body

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import Receive, Scope, Send

#: The one runtime streamway local serves: a runtime id as AgentCore makes them
#: (``<name>-<10 characters>``); any Region and account are taken for the local one.
LOCAL_RUNTIME_ID = "streamway_local-0000000000"
LOCAL_RUNTIME_ARN = f"arn:aws:bedrock-agentcore:us-east-1:000000000000:runtime/{LOCAL_RUNTIME_ID}"

_PREFIX = "/runtimes/"
_PATH = re.compile(r"/runtimes/(?P<runtime>.+)/invocations/?")
_ARN = re.compile(
    r"arn:aws[a-z-]*:bedrock-agentcore:[a-z0-9-]+:\d{12}:runtime/(?P<id>[A-Za-z0-9_-]+)"
)
_RUNTIME_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}-[A-Za-z0-9]{10}")
SESSION_HEADER = "x-amzn-bedrock-agentcore-runtime-session-id"
#: runtimeSessionId's bounds in botocore's model (SessionType: min 33, max 256).
SESSION_ID_LENGTH = range(33, 257)
DEFAULT_QUALIFIER = "DEFAULT"


@dataclass(frozen=True)
class _Call:
    runtime_id: str
    qualifier: str
    session_id: str


class AgentCoreApi:
    """The ASGI side of the data plane, in front of one agent runtime (or none)."""

    def __init__(self, runtime: AgentRuntime | None, *, body_timeout_s: float = 30.0) -> None:
        self.runtime = runtime
        self.body_timeout_s = body_timeout_s

    @staticmethod
    def serves(path: str) -> bool:
        """Whether a (percent-decoded) path is the data plane's rather than the stage's."""
        return path.startswith(_PREFIX)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        try:
            call = _call(scope)
            runtime = self._runtime(call)
            payload = await self._payload(scope, receive)
            invocation = Invocation(call.session_id, request_id, payload, scope["headers"])
            await until_disconnect(self._invoke(runtime, invocation, send), receive)
        except errors.AgentCoreError as refused:
            await refused.send(send, request_id)
        except ClientGone:
            pass  # the agent's request was closed on the way out

    def _runtime(self, call: _Call) -> AgentRuntime:
        if self.runtime is None:
            raise errors.not_found(
                "No agent runtime runs here: start streamway local with --agentcore "
                "(streamway serve) or --agentcore-url URL"
            )
        if call.runtime_id != LOCAL_RUNTIME_ID:
            raise errors.not_found(
                f"No agent runtime with id {call.runtime_id}; this one is {LOCAL_RUNTIME_ARN}"
            )
        if call.qualifier != DEFAULT_QUALIFIER:
            raise errors.not_found(f"No endpoint {call.qualifier!r} for {LOCAL_RUNTIME_ID}")
        return self.runtime

    async def _payload(self, scope: Scope, receive: Receive) -> bytes:
        declared = _headers(scope).get("content-length", "")
        if declared.isdigit() and int(declared) > errors.MAX_PAYLOAD_BYTES:
            # Read (and drop) what the client sends before refusing: botocore writes the
            # whole body before it reads an answer, and a reset would hide the refusal.
            await _drain(receive, self.body_timeout_s)
            raise errors.payload_too_large()
        try:
            return await read_body(receive, errors.MAX_PAYLOAD_BYTES, self.body_timeout_s)
        except BodyTooLarge:
            await _drain(receive, self.body_timeout_s)
            raise errors.payload_too_large() from None
        except BodyStalled:
            raise errors.validation("The request body stalled") from None

    async def _invoke(self, runtime: AgentRuntime, invocation: Invocation, send: Send) -> None:
        try:
            base_url = await runtime.base_url()
        except RuntimeUnavailable as error:
            raise errors.runtime_error(f"The agent runtime did not start: {error}") from None
        await relay(base_url, invocation, send)

    async def close(self) -> None:
        if self.runtime is not None:
            await self.runtime.close()


async def _drain(receive: Receive, timeout_s: float) -> None:
    """Reads and drops the rest of the body, up to twice the payload limit in all."""
    seen = 0
    while seen <= 2 * errors.MAX_PAYLOAD_BYTES:
        try:
            message = await asyncio.wait_for(receive(), timeout_s)
        except TimeoutError:
            return
        if message["type"] == "http.disconnect":
            raise ClientGone()
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _call(scope: Scope) -> _Call:
    """The runtime, endpoint and session of the request, or the service's refusal."""
    match = _PATH.fullmatch(scope["path"])
    if match is None or scope["method"] != "POST":
        raise errors.unknown_operation()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    runtime = match.group("runtime")
    if (arn := _ARN.fullmatch(runtime)) is not None:
        runtime_id = arn.group("id")
    elif _RUNTIME_ID.fullmatch(runtime) and query.get("accountId"):
        runtime_id = runtime
    else:
        raise errors.validation(
            f"agentRuntimeArn {runtime!r} is neither a runtime ARN nor a runtime id with accountId"
        )
    session_id = _headers(scope).get(SESSION_HEADER)
    if session_id is None:
        session_id = str(uuid.uuid4())
    elif len(session_id) not in SESSION_ID_LENGTH:
        raise errors.validation(
            f"runtimeSessionId must be 33 to 256 characters long (it is {len(session_id)})"
        )
    qualifier = query.get("qualifier", [DEFAULT_QUALIFIER])[-1]
    return _Call(runtime_id, qualifier, session_id)


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the last of repeated ones)."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
    }
