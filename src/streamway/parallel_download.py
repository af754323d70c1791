"""Parallel ranged downloads, ``streamway get --parallel N``: past one stream's caps.

Through API Gateway and Lambda one streamed response carries at most 200 MiB, and past its
first 6 MiB at about 2 MiB/s. Split into parts of at most ``part_size`` bytes, fetched by N
ranged GETs at once, an object of any size downloads at about N times that rate.

After a HEAD (size, strong validator, ``Repr-Digest``), the parts are written in place into
one file, ``FILE.part``, allocated to the full size at the start. ``FILE.part.json`` records
which byte ranges are written (``have``), so a failed part is retried from where it stopped,
and a later run fetches only what is missing. Every GET carries ``If-Range`` with the
validator of the HEAD, and every 206 must describe the same object (size, ETag): an object
replaced mid-way answers 200 (or a foreign 206), the download starts over from a new HEAD
once, and fails if it changes again, so versions never mix. A server that answers 200
although the validator still matches ignores ``Range``: that fails clearly. At the end the
SHA-256 of the whole file is checked against ``Repr-Digest`` (by :func:`downloader.finish`).

Memory is bounded whatever the size: each connection writes its part's bytes at their
offset with ``os.pwrite`` as they are read from the socket (64 KiB at a time), and the
ranges recorded number at most a few more than the connections (parts are taken in order
and a part grows its range as it goes; only parts in flight leave gaps).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from streamway.downloader import (
    CLIENT_OPTIONS,
    RETRYABLE,
    Downloaded,
    DownloadFailed,
    Progress,
    Resume,
    Retry,
    announced_sha256,
    backoff_s,
    describe,
    finish,
    server_error,
    validator_of,
)

MiB = 1024 * 1024
#: Below Lambda's 200 MiB cap on one streamed response, with room to spare.
DEFAULT_PART_SIZE = 64 * MiB
#: Connections when ``--parallel`` is not given and the object is larger than one part.
DEFAULT_CONNECTIONS = 8
#: No part smaller than this: below it a request's overhead outweighs the parallelism.
MIN_PART_SIZE = MiB
#: How often, at most, ``FILE.part.json`` is rewritten while bytes arrive.
_SAVE_EVERY_S = 0.5
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


class ObjectChanged(DownloadFailed):
    """The object on the server is no longer the one the download started with."""


@dataclass(frozen=True)
class RangedObject:
    """What a HEAD said about an object that can be fetched in ranges."""

    size: int
    validator: str
    sha256: str | None

    @classmethod
    def from_head(cls, head: httpx.Response) -> RangedObject | None:
        """None unless the server accepts byte ranges and sent a size and a strong validator."""
        length = head.headers.get("content-length", "")
        validator = validator_of(head)
        accepts = head.headers.get("accept-ranges", "").strip().lower() == "bytes"
        if head.status_code != 200 or not accepts or not length.isdigit() or validator is None:
            return None
        return cls(int(length), validator, announced_sha256(head))


def connections_for(remote: RangedObject, parallel: int | None, part_size: int) -> int:
    """How many GETs at once: ``parallel``, or by default one up to one part and
    :data:`DEFAULT_CONNECTIONS` beyond; never more than parts of :data:`MIN_PART_SIZE`."""
    wanted = parallel or (1 if remote.size <= part_size else DEFAULT_CONNECTIONS)
    return max(1, min(wanted, math.ceil(remote.size / MIN_PART_SIZE)))


@dataclass(frozen=True)
class PartFiles:
    url: str
    target: Path
    part: Path
    state_file: Path


@dataclass
class Have:
    """The byte ranges ``[start, end)`` written so far, sorted and merged."""

    ranges: list[list[int]] = field(default_factory=list)

    def add(self, start: int, end: int) -> None:
        merged: list[list[int]] = []
        for low, high in sorted([*self.ranges, [start, end]]):
            if merged and low <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        self.ranges = merged

    def total(self) -> int:
        return sum(high - low for low, high in self.ranges)

    def missing(self, size: int) -> list[tuple[int, int]]:
        gaps, position = [], 0
        for low, high in self.ranges:
            if low > position:
                gaps.append((position, low))
            position = max(position, high)
        return [*gaps, (position, size)] if position < size else gaps


def plan(missing: list[tuple[int, int]], connections: int, part_size: int) -> list[tuple[int, int]]:
    """The missing ranges cut into parts of at most ``part_size`` bytes, small enough that
    every connection gets one, in file order."""
    total = sum(end - start for start, end in missing)
    target = min(part_size, max(MIN_PART_SIZE, math.ceil(total / connections)))
    parts = []
    for start, end in missing:
        count = math.ceil((end - start) / target)
        step = math.ceil((end - start) / count)
        parts += [(low, min(low + step, end)) for low in range(start, end, step)]
    return parts


@dataclass(frozen=True)
class PartOptions:
    """How a parallel download goes: ``connections`` GETs at once, parts of at most
    ``part_size`` bytes, ``retries`` per part, and the HTTP timeouts."""

    connections: int
    part_size: int
    retries: int
    timeout: httpx.Timeout


def download_parts(
    files: PartFiles, remote: RangedObject, options: PartOptions, progress: Progress
) -> Downloaded:
    """Fetches ``files.url`` over ``options.connections`` ranged GETs into ``files.part``,
    then verifies it and renames it to ``files.target``."""
    remote, resumed_from = asyncio.run(_download(files, remote, options, progress))
    state = Resume(files.url, remote.validator, remote.size, remote.sha256)
    result = finish(files.target, files.part, files.state_file, state, resumed_from)
    return dataclasses.replace(result, parts=options.connections)


async def _download(
    files: PartFiles, remote: RangedObject, options: PartOptions, progress: Progress
) -> tuple[RangedObject, int]:
    connections = options.connections
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        timeout=options.timeout, limits=limits, **CLIENT_OPTIONS
    ) as client:
        for restart in (False, True):
            have = _load_have(files, remote)
            kept = have.total()
            try:
                run = _Run(client, files, remote, have, progress, options.retries)
                parts = plan(have.missing(remote.size), connections, options.part_size)
                await run.fetch(parts, connections)
                return remote, kept
            except ObjectChanged as error:
                files.part.unlink(missing_ok=True)
                files.state_file.unlink(missing_ok=True)
                if restart:
                    raise DownloadFailed(
                        f"the object changed on the server twice during the download ({error}); "
                        "the partial file was deleted: try again later"
                    ) from None
                progress.stop()
                remote = await _head_again(client, files.url)
    raise AssertionError("unreachable")


async def _head_again(client: httpx.AsyncClient, url: str) -> RangedObject:
    try:
        remote = RangedObject.from_head(await client.head(url))
    except httpx.TransportError as error:
        raise DownloadFailed(
            f"the object changed and a new HEAD failed: {describe(error)}"
        ) from None
    if remote is None:
        raise DownloadFailed("the object changed and the server no longer offers byte ranges")
    return remote


@dataclass
class _Part:
    start: int
    end: int
    position: int


class _Run:
    """One pass over the missing parts, ``connections`` at a time, into the open file."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        files: PartFiles,
        remote: RangedObject,
        have: Have,
        progress: Progress,
        retries: int,
    ) -> None:
        self.client = client
        self.files = files
        self.remote = remote
        self.have = have
        self.progress = progress
        self.retries = retries
        self.saved_at = 0.0
        self.fd = -1

    async def fetch(self, parts: list[tuple[int, int]], connections: int) -> None:
        self.fd = os.open(self.files.part, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _allocate(self.fd, self.remote.size)
            self._save()
            self.progress.start(self.files.target.name, self.remote.size, self.have.total())
            queue = deque(parts)
            workers = [asyncio.create_task(self._worker(queue)) for _ in range(connections)]
            try:
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                self._save()
        finally:
            os.close(self.fd)

    async def _worker(self, queue: deque[tuple[int, int]]) -> None:
        while queue:
            start, end = queue.popleft()
            await self._part(_Part(start, end, start))

    async def _part(self, part: _Part) -> None:
        """Fetches one part, resuming it where it stopped after a transient failure."""
        attempt = 0
        while part.position < part.end:
            try:
                await self._get(part)
            except (Retry, httpx.TransportError) as error:
                attempt += 1
                if attempt > self.retries:
                    self._save()
                    raise DownloadFailed(
                        f"bytes {part.position}-{part.end - 1} failed ({describe(error)}); "
                        f"kept {self.have.total()} bytes in {self.files.part}: run the same "
                        "command again to resume"
                    ) from None
                await asyncio.sleep(backoff_s(attempt))

    async def _get(self, part: _Part) -> None:
        headers = {
            "range": f"bytes={part.position}-{part.end - 1}",
            "if-range": self.remote.validator,
        }
        async with self.client.stream("GET", self.files.url, headers=headers) as response:
            await self._check(response, part)
            # The pieces as they are read from the socket (64 KiB at most): re-chunking them
            # to READ_CHUNK would hold, and copy, a chunk per connection.
            async for chunk in response.aiter_raw():
                if len(chunk) > part.end - part.position:
                    raise DownloadFailed(f"the server sent more than bytes {headers['range']}")
                _pwrite_all(self.fd, chunk, part.position)
                self.have.add(part.position, part.position + len(chunk))
                part.position += len(chunk)
                self.progress.advance(len(chunk))
                if time.monotonic() - self.saved_at > _SAVE_EVERY_S:
                    self._save()
        if part.position < part.end:
            raise Retry(f"the response ended at byte {part.position} of {part.end}")

    async def _check(self, response: httpx.Response, part: _Part) -> None:
        """Refuses any answer but a 206 of exactly this part of this object."""
        status = response.status_code
        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            etag = validator_of(response)
            if (
                match is None
                or int(match.group(3)) != self.remote.size
                or etag
                not in (
                    None,
                    self.remote.validator,
                )
            ):
                raise ObjectChanged(f"the object changed during the download ({etag})")
            if (int(match.group(1)), int(match.group(2))) != (part.position, part.end - 1):
                raise DownloadFailed(f"the server sent {match.group(0)} for another range")
            return
        if status != 200:
            await response.aread()  # an error's body is short; a 200's is the whole object
        if status in (200, 412, 416):
            if status == 200 and validator_of(response) == self.remote.validator:
                raise DownloadFailed(
                    "the server ignored Range (200 instead of 206): use --parallel 1"
                )
            raise ObjectChanged(f"the object changed during the download (HTTP {status})")
        if status in RETRYABLE:
            raise Retry(f"HTTP {status}")
        raise DownloadFailed(server_error(response))

    def _save(self) -> None:
        """Writes ``FILE.part.json`` atomically: a kill mid-write leaves the previous one."""
        state = {
            "url": self.files.url,
            "validator": self.remote.validator,
            "size": self.remote.size,
            "sha256": self.remote.sha256,
            "have": self.have.ranges,
        }
        temporary = self.files.state_file.with_name(self.files.state_file.name + ".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        temporary.replace(self.files.state_file)
        self.saved_at = time.monotonic()


def _load_have(files: PartFiles, remote: RangedObject) -> Have:
    """What an earlier run of this URL wrote of this version of the object, else nothing.

    A one-stream partial download (no ``have``) counts as the bytes at the start of its file.
    """
    try:
        state = json.loads(files.state_file.read_text(encoding="utf-8"))
        same = (state["url"], state["validator"], state["size"]) == (
            files.url,
            remote.validator,
            remote.size,
        )
        on_disk = files.part.stat().st_size if not files.part.is_symlink() else -1
        ranges = state.get("have", [[0, on_disk]])
        have = Have()
        for start, end in ranges:
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end):
                raise ValueError("a bad range")
            if end > min(on_disk, remote.size):
                raise ValueError("a range past the file")
            have.add(start, end) if end > start else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return Have()
    return have if same else Have()


def _allocate(fd: int, size: int) -> None:
    """The file at its full size before any part is written; its disk space reserved where
    the file system can, so a full disk fails now rather than at some part's end."""
    if os.fstat(fd).st_size != size:
        os.ftruncate(fd, size)
    with contextlib.suppress(OSError):  # not supported by the file system: written sparse
        os.posix_fallocate(fd, 0, size)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
