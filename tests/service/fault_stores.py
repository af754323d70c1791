"""Stores that wrap a real store for tests: one that fails part way, one that keeps count.

They are fault injectors and meters in front of streamway's own stores, not stand-ins:
every byte still comes from the real local directory or S3 server behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamway.storage import ObjectBody, ObjectInfo, ObjectStore, StoreFailed


class DiskError(StoreFailed):
    pass


class FailingStore:
    """Fails every body it opens (the first ``failures`` of them) after ``fail_after`` bytes."""

    def __init__(self, store: ObjectStore, *, fail_after: int, failures: int = 1_000_000) -> None:
        self.store = store
        self.fail_after = fail_after
        self.failures_left = failures

    async def stat(self, key: str) -> ObjectInfo:
        return await self.store.stat(key)

    async def open(self, key: str, start: int, end: int, *, etag: str | None = None) -> ObjectBody:
        body = await self.store.open(key, start, end, etag=etag)
        return self._maybe_failing(body)

    async def get(self, key: str) -> tuple[ObjectInfo, ObjectBody]:
        info, body = await self.store.get(key)
        return info, self._maybe_failing(body)

    def _maybe_failing(self, body: ObjectBody) -> ObjectBody:
        if self.failures_left <= 0:
            return body
        self.failures_left -= 1
        return _FailingBody(body, self.fail_after)

    async def aclose(self) -> None:
        await self.store.aclose()


class _FailingBody:
    def __init__(self, body: ObjectBody, fail_after: int) -> None:
        self.body = body
        self.left = fail_after

    @property
    def reads_ahead(self) -> bool:
        return self.body.reads_ahead

    def __aiter__(self) -> _FailingBody:
        return self

    async def __anext__(self) -> bytes:
        if self.left <= 0:
            raise DiskError("injected read error")
        chunk = await self.body.__anext__()
        chunk = chunk[: self.left]
        self.left -= len(chunk)
        return chunk

    async def aclose(self) -> None:
        await self.body.aclose()


@dataclass
class Meter:
    stats: int = 0
    opens: int = 0
    gets: int = 0
    bytes_read: int = 0
    open_bodies: int = 0
    ranges: list[tuple[int, int]] = field(default_factory=list)


class MeteredStore:
    """Counts what is asked of the real store behind it, and how many bytes it yields."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.meter = Meter()

    async def stat(self, key: str) -> ObjectInfo:
        self.meter.stats += 1
        return await self.store.stat(key)

    async def open(self, key: str, start: int, end: int, *, etag: str | None = None) -> ObjectBody:
        body = await self.store.open(key, start, end, etag=etag)
        self.meter.opens += 1
        self.meter.open_bodies += 1
        self.meter.ranges.append((start, end))
        return _MeteredBody(body, self.meter)

    async def get(self, key: str) -> tuple[ObjectInfo, ObjectBody]:
        info, body = await self.store.get(key)
        self.meter.gets += 1
        self.meter.open_bodies += 1
        self.meter.ranges.append((0, info.size))
        return info, _MeteredBody(body, self.meter)

    async def aclose(self) -> None:
        await self.store.aclose()


class _MeteredBody:
    def __init__(self, body: ObjectBody, meter: Meter) -> None:
        self.body = body
        self.meter = meter
        self.closed = False

    @property
    def reads_ahead(self) -> bool:
        return self.body.reads_ahead

    def __aiter__(self) -> _MeteredBody:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.body.__anext__()
        self.meter.bytes_read += len(chunk)
        return chunk

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            self.meter.open_bodies -= 1
        await self.body.aclose()
