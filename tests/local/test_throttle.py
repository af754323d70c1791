"""The bandwidth caps, checked against a fake clock so every wait is exact."""

from __future__ import annotations

import asyncio
import time

import pytest

from streamway.local.throttle import (
    Throttle,
    api_gateway_throttle,
    combined,
    gateway_and_lambda_throttle,
    lambda_throttle,
)

#: AWS's "MB", read as MiB (docs/aws-behaviour.md §2); literal, not the constant under test.
MB = 1024 * 1024


class FakeTime:
    """A clock that moves only when a throttle sleeps, or when the test says time passed."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def throttle(self, free: int, rate: float) -> Throttle:
        return Throttle(free, rate, clock=self.clock, sleep=self.sleep)


async def test_bytes_within_the_free_allowance_never_wait() -> None:
    fake = FakeTime()
    throttle = fake.throttle(1000, 100.0)
    for _ in range(10):
        await throttle.pace(100)
    assert fake.sleeps == []
    assert throttle.bytes_sent == 1000


async def test_a_chunk_straddling_the_boundary_waits_only_for_its_throttled_part() -> None:
    fake = FakeTime()
    throttle = fake.throttle(1000, 100.0)
    await throttle.pace(900)
    await throttle.pace(300)  # 100 free + 200 throttled at 100 B/s
    assert fake.sleeps == [2.0]


async def test_after_the_allowance_the_cumulative_bytes_follow_the_rate() -> None:
    fake = FakeTime()
    throttle = fake.throttle(1000, 100.0)
    start = fake.now
    await throttle.pace(1000)
    for _ in range(5):
        await throttle.pace(50)
    assert fake.sleeps == [0.5] * 5
    assert fake.now - start == pytest.approx(2.5)  # 250 throttled bytes at 100 B/s


async def test_a_fast_sender_is_held_to_the_schedule_from_when_the_allowance_ran_out() -> None:
    fake = FakeTime()
    throttle = fake.throttle(0, 10.0)
    # Chunks handed over before earlier ones finished going out queue behind them.
    waits = [throttle.delay(10), throttle.delay(10), throttle.delay(10)]
    assert waits == [1.0, 2.0, 3.0]


async def test_a_sender_slower_than_the_rate_waits_only_for_its_own_chunk() -> None:
    fake = FakeTime()
    throttle = fake.throttle(0, 100.0)
    await throttle.pace(100)  # 1 s on the wire
    fake.now += 5.0  # the producer is slow; the link sat idle
    await throttle.pace(100)
    assert fake.sleeps == [1.0, 1.0]


async def test_idle_time_earns_no_burst_beyond_the_rate() -> None:
    # "a maximum rate of 2 MBps": waiting a minute does not allow 120 MB in one go.
    fake = FakeTime()
    throttle = fake.throttle(0, 2.0 * MB)
    await throttle.pace(2 * MB)
    fake.now += 60.0
    await throttle.pace(20 * MB)
    assert fake.sleeps == [1.0, 10.0]


async def test_zero_byte_chunks_are_free() -> None:
    fake = FakeTime()
    throttle = fake.throttle(0, 1.0)
    await throttle.pace(0)
    assert fake.sleeps == []


def test_nonsense_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        Throttle(0, 0.0)
    with pytest.raises(ValueError, match="free_bytes"):
        Throttle(-1, 1.0)
    with pytest.raises(ValueError, match="nbytes"):
        Throttle(0, 1.0).delay(-1)


async def test_api_gateway_lets_10_mib_through_then_2_mib_per_second() -> None:
    fake = FakeTime()
    throttle = api_gateway_throttle(clock=fake.clock, sleep=fake.sleep)
    await throttle.pace(10 * MB)
    assert fake.sleeps == []
    await throttle.pace(MB)
    assert fake.sleeps == [0.5]


async def test_lambda_lets_6_mib_through_then_2_mib_per_second() -> None:
    fake = FakeTime()
    throttle = lambda_throttle(clock=fake.clock, sleep=fake.sleep)
    await throttle.pace(6 * MB)
    await throttle.pace(4 * MB)
    assert fake.sleeps == [2.0]


async def test_lambda_behind_api_gateway_is_bound_by_the_slower_cap() -> None:
    fake = FakeTime()
    pacer = gateway_and_lambda_throttle(clock=fake.clock, sleep=fake.sleep)
    start = fake.now
    for _ in range(20):
        await pacer.pace(MB)
    # 6 MB free, the other 14 MB at 2 MB/s: Lambda binds, API Gateway's 10 MB never matters.
    assert fake.now - start == pytest.approx(7.0)
    assert fake.sleeps == [pytest.approx(0.5)] * 14


async def test_combined_waits_for_the_strictest_cap_not_the_sum() -> None:
    fake = FakeTime()
    slow = fake.throttle(0, 10.0)
    fast = fake.throttle(0, 100.0)
    pacer = combined(slow, fast, sleep=fake.sleep)
    await pacer.pace(100)
    assert fake.sleeps == [10.0]
    # A cap that binds later in the stream takes over then.
    late = fake.throttle(1000, 1.0)
    early = fake.throttle(0, 1000.0)
    pacer = combined(late, early, sleep=fake.sleep)
    await pacer.pace(500)
    await pacer.pace(600)  # early: 0.6 s; late: 100 throttled bytes at 1 B/s
    assert fake.sleeps[1:] == [0.5, 100.0]


async def test_combined_with_no_caps_never_waits() -> None:
    fake = FakeTime()
    await combined(sleep=fake.sleep).pace(10**9)
    assert fake.sleeps == []


async def test_real_clock_and_sleep_hold_a_stream_to_the_rate() -> None:
    throttle = Throttle(1000, 100_000.0)
    started = time.monotonic()
    # The free allowance does not sleep: the coroutine ends without ever suspending.
    with pytest.raises(StopIteration):
        throttle.pace(1000).send(None)
    await asyncio.gather(*(throttle.pace(5000) for _ in range(4)))
    # 20,000 throttled bytes at 100 kB/s take at least 0.2 s (a lower bound only: a busy
    # machine can only make it longer, and the test's timeout bounds it from above).
    assert time.monotonic() - started >= 0.19
