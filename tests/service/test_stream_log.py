"""The bounded event log behind SSE resume: ids, events after an id, the byte bound."""

from __future__ import annotations

import asyncio

import pytest

from streamway.service.stream_log import EventsGone, StreamLog


def test_events_after_an_id_are_exactly_the_later_ones() -> None:
    async def run() -> None:
        log = StreamLog(max_bytes=1000)
        ids = [log.append(f"id: {n}\ndata: {n}\n\n".encode()) for n in range(1, 6)]
        assert ids == [1, 2, 3, 4, 5]
        assert [i for i, _ in log.after(2)] == [3, 4, 5]
        assert log.after(5) == []
        assert log.after(0)[0] == (1, b"id: 1\ndata: 1\n\n")
        with pytest.raises(ValueError, match="no event"):
            log.after(6)
        with pytest.raises(ValueError, match="no event"):
            log.after(-1)

    asyncio.run(run())


def test_the_log_never_passes_its_bound_and_a_late_resume_is_told() -> None:
    async def run() -> None:
        log = StreamLog(max_bytes=100)
        for _ in range(50):
            log.append(b"x" * 30)
            assert log.bytes <= 100
        assert log.last_id == 50
        assert log.first_id == 48  # 3 events of 30 bytes fit in 100
        with pytest.raises(EventsGone):
            log.after(10)
        assert [i for i, _ in log.after(47)] == [48, 49, 50]

    asyncio.run(run())


def test_a_waiting_reader_wakes_on_append_and_on_close() -> None:
    async def run() -> None:
        log = StreamLog(max_bytes=100)
        waiter = asyncio.ensure_future(log.wait(timeout_s=30))
        await asyncio.sleep(0)
        log.append(b"a")
        assert await waiter is True
        waiter = asyncio.ensure_future(log.wait(timeout_s=30))
        await asyncio.sleep(0)
        log.close()
        assert await waiter is True
        assert log.closed
        assert await log.wait(timeout_s=0.01) is False

    asyncio.run(run())
