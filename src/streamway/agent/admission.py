"""A bounded waiting room in front of the model: a few answers at once, a few more waiting.

A model on two CPU cores serves one answer at a time. Without a bound, a burst of requests
piles up threads and memory until everything times out. Here a request either gets a slot,
waits in a queue of fixed size for at most ``timeout_s``, or is refused at once with
:class:`ModelBusy`, which the service answers as 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class ModelBusy(Exception):
    """Every slot is taken and the waiting room is full (or the wait timed out)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Admission:
    def __init__(self, slots: int, queue_size: int, timeout_s: float) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.slots = slots
        self.queue_size = queue_size
        self.timeout_s = timeout_s
        self._free = asyncio.Semaphore(slots)
        self.active = 0
        self.waiting = 0
        self.refused = 0
        # Moving average of how long a slot is held, to make Retry-After an honest estimate.
        self._mean_hold_s = 1.0
        #: Called whenever :attr:`busy` may have changed (AgentCore's /ping stamps the time).
        self.on_change: Callable[[], None] = lambda: None

    @property
    def busy(self) -> bool:
        return self.active > 0 or self.waiting > 0

    def _retry_after(self) -> int:
        queued_rounds = (self.waiting + self.active) / self.slots
        return max(1, math.ceil(self._mean_hold_s * queued_rounds))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if not self._free.locked():
            # A free slot is taken at once. Through wait_for it would be taken only after a
            # turn of the loop (Python 3.11 runs it in a task), counted as waiting meanwhile:
            # requests arriving together (many invocations of one Lambda process) were then
            # refused as if the waiting room were full, or all let in to wait.
            await self._free.acquire()
        else:
            await self._wait_for_slot()
        self.active += 1
        self.on_change()
        started = time.monotonic()
        try:
            yield
        finally:
            self.active -= 1
            self._free.release()
            self.on_change()
            self._mean_hold_s = 0.8 * self._mean_hold_s + 0.2 * (time.monotonic() - started)

    async def _wait_for_slot(self) -> None:
        """A place in the waiting room, then a slot within ``timeout_s``; ModelBusy if the
        room is full or the wait runs out."""
        if self.waiting >= self.queue_size:
            self.refused += 1
            raise ModelBusy(
                f"All {self.slots} generation slots are busy and {self.waiting} requests are "
                "already waiting; try again shortly.",
                self._retry_after(),
            )
        self.waiting += 1
        self.on_change()
        try:
            await asyncio.wait_for(self._free.acquire(), self.timeout_s)
        except TimeoutError:
            self.refused += 1
            raise ModelBusy(
                f"No generation slot came free within {self.timeout_s:g} s; try again shortly.",
                self._retry_after(),
            ) from None
        finally:
            self.waiting -= 1
            self.on_change()
