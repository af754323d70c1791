"""The books of one emulator: its invocations, and what its function said of itself.

Connections get this, not the server: a ``next`` takes the next queued invocation, an answer
looks up the one it names, ``init/error`` records the function's failed start. With a
``max_concurrency`` (Managed Instances) that many ``next`` calls wait or hold an invocation at
once, each on its own connection; one more waits until an invocation ends.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

from streamway.local.runtime_api.body import BodyChannel
from streamway.local.runtime_api.function import FunctionConfig
from streamway.local.runtime_api.invocation import Invocation, State

#: How many finished invocation ids are remembered (for 410 Gone on a late answer).
RECENT_IDS = 1024


class Registry:
    """Invocations queued for the function, in flight, and recently finished; ``next`` calls
    and the init error, for whoever waits on them."""

    def __init__(self, config: FunctionConfig) -> None:
        self.config = config
        self.init_error: dict[str, Any] | None = None
        self.init_error_type: str | None = None
        #: When the function asked for work (perf_counter), each time.
        self.next_calls: list[float] = []
        self._init_failed = asyncio.Event()
        self._first_next = asyncio.Event()
        self._next_called = asyncio.Condition()
        self._pending: asyncio.Queue[Invocation] = asyncio.Queue()
        self._active: dict[str, Invocation] = {}
        #: Ids of recently finished invocations, so a late answer gets Lambda's 410 rather
        #: than 400; bounded, so a long `streamway local` session does not keep every event.
        self._finished: OrderedDict[str, None] = OrderedDict()
        #: Invocations handed out and not ended, by id.
        self._handed: set[str] = set()
        #: A slot for each invocation the function may hold at once (None: no limit).
        limit = config.max_concurrency
        self._slots = asyncio.Semaphore(limit) if limit is not None else None

    @property
    def in_flight(self) -> int:
        """Invocations the function took (``next``) and has not finished."""
        return len(self._handed)

    # --- the caller's side ---------------------------------------------------------------

    def invoke(
        self,
        event: Any,
        *,
        timeout_s: float | None = None,
        trace_id: str | None = None,
        body: BodyChannel | None = None,
    ) -> Invocation:
        """Queues ``event`` for the function (the function's own timeout unless given)."""
        invocation = Invocation(
            event,
            timeout_s or self.config.timeout_s,
            trace_id,
            body=body,
            on_end=self._forget,
        )
        self._active[invocation.request_id] = invocation
        self._pending.put_nowait(invocation)
        return invocation

    def end_all(self, error: dict[str, Any]) -> None:
        """Ends every invocation still in flight (the emulator closes)."""
        for invocation in list(self._active.values()):
            invocation.end_now(error)

    # --- the function's side -------------------------------------------------------------

    async def next_invocation(self) -> Invocation:
        """Counts a ``next``, then waits for an invocation to hand out (skipping any that
        ended while queued)."""
        self.next_calls.append(time.perf_counter())
        self._first_next.set()
        async with self._next_called:
            self._next_called.notify_all()
        if self._slots is not None:
            await self._slots.acquire()
        try:
            invocation = await self._pending.get()
            while invocation.done:  # cancelled while it waited for the function
                invocation = await self._pending.get()
        except BaseException:  # the `next` connection went away while it waited
            if self._slots is not None:
                self._slots.release()
            raise
        self._handed.add(invocation.request_id)
        return invocation

    def answerable(self, request_id: str) -> Invocation | None:
        """The invocation a function may answer under ``request_id``: one handed out and not
        ended. One not yet handed out through ``next`` is as unknown as a made-up id."""
        invocation = self._active.get(request_id)
        if invocation is None or invocation.state not in (State.RUNNING, State.RESPONDING):
            return None
        return invocation

    def finished(self, request_id: str) -> bool:
        """Whether ``request_id`` names an invocation that ended (a late answer: 410)."""
        invocation = self._active.get(request_id)
        return request_id in self._finished or bool(invocation and invocation.done)

    def init_failed(self, error: Any, error_type: str | None) -> None:
        """Records ``init/error``: the function could not start."""
        self.init_error = error
        self.init_error_type = error_type
        self._init_failed.set()

    # --- waiting on the function ---------------------------------------------------------

    async def wait_for_first_next(self) -> float:
        """Waits until the function first asked for work; when that was (perf_counter)."""
        await self._first_next.wait()
        return self.next_calls[0]

    async def wait_for_next_call(self, count: int) -> None:
        """Waits until the function has asked for work ``count`` times in all."""
        async with self._next_called:
            await self._next_called.wait_for(lambda: len(self.next_calls) >= count)

    async def wait_for_init_error(self) -> dict[str, Any]:
        await self._init_failed.wait()
        assert self.init_error is not None
        return self.init_error

    def _forget(self, invocation: Invocation) -> None:
        """Drops a finished invocation (its event and response) from the books; the caller
        that holds it can still read its result."""
        self._active.pop(invocation.request_id, None)
        if invocation.request_id in self._handed:
            self._handed.discard(invocation.request_id)
            if self._slots is not None:
                self._slots.release()
        self._finished[invocation.request_id] = None
        while len(self._finished) > RECENT_IDS:
            self._finished.popitem(last=False)
