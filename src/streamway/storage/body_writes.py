"""Writing an upload's body into its data file, off the event loop.

The hot path (bench/uploads.py): the body's chunks (about 250 KB each, as uvicorn hands them
over) are gathered into batches of ``WRITE_BATCH`` bytes, and each batch is written and
hashed in a worker thread while the event loop gathers the next one: one thread hop per
batch rather than per chunk, and hashing and writing (both release the GIL) off the event
loop. A batch stays a list of the chunks as received: ``pwritev`` writes them in one call
and each is hashed as it is, so no byte is copied to join them. At most two batches of an
append are in memory.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from hashlib import _Hash

from streamway.storage.store import StoreFailed
from streamway.storage.uploads import PartTooLarge

T = TypeVar("T")

#: Bytes of a body written (and hashed) per worker-thread call.
WRITE_BATCH = 1024 * 1024


def _iov_max() -> int:
    """Most buffers one pwritev takes (Linux: 1024); 16, the least POSIX allows, if unknown."""
    try:
        value = os.sysconf("SC_IOV_MAX")
    except (ValueError, OSError):
        return 16
    return value if value > 0 else 16


_IOV_MAX = _iov_max()


async def write_body(
    fd: int, offset: int, body: AsyncIterator[bytes], room: int, hashes: Sequence[_Hash]
) -> int:
    """Write ``body`` at ``offset``, feeding ``hashes``; how many bytes. Changes no state.

    Batches of WRITE_BATCH bytes go to a worker thread, one at a time: the next batch is
    gathered while the last one is written. Whatever ends this (an error, a cancellation),
    no write of it is still running when it returns (see :func:`in_thread`).
    """
    written = 0  # bytes handed to a worker thread
    batch: list[bytes] = []
    batched = 0
    in_flight: asyncio.Future[None] | None = None
    try:
        async for chunk in body:
            if not chunk:
                continue
            if written + batched + len(chunk) > room:
                raise PartTooLarge(f"the body passes {room} bytes")
            batch.append(chunk)
            batched += len(chunk)
            if batched >= WRITE_BATCH:
                if in_flight is not None:
                    await asyncio.shield(in_flight)
                in_flight = asyncio.ensure_future(
                    asyncio.to_thread(_write_and_hash, fd, batch, offset + written, hashes)
                )
                written += batched
                batch, batched = [], 0
        if in_flight is not None:
            await asyncio.shield(in_flight)
        if batched:
            await in_thread(_write_and_hash, fd, batch, offset + written, hashes)
            written += batched
    finally:
        if in_flight is not None and not in_flight.done():
            await asyncio.wait([in_flight])  # only when this append failed mid-batch
    return written


async def in_thread(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in a thread; if the caller is cancelled meanwhile, it still waits for
    the thread to end before the cancellation goes on. The cleanup after a cancelled append
    (truncate, close, unlock) must not run while a write of that append is still going: a late
    pwrite would land in the next append's bytes, a late publish in a truncated file."""
    work = asyncio.ensure_future(asyncio.to_thread(call, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise
    except OSError as error:  # the disk's failures (full, read-only...): the store failed
        raise StoreFailed(f"the upload store failed: {error}") from error


def _write_and_hash(
    fd: int, chunks: Sequence[bytes], position: int, hashes: Sequence[_Hash]
) -> None:
    """In a worker thread: write ``chunks`` at ``position``, then feed each to ``hashes``
    (hashlib lets go of the GIL on buffers over 2047 bytes: the event loop runs meanwhile)."""
    try:
        pwritev_all(fd, chunks, position)
    except OSError as error:  # the disk's (full, failing): a store failure, 502 not 500
        raise StoreFailed(f"the upload store failed: {error}") from error
    for chunk in chunks:
        for hasher in hashes:  # both hashes of a chunk while it is in the CPU's cache
            hasher.update(chunk)


def pwritev_all(fd: int, buffers: Sequence[bytes | memoryview], position: int) -> None:
    """Write every byte of ``buffers`` at ``position``, in order, with ``os.pwritev``.

    pwritev may write fewer bytes than asked (a signal, a file size limit, a disk that fills):
    the rest is written by the next call, from where it stopped; an error raises OSError. At
    most IOV_MAX buffers go to one call (more is EINVAL)."""
    # Empty buffers are left out: then a call that writes 0 bytes is an error, not progress.
    pending = [buffer for buffer in buffers if len(buffer)]
    first = 0  # pending[:first] are written
    while first < len(pending):
        done = os.pwritev(fd, pending[first : first + _IOV_MAX], position)
        if done == 0:  # not for a regular file, but an endless loop is worse than an error
            raise OSError(errno.EIO, "pwritev wrote nothing")
        position += done
        while first < len(pending) and done >= len(pending[first]):
            done -= len(pending[first])
            first += 1
        if done:  # the buffer it stopped in: its rest goes first in the next call
            pending[first] = memoryview(pending[first])[done:]
