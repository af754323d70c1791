"""The ASGI responses of an agent's answer, which stop the model when the client leaves.

Why not Starlette's ``StreamingResponse``: it commits to a 200 before the first item exists,
so a model that is busy or down could only be reported inside a "successful" body. Here the
first event is awaited *before* ``http.response.start``; failures up to that point become
JSON errors with a fitting status (503 busy or unreachable, 502 failed). After it, a failure
must look like one: SSE gets an ``event: error``, plain text gets its connection aborted.
:class:`AgentAnswerResponse` sends the whole answer as one JSON object instead.

The client is watched for ``http.disconnect`` the whole time, including while the request
waits for a slot or for the first token; when it leaves, the producer task is cancelled,
which closes the agent's generator and with it the model's token loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from streamway.agent.events import AgentEvent, Finished, TextDelta, unwrap_model_error
from streamway.http.disconnect import ClientGone, send_or_gone, until_disconnect
from streamway.observability.request_metrics import RequestMetrics, current_request
from streamway.service.answer_encoders import StreamEncoder
from streamway.service.errors import StreamAborted, error_response
from streamway.service.failures import model_refusal
from streamway.service.heartbeat import Heartbeat, with_heartbeats

log = logging.getLogger("streamway.stream")


class _ClientWatchingResponse(Response):
    """Runs ``_produce`` while watching for ``http.disconnect``; a client leaving cancels it."""

    def __init__(self, events: AsyncIterator[AgentEvent], started: float | None) -> None:
        # Response.__init__ is skipped on purpose: there is no body to render up front.
        self.events = events
        # The request's record (opened by the middleware) times the answer, so the `done`
        # event, the metrics and the span report the same figures; a response used without
        # the middleware keeps a record of its own.
        self.metrics = current_request.get() or RequestMetrics(
            started=time.perf_counter() if started is None else started
        )
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await until_disconnect(self._produce(send), receive)
        except ClientGone:
            log.info("client disconnected; stopping generation")
            self.metrics.outcome_hint = "cancelled"

    async def _produce(self, send: Send) -> None:
        raise NotImplementedError

    def _timings(self, event: Finished) -> dict[str, float | None]:
        self.metrics.answer_finished(event.usage.output_tokens)
        return self.metrics.timings()


class AgentStreamResponse(_ClientWatchingResponse):
    def __init__(
        self,
        events: AsyncIterator[AgentEvent],
        encoder: StreamEncoder,
        *,
        started: float | None = None,
        heartbeat_s: float = 0.0,
    ) -> None:
        super().__init__(events, started)
        self.encoder = encoder
        # A stream that cannot carry a heartbeat (plain text) gets none.
        self.heartbeat_s = heartbeat_s if encoder.carries_heartbeats else 0.0
        self.headers_list = [
            (b"content-type", encoder.media_type.encode()),
            (b"cache-control", b"no-cache"),
            # Tells nginx-style proxies not to buffer; API Gateway STREAM does not buffer.
            (b"x-accel-buffering", b"no"),
        ]

    async def _produce(self, send: Send) -> None:
        async def send_body(body: bytes, more: bool = True) -> None:
            await send_or_gone(
                send, {"type": "http.response.body", "body": body, "more_body": more}
            )

        async with aclosing(with_heartbeats(self.events, self.heartbeat_s)) as events:
            try:
                first = await anext(events)
                # Nothing may be written before the status, which waits for the first event.
                while isinstance(first, Heartbeat):
                    first = await anext(events)
            except Exception as raw:
                await error_response(model_refusal(raw))({"type": "http"}, _no_receive, send)
                return

            self.metrics.first_token()
            await send({"type": "http.response.start", "status": 200, "headers": self.headers_list})
            event: AgentEvent | Heartbeat = first
            try:
                while True:
                    if isinstance(event, Heartbeat):
                        await send_body(self.encoder.heartbeat())
                    elif isinstance(event, TextDelta):
                        self.metrics.piece()
                        await send_body(self.encoder.text(event))
                    else:
                        timings = self._timings(event)
                        await send_body(self.encoder.finished(event, timings), more=False)
                        return
                    event = await anext(events)
            except ClientGone:
                self.metrics.outcome_hint = "cancelled"
                raise
            except asyncio.CancelledError:
                raise
            except Exception as raw:
                error = unwrap_model_error(raw)
                log.error("model failed mid-stream", exc_info=error)
                farewell = self.encoder.error(error)
                if farewell is None:
                    self.metrics.outcome_hint = "cut"
                    raise StreamAborted("the model failed after the response started") from error
                # A complete body, but a failed answer.
                self.metrics.outcome_hint = "failed"
                await send_body(farewell, more=False)


AnswerBuilder = Callable[[str, Finished, dict[str, float | None]], dict[str, Any]]


class AgentAnswerResponse(_ClientWatchingResponse):
    """The whole answer as one JSON object, built by ``build(text, finished, timings)``.

    Nothing is sent until the answer is complete, so a failure at any point is a JSON error
    with a fitting status; a client that leaves while waiting still stops the model.
    """

    def __init__(
        self,
        events: AsyncIterator[AgentEvent],
        build: AnswerBuilder,
        *,
        started: float | None = None,
    ) -> None:
        super().__init__(events, started)
        self.build = build

    async def _produce(self, send: Send) -> None:
        pieces: list[str] = []
        response: Response
        try:
            async with aclosing(self.events) as events:  # type: ignore[type-var]
                async for event in events:
                    self.metrics.first_token()
                    if isinstance(event, TextDelta):
                        self.metrics.piece()
                        pieces.append(event.text)
                    else:
                        timings = self._timings(event)
                        body = self.build("".join(pieces), event, timings)
                        response = JSONResponse(body)
                        break
                else:  # pragma: no cover - the runner always ends with Finished
                    raise RuntimeError("the answer ended without a Finished event")
        except Exception as raw:
            stage = "before the first token" if not self.metrics.agent else "mid-answer"
            response = error_response(model_refusal(raw, stage))
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> dict[str, Any]:  # pragma: no cover - error responses never read
    raise RuntimeError("error responses do not read the request")
