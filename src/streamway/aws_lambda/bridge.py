"""The ASGI bridge: runs an ASGI app for Lambda invocations, one process, one event loop.

Lifespan startup runs once, before the first ``next`` (it is where an app loads its model),
and shutdown when the runtime stops. Each invocation is one HTTP cycle: ``receive()`` gives
the request body, then blocks until the response is over and says ``http.disconnect`` (so
apps that watch for a departed client, as streamway's streams do, keep waiting rather than
spinning); ``send()`` enforces the ASGI message order, as uvicorn's cycle object does.

When the Runtime API connection fails under a response (streamway's emulator hangs up an
invocation whose caller went away), the cycle treats it as uvicorn treats a client that
left (the scope says ASGI 2.3): ``send()`` drops the rest without raising and ``receive()``
says ``http.disconnect``, so the app stops the way it stops under ``streamway serve``. The
invocation is over: nothing more is sent for it (no error trailers, no ``/error``, which
would get 410 Gone), and :meth:`AsgiBridge.handle` logs one warning and raises
:class:`InvocationEnded`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from streamway.aws_lambda.context import LambdaContext
from streamway.aws_lambda.events import HTTP_SOURCES, EventSource, PassThrough
from streamway.aws_lambda.sink import ResponseSink, fail_or_lose
from streamway.aws_lambda.types import ASGIApp, Message

log = logging.getLogger("streamway.aws_lambda")


class LifespanFailed(Exception):
    """The app reported ``lifespan.startup.failed``."""


class IncompleteResponse(Exception):
    """The app returned before sending its whole response."""


class InvocationEnded(Exception):
    """The Runtime API connection failed under the response: the invocation is over."""


def invocation_ended(lost: OSError) -> InvocationEnded:
    """Logs the departure once, as a warning, and gives the exception that says so: a caller
    that leaves is normal, and the emulator's hang-up is how an invocation whose caller left
    is ended."""
    log.warning(
        "the Runtime API ended the invocation before its response was complete "
        "(its caller went away, or it timed out); the rest is dropped",
        extra={"reason": str(lost) or type(lost).__name__},
    )
    error = InvocationEnded(str(lost))
    error.__cause__ = lost
    return error


class HttpCycle:
    """One request/response exchange between the app and a :class:`ResponseSink`."""

    def __init__(self, body: bytes, sink: ResponseSink) -> None:
        self.body = body
        self.sink = sink
        self.started = False
        self.complete = False
        #: Why the response could not go on (the Runtime API connection failed), if so.
        self.lost: OSError | None = None
        self._body_sent = False
        self._over = asyncio.Event()

    async def receive(self) -> Message:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self._over.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start" and not self.started:
            self.started = True
            try:
                await self.sink.start(message["status"], message.get("headers", ()))
            except OSError as error:
                self._lose(error)
        elif kind == "http.response.body" and self.started and not self.complete:
            if self.lost is not None:
                return  # as uvicorn does once the client left: nowhere to send it
            try:
                await self.sink.write(message.get("body", b""))
                if not message.get("more_body", False):
                    self.complete = True
                    await self.sink.finish()
            except OSError as error:
                self._lose(error)
                return
            if self.complete:
                self.over()
        elif self.complete or self._over.is_set():
            raise OSError("the response is over")  # ASGI 2.4: send() after the end raises
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} in this state")

    def _lose(self, error: OSError) -> None:
        """The Runtime API connection failed: the rest of the response goes nowhere, and
        ``receive()`` says ``http.disconnect``."""
        if self.lost is None:
            self.lost = error
        self.over()

    def over(self) -> None:
        self._over.set()


class AsgiBridge:
    """Drives ``app`` for each invocation; owns the app's lifespan."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sources: Sequence[type[EventSource]] = HTTP_SOURCES,
        pass_through_path: str = "/events",
    ) -> None:
        self.app = app
        self.sources = sources
        self.pass_through_path = pass_through_path
        self.state: dict[str, Any] = {}
        self._lifespan: asyncio.Task[None] | None = None
        self._lifespan_inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan_outbox: asyncio.Queue[Message] = asyncio.Queue()

    def source_for(self, event: Any, context: LambdaContext) -> EventSource:
        for source in self.sources:
            if source.infer(event):
                return source(event, context)
        return PassThrough(event, context, self.pass_through_path)

    async def handle(self, source: EventSource, sink: ResponseSink) -> None:
        """Runs one HTTP cycle; every failure ends up in the sink (error or trailers).

        Raises :class:`InvocationEnded` when the Runtime API connection failed under the
        response (then nothing more can be sent for this invocation).
        """
        cycle = HttpCycle(source.body(), sink)
        scope = {**source.scope(), "state": dict(self.state)}
        try:
            await self.app(scope, cycle.receive, cycle.send)
            if not cycle.complete and cycle.lost is None:
                raise IncompleteResponse("the app returned before completing its response")
        except Exception as error:
            if cycle.lost is not None:
                # What an app does once its client is gone (an unwinding stream, a
                # cancelled task) is not a failure of the app.
                log.debug("the app ended after the invocation did", exc_info=error)
            elif cycle.complete:
                log.exception("the app failed after its response was complete")
            else:
                log.error("the app failed", exc_info=error)
                cycle.lost = await fail_or_lose(sink, error)
        finally:
            cycle.over()
        if cycle.lost is not None:
            raise invocation_ended(cycle.lost)

    # --- lifespan ----------------------------------------------------------------------

    async def startup(self) -> None:
        """Runs the app's lifespan startup; apps without lifespan support are fine."""
        self._lifespan = asyncio.create_task(self._run_lifespan())
        await self._lifespan_inbox.put({"type": "lifespan.startup"})
        reply = await self._lifespan_reply()
        if reply is not None and reply["type"] == "lifespan.startup.failed":
            raise LifespanFailed(reply.get("message", "lifespan startup failed"))

    async def shutdown(self) -> None:
        if self._lifespan is None or self._lifespan.done():
            return
        await self._lifespan_inbox.put({"type": "lifespan.shutdown"})
        await self._lifespan_reply()

    async def _lifespan_reply(self) -> Message | None:
        """The app's next lifespan message, or None if its lifespan task ended without one."""
        assert self._lifespan is not None
        reply = asyncio.create_task(self._lifespan_outbox.get())
        await asyncio.wait({reply, self._lifespan}, return_when=asyncio.FIRST_COMPLETED)
        if reply.done():
            return reply.result()
        reply.cancel()
        self._lifespan.result()  # re-raises a failure after the app had spoken lifespan
        return None

    async def _run_lifespan(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        spoke = False

        async def receive() -> Message:
            nonlocal spoke
            spoke = True
            return await self._lifespan_inbox.get()

        async def send(message: Message) -> None:
            nonlocal spoke
            spoke = True
            await self._lifespan_outbox.put(message)

        try:
            await self.app(scope, receive, send)
        except Exception:
            # An app that raises before it even read a lifespan message has no lifespan
            # support; one that read the startup message and then raised failed to start
            # (uvicorn's "auto" mode would call both unsupported and hide the failure).
            if spoke:
                raise
            log.info("the app does not support lifespan; going on without it")
