"""A resumable SSE answer: a generation that writes into a stream's log, and the responses
that read it.

Without resume (``STREAMWAY_RESUME_GRACE=0``) an answer is produced inside its response
(answer_response.py), so the client's connection and the generation end together. With it,
:func:`produce` runs the generation in a task of its own (:meth:`LiveStream.run`), encoding
each event into the stream's bounded log, and :class:`StreamReader` is one connection's view
of that log: the first ``POST`` reads it from the start, each ``GET /streaming/{id}`` (or
``/invocations`` with ``Last-Event-ID``) from the id after the client's last. A reader sends
the stream's own bytes, so a resumed client sees the same ids and the same text as it would
have without the cut.

Like :class:`~streamway.service.answer_response.AgentStreamResponse`, the first ``POST``
sends no status before the first event, so a busy or failed model is still a JSON error with
its status. Heartbeats are the reader's (a comment after each silence on its connection),
never in the log: they are not events and carry no id.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from streamway.agent.events import AgentEvent, TextDelta, unwrap_model_error
from streamway.http.disconnect import ClientGone, send_or_gone, until_disconnect
from streamway.observability.request_metrics import Outcome, RequestMetrics, current_request
from streamway.service.answer_encoders import SseEncoder
from streamway.service.errors import ApiError, error_body, error_response
from streamway.service.failures import model_refusal
from streamway.service.resumable import LiveStream, Reader
from streamway.service.sse import SseEvent
from streamway.service.stream_log import EventsGone

log = logging.getLogger("streamway.stream")

#: The response header that names a resumable answer's stream.
STREAM_ID_HEADER = "streamway-stream-id"

HEARTBEAT = b": keep-alive\n\n"


async def produce(
    stream: LiveStream,
    events: AsyncIterator[AgentEvent],
    encoder: SseEncoder,
    metrics: RequestMetrics,
) -> None:
    """Runs the generation into ``stream``'s log: each event encoded as it will be sent,
    the last one ``done`` or ``error``. A refusal before the first event is kept for the
    first reader; a cancellation (grace over, DELETE) closes the generator down to the model.
    """
    async with aclosing(events) as source:  # type: ignore[type-var]
        try:
            event = await anext(source)
        except Exception as raw:
            stream.refusal = model_refusal(raw)
            return
        metrics.first_token()
        try:
            while True:
                if isinstance(event, TextDelta):
                    metrics.piece()
                    stream.append(encoder.text(event))
                else:
                    metrics.answer_finished(event.usage.output_tokens)
                    stream.append(encoder.finished(event, metrics.timings()))
                    stream.complete = True
                    return
                event = await anext(source)
        except Exception as raw:
            error = unwrap_model_error(raw)
            log.error("model failed mid-stream", exc_info=error, extra={"stream_id": stream.id})
            metrics.outcome_hint = "failed"  # a complete body, but a failed answer
            farewell = encoder.error(error)  # every SSE encoder has one
            stream.append(farewell or stream_error("model_failed", f"The model failed: {error}"))
            stream.complete = True


def open_stream(stream: LiveStream, events: AsyncIterator[AgentEvent], encoder: SseEncoder) -> None:
    """Starts ``events`` as ``stream``'s generation, timed by the request's record (so the
    ``done`` event, the metrics and the access line of the first request agree)."""
    metrics = current_request.get() or RequestMetrics(started=time.perf_counter())
    stream.run(lambda live: produce(live, events, encoder, metrics))


#: ``Last-Event-ID`` as this service writes ids: a decimal count, at most 19 digits.
_EVENT_ID = re.compile(r"[0-9]{1,19}")


def resume(
    stream: LiveStream | None, last_event_id: str | None, heartbeat_s: float
) -> StreamReader:
    """A reader of ``stream`` after ``last_event_id`` (none: from the start), or the
    ApiError that says why not: 404 no such stream, 400 an id it never had, 410 events no
    longer held. Checked before the status, so each is a JSON error."""
    if stream is None:
        raise ApiError(404, "stream_not_found", _NOT_FOUND)
    after_id = 0
    if last_event_id is not None:
        if not _EVENT_ID.fullmatch(last_event_id.strip()):
            raise ApiError(
                400, "bad_last_event_id", "Last-Event-ID must be an event id of this stream."
            )
        after_id = int(last_event_id)
    try:
        stream.log.after(after_id)
    except ValueError:
        raise ApiError(
            400,
            "bad_last_event_id",
            f"This stream has no event {after_id} (its last is {stream.log.last_id}).",
        ) from None
    except EventsGone:
        raise ApiError(
            410,
            "stream_events_gone",
            f"The events after {after_id} are no longer held: the answer's log keeps only "
            f"its latest events (from {stream.log.first_id}), within "
            "STREAMWAY_RESUME_STREAM_MAX_BYTES.",
        ) from None
    return StreamReader(stream, after_id=after_id, first=False, heartbeat_s=heartbeat_s)


_NOT_FOUND = (
    "No answer with this stream id is running or held here: it never existed, ended and "
    "was read to its end, was stopped, or nobody resumed it within STREAMWAY_RESUME_GRACE. "
    "On Lambda behind API Gateway, a reconnection may also reach another sandbox than the "
    "one that ran the answer, and that sandbox does not have it."
)


def stream_error(code: str, message: str) -> bytes:
    """An ``event: error`` that is not the answer's own: no id, so it is never resumed."""
    return SseEvent(error_body(code, message), event="error").encode()


class StreamReader(Response):
    """One connection reading a stream's log after ``after_id`` and then live, until the
    last event; see the module's doc.

    ``first``: this is the request that started the stream, whose status waits for the
    first event (and whose client, if it leaves before that, never learnt the stream's id,
    so the stream ends with it).
    """

    def __init__(
        self, stream: LiveStream, *, after_id: int = 0, first: bool, heartbeat_s: float
    ) -> None:
        # Response.__init__ is skipped on purpose: there is no body to render up front.
        self.stream = stream
        self.after_id = after_id
        self.first = first
        self.heartbeat_s = heartbeat_s
        self.status_code = 200
        self.background = None
        self.headers_list = [
            (b"content-type", SseEncoder.media_type.encode()),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            (STREAM_ID_HEADER.encode(), stream.id.encode()),
        ]
        self.metrics = current_request.get()
        self._started = False
        self._finished = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reader = self.stream.attach()
        try:
            await until_disconnect(self._follow(reader, send), receive)
        except ClientGone:
            if self._started:
                log.info(
                    "client disconnected; the answer waits for a resume",
                    extra={"stream_id": self.stream.id, "grace_s": self.stream.registry.grace_s},
                )
            else:
                log.info("client disconnected; stopping generation")
            self._outcome("cancelled")
        finally:
            self.stream.detach(reader, finished=self._finished, resumable=self._started)

    async def _follow(self, reader: Reader, send: Send) -> None:
        events = self.stream.log
        if self.first:
            while events.last_id == 0 and not events.closed:
                await events.wait(None)
            if events.last_id == 0:
                refusal = self.stream.refusal or ApiError(
                    503, "stream_cancelled", "The answer was stopped before it began."
                )
                self._finished = True
                await error_response(refusal)({"type": "http"}, _no_receive, send)
                return
        await send({"type": "http.response.start", "status": 200, "headers": self.headers_list})
        self._started = True
        next_id = self.after_id
        while True:
            if reader.taken:
                self._outcome("cancelled")
                await self._end(send, stream_error("stream_taken_over", _TAKEN_OVER))
                return
            try:
                pending = events.after(next_id)
            except EventsGone:
                # This reader fell behind the log's bound: no complete answer can follow.
                self._finished = True
                self._outcome("failed")
                await self._end(send, stream_error("stream_events_gone", _FELL_BEHIND))
                return
            if pending:
                for event_id, data in pending:
                    await self._body(send, data)
                    next_id = event_id
                continue  # the log may have moved while these were sent
            if events.closed:
                self._finished = True
                if self.stream.complete:
                    await self._end(send, b"")
                else:  # cancelled (DELETE, shutdown): it must not look like a whole answer
                    self._outcome("cancelled")
                    await self._end(send, stream_error("stream_cancelled", _CANCELLED))
                return
            if not await events.wait(self.heartbeat_s or None):
                await self._body(send, HEARTBEAT)

    def _outcome(self, outcome: Outcome) -> None:
        """This request's outcome, whatever its complete body would say."""
        if self.metrics is not None:
            self.metrics.outcome_hint = outcome

    async def _body(self, send: Send, data: bytes) -> None:
        await send_or_gone(send, {"type": "http.response.body", "body": data, "more_body": True})

    async def _end(self, send: Send, data: bytes) -> None:
        await send_or_gone(send, {"type": "http.response.body", "body": data, "more_body": False})


_TAKEN_OVER = "Another connection resumed this answer; this one ends here."
_FELL_BEHIND = (
    "This connection fell behind the answer's bounded log (STREAMWAY_RESUME_STREAM_MAX_BYTES);"
    " the events it missed are no longer held."
)
_CANCELLED = "The answer was stopped (DELETE, or the service is stopping) before it ended."


async def _no_receive() -> dict[str, Any]:  # pragma: no cover - error responses never read
    raise RuntimeError("error responses do not read the request")
