"""The local upload store's hot path on a real directory: bodies of several write batches
(written by pwritev and hashed in a worker thread while the next batch is gathered), and the
running SHA-256 a process keeps per upload instead of reading the file back at the end.

Whatever path the digest takes (kept by this process, or read back because another process
took a part, or because the cache let it go), the published sidecar is the file's SHA-256,
and a failed append of several batches keeps nothing and spoils no running digest."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamway.storage import LocalStore, local_uploads
from streamway.storage.body_writes import WRITE_BATCH, pwritev_all
from streamway.storage.local_uploads import LocalUploadStore
from streamway.storage.uploads import ChecksumMismatch, PartChecksum, PartTooLarge

LATER = datetime.now(UTC) + timedelta(hours=1)
PART = 3 * WRITE_BATCH + 12345  # several batches and a short last one
CHUNK = 200_000  # about what uvicorn hands over per receive


async def chunks(data: bytes, *, then: BaseException | None = None) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]
        await asyncio.sleep(0)  # let the worker thread's batch run beside the next chunk
    if then is not None:
        raise then


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def store(root: Path) -> LocalUploadStore:
    return LocalUploadStore(root, max_bytes=1 << 30)


async def create(uploads: LocalUploadStore, key: str, length: int) -> str:
    info = await uploads.create(key, length, metadata={}, expires=LATER, overwrite=False)
    return info.upload_id


def data_size(root: Path, upload_id: str) -> int:
    return (root / ".uploads" / f"{upload_id}.data").stat().st_size


async def published_sha256(root: Path, key: str) -> bytes | None:
    return (await LocalStore(root, chunk_size=65536).stat(key)).sha256


async def test_failed_appends_of_several_batches_keep_nothing_and_the_digest_stays_right(
    tmp_path: Path,
) -> None:
    uploads = store(tmp_path)
    content = os.urandom(3 * PART)
    parts = [content[i : i + PART] for i in range(0, len(content), PART)]
    upload_id = await create(uploads, "big.bin", len(content))
    await uploads.append(upload_id, 0, chunks(parts[0]), max_bytes=PART)

    # A wrong checksum found only after every batch of the part was written and hashed.
    wrong = PartChecksum("sha256", sha256(b"not this part"))
    with pytest.raises(ChecksumMismatch):
        await uploads.append(upload_id, PART, chunks(parts[1]), max_bytes=PART, checksum=wrong)
    assert data_size(tmp_path, upload_id) == PART
    # A body that breaks off after two batches went to the worker thread.
    broken = chunks(parts[1][: 2 * WRITE_BATCH + 1], then=ConnectionResetError("gone"))
    with pytest.raises(ConnectionResetError):
        await uploads.append(upload_id, PART, broken, max_bytes=PART)
    assert data_size(tmp_path, upload_id) == PART
    # A body that runs over the part limit in its last batch.
    with pytest.raises(PartTooLarge):
        await uploads.append(upload_id, PART, chunks(parts[1] + b"x"), max_bytes=PART)
    assert (await uploads.info(upload_id)).offset == PART

    right = PartChecksum("sha256", sha256(parts[1]))
    info = await uploads.append(upload_id, PART, chunks(parts[1]), max_bytes=PART, checksum=right)
    assert info.offset == 2 * PART
    done = await uploads.append(upload_id, 2 * PART, chunks(parts[2]), max_bytes=PART)

    assert done.complete
    assert done.sha256 == sha256(content)
    assert (tmp_path / "big.bin").read_bytes() == content
    assert await published_sha256(tmp_path, "big.bin") == sha256(content)


async def test_a_cancelled_append_leaves_no_write_running_and_keeps_nothing(
    tmp_path: Path,
) -> None:
    uploads = store(tmp_path)
    content = os.urandom(2 * PART)
    upload_id = await create(uploads, "cancelled.bin", len(content))
    await uploads.append(upload_id, 0, chunks(content[:PART]), max_bytes=PART)

    handed_over, never = asyncio.Event(), asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        # Two batches and more, then a client that sends nothing more: cancelled there.
        for start in range(PART, PART + 2 * WRITE_BATCH + CHUNK, CHUNK):
            yield content[start : start + CHUNK]
        handed_over.set()
        await never.wait()
        yield b"never sent"

    task = asyncio.create_task(uploads.append(upload_id, PART, stalls(), max_bytes=PART))
    await asyncio.wait_for(handed_over.wait(), timeout=60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert data_size(tmp_path, upload_id) == PART
    assert (await uploads.info(upload_id)).offset == PART

    done = await uploads.append(upload_id, PART, chunks(content[PART:]), max_bytes=PART)
    assert done.sha256 == sha256(content)
    assert (tmp_path / "cancelled.bin").read_bytes() == content


async def test_parts_taken_by_two_processes_in_turn_give_the_files_digest(
    tmp_path: Path,
) -> None:
    # Two store objects on one directory stand for two processes. The one that finishes
    # holds a running digest of the first part only (the other took the two between): it
    # must not use it, and reads the file back.
    first, second = store(tmp_path), store(tmp_path)
    content = os.urandom(4 * PART)
    upload_id = await create(first, "turns.bin", len(content))
    for index, uploads in enumerate((first, second, second, first)):
        part = content[index * PART : (index + 1) * PART]
        info = await uploads.append(upload_id, index * PART, chunks(part), max_bytes=PART)
    assert info.complete
    assert info.sha256 == sha256(content)
    assert await published_sha256(tmp_path, "turns.bin") == sha256(content)


async def test_uploads_past_the_running_digests_kept_still_get_the_right_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bound of 2 with 3 uploads in turn: the oldest's running digest is let go, and its
    # digest is then read back from the file.
    monkeypatch.setattr(local_uploads, "RUNNING_HASHES", 2)
    uploads = store(tmp_path)
    contents = [os.urandom(2 * WRITE_BATCH + i) for i in range(3)]
    ids = [await create(uploads, f"{i}.bin", len(c)) for i, c in enumerate(contents)]
    for upload_id, content in zip(ids, contents, strict=True):
        await uploads.append(upload_id, 0, chunks(content[:WRITE_BATCH]), max_bytes=WRITE_BATCH)
    for upload_id, content in zip(ids, contents, strict=True):
        done = await uploads.append(
            upload_id, WRITE_BATCH, chunks(content[WRITE_BATCH:]), max_bytes=2 * WRITE_BATCH
        )
        assert done.sha256 == sha256(content)
    for i, content in enumerate(contents):
        assert await published_sha256(tmp_path, f"{i}.bin") == sha256(content)


def short_pwritev(limit: int) -> Callable[[int, list[bytes | memoryview], int], int]:
    """``os.pwritev`` that writes at most ``limit`` bytes per call, as the kernel may (a
    signal, a file size limit): the real call, on fewer bytes."""
    real = os.pwritev

    def pwritev(fd: int, buffers: list[bytes | memoryview], position: int) -> int:
        taken: list[memoryview] = []
        room = limit
        for buffer in buffers:
            if room == 0:
                break
            view = memoryview(buffer)[:room]
            taken.append(view)
            room -= len(view)
        return real(fd, taken, position)

    return pwritev


async def test_pwritev_that_writes_short_still_gives_every_byte_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100_003 bytes a call: writes stop inside a chunk and across chunks; the store goes on
    # from where each one stopped, and the file and its digest are the bytes sent.
    monkeypatch.setattr(os, "pwritev", short_pwritev(100_003))
    uploads = store(tmp_path)
    content = os.urandom(PART)
    upload_id = await create(uploads, "short.bin", len(content))
    done = await uploads.append(
        upload_id,
        0,
        chunks(content),
        max_bytes=PART,
        checksum=PartChecksum("sha256", sha256(content)),
    )
    assert done.complete
    assert (tmp_path / "short.bin").read_bytes() == content
    assert await published_sha256(tmp_path, "short.bin") == sha256(content)


def test_pwritev_all_writes_more_buffers_than_one_call_takes(tmp_path: Path) -> None:
    # Linux takes 1024 buffers a call (IOV_MAX); 3000, empty ones among them, go in several.
    buffers = [os.urandom(i % 7) for i in range(3000)]
    path = tmp_path / "many.bin"
    path.write_bytes(b"head")
    fd = os.open(path, os.O_RDWR)
    try:
        pwritev_all(fd, buffers, 4)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"head" + b"".join(buffers)


def test_pwritev_all_goes_on_after_a_short_write_to_the_error_that_stopped_it(
    tmp_path: Path,
) -> None:
    # A real short write: under a file size limit (RLIMIT_FSIZE, set in a child process), the
    # kernel writes up to the limit and returns fewer bytes; the next call fails with EFBIG.
    # Stopping after the short write would lose the rest of the batch without a word.
    path = tmp_path / "limited.bin"
    child = f"""
import errno, os, resource, signal, sys
from streamway.storage.body_writes import pwritev_all
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG rather than a signal that kills
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)
try:
    pwritev_all(fd, [b"a" * 60_000, b"b" * 60_000], 0)
except OSError as error:
    sys.exit(error.errno)
sys.exit(0)
"""
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=60)
    assert result.returncode == errno.EFBIG, result.stderr
    assert path.read_bytes() == b"a" * 60_000 + b"b" * 40_000
