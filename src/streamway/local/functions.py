"""Function processes: Lambda's execution environments ("sandboxes") on one machine.

Each sandbox is a real ``python -m streamway.aws_lambda`` child with a Runtime API emulator
of its own, as each Lambda execution environment has its own Runtime API endpoint. A pool
per function keeps up to ``concurrency`` of them, as Lambda does under a concurrency limit:

- the first request that finds no free sandbox starts one: a *cold start*, whose init time
  (process start until its first ``next``) is recorded;
- a sandbox is busy from the invocation until its runtime is back in ``next``, then *warm*
  and reused;
- with every sandbox busy at the limit, the request is throttled (Lambda's 429
  TooManyRequestsException, which the gateway turns into API Gateway's answer);
- a process that dies is dropped (its invocation fails with ``Runtime.ExitError``) and
  replaced by a cold start when next needed; one that overruns its timeout is killed, as
  Lambda resets an environment after a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable
from typing import Any, Literal

from streamway.aws_contract import EXIT_ERROR, TIMED_OUT, error_object
from streamway.local.function_logs import SandboxLog
from streamway.local.function_spec import FunctionSpec as FunctionSpec  # re-exported
from streamway.local.process_facts import init_error_text, rss_mib
from streamway.local.runtime_api import FunctionConfig, Invocation, RuntimeAPIServer
from streamway.observability import tracing

log = logging.getLogger("streamway.local.functions")

#: ``settling``: the invocation is over and the runtime is expected back in ``next`` any
#: moment; ``busy`` after an abandoned invocation means the function may still be running.
State = Literal["starting", "warm", "busy", "settling", "dead"]
#: Which state may follow which; only the sandbox moves itself (see ``Sandbox._become``).
_TRANSITIONS: dict[State, set[State]] = {
    "starting": {"busy", "dead"},
    "warm": {"busy", "dead"},
    "busy": {"busy", "settling", "warm", "dead"},
    "settling": {"warm", "dead"},
    "dead": {"dead"},
}

#: How long a request waits for a settling sandbox before starting a new one.
_SETTLE_WAIT_S = 1.0
#: The error a caller cancels an invocation with when it stops reading early.
ABANDONED = "Gateway.Abandoned"
#: Lambda's limit on the init phase (before it is retried within the function timeout).
INIT_TIMEOUT_S = 10.0
#: How long a process may take to stop after SIGTERM before it is killed.
_STOP_GRACE_S = 5.0


class Throttled(Exception):
    """Every sandbox is busy and the function is at its concurrency limit."""


class InitFailed(Exception):
    """A new sandbox failed its init: ``/init/error``, or the process exited before ``next``."""


class Sandbox:
    """One execution environment: an emulator and the function process talking to it.

    Its state is its own: the pool claims it (:meth:`claim`) and hands it back
    (:meth:`released`, then :meth:`settle`); the sandbox moves itself through
    starting -> busy -> settling -> warm -> busy ..., and to dead from anywhere.
    """

    def __init__(self, spec: FunctionSpec, number: int, generation: int = 0) -> None:
        self.spec = spec
        self.number = number
        self.generation = generation  # of the pool's code (FunctionPool.recycle)
        # The gateway invokes in process: the sandbox's HTTP invoke endpoint stays shut, and
        # its runtime gets the emulator's secret in AWS_LAMBDA_RUNTIME_API (function_env()).
        self.api = RuntimeAPIServer(
            FunctionConfig(name=spec.name, memory_mb=spec.memory_mb, timeout_s=spec.timeout_s),
            invoke_over_http=False,
        )
        self._state: State = "starting"
        self.invocations = 0
        self.init_ms: float | None = None
        self.current: Invocation | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.logs = SandboxLog()  # its stdout and stderr, and the invocations' log tails
        self._exited: asyncio.Future[int] | None = None
        self._closing: asyncio.Future[None] | None = None
        #: Set while the sandbox is warm or dead: what a request waiting for it waits on.
        self._free = asyncio.Event()

    @property
    def state(self) -> State:
        return self._state

    @property
    def alive(self) -> bool:
        return self._state != "dead"

    def _become(self, state: State) -> None:
        """The one writer of the sandbox's state (and of whether it is free)."""
        if state not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"sandbox {self.number}: {self._state} -> {state}")
        self._state = state
        if state in ("warm", "dead"):
            self._free.set()
        elif state == "busy":
            self._free.clear()

    def claim(self) -> None:
        """Takes a new or warm sandbox for one request."""
        self._become("busy")

    async def wait_until_free(self) -> None:
        """Waits until the sandbox is warm again (or dead)."""
        await self._free.wait()

    async def start(self) -> None:
        """Starts the process and waits for its first ``next``; raises :class:`InitFailed`."""
        started = time.perf_counter()
        # Said before it happens: a cold start that loads a model takes seconds, and a
        # silent terminal during the first request looks like a hang.
        log.info(
            "cold start: starting a sandbox (the request waits for its init)",
            extra={"function": self.spec.name, "sandbox": self.number},
        )
        await self.api.start()
        env = self.spec.process_env(self.api.function_env(with_secret=not self.spec.command))
        self.process = await self.logs.spawn(*self.spec.argv(), env=env)
        if self.spec.command:  # AWS's Node.js client takes only host:port: admitted by pid
            self.api.admit(self.process.pid)
        self._exited = asyncio.ensure_future(self.process.wait())
        ready = asyncio.ensure_future(self.api.wait_for_first_next())
        failed = asyncio.ensure_future(self.api.wait_for_init_error())
        try:
            await asyncio.wait(
                {ready, failed, self._exited},
                # Lambda gives init 10 s, then retries it within the function's timeout.
                timeout=max(INIT_TIMEOUT_S, self.spec.timeout_s),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            failed.cancel()
            if not ready.done():
                ready.cancel()
        if not ready.done() or ready.cancelled():
            reason = init_error_text(self.api.init_error)
            await self.stop()
            raise InitFailed(f"{self.spec.name} #{self.number}: {reason}")
        self.init_ms = (ready.result() - started) * 1000
        self._exited.add_done_callback(self._on_exit)
        log.info(
            "cold start done",
            extra={
                "function": self.spec.name,
                "sandbox": self.number,
                "pid": self.process.pid,
                "init_ms": round(self.init_ms, 1),
            },
        )

    async def invoke(self, event: Any) -> Invocation:
        if self.alive:  # one that died since it was claimed stays dead (and is replaced)
            self._become("busy")
        self.invocations += 1
        # The invocation's trace header (Lambda-Runtime-Trace-Id) carries the gateway's span,
        # as Lambda carries API Gateway's; without tracing the emulator makes its own.
        self.current = await self.api.invoke(event, trace_id=tracing.lambda_trace_header())
        self.logs.begin(self.current.request_id)
        return self.current

    def released(self) -> None:
        """The caller is done with the invocation. If it ran to its end, the runtime is about
        to ask for the next one; if it was abandoned, the function may still be running."""
        if self.returning and self._state == "busy":
            self._become("settling")

    @property
    def returning(self) -> bool:
        """Whether the runtime should be back in ``next`` within moments: its invocation
        ended (a timed-out one is about to be replaced) or its client has the whole response.
        Abandoned by its caller: only a streaming function the emulator hung up on
        (``stopped``), whose next write fails at once; a buffered one writes at its end."""
        invocation = self.current
        if self._state == "settling":
            return True
        if self._state != "busy" or invocation is None:
            return False
        if not invocation.done:
            return invocation.delivered
        if (invocation.error or {}).get("errorType") != ABANDONED:
            return True
        return invocation.stopped and self.spec.invoke_mode == "response_stream"

    async def settle(self) -> None:
        """Waits until the runtime is back in ``next`` after the current invocation; kills the
        process if that does not happen by the invocation's deadline (or it timed out)."""
        invocation = self.current
        timed_out = (
            invocation is not None and (invocation.error or {}).get("errorType") == TIMED_OUT
        )
        remaining = self.spec.timeout_s
        if invocation is not None and invocation.deadline_ms is not None:
            remaining = max(0.0, invocation.deadline_ms / 1000 - time.time())
        if not timed_out and self.alive and self._exited is not None:
            back = asyncio.ensure_future(self.api.wait_for_next_call(self.invocations + 1))
            watched: set[asyncio.Future[Any]] = {back, self._exited}
            await asyncio.wait(watched, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            back.cancel()
            if back.done() and not back.cancelled() and self.alive:
                self.current = None
                self._become("warm")
                return
        if self.alive:
            log.warning(
                "function timed out; its process is replaced",
                extra={"function": self.spec.name, "sandbox": self.number},
            )
            await self.stop()
        else:
            await self.api.close()

    def _on_exit(self, exited: asyncio.Future[int]) -> None:
        if self._state == "dead":
            return
        self._become("dead")
        code = exited.result() if not exited.cancelled() else None
        log.warning(
            "function process exited",
            extra={"function": self.spec.name, "sandbox": self.number, "returncode": code},
        )
        if self.current is not None and self.current.mode is None:
            # Died before answering. (One that died mid-answer is ended by the emulator once
            # it has read what the function sent, so none of it is lost.)
            self.current.cancel(error_object(EXIT_ERROR, f"the process exited with {code}"))
        if self.current is None or self.current.done:
            self._closing = asyncio.ensure_future(self.api.close())
        # Otherwise the emulator is still handing over the answer; settle() closes it.

    def retire(self) -> Awaitable[None]:
        """Dead at once (no request can claim it); the awaitable stops its process."""
        self._become("dead")
        return self.stop()

    async def stop(self) -> None:
        """Stops the process (SIGTERM, then SIGKILL) and the emulator."""
        self._become("dead")
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                async with asyncio.timeout(_STOP_GRACE_S):
                    await self.process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        if self.current is not None:
            self.current.cancel(error_object(EXIT_ERROR, "the sandbox was stopped"))
        self.logs.close()
        await self.api.close()

    def describe(self) -> dict[str, Any]:
        return {
            "sandbox": self.number,
            "state": self._state,
            "pid": self.process.pid if self.process else None,
            "invocations": self.invocations,
            "init_ms": round(self.init_ms, 1) if self.init_ms is not None else None,
            "rss_mib": rss_mib(self.process.pid) if self.process and self.alive else None,
        }


class Lease:
    """A sandbox held for one request; :meth:`release` hands it back."""

    def __init__(self, pool: FunctionPool, sandbox: Sandbox, *, cold_start: bool) -> None:
        self.pool = pool
        self.sandbox = sandbox
        self.cold_start = cold_start
        self.invocation: Invocation | None = None

    @property
    def init_ms(self) -> float | None:
        return self.sandbox.init_ms if self.cold_start else None

    async def invoke(self, event: Any) -> Invocation:
        self.invocation = await self.sandbox.invoke(event)
        return self.invocation

    def release(self) -> None:
        """The caller is done. The sandbox is free once its runtime asks for work again,
        which may be later: a function whose caller left finishes in the background."""
        self.pool.release(self.sandbox)


class FunctionPool:
    """The sandboxes of one function, up to its concurrency."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.sandbox_type: type[Sandbox] = Sandbox  # SharedSandbox for --max-concurrency
        self.sandboxes: list[Sandbox] = []
        self.cold_starts = 0
        self.throttles = 0
        self._numbers = itertools.count(1)
        self._background: set[asyncio.Task[None]] = set()
        self._retiring: set[asyncio.Task[None]] = set()  # awaited on close, never cancelled
        self.generation = 0  # bumped when the code changes (recycle)

    async def acquire(self) -> Lease:
        """A warm sandbox if one is free, else a new one; raises :class:`Throttled` at the
        limit and :class:`InitFailed` when a new one fails to start."""
        while True:
            self.sandboxes = [sandbox for sandbox in self.sandboxes if sandbox.alive]
            for sandbox in self.sandboxes:
                if sandbox.state == "warm":
                    sandbox.claim()
                    return Lease(self, sandbox, cold_start=False)
            # A sandbox that just answered is back in `next` within moments: waiting for it
            # beats a cold start (and keeps a sequential client on one warm sandbox).
            settling = [s.wait_until_free() for s in self.sandboxes if s.returning]
            if not settling:
                break
            waits = [asyncio.ensure_future(wait) for wait in settling]
            done, pending = await asyncio.wait(
                waits, timeout=_SETTLE_WAIT_S, return_when=asyncio.FIRST_COMPLETED
            )
            for wait in pending:
                wait.cancel()
            if not done:
                break
        if len(self.sandboxes) >= self.spec.concurrency:
            self.throttles += 1
            raise Throttled(f"{self.spec.name} is at its concurrency limit")
        sandbox = self.sandbox_type(self.spec, next(self._numbers), self.generation)
        self.sandboxes.append(sandbox)  # counts against the limit while it starts
        self.cold_starts += 1
        try:
            await sandbox.start()
        except BaseException:
            if sandbox in self.sandboxes:
                self.sandboxes.remove(sandbox)
            await sandbox.stop()
            raise
        sandbox.claim()
        return Lease(self, sandbox, cold_start=True)

    def release(self, sandbox: Sandbox) -> None:
        """A lease's sandbox is handed back: it settles (back in ``next``) in the background."""
        sandbox.released()
        task = asyncio.ensure_future(self._settle(sandbox))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _settle(self, sandbox: Sandbox) -> None:
        await sandbox.settle()
        # Nothing awaited since it became warm: no request can have claimed it.
        if sandbox.state == "warm" and sandbox.generation != self.generation:
            self._retire(sandbox)

    def recycle(self) -> tuple[int, int]:
        """New code: warm sandboxes stop now, busy ones after their invocation (a stream is
        never cut). Returns how many stopped now and how many will."""
        self.generation += 1
        idle = [sandbox for sandbox in self.sandboxes if sandbox.state == "warm"]
        for sandbox in idle:
            self._retire(sandbox)
        return len(idle), sum(sandbox.alive for sandbox in self.sandboxes)

    def _retire(self, sandbox: Sandbox) -> None:
        task = asyncio.ensure_future(sandbox.retire())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await asyncio.gather(*(sandbox.stop() for sandbox in self.sandboxes))
        self.sandboxes = []

    def describe(self) -> dict[str, Any]:
        live = [sandbox for sandbox in self.sandboxes if sandbox.alive]
        return {
            "function": self.spec.name,
            "invoke_mode": self.spec.invoke_mode,
            "concurrency": self.spec.concurrency,
            "memory_mb": self.spec.memory_mb,
            "timeout_s": self.spec.timeout_s,
            "cold_starts": self.cold_starts,
            "throttles": self.throttles,
            "invocations": sum(sandbox.invocations for sandbox in self.sandboxes),
            "sandboxes": [sandbox.describe() for sandbox in live],
        }
