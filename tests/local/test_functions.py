"""Function pools with real ``python -m streamway.aws_lambda`` processes, without the gateway."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from streamway.aws_contract import error_object
from streamway.local.functions import (
    ABANDONED,
    FunctionPool,
    FunctionSpec,
    InitFailed,
    Sandbox,
    Throttled,
)
from tests.aws_lambda.fixtures import rest_event
from tests.servers import REPO_ROOT, TEST_ENV

pytestmark = pytest.mark.timeout(120)

ENV = {
    **TEST_ENV,
    "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
}


def spec(app: str = "tests.aws_lambda.apps:app", **options: object) -> FunctionSpec:
    return FunctionSpec(
        name="TestFunction",
        invoke_mode="buffered",
        app=app,
        env=ENV,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def pool() -> AsyncIterator[FunctionPool]:
    pool = FunctionPool(spec(concurrency=1))
    try:
        yield pool
    finally:
        await pool.close()


async def test_a_warm_sandbox_is_reused_and_the_limit_throttles(pool: FunctionPool) -> None:
    first = await pool.acquire()
    assert first.cold_start
    assert first.init_ms is not None
    assert first.init_ms > 0
    with pytest.raises(Throttled):
        await pool.acquire()
    invocation = await first.invoke(rest_event("/context", stage="dev"))
    result = await invocation.result()
    assert result.ok
    first.release()

    second = await pool.acquire()
    assert second.sandbox is first.sandbox
    assert not second.cold_start
    assert pool.describe()["cold_starts"] == 1
    assert pool.describe()["throttles"] == 1
    second.release()


async def test_at_the_limit_a_sandbox_whose_caller_left_is_waited_for_not_throttled() -> None:
    """A caller that leaves and asks again at once (the soak's aborted clients, a Stop button)
    gets the same sandbox: the emulator hung up on the function, whose next write fails, so
    it is back in ``next`` moments later. Throttling that request instead made the soak see
    API Gateway's 500 beside a sandbox that was free 0 to 13 ms later."""
    pool = FunctionPool(replace(spec(concurrency=1), invoke_mode="response_stream"))
    try:
        lease = await pool.acquire()
        event = rest_event("/slow", stage="dev") | {"queryStringParameters": {"pause": "0.2"}}
        invocation = await lease.invoke(event)
        assert await invocation.response_started() == "streaming"
        # What the gateway does when its client leaves: cancel, then hand the sandbox back.
        invocation.cancel(error_object(ABANDONED, "no one is reading"))
        lease.release()

        again = await pool.acquire()
        assert again.sandbox is lease.sandbox
        assert not again.cold_start
        assert pool.describe()["throttles"] == 0
        result = await (await again.invoke(rest_event("/context", stage="dev"))).result()
        assert result.ok
        again.release()
    finally:
        await pool.close()


async def test_an_abandoned_function_that_does_not_write_is_replaced_at_its_timeout() -> None:
    """The hang-up reaches a function only when it writes: one that does not is stopped as
    Lambda stops any function, at its timeout, and its sandbox replaced."""
    pool = FunctionPool(replace(spec(concurrency=1, timeout_s=1.0), invoke_mode="response_stream"))
    try:
        lease = await pool.acquire()
        event = rest_event("/slow", stage="dev") | {"queryStringParameters": {"pause": "60"}}
        invocation = await lease.invoke(event)
        await invocation.response_started()
        invocation.cancel(error_object(ABANDONED, "no one is reading"))
        lease.release()
        await asyncio.wait_for(lease.sandbox.wait_until_free(), 30)
        # Its process was stopped; the next request cold-starts a new one (as in the test
        # of a function over its timeout, below).
        assert lease.sandbox.state == "dead"
        assert pool.describe()["sandboxes"] == []
    finally:
        await pool.close()


async def test_an_init_failure_frees_its_slot() -> None:
    pool = FunctionPool(spec("tests.aws_lambda.apps:failing_lifespan", concurrency=1))
    try:
        for _ in range(2):  # not Throttled the second time: the failed sandbox is gone
            with pytest.raises(InitFailed, match="the model file is missing"):
                await pool.acquire()
        assert pool.describe()["sandboxes"] == []
    finally:
        await pool.close()


async def test_a_function_over_its_timeout_is_killed_and_replaced() -> None:
    pool = FunctionPool(spec(concurrency=1, timeout_s=1.0))
    try:
        lease = await pool.acquire()
        pid = lease.sandbox.process.pid if lease.sandbox.process else None
        invocation = await lease.invoke(
            rest_event("/slow", stage="dev") | {"queryStringParameters": {"pause": "5"}}
        )
        result = await asyncio.wait_for(invocation.result(), 10)
        assert result.error is not None
        assert result.error["errorType"] == "Sandbox.Timedout"
        lease.release()

        replacement = await pool.acquire()
        assert replacement.cold_start
        assert replacement.sandbox.process is not None
        assert replacement.sandbox.process.pid != pid
        replacement.release()
    finally:
        await pool.close()


async def test_a_sandbox_moves_only_through_its_own_transitions() -> None:
    """Without a process: the pool claims a sandbox, only the sandbox writes its state, and a
    dead one is never claimed again (nor waited for)."""
    sandbox = Sandbox(spec(), 1)
    assert sandbox.state == "starting"
    sandbox.claim()
    assert sandbox.state == "busy"
    waiting = asyncio.ensure_future(sandbox.wait_until_free())
    await asyncio.sleep(0)
    assert not waiting.done()
    await sandbox.stop()
    assert (sandbox.state, sandbox.alive) == ("dead", False)
    await asyncio.wait_for(waiting, 1)
    with pytest.raises(RuntimeError):
        sandbox.claim()
