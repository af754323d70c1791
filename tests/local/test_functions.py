"""Function pools with real ``python -m streamway.aws_lambda`` processes, without the gateway."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from streamway.local.functions import FunctionPool, FunctionSpec, InitFailed, Sandbox, Throttled
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
