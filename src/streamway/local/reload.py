"""``streamway local --reload``: new function processes when the app's files change.

What uvicorn's ``--reload`` users expect, with Lambda's shape: the gateway keeps running (and
its port, metering and connections); each function's processes are replaced
(:meth:`FunctionPool.recycle`): an idle one at once, a busy one once its invocation is over,
so a stream in flight is never cut. The next request cold-starts the new code. One log line
per reload says what changed and what was replaced; when the new code cannot be imported,
a second one says why, before any request meets it.

The watch is watchfiles' (uvicorn's own reloader), over ``--source``, ``*.py`` files only
(its Python filter, which skips ``.git``, ``__pycache__``, virtual environments and the like).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from streamway.local.functions import FunctionPool
from streamway.local.import_check import check_async

if TYPE_CHECKING:  # types only: starlette is not in the light install
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("streamway.local.reload")


class Reloader:
    """Watches ``source`` and recycles ``pools`` on every batch of changes."""

    def __init__(self, source: Path, pools: Sequence[FunctionPool]) -> None:
        self.source = source.resolve()
        self.pools = pools

    async def watch(self) -> None:
        """Runs until cancelled."""
        import watchfiles

        log.info("watching %s for changes to *.py files", self.source)
        async for changes in watchfiles.awatch(
            self.source, watch_filter=watchfiles.PythonFilter(), debounce=200
        ):
            await self.reload(sorted({path for _, path in changes}))

    async def reload(self, paths: Sequence[str]) -> None:
        now = later = 0
        for pool in self.pools:
            stopped, pending = pool.recycle()
            now, later = now + stopped, later + pending
        log.info(
            "reload: %s changed; %d idle function process(es) stopped, %d will stop after "
            "their invocation",
            ", ".join(self._relative(path) for path in paths),
            now,
            later,
            extra={"changed": list(paths), "stopped": now, "stopping": later},
        )
        if self.pools and (problem := await check_async(self.pools[0].spec)) is not None:
            log.warning("reload: the new code cannot be served: %s", problem)

    def _relative(self, path: str) -> str:
        with contextlib.suppress(ValueError):
            return str(Path(path).relative_to(self.source))
        return path


def with_background(app: ASGIApp, work: Callable[[], Awaitable[None]]) -> ASGIApp:
    """``app`` with ``work`` running from its lifespan's startup until its shutdown."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        task: asyncio.Task[None] | None = None

        async def receive_and_start() -> Message:
            nonlocal task
            message = await receive()
            if message["type"] == "lifespan.startup":
                task = asyncio.ensure_future(work())
            elif message["type"] == "lifespan.shutdown" and task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            return message

        await app(scope, receive_and_start, send)

    return wrapped
