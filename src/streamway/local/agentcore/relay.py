"""One invocation passed to the agent's ``POST /invocations``, and its answer passed back.

What AgentCore passes to the container: the payload, ``Content-Type``, ``Accept``, the
session id, a request id (``X-Amzn-Bedrock-AgentCore-Runtime-Request-Id``), the user id,
the trace headers, the MCP headers, the allowed custom headers
(``X-Amzn-Bedrock-AgentCore-Runtime-Custom-*``) and ``Last-Event-ID`` (which streamway's
deployed runtimes allowlist), never the caller's ``Authorization``.
A 200 answer goes back as it is produced, chunk by chunk, with its ``Content-Type`` and the
session id; any other status is the service's ``RuntimeClientError`` (424) naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from streamway.http.disconnect import send_or_gone
from streamway.local.agentcore import errors

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import Send

log = logging.getLogger("streamway.local.agentcore")

SESSION_HEADER = b"x-amzn-bedrock-agentcore-runtime-session-id"
REQUEST_ID_HEADER = b"x-amzn-bedrock-agentcore-runtime-request-id"
_PASSED = {
    b"content-type",
    b"accept",
    b"x-amzn-bedrock-agentcore-runtime-user-id",
    b"x-amzn-trace-id",
    b"traceparent",
    b"tracestate",
    b"baggage",
    b"mcp-session-id",
    b"mcp-protocol-version",
    # Allowlisted by the runtimes streamway deploys (agentcore_settings.py's default): a
    # streamed answer is resumed by invoking again with it (streaming.md#resume).
    b"last-event-id",
}
_CUSTOM_PREFIX = b"x-amzn-bedrock-agentcore-runtime-custom-"
_RETURNED = (b"mcp-session-id", b"mcp-protocol-version", b"traceparent", b"tracestate")
#: AgentCore's longest synchronous request (15 minutes); a stream may be silent that long.
_READ_TIMEOUT_S = 900.0
#: How much of an error answer is quoted in the RuntimeClientError's message.
_QUOTED_BYTES = 2048


@dataclass(frozen=True)
class Invocation:
    session_id: str
    request_id: str
    payload: bytes
    #: The caller's headers, as ASGI gives them.
    headers: Iterable[tuple[bytes, bytes]]

    def agent_headers(self) -> list[tuple[bytes, bytes]]:
        passed = [
            (name.lower(), value)
            for name, value in self.headers
            if name.lower() in _PASSED or name.lower().startswith(_CUSTOM_PREFIX)
        ]
        return [
            *passed,
            (SESSION_HEADER, self.session_id.encode()),
            (REQUEST_ID_HEADER, self.request_id.encode()),
        ]


async def relay(base_url: str, invocation: Invocation, send: Send) -> None:
    """Sends ``invocation`` to the agent at ``base_url`` and its answer to the caller."""
    timeout = httpx.Timeout(10.0, read=_READ_TIMEOUT_S)
    async with httpx.AsyncClient(timeout=timeout) as client:
        request = client.build_request(
            "POST",
            f"{base_url}/invocations",
            content=invocation.payload,
            headers=invocation.agent_headers(),
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.TransportError as error:
            raise errors.runtime_error(f"The agent runtime could not be reached: {error}") from None
        try:
            if response.status_code != 200:
                raise await _refusal(response)
            await _pass_through(response, invocation, send)
        finally:
            await response.aclose()


async def _refusal(response: httpx.Response) -> errors.AgentCoreError:
    quoted = b""
    try:
        async for chunk in response.aiter_raw():
            quoted += chunk
            if len(quoted) >= _QUOTED_BYTES:
                break
    except httpx.TransportError:
        pass
    text = quoted[:_QUOTED_BYTES].decode("utf-8", "replace")
    return errors.runtime_error(f"Received error ({response.status_code}) from runtime: {text}")


async def _pass_through(response: httpx.Response, invocation: Invocation, send: Send) -> None:
    headers = [
        (b"content-type", response.headers.get("content-type", "application/json").encode()),
        (SESSION_HEADER, invocation.session_id.encode()),
        (b"x-amzn-requestid", invocation.request_id.encode()),
    ]
    headers += [
        (name, response.headers[name.decode()].encode())
        for name in _RETURNED
        if name.decode() in response.headers
    ]
    await send_or_gone(send, {"type": "http.response.start", "status": 200, "headers": headers})
    try:
        async for chunk in response.aiter_raw():
            if chunk:
                await send_or_gone(
                    send, {"type": "http.response.body", "body": chunk, "more_body": True}
                )
    except httpx.TransportError as error:
        # The status went out already: the caller sees a stream that ends without its end
        # (the connection closes), as when a container dies mid-answer.
        log.warning("the agent's answer broke off", extra={"error": repr(error)})
        raise
    await send_or_gone(send, {"type": "http.response.body", "body": b""})
