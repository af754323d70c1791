"""A bounded log of one SSE stream's encoded events, so a client that reconnects with
``Last-Event-ID`` gets exactly the events after it.

Events are kept as the bytes that were sent (``id: n`` included), numbered 1, 2, 3... in
order. The log never holds more than ``max_bytes``: the oldest events are dropped from the
front, so a resume from before what is still held is told so (:class:`EventsGone`) rather
than given a stream with a hole in it. Readers wait on :meth:`StreamLog.wait` for the next
change (an event, the end, a take-over poke).
"""

from __future__ import annotations

import asyncio
from collections import deque


class EventsGone(Exception):
    """The events after the asked id were dropped to keep the log within its bound."""


class StreamLog:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._events: deque[tuple[int, bytes]] = deque()
        #: Bytes held now (never more than ``max_bytes``).
        self.bytes = 0
        #: The id of the last event appended (0: none yet).
        self.last_id = 0
        #: The generation ended (finished, failed or cancelled): no event will follow.
        self.closed = False
        self._changed = asyncio.Event()

    @property
    def first_id(self) -> int:
        """The id of the oldest event held (``last_id + 1`` when none is held)."""
        return self._events[0][0] if self._events else self.last_id + 1

    def append(self, data: bytes) -> int:
        """``data`` as the next event; returns its id. Old events go to stay in bound."""
        self.last_id += 1
        self._events.append((self.last_id, data))
        self.bytes += len(data)
        self.trim(self.max_bytes)
        self.poke()
        return self.last_id

    def trim(self, max_bytes: int) -> int:
        """Drops events from the front until at most ``max_bytes`` are held; the bytes freed."""
        freed = 0
        while self._events and self.bytes > max_bytes:
            _, dropped = self._events.popleft()
            self.bytes -= len(dropped)
            freed += len(dropped)
        return freed

    def after(self, event_id: int) -> list[tuple[int, bytes]]:
        """The events after ``event_id`` (none if it is the last); EventsGone if some of
        them were dropped; ValueError for an id never given."""
        if event_id < 0 or event_id > self.last_id:
            raise ValueError(f"no event {event_id} in this stream (last: {self.last_id})")
        if event_id + 1 < self.first_id:
            raise EventsGone(f"events after {event_id} are no longer held")
        return [(i, data) for i, data in self._events if i > event_id]

    def close(self) -> None:
        self.closed = True
        self.poke()

    def poke(self) -> None:
        """Wakes every reader waiting in :meth:`wait`."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, timeout_s: float | None) -> bool:
        """Waits for the next change; False when ``timeout_s`` passed first."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout_s)
        except TimeoutError:
            return False
        return True
