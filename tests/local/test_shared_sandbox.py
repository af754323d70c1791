"""Shared sandboxes (``--max-concurrency``) with real function processes, without the
gateway: slots, in-flight invocations, a full sandbox, and a recycle that waits."""

from __future__ import annotations

from dataclasses import replace

import pytest

from streamway.local.functions import Throttled
from streamway.local.runtime_api import Invocation
from streamway.local.shared_sandbox import SharedPool, SharedSandbox, pool_for
from tests.aws_lambda.fixtures import rest_event
from tests.emulator import http_response
from tests.local.test_functions import spec

pytestmark = pytest.mark.timeout(120)

APP = "tests.aws_lambda.concurrent_app:app"


def _gated(number: int, *, wanted: str = "0") -> dict[str, object]:
    """A stream of the gated app; ``wanted`` "0" waits for a ``/release`` invocation."""
    query = {"group": "s", "n": wanted, "id": f"s-{number}"}
    return rest_event("/gate", stage="dev") | {
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {name: [value] for name, value in query.items()},
    }


async def _first_chunk(invocation: Invocation) -> None:
    _, body = await http_response(invocation)
    await anext(body)


def test_the_pool_follows_max_concurrency() -> None:
    assert type(pool_for(spec(max_concurrency=4))) is SharedPool
    assert type(pool_for(spec())) is not SharedPool


async def test_one_sandbox_takes_its_slots_then_the_next_request_is_throttled() -> None:
    shared = replace(spec(APP, concurrency=1, max_concurrency=5), invoke_mode="response_stream")
    pool = SharedPool(shared)
    try:
        leases = [await pool.acquire() for _ in range(4)]
        assert [lease.cold_start for lease in leases] == [True, False, False, False]
        sandbox = leases[0].sandbox
        assert isinstance(sandbox, SharedSandbox)
        assert {lease.sandbox for lease in leases} == {sandbox}
        invocations = [await lease.invoke(_gated(n)) for n, lease in enumerate(leases)]
        for invocation in invocations:
            await _first_chunk(invocation)  # all four wait in the app, in one process
        [described] = pool.describe()["sandboxes"]
        assert (described["in_flight"], described["state"]) == (4, "warm")
        release = await pool.acquire()  # the fifth slot, same process
        assert release.sandbox is sandbox
        assert sandbox.state == "busy"
        with pytest.raises(Throttled):  # full, and no second sandbox allowed
            await pool.acquire()
        ended = await (
            await release.invoke(
                rest_event("/release", stage="dev")
                | {
                    "queryStringParameters": {"group": "s"},
                    "multiValueQueryStringParameters": {"group": ["s"]},
                }
            )
        ).result()
        assert ended.ok
        results = [await invocation.result() for invocation in invocations]
        assert all(result.ok for result in results)
        for lease in [*leases, release]:
            lease.release()
        again = await pool.acquire()  # a slot came free: no new sandbox
        assert again.sandbox is sandbox
        assert pool.cold_starts == 1
    finally:
        await pool.close()


async def test_a_recycled_busy_sandbox_takes_no_new_request_and_stops_after_its_last() -> None:
    pool = SharedPool(spec(APP, concurrency=2, max_concurrency=4))
    try:
        old = await pool.acquire()
        answered = await (await old.invoke(_gated(0, wanted="1"))).result()
        assert answered.ok
        assert pool.recycle() == (0, 1)  # new code: the old one still holds a lease
        new = await pool.acquire()
        assert new.cold_start
        assert new.sandbox is not old.sandbox
        old.release()
        await old.sandbox.wait_until_free()  # set once it is dead
        assert not old.sandbox.alive
        assert new.sandbox.alive
    finally:
        await pool.close()
