"""One invocation, as a state machine: queued, running, responding, ended.

::

    QUEUED --hand_out (next)--> RUNNING --start_response--> RESPONDING
       |                           |                          |
       +------ end / end_now / cancel / its deadline ---------+--> ENDED

The caller (the gateway, a test, the HTTP invoke endpoint) holds the invocation and reads
its answer; the function's connection drives it through its states. Its body goes through
one :class:`~streamway.local.runtime_api.body.BodyChannel`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from streamway.aws_contract import timed_out_error
from streamway.local.http1 import BodyBytes
from streamway.local.runtime_api.body import BodyChannel, QueuedBody
from streamway.local.runtime_api.socket_stream import SinkClosed, SocketStream
from streamway.local.runtime_api.wire import Mode, caller_gone

log = logging.getLogger("streamway.local.runtime_api")


class State(enum.Enum):
    #: Waiting for the function to ask for it (``next``).
    QUEUED = "queued"
    #: Handed to the function; its deadline runs.
    RUNNING = "running"
    #: The function began its answer (``response`` or ``error``).
    RESPONDING = "responding"
    #: Answered, failed, timed out or cancelled; a late answer gets 410.
    ENDED = "ended"


#: Which state may follow which. RESPONDING may follow itself: a runtime that answers twice
#: while its first answer is still arriving is read as it comes, as Lambda's would be.
_TRANSITIONS = {
    State.QUEUED: {State.RUNNING, State.ENDED},
    State.RUNNING: {State.RESPONDING, State.ENDED},
    State.RESPONDING: {State.RESPONDING, State.ENDED},
    State.ENDED: set(),
}


@dataclass
class InvocationResult:
    """How one invocation ended, as the caller of Lambda would learn it."""

    request_id: str
    mode: Mode | None
    #: The Content-Type and other headers of the function's ``response`` POST.
    response_headers: dict[str, str]
    chunks: list[BodyBytes]
    #: ``{"errorType", "errorMessage", ...}`` from ``/error``, error trailers or a timeout.
    error: dict[str, Any] | None
    trailers: dict[str, str]

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def ok(self) -> bool:
        return self.error is None


class Invocation:
    """One event on its way through the function, and the response coming back."""

    def __init__(
        self,
        event: Any,
        timeout_s: float,
        trace_id: str | None,
        *,
        body: BodyChannel | None = None,
        on_end: Callable[[Invocation], None] | None = None,
    ) -> None:
        self.request_id = str(uuid.uuid4())
        self.event = event
        self.timeout_s = timeout_s
        self.trace_id = trace_id or _trace_id()
        self.deadline_ms: int | None = None
        self.mode: Mode | None = None
        self.response_headers: dict[str, str] = {}
        self.error: dict[str, Any] | None = None
        self.trailers: dict[str, str] = {}
        self.received_at: float | None = None
        #: Set when :meth:`cancel` hung up the function's connection: what it still sends
        #: is not read, and its next write fails.
        self.stopped = False
        #: Set by the caller once its client has the whole response (``Content-Length``
        #: bytes, or a HEAD's headers): what remains is the stream's formal end.
        self.delivered = False
        self._state = State.QUEUED
        self._body = body or QueuedBody()
        self._reading = False
        self._responded = asyncio.Event()
        self._done = asyncio.Event()
        self._deadline_task: asyncio.Task[None] | None = None
        #: Called once when the invocation ends (the server stops tracking it then).
        self._on_end = on_end
        #: The connection the function is answering on, hung up by :meth:`cancel`.
        self._connection: SocketStream | None = None

    @property
    def state(self) -> State:
        return self._state

    @property
    def done(self) -> bool:
        return self._state is State.ENDED

    # --- the caller's side ---------------------------------------------------------------

    async def response_started(self) -> Mode | None:
        """Waits until the function began its answer; its mode, or None for ``/error``."""
        await self._responded.wait()
        return self.mode

    async def chunks(self) -> AsyncIterator[BodyBytes]:
        """The response body, chunk by chunk as the function sends it. Read it once.

        Chunks read here are not kept, so a caller can pass on a stream of any size.
        """
        if self._reading:
            raise RuntimeError("the response body is already being read")
        self._reading = True
        async for chunk in self._body.chunks():
            yield chunk

    async def send_body(self, caller: SocketStream) -> None:
        """Sends the body to an HTTP caller as the chunks of a chunked response, until the
        function's answer ended (then see :meth:`result` for how)."""
        if self._reading:
            raise RuntimeError("the response body is already being read")
        self._reading = True
        await self._body.deliver(caller, self._hang_up_function)

    async def result(self) -> InvocationResult:
        """Waits for the end of the invocation; its body unless :meth:`chunks` read it."""
        chunks = [chunk async for chunk in self.chunks()] if not self._reading else []
        await self._done.wait()
        return InvocationResult(
            request_id=self.request_id,
            mode=self.mode,
            response_headers=self.response_headers,
            chunks=chunks,
            error=self.error,
            trailers=self.trailers,
        )

    async def wait_ended(self) -> None:
        """Waits until the invocation ended (answered, failed, timed out or cancelled),
        without reading its body."""
        await self._done.wait()

    def cancel(self, error: dict[str, Any]) -> None:
        """Ends the invocation now, for a caller that will not read the rest (its client
        left, a gateway timeout, the function's process died).

        Chunks not yet read are dropped and the function's connection is reset, so a
        function blocked on a full queue is released and its next write fails, and it
        goes back to ``next``. Lambda does not do this: a stream whose caller went away
        runs on, and is billed, to its end (docs/aws-behaviour.md §2).

        An invocation that already ended still loses its unread chunks: the function may
        have sent its whole answer while the queue was full, and the end mark waits for
        room in it (:meth:`end`) before the function gets its 202. With nobody reading,
        only this makes room, and without it the function waits until its deadline.
        """
        self._body.discard()
        if self.done:
            # The end mark was dropped with the rest, or is about to be put: either way a
            # reader still finds it.
            self._body.end_now()
            return
        self.end_now(error)
        if self._connection is not None:
            self.stopped = True
            self._connection.reset()

    # --- the function's side --------------------------------------------------------------

    def hand_out(self, connection: SocketStream) -> None:
        """QUEUED -> RUNNING: the function took the event (``next``); its deadline starts."""
        self._move(State.RUNNING)
        self._connection = connection
        self.received_at = time.perf_counter()
        self.deadline_ms = int(time.time() * 1000 + self.timeout_s * 1000)
        self._deadline_task = asyncio.get_running_loop().create_task(self._expire())

    def start_response(
        self, mode: Mode | None, headers: dict[str, str], connection: SocketStream | None
    ) -> None:
        """-> RESPONDING: the function answers (``mode`` None for ``/error``) on
        ``connection`` (None: it sends no body). Ignored once the invocation ended (an
        ``/error`` whose body arrived after the deadline): how it ended stands."""
        if self.done:
            return
        self._move(State.RESPONDING)
        if connection is not None:
            self._connection = connection
        self.mode = mode
        self.response_headers = headers
        self._responded.set()

    async def open_body(self) -> None:
        """Waits until the body may flow (an HTTP caller wrote its response head)."""
        await self._body.open()

    async def take_body(self, source: SocketStream, size: int) -> None:
        """Takes the next ``size`` bytes of the body from the function's socket for the
        caller. ``ConnectionResetError`` when the invocation was cancelled (nobody wants the
        rest: reading on would only empty the socket before the reset that stops the
        function) or the HTTP caller went away (then the invocation is cancelled)."""
        if self.stopped:
            raise ConnectionResetError("the invocation was cancelled")
        try:
            await self._body.carry(source, size)
        except SinkClosed:
            self.cancel(caller_gone())
            raise ConnectionResetError("the caller went away") from None

    def body_released(self) -> None:
        """The function's connection is done with the body (read to its end, or failed)."""
        self._body.release()

    async def end(
        self, error: dict[str, Any] | None = None, *, trailers: dict[str, str] | None = None
    ) -> None:
        """-> ENDED, once the end of the body has a place in the caller's queue; a no-op when
        it had already ended, but for the ``trailers`` of the function's response, kept."""
        if trailers is not None:
            self.trailers = trailers
        if self._end(error):
            await self._body.end()

    def end_now(self, error: dict[str, Any]) -> None:
        """-> ENDED at once, without waiting for a reader (a cancel, the emulator closing)."""
        if self._end(error):
            self._body.end_now()

    # --- inside ---------------------------------------------------------------------------

    def _move(self, state: State) -> None:
        if state not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"invocation {self.request_id}: {self._state} -> {state}")
        self._state = state

    def _end(self, error: dict[str, Any] | None) -> bool:
        """Records how the invocation ended and wakes whoever waits on it; False if it had
        already ended. The end of the body is the caller's to mark."""
        if self.done:
            return False
        self._move(State.ENDED)
        self.error = error
        self._responded.set()
        self._done.set()
        if self._on_end is not None:
            self._on_end(self)
        if self._deadline_task is not None and self._deadline_task is not asyncio.current_task():
            self._deadline_task.cancel()
        return True

    def _hang_up_function(self) -> None:
        if self._connection is not None:
            self._connection.reset()

    async def _expire(self) -> None:
        await asyncio.sleep(self.timeout_s)
        log.warning("invocation timed out", extra={"request_id": self.request_id})
        # Lambda would now stop the function; a late response is refused (410 Gone).
        self._body.discard()
        await self.end(timed_out_error(self.timeout_s))


def _trace_id() -> str:
    root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    return f"Root={root};Parent={uuid.uuid4().hex[:16]};Sampled=0"
