"""The registry of resumable streams on its own: take-over, the grace period's end, the
bounds in total, sessions, the cap on streams, shutdown. Generations here are real
coroutines on a real loop; the service's routes over it are in test_resume.py."""

from __future__ import annotations

import asyncio

import pytest

from streamway.service.resumable import MAX_STREAMS, LiveStream, ResumableStreams


async def held(stream: LiveStream, release: asyncio.Event) -> None:
    """A generation: one event, then it waits for ``release``, then one more."""
    stream.append(b"id: 1\ndata: first\n\n")
    await release.wait()
    stream.append(b"id: 2\ndata: last\n\n")
    stream.complete = True


def test_a_new_reader_takes_over_and_the_old_ones_leaving_changes_nothing() -> None:
    async def run() -> None:
        streams = ResumableStreams(grace_s=30, stream_max_bytes=1000, max_bytes=1000)
        stream = streams.open()
        release = asyncio.Event()
        stream.run(lambda live: held(live, release))
        old = stream.attach()
        new = stream.attach()
        assert old.taken
        assert not new.taken
        stream.detach(old, finished=False)  # the taken-over connection ends
        assert stream.reader is new
        assert streams.of_id(stream.id) is stream
        release.set()
        await asyncio.wait_for(stream.task, 10)  # type: ignore[arg-type]
        stream.detach(new, finished=True)  # read to its end: forgotten at once
        assert streams.of_id(stream.id) is None
        assert streams.bytes == 0
        assert streams.grace_cancels == 0

    asyncio.run(run())


def test_a_stream_without_a_reader_is_cancelled_when_the_grace_ends() -> None:
    async def run() -> None:
        streams = ResumableStreams(grace_s=0.05, stream_max_bytes=1000, max_bytes=1000)
        stream = streams.open()
        stream.run(lambda live: held(live, asyncio.Event()))  # never released
        reader = stream.attach()
        stream.detach(reader, finished=False)
        assert streams.of_id(stream.id) is stream  # kept for a resume, for now
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(stream.task, 10)  # type: ignore[arg-type]
        assert streams.grace_cancels == 1
        assert streams.of_id(stream.id) is None
        assert stream.log.closed
        assert streams.bytes == 0

    asyncio.run(run())


def test_a_client_that_never_learnt_the_id_stops_its_stream_at_once() -> None:
    async def run() -> None:
        streams = ResumableStreams(grace_s=30, stream_max_bytes=1000, max_bytes=1000)
        stream = streams.open()
        stream.run(lambda live: held(live, asyncio.Event()))
        stream.detach(stream.attach(), finished=False, resumable=False)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(stream.task, 10)  # type: ignore[arg-type]
        assert streams.of_id(stream.id) is None
        assert streams.grace_cancels == 0

    asyncio.run(run())


def test_the_total_bound_trims_the_stream_that_grows() -> None:
    async def run() -> None:
        streams = ResumableStreams(grace_s=30, stream_max_bytes=100, max_bytes=150)
        first, second = streams.open(), streams.open()
        for _ in range(10):
            first.append(b"a" * 20)
        assert first.log.bytes == 100
        for _ in range(10):
            second.append(b"b" * 20)
            assert streams.bytes <= 150
            assert streams.bytes == first.log.bytes + second.log.bytes
        assert first.log.bytes == 100  # the one that grew paid
        assert second.log.bytes == 40
        assert streams.peak_bytes <= 150
        assert streams.peak_stream_bytes == 100
        streams.delete(first)
        assert streams.bytes == 40
        assert first.forgotten
        first.append(b"late")  # a cancelled producer's last step keeps nothing
        assert streams.bytes == 40

    asyncio.run(run())


def test_a_session_keeps_its_running_answer_and_a_new_one_replaces_an_ended_one() -> None:
    async def run() -> None:
        streams = ResumableStreams(grace_s=30, stream_max_bytes=100, max_bytes=1000)
        release = asyncio.Event()
        running = streams.open("session-a")
        running.run(lambda live: held(live, release))
        refused = streams.open("session-a")  # it will be refused 409: not the session's
        assert streams.of_session("session-a") is running
        release.set()
        await asyncio.wait_for(running.task, 10)  # type: ignore[arg-type]
        following = streams.open("session-a")
        assert streams.of_session("session-a") is following
        assert streams.of_id(running.id) is None  # its tail is no one's to resume now
        streams.delete(refused)
        assert streams.of_session("session-a") is following

    asyncio.run(run())


def test_streams_are_capped_and_shutdown_cancels_every_generation() -> None:
    async def run() -> None:
        streams = ResumableStreams(grace_s=30, stream_max_bytes=100, max_bytes=1000)
        opened = []
        for _ in range(MAX_STREAMS + 1):
            stream = streams.open()
            stream.run(lambda live: held(live, asyncio.Event()))
            opened.append(stream)
        assert streams.stats()["live_streams"] == MAX_STREAMS
        assert streams.of_id(opened[0].id) is None  # the oldest went
        await streams.aclose()
        assert all(s.task is not None and s.task.done() for s in opened)
        assert streams.stats()["live_streams"] == 0
        assert streams.bytes == 0

    asyncio.run(run())
