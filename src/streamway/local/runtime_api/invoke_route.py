"""RIE's invoke endpoint: the event in over HTTP, the function's raw response out as it streams.

A streamed response comes back chunked exactly as the function sent it (prelude, delimiter,
body); a failed one with status 200 and an ``X-Amz-Function-Error`` header, as Lambda's
``Invoke`` does, or cut short if the failure came mid-stream. On Linux the body is spliced
from the function's socket into the caller's (:class:`~.body.SplicedBody`).
"""

from __future__ import annotations

import json

from streamway.aws_contract import LAMBDA_MAX_REQUEST_BYTES
from streamway.local.http1 import LAST_CHUNK, Request
from streamway.local.runtime_api.body import SplicedBody
from streamway.local.runtime_api.invocation import Invocation
from streamway.local.runtime_api.registry import Registry
from streamway.local.runtime_api.responder import Responder
from streamway.local.runtime_api.socket_stream import CAN_SPLICE
from streamway.local.runtime_api.wire import caller_gone, json_or_text


async def invoke_over_http(responder: Responder, registry: Registry, request: Request) -> None:
    """Invokes the function with the request's body and answers with its response."""
    event = json_or_text(await request.read(LAMBDA_MAX_REQUEST_BYTES))
    body = SplicedBody(responder.stream) if CAN_SPLICE else None
    invocation = registry.invoke(event, body=body)
    try:
        await _answer(responder, invocation)
    except BaseException:
        # This caller is gone (or the emulator closes): the function need not go on.
        invocation.cancel(caller_gone())
        raise


async def _answer(responder: Responder, invocation: Invocation) -> None:
    mode = await invocation.response_started()
    if mode is None:
        result = await invocation.result()
        await responder.write(
            200,
            [("content-type", "application/json"), ("x-amz-function-error", "Unhandled")],
            json.dumps(result.error).encode(),
        )
        return
    content_type = invocation.response_headers.get("content-type", "application/json")
    await responder.head(200, [("content-type", content_type), ("transfer-encoding", "chunked")])
    await invocation.send_body(responder.stream)
    await invocation.result()
    if invocation.error is not None:
        # Mid-stream failure: no clean end of the chunked body, the caller sees it failed.
        raise ConnectionResetError("the function failed mid-stream")
    await responder.stream.write(LAST_CHUNK)
