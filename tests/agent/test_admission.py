"""The admission queue on its own: slots, a bounded waiting room, and a bounded wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from streamway.agent.admission import Admission, ModelBusy


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(2):
        # Polling, because the state under test has no event of its own to wait on.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.001)


@pytest.fixture
async def release() -> AsyncIterator[asyncio.Event]:
    event = asyncio.Event()
    yield event
    event.set()  # a failing test must not leave holders blocked


async def hold(admission: Admission, release: asyncio.Event) -> None:
    async with admission.slot():
        await release.wait()


async def test_full_waiting_room_refuses_at_once(release: asyncio.Event) -> None:
    admission = Admission(slots=1, queue_size=1, timeout_s=10)
    holder = asyncio.create_task(hold(admission, release))
    await until(lambda: admission.active == 1)
    waiter = asyncio.create_task(hold(admission, release))
    await until(lambda: admission.waiting == 1)

    with pytest.raises(ModelBusy) as refused:
        async with admission.slot():
            pass
    assert refused.value.retry_after_s >= 1
    assert admission.refused == 1

    release.set()
    await asyncio.gather(holder, waiter)
    assert (admission.active, admission.waiting) == (0, 0)


async def test_wait_for_a_slot_times_out(release: asyncio.Event) -> None:
    admission = Admission(slots=1, queue_size=5, timeout_s=0.05)
    holder = asyncio.create_task(hold(admission, release))
    await until(lambda: admission.active == 1)
    with pytest.raises(ModelBusy, match=r"within 0\.05 s"):
        async with admission.slot():
            pass
    assert admission.waiting == 0
    release.set()
    await holder


async def test_cancelled_waiter_leaves_the_queue(release: asyncio.Event) -> None:
    admission = Admission(slots=1, queue_size=1, timeout_s=10)
    holder = asyncio.create_task(hold(admission, release))
    await until(lambda: admission.active == 1)
    waiter = asyncio.create_task(hold(admission, release))
    await until(lambda: admission.waiting == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert admission.waiting == 0
    release.set()
    await holder
    # The slot it never got is still usable.
    async with admission.slot():
        assert admission.active == 1


def test_slots_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Admission(slots=0, queue_size=1, timeout_s=1)


async def test_requests_arriving_together_take_free_slots_without_queueing(
    release: asyncio.Event,
) -> None:
    """Many invocations of one process (Managed Instances) arrive in the same turn of the
    loop: the ones that find a slot free take it at once and never count as waiting, so
    the waiting room refuses only what is really over it (here: the fourth)."""
    admission = Admission(slots=2, queue_size=1, timeout_s=10)
    holders = [asyncio.create_task(hold(admission, release)) for _ in range(3)]
    fourth = asyncio.create_task(admission_refusal(admission))
    async with asyncio.timeout(5):
        assert await fourth is True
    assert (admission.active, admission.waiting, admission.refused) == (2, 1, 1)
    release.set()
    await asyncio.gather(*holders)


async def admission_refusal(admission: Admission) -> bool:
    """Asks for a slot in the same turn as the others; True when it is refused."""
    try:
        async with admission.slot():
            return False
    except ModelBusy:
        return True
