"""``streamway local --max-concurrency N``: sandboxes that serve up to N invocations at once.

Lambda Managed Instances send one execution environment several invocations at once. Here a
*shared* sandbox is one function process whose emulator hands out up to N invocations
concurrently (``AWS_LAMBDA_MAX_CONCURRENCY=N`` in its environment, so streamway's runtime runs
N ``next`` loops). The pool routes up to N requests to one sandbox before it starts another:

- a shared sandbox is *warm* while it has room (fewer than N leases), *busy* when full;
- a lease frees its slot once its invocation ended (the emulator's slot is free then, and the
  runtime's loop is back in ``next`` or about to be);
- an invocation past its deadline is ended by the emulator and cancelled by the runtime: the
  process is not killed, as that would cut the other invocations' streams;
- new code (``--reload``) retires an idle sandbox at once and a busy one when its last lease
  ends; meanwhile it takes no new request.

:func:`pool_for` picks the pool a function's spec asks for.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from streamway.aws_contract import EXIT_ERROR, error_object
from streamway.local.function_spec import FunctionSpec
from streamway.local.functions import FunctionPool, Lease, Sandbox
from streamway.local.runtime_api import Invocation, RuntimeAPIServer
from streamway.observability import tracing


class SharedSandbox(Sandbox):
    """One function process serving up to ``spec.max_concurrency`` invocations at once."""

    def __init__(self, spec: FunctionSpec, number: int, generation: int = 0) -> None:
        super().__init__(spec, number, generation)
        config = dataclasses.replace(self.api.config, max_concurrency=spec.max_concurrency)
        self.api = RuntimeAPIServer(config, invoke_over_http=False)
        #: Requests holding a slot (claimed and not released).
        self.leases = 0
        #: Invocations handed to the function and not ended.
        self.running: set[Invocation] = set()
        #: Set by a recycle: no new request, and stop once the last lease ends.
        self.draining = False
        #: Requests waiting for it to finish starting, to take a slot then.
        self.waiting = 0
        self._slot_tasks: set[asyncio.Task[None]] = set()

    def claim(self) -> None:
        """Takes one slot; the sandbox stays warm (claimable) while it has another."""
        self.leases += 1
        self._become("busy")
        if self.leases < self.spec.max_concurrency and not self.draining:
            self._become("warm")

    async def invoke(self, event: Any) -> Invocation:
        self.invocations += 1
        invocation = await self.api.invoke(event, trace_id=tracing.lambda_trace_header())
        self.running.add(invocation)
        self.current = invocation
        # START in the log; under concurrency an invocation's tail holds the others' lines too.
        self.logs.begin(invocation.request_id)
        return invocation

    @property
    def returning(self) -> bool:
        """Whether a slot frees within moments: a full sandbox with an invocation whose
        client has it all (or that ended)."""
        return self.state == "busy" and any(
            invocation.done or invocation.delivered for invocation in self.running
        )

    def let_go(self, invocation: Invocation | None) -> None:
        """A lease ends: its slot is free once ``invocation`` ended (at the latest at its
        deadline, when the emulator ends it and the runtime cancels it)."""
        task = asyncio.ensure_future(self._free_slot(invocation))
        self._slot_tasks.add(task)
        task.add_done_callback(self._slot_tasks.discard)

    async def _free_slot(self, invocation: Invocation | None) -> None:
        if invocation is not None:
            await invocation.wait_ended()
            self.running.discard(invocation)
        self.leases -= 1
        if not self.alive:
            if not self.running:  # the base class leaves this to the settling it does
                await self.api.close()
            return
        if self.draining and self.leases == 0:
            await self.retire()
        elif self.state == "busy" and not self.draining:
            self._become("warm")

    def drain(self) -> bool:
        """New code: no new request; True when idle (the caller retires it now), else it
        retires itself after its last lease."""
        self.draining = True
        if self.leases == 0:
            return True
        if self.state == "warm":
            self._become("busy")
        return False

    def _on_exit(self, exited: asyncio.Future[int]) -> None:
        # The base class fails only its one current invocation; here every unanswered one.
        code = exited.result() if not exited.cancelled() else None
        for invocation in list(self.running):
            if invocation.mode is None:
                invocation.cancel(error_object(EXIT_ERROR, f"the process exited with {code}"))
        super()._on_exit(exited)

    async def stop(self) -> None:
        for invocation in list(self.running):
            invocation.cancel(error_object(EXIT_ERROR, "the sandbox was stopped"))
        await super().stop()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "in_flight": self.api.in_flight,
            "max_concurrency": self.spec.max_concurrency,
        }


class SharedLease(Lease):
    """A slot of a :class:`SharedSandbox`, freed when its invocation ends."""

    def release(self) -> None:
        assert isinstance(self.sandbox, SharedSandbox)
        self.sandbox.let_go(self.invocation)


class SharedPool(FunctionPool):
    """A function's shared sandboxes: up to ``spec.concurrency`` processes, each serving up
    to ``spec.max_concurrency`` invocations."""

    def __init__(self, spec: FunctionSpec) -> None:
        super().__init__(spec)
        self.sandbox_type = SharedSandbox

    async def acquire(self) -> Lease:
        """As the base class does, but a request that finds a sandbox starting with a slot to
        spare waits for it rather than starting another (or being throttled)."""
        for sandbox in self.sandboxes:
            if (
                isinstance(sandbox, SharedSandbox)
                and sandbox.state == "starting"
                and sandbox.waiting < self.spec.max_concurrency - 1
            ):
                sandbox.waiting += 1
                try:
                    await sandbox.wait_until_free()
                finally:
                    sandbox.waiting -= 1
                break
        lease = await super().acquire()
        return SharedLease(self, lease.sandbox, cold_start=lease.cold_start)

    def recycle(self) -> tuple[int, int]:
        self.generation += 1
        idle = [
            sandbox
            for sandbox in self.sandboxes
            if isinstance(sandbox, SharedSandbox) and sandbox.alive and sandbox.drain()
        ]
        for sandbox in idle:
            self._retire(sandbox)
        return len(idle), sum(sandbox.alive for sandbox in self.sandboxes)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_concurrency": self.spec.max_concurrency}


def pool_for(spec: FunctionSpec) -> FunctionPool:
    """The pool a function runs in: shared sandboxes when it takes several invocations at
    once (``--max-concurrency``), else one invocation per sandbox, as on Lambda's default
    compute."""
    return SharedPool(spec) if spec.max_concurrency > 1 else FunctionPool(spec)
