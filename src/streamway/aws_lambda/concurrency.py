"""Lambda Managed Instances: many invocations at once in one runtime process.

With ``AWS_LAMBDA_MAX_CONCURRENCY`` above 1 Lambda sends an execution environment that many
invocations at once. AWS's Python runtime answers with one process per concurrent request;
this one runs that many ``next`` loops as tasks on its one event loop, so the app is imported
and started once and a stream that mostly waits on a model costs a task, not a process.

Each loop has its own Runtime API connection (a :class:`RuntimeAPIClient`) and serves its
invocation to the end before it asks for the next; the request id, trace id and context of
an invocation live in the loop's task (context variables), never in the process's
environment. A failing invocation ends in its own loop. A loop that cannot reach the Runtime
API retries with backoff, alone, and gives up after :data:`RECONNECT_ATTEMPTS` failures in a
row; when every loop gave up the process exits, as Lambda then replaces the environment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from streamway.aws_lambda.client import NextInvocation, RuntimeAPIClient, RuntimeAPIError

if TYPE_CHECKING:
    from streamway.aws_lambda.runtime import LambdaRuntime

log = logging.getLogger("streamway.aws_lambda")

#: Failures in a row to get the next invocation (connection refused, reset, a bad answer)
#: that one loop retries before it gives up.
RECONNECT_ATTEMPTS = 8
#: The first wait before a retry; it doubles each time, up to :data:`BACKOFF_MAX_S`.
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 2.0
#: How long after its deadline an invocation's app is cancelled: Lambda ends the invocation
#: at the deadline itself (a timeout), and only then does the runtime free the loop.
DEADLINE_GRACE_S = 1.0


def until_deadline(deadline_ms: int | None) -> asyncio.Timeout:
    """A timeout :data:`DEADLINE_GRACE_S` after ``deadline_ms`` (epoch milliseconds, the
    invocation's ``Lambda-Runtime-Deadline-Ms``): the block is cancelled then and
    TimeoutError raised; None or 0: no limit.

    Under concurrency the runtime enforces it itself: Lambda cannot stop one invocation of a
    process without stopping the others, so an overrunning one must not keep its loop.
    """
    if not deadline_ms:
        return asyncio.timeout(None)
    loop = asyncio.get_running_loop()
    return asyncio.timeout_at(loop.time() + deadline_ms / 1000 - time.time() + DEADLINE_GRACE_S)


class ConcurrentLoops:
    """``concurrency`` ``next`` loops serving one :class:`LambdaRuntime`'s app at once."""

    def __init__(self, runtime: LambdaRuntime, address: str, concurrency: int) -> None:
        self.runtime = runtime
        self.address = address
        self.concurrency = concurrency
        self._left: int | None = None

    async def run(self, invocations: int | None = None) -> None:
        """Serves until ``invocations`` were taken in all (every loop counts), or for ever;
        exits the process when every loop lost the Runtime API for good."""
        self._left = invocations
        log.info("serving invocations concurrently", extra={"concurrency": self.concurrency})
        loops = [self._loop(number) for number in range(self.concurrency)]
        outcomes = await asyncio.gather(*loops)
        if not any(outcomes):
            log.error("no loop can reach the Runtime API; the runtime stops")
            raise SystemExit(1)

    def _take_turn(self) -> bool:
        if self._left is None:
            return True
        if self._left <= 0:
            return False
        self._left -= 1
        return True

    async def _loop(self, number: int) -> bool:
        """One ``next`` loop on its own connection; False when it gave up on the Runtime API."""
        client = RuntimeAPIClient(self.address)
        try:
            while self._take_turn():
                invocation = await self._next(client, number)
                if invocation is None:
                    return False
                try:
                    await self.runtime.serve_one(invocation, client)
                except Exception:
                    # Answering failed outside the app (an error post on a broken
                    # connection): this invocation is over, the loop goes on.
                    log.exception("could not answer the invocation")
                    await client.close()
            return True
        finally:
            await client.close()

    async def _next(self, client: RuntimeAPIClient, number: int) -> NextInvocation | None:
        """The next invocation, retrying a lost connection with backoff; None after
        :data:`RECONNECT_ATTEMPTS` failures in a row."""
        delay = BACKOFF_FIRST_S
        for attempt in range(1, RECONNECT_ATTEMPTS + 1):
            try:
                return await client.next()
            except (OSError, RuntimeAPIError) as error:
                await client.close()
                fields = {"loop": number, "attempt": attempt, "reason": repr(error)}
                if attempt == RECONNECT_ATTEMPTS:
                    log.error("this loop gives up on the Runtime API", extra=fields)
                    return None
                log.warning("the Runtime API connection failed; retrying", extra=fields)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
        return None
