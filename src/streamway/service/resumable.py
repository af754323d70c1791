"""Live SSE streams a client can resume: the generation runs into a bounded log, readers
follow the log, and a stream without a reader is cancelled after a grace period.

:class:`ResumableStreams` is the process's registry: :meth:`~ResumableStreams.open` a stream
(an unguessable id, optionally an AgentCore session), find it by id or session, and
:meth:`~LiveStream.attach` a reader, which takes the stream over from any reader before it.
When the last reader leaves, a timer of ``grace_s`` starts; a reader that comes back stops
it, else the generation is cancelled (as a disconnect does without resume) and the stream is
forgotten. Memory is bounded per stream (each log's ``max_bytes``) and in total: an append
that takes the total over ``max_bytes`` drops that stream's oldest events.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from streamway.service.errors import ApiError
from streamway.service.stream_log import StreamLog

log = logging.getLogger("streamway.stream")

#: Streams held at once; one more cancels and forgets the oldest reader-less one (a
#: generation is one machine slot, so this is far above what runs).
MAX_STREAMS = 64


@dataclass
class Reader:
    """One connection following a stream; ``taken`` once another took the stream over."""

    taken: bool = False


class LiveStream:
    def __init__(self, registry: ResumableStreams, stream_id: str, session_id: str | None):
        self.registry = registry
        self.id = stream_id
        self.session_id = session_id
        self.log = StreamLog(registry.stream_max_bytes)
        self.task: asyncio.Task[None] | None = None
        self.reader: Reader | None = None
        self._grace: asyncio.TimerHandle | None = None
        #: Why the generation could not start (busy, refused), for the first reader to answer.
        self.refusal: ApiError | None = None
        #: The last event (done or error) is in the log: the answer ended as it should.
        self.complete = False
        #: Out of the registry: nothing more is kept.
        self.forgotten = False

    def append(self, data: bytes) -> None:
        if self.forgotten:  # a cancelled producer's last step: its bytes are no one's
            return
        before = self.log.bytes
        self.log.append(data)
        self.registry.bytes += self.log.bytes - before
        self.registry.keep_in_bound(self)

    def run(self, producer: Callable[[LiveStream], Awaitable[None]]) -> None:
        """Runs ``producer`` (which appends the events, then closes the log) as the
        generation, out of any request's task."""

        async def produce() -> None:
            try:
                await producer(self)
            finally:
                self.log.close()

        self.task = asyncio.get_running_loop().create_task(produce())

    def attach(self) -> Reader:
        """A new reader; the previous one, if any, is told it was taken over."""
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        if self.reader is not None:
            self.reader.taken = True
            self.log.poke()
        self.reader = Reader()
        return self.reader

    def detach(self, reader: Reader, *, finished: bool, resumable: bool = True) -> None:
        """``reader`` leaves; ``finished``: it saw the whole stream (or its refusal), so
        nothing is left to resume; not ``resumable``: its client never learnt the stream's
        id. Otherwise the stream, left without a reader, gets its grace period."""
        if self.reader is not reader:
            return  # taken over: the new reader owns the stream now
        self.reader = None
        if finished or not resumable or self.registry.grace_s <= 0:
            self.registry.forget(self, grace_ended=False)
            return
        loop = asyncio.get_running_loop()
        self._grace = loop.call_later(self.registry.grace_s, self._grace_over)

    def _grace_over(self) -> None:
        self._grace = None
        if self.reader is None:
            log.info(
                "no client resumed within the grace; stopping generation",
                extra={"stream_id": self.id},
            )
            self.registry.forget(self, grace_ended=True)

    def cancel(self) -> None:
        """Stops the generation now (a DELETE, a grace end)."""
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.log.close()

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class ResumableStreams:
    """The process's resumable streams (see the module's doc)."""

    def __init__(self, grace_s: float, stream_max_bytes: int, max_bytes: int) -> None:
        self.grace_s = grace_s
        self.stream_max_bytes = stream_max_bytes
        self.max_bytes = max_bytes
        self._streams: dict[str, LiveStream] = {}
        self._sessions: dict[str, str] = {}
        #: Bytes held by every log together (never above ``max_bytes``).
        self.bytes = 0
        #: The most bytes ever held at once, and by one stream (what the bound tests read).
        self.peak_bytes = 0
        self.peak_stream_bytes = 0
        self.grace_cancels = 0
        self.deleted = 0

    @property
    def enabled(self) -> bool:
        return self.grace_s > 0

    def open(self, session_id: str | None = None) -> LiveStream:
        if len(self._streams) >= MAX_STREAMS:
            idle = [s for s in self._streams.values() if s.reader is None]
            oldest = idle[0] if idle else next(iter(self._streams.values()))
            self.forget(oldest, grace_ended=True)
        stream = LiveStream(self, secrets.token_urlsafe(18), session_id)
        self._streams[stream.id] = stream
        if session_id is not None:
            previous = self.of_session(session_id)
            if previous is not None and previous.running:
                # Still answering: the session is busy, and this new answer will be refused
                # (409) before it starts; the running one stays the session's, to resume.
                return stream
            if previous is not None:  # its answer ended; a new question replaces its tail
                self.forget(previous, grace_ended=False)
            self._sessions[session_id] = stream.id
        return stream

    def of_id(self, stream_id: str) -> LiveStream | None:
        return self._streams.get(stream_id)

    def of_session(self, session_id: str) -> LiveStream | None:
        stream_id = self._sessions.get(session_id)
        return None if stream_id is None else self._streams.get(stream_id)

    def keep_in_bound(self, stream: LiveStream) -> None:
        """After ``stream`` grew: its oldest events go while the total is over the bound."""
        if self.bytes > self.max_bytes:
            self.bytes -= stream.log.trim(stream.log.bytes - (self.bytes - self.max_bytes))
        self.peak_bytes = max(self.peak_bytes, self.bytes)
        self.peak_stream_bytes = max(self.peak_stream_bytes, stream.log.bytes)

    def delete(self, stream: LiveStream) -> None:
        self.deleted += 1
        self.forget(stream, grace_ended=False)

    def forget(self, stream: LiveStream, *, grace_ended: bool) -> None:
        if self._streams.pop(stream.id, None) is None:
            return
        if grace_ended and stream.running:
            self.grace_cancels += 1
        stream.forgotten = True
        stream.cancel()
        self.bytes -= stream.log.bytes
        if stream.session_id is not None and self._sessions.get(stream.session_id) == stream.id:
            del self._sessions[stream.session_id]

    async def aclose(self) -> None:
        """Cancels every stream and waits for their generations to end (the service is
        stopping), so no task outlives the loop."""
        tasks = [s.task for s in self._streams.values() if s.task is not None]
        for stream in list(self._streams.values()):
            self.forget(stream, grace_ended=False)
        await asyncio.gather(*tasks, return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        return {
            "grace_s": self.grace_s,
            "live_streams": len(self._streams),
            "running": sum(1 for s in self._streams.values() if s.running),
            "bytes": self.bytes,
            "peak_bytes": self.peak_bytes,
            "peak_stream_bytes": self.peak_stream_bytes,
            "stream_max_bytes": self.stream_max_bytes,
            "max_bytes": self.max_bytes,
            "grace_cancels": self.grace_cancels,
            "deleted": self.deleted,
        }
