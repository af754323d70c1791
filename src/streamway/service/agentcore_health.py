"""``GET /ping`` as AgentCore reads it, and the busy work it reports.

AgentCore polls ``/ping`` about every 2 s: ``HealthyBusy`` keeps a session's microVM alive,
``Healthy`` for the idle timeout lets it be reaped, and ``time_of_last_update`` says since
when. So the status is recomputed *when the work changes* (an answer admitted or finished,
a ``/ws`` connection opened or closed, background work registered or completed) and the
timestamp is the unix second of that change: polling never moves it, and a poll after a
short busy spell still sees when it ended.

Agent code registers long background work the way the bedrock-agentcore SDK's app does,
on the process's :data:`health`::

    from streamway.service.agentcore_health import health

    task_id = health.add_async_task("reindex", {"files": 12})
    ...                                   # /ping says HealthyBusy until
    health.complete_async_task(task_id)

    @health.async_task                     # or: busy while the coroutine runs
    async def reindex() -> None: ...

    with health.busy("reindex"): ...       # or: busy inside the block
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger("streamway.agentcore")

P = ParamSpec("P")
R = TypeVar("R")

HEALTHY = "Healthy"
HEALTHY_BUSY = "HealthyBusy"


@dataclass(frozen=True)
class Work:
    name: str
    kind: str
    started: float = field(default_factory=time.time)
    metadata: Mapping[str, Any] | None = None


class RuntimeHealth:
    """The runtime's status: HealthyBusy while any work is registered or a watched source
    (the model's admission queue) says busy; when it last changed."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._work: dict[int, Work] = {}
        self._sources: list[Callable[[], bool]] = []
        self._ids = itertools.count(1)
        # Background work may be registered from any thread (a tool running in a pool).
        self._lock = threading.Lock()
        self.status = HEALTHY
        self.changed_at = int(clock())

    def watch(self, busy: Callable[[], bool]) -> None:
        """Counts ``busy()`` too; its owner calls :meth:`changed` whenever it may flip."""
        self._sources.append(busy)
        self.changed()

    def unwatch(self, busy: Callable[[], bool]) -> None:
        self._sources.remove(busy)
        self.changed()

    def changed(self) -> None:
        """Recomputes the status, and stamps the time if it differs from before."""
        with self._lock:
            busy = bool(self._work) or any(source() for source in self._sources)
            status = HEALTHY_BUSY if busy else HEALTHY
            if status != self.status:
                self.status, self.changed_at = status, int(self._clock())

    def add_async_task(
        self, name: str, metadata: Mapping[str, Any] | None = None, *, kind: str = "task"
    ) -> int:
        """Registers work that keeps the status busy until :meth:`complete_async_task`."""
        with self._lock:
            task_id = next(self._ids)
            self._work[task_id] = Work(name, kind, metadata=metadata)
        log.info("background work started", extra={"task": name, "task_id": task_id})
        self.changed()
        return task_id

    def complete_async_task(self, task_id: int) -> bool:
        """Ends registered work; False (and a warning) for an id that is not running."""
        with self._lock:
            work = self._work.pop(task_id, None)
        if work is None:
            log.warning("no background work with this id", extra={"task_id": task_id})
            return False
        log.info("background work ended", extra={"task": work.name, "task_id": task_id})
        self.changed()
        return True

    @contextmanager
    def busy(self, name: str, *, kind: str = "task") -> Iterator[int]:
        """Busy inside the block, however it ends."""
        task_id = self.add_async_task(name, kind=kind)
        try:
            yield task_id
        finally:
            self.complete_async_task(task_id)

    def async_task(self, function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        """Decorates a coroutine function: busy while each call runs."""

        @functools.wraps(function)
        async def tracked(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.busy(function.__name__):
                return await function(*args, **kwargs)

        return tracked

    def info(self) -> dict[str, Any]:
        """What is running: counts and names, as the SDK's ``get_async_task_info``."""
        now = self._clock()
        with self._lock:
            running = list(self._work.values())
        return {
            "active_count": len(running),
            "running_jobs": [
                {"name": w.name, "kind": w.kind, "duration": round(now - w.started, 3)}
                for w in running
            ],
        }

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "time_of_last_update": self.changed_at}


#: The process's runtime health: what ``/ping`` reports, where agent code registers work.
health = RuntimeHealth()
