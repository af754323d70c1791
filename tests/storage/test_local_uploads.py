"""The local-directory upload store on a real directory: state on disk, one append at a time,
nothing kept of a failed append, a published file never touched again, limits held."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamway.storage import InvalidKey, LocalStore
from streamway.storage.local_uploads import LocalUploadStore
from streamway.storage.uploads import (
    ChecksumMismatch,
    LengthConflict,
    ObjectExists,
    OffsetMismatch,
    PartChecksum,
    PartTooLarge,
    UploadBusy,
    UploadExpired,
    UploadNotFound,
)

MAX = 1000
LATER = datetime.now(UTC) + timedelta(hours=1)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def uploads(root: Path) -> LocalUploadStore:
    return LocalUploadStore(root, max_bytes=MAX)


async def body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def create(
    store: LocalUploadStore, key: str, length: int | None, *, overwrite: bool = False
) -> str:
    info = await store.create(key, length, metadata={}, expires=LATER, overwrite=overwrite)
    return info.upload_id


def files_of(root: Path, upload_id: str) -> list[str]:
    return sorted(p.name for p in (root / ".uploads").iterdir() if p.name.startswith(upload_id))


def data_size(root: Path, upload_id: str) -> int:
    return (root / ".uploads" / f"{upload_id}.data").stat().st_size


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


async def test_parts_publish_the_file_with_a_sidecar_downloads_read(
    uploads: LocalUploadStore, root: Path
) -> None:
    first, second = os.urandom(600), os.urandom(300)
    upload_id = await create(uploads, "dir/sub/file.bin", 900)
    info = await uploads.append(upload_id, 0, body(first[:100], first[100:]), max_bytes=600)
    assert (info.offset, info.complete) == (600, False)
    assert not (root / "dir").exists()  # nothing under the key before the last byte

    # Another store object on the same directory (another process) takes the next part.
    other = LocalUploadStore(root, max_bytes=MAX)
    assert (await other.info(upload_id)).offset == 600
    done = await other.append(upload_id, 600, body(second), max_bytes=600)
    assert done.complete
    assert done.sha256 == sha256(first, second)
    assert (root / "dir/sub/file.bin").read_bytes() == first + second
    assert files_of(root, upload_id) == [f"{upload_id}.json", f"{upload_id}.lock"]
    # The finished record stays until it expires: complete, and nothing more fits.
    record = await uploads.info(upload_id)
    assert (record.offset, record.length, record.sha256) == (900, 900, sha256(first, second))
    assert await uploads.append(upload_id, 900, body(b""), max_bytes=600) == record
    with pytest.raises(PartTooLarge):
        await uploads.append(upload_id, 900, body(b"", b"x"), max_bytes=600)
    with pytest.raises(OffsetMismatch):
        await uploads.append(upload_id, 600, body(second), max_bytes=600)
    await uploads.terminate(upload_id)  # forgets the record, keeps the object
    assert files_of(root, upload_id) == []
    with pytest.raises(UploadNotFound):
        await uploads.info(upload_id)

    downloads = LocalStore(root, chunk_size=4096)
    assert (await downloads.stat("dir/sub/file.bin")).sha256 == sha256(first, second)
    page = await downloads.list("", cursor=None, limit=100)
    assert [item.key for item in page.items] == ["dir/sub/file.bin"]  # no .uploads, no sidecar


async def test_an_empty_upload_is_published_by_an_empty_append(
    uploads: LocalUploadStore, root: Path
) -> None:
    upload_id = await create(uploads, "empty.bin", 0)
    assert (await uploads.info(upload_id)).complete
    assert not (root / "empty.bin").exists()
    done = await uploads.append(upload_id, 0, body(), max_bytes=MAX)
    assert done.sha256 == sha256(b"")
    assert (root / "empty.bin").read_bytes() == b""
    assert await uploads.append(upload_id, 0, body(), max_bytes=MAX) == done  # once only


async def test_a_failed_append_keeps_nothing_of_its_body(
    uploads: LocalUploadStore, root: Path
) -> None:
    upload_id = await create(uploads, "failed.bin", 500)
    await uploads.append(upload_id, 0, body(b"a" * 100), max_bytes=500)

    wrong = PartChecksum("sha256", sha256(b"other"))
    with pytest.raises(ChecksumMismatch):
        await uploads.append(upload_id, 100, body(b"b" * 50), max_bytes=500, checksum=wrong)
    with pytest.raises(PartTooLarge):  # over the part limit
        await uploads.append(upload_id, 100, body(b"c" * 40, b"c" * 40), max_bytes=50)
    with pytest.raises(PartTooLarge):  # over the declared length
        await uploads.append(upload_id, 100, body(b"d" * 401), max_bytes=1000)

    async def broken() -> AsyncIterator[bytes]:
        yield b"e" * 70
        raise ConnectionResetError("the client left")

    with pytest.raises(ConnectionResetError):
        await uploads.append(upload_id, 100, broken(), max_bytes=500)
    with pytest.raises(OffsetMismatch) as mismatch:
        await uploads.append(upload_id, 170, body(b"f"), max_bytes=500)
    assert mismatch.value.expected == 100

    assert (await uploads.info(upload_id)).offset == 100
    assert data_size(root, upload_id) == 100
    right = PartChecksum("sha1", hashlib.sha1(b"g" * 400).digest())
    done = await uploads.append(upload_id, 100, body(b"g" * 400), max_bytes=500, checksum=right)
    assert done.complete
    assert (root / "failed.bin").read_bytes() == b"a" * 100 + b"g" * 400


async def test_a_cancelled_append_keeps_nothing_and_frees_the_upload(
    uploads: LocalUploadStore, root: Path
) -> None:
    upload_id = await create(uploads, "cancelled.bin", 300)
    started = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"x" * 100
        started.set()
        await asyncio.Event().wait()
        yield b""

    task = asyncio.create_task(uploads.append(upload_id, 0, stalled(), max_bytes=300))
    await started.wait()
    with pytest.raises(UploadBusy):
        await uploads.append(upload_id, 0, body(b"y" * 300), max_bytes=300)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert data_size(root, upload_id) == 0
    assert (await uploads.info(upload_id)).offset == 0
    done = await uploads.append(upload_id, 0, body(b"y" * 300), max_bytes=300)
    assert (root / "cancelled.bin").read_bytes() == b"y" * 300
    assert done.complete


async def test_a_sidecar_that_cannot_be_written_never_costs_the_published_file(
    uploads: LocalUploadStore, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    content = os.urandom(700)
    upload_id = await create(uploads, "nosidecar.bin", len(content))
    (root / "nosidecar.bin.sha256").mkdir()  # a directory: the sidecar's rename fails
    (root / "nosidecar.bin.sha256" / "keep").write_text("x")

    with caplog.at_level(logging.WARNING, logger="streamway.uploads"):
        done = await uploads.append(upload_id, 0, body(content), max_bytes=MAX)

    assert done.complete
    assert done.sha256 is None
    assert (root / "nosidecar.bin").read_bytes() == content  # whole, not truncated
    assert files_of(root, upload_id) == [f"{upload_id}.json", f"{upload_id}.lock"]
    assert "without its .sha256 sidecar" in caplog.text
    with pytest.raises(OffsetMismatch):
        await uploads.append(upload_id, 0, body(b"z"), max_bytes=MAX)
    assert (root / "nosidecar.bin").read_bytes() == content


async def test_a_key_taken_meanwhile_is_not_overwritten_unless_allowed(
    uploads: LocalUploadStore, root: Path
) -> None:
    upload_id = await create(uploads, "race.bin", 10)
    (root / "race.bin").write_bytes(b"theirs")
    (root / "race.bin.sha256").write_text(f"{sha256(b'theirs').hex()}  race.bin\n")
    with pytest.raises(ObjectExists):
        await uploads.append(upload_id, 0, body(b"0123456789"), max_bytes=MAX)
    assert (root / "race.bin").read_bytes() == b"theirs"
    assert (await LocalStore(root, chunk_size=64).stat("race.bin")).sha256 == sha256(b"theirs")
    assert (await uploads.info(upload_id)).offset == 0
    assert data_size(root, upload_id) == 0
    with pytest.raises(ObjectExists):
        await create(uploads, "race.bin", 10)

    replacing = await create(uploads, "race.bin", 10, overwrite=True)
    await uploads.append(replacing, 0, body(b"0123456789"), max_bytes=MAX)
    assert (root / "race.bin").read_bytes() == b"0123456789"
    assert (await LocalStore(root, chunk_size=64).stat("race.bin")).sha256 == sha256(b"0123456789")


async def test_a_key_under_an_object_or_naming_a_directory_is_refused(
    uploads: LocalUploadStore, root: Path
) -> None:
    (root / "file.txt").write_bytes(b"an object")
    (root / "dir").mkdir()
    for key in ("file.txt/inner.bin", "file.txt/deeper/inner.bin", "dir"):
        for overwrite in (False, True):
            with pytest.raises(ObjectExists):
                await create(uploads, key, 10, overwrite=overwrite)

    # A parent that became an object after the creation: refused at the last part, kept out.
    upload_id = await create(uploads, "later/inner.bin", 4)
    (root / "later").write_bytes(b"now an object")
    with pytest.raises(ObjectExists):
        await uploads.append(upload_id, 0, body(b"1234"), max_bytes=MAX)
    assert (await uploads.info(upload_id)).offset == 0
    assert data_size(root, upload_id) == 0
    assert (root / "later").read_bytes() == b"now an object"


async def test_a_deferred_length_is_held_to_the_maximum(
    uploads: LocalUploadStore, root: Path
) -> None:
    upload_id = await create(uploads, "deferred.bin", None)
    assert (await uploads.info(upload_id)).length is None
    await uploads.append(upload_id, 0, body(b"a" * 600), max_bytes=MAX)
    # No length yet: the parts still may not take the upload past the store's maximum.
    with pytest.raises(PartTooLarge):
        await uploads.append(upload_id, 600, body(b"b" * 401), max_bytes=MAX)
    assert data_size(root, upload_id) == 600

    with pytest.raises(LengthConflict):
        await uploads.declare_length(upload_id, MAX + 1)
    with pytest.raises(LengthConflict):
        await uploads.declare_length(upload_id, 599)  # below the offset
    assert (await uploads.declare_length(upload_id, 700)).length == 700
    with pytest.raises(LengthConflict):
        await uploads.declare_length(upload_id, 800)  # set once
    with pytest.raises(PartTooLarge):
        await uploads.append(upload_id, 600, body(b"c" * 101), max_bytes=MAX)
    assert (await uploads.append(upload_id, 600, body(b"c" * 100), max_bytes=MAX)).complete

    with pytest.raises(LengthConflict):
        await create(uploads, "too-big.bin", MAX + 1)


async def test_terminate_and_expire_remove_every_file(
    uploads: LocalUploadStore, root: Path
) -> None:
    kept = await create(uploads, "kept.bin", 10)
    gone = await create(uploads, "gone.bin", 10)
    await uploads.append(gone, 0, body(b"12345"), max_bytes=MAX)
    await uploads.terminate(gone)
    assert files_of(root, gone) == []
    with pytest.raises(UploadNotFound):
        await uploads.terminate(gone)

    past = datetime.now(UTC) - timedelta(seconds=1)
    expired = (
        await uploads.create("old.bin", 10, metadata={}, expires=past, overwrite=False)
    ).upload_id
    with pytest.raises(UploadExpired):
        await uploads.info(expired)
    with pytest.raises(UploadExpired):
        await uploads.append(expired, 0, body(b"1"), max_bytes=MAX)
    assert await uploads.expire(datetime.now(UTC)) == 1
    assert files_of(root, expired) == []
    assert len(files_of(root, kept)) == 3
    assert await uploads.expire(LATER + timedelta(seconds=1)) == 1
    assert os.listdir(root / ".uploads") == []


@pytest.mark.parametrize(
    "key",
    [
        "../outside.bin",
        "/etc/passwd",
        ".uploads/x",
        "a/./b",
        "a//b",
        "file.bin.sha256",
        "link/escape.bin",
    ],
)
async def test_keys_that_may_not_be_written(
    uploads: LocalUploadStore, root: Path, key: str
) -> None:
    outside = root.parent / f"{root.name}-outside"
    outside.mkdir(exist_ok=True)
    (root / "link").symlink_to(outside)
    with pytest.raises(InvalidKey):
        await create(uploads, key, 10)
    assert not (root / ".uploads").exists() or os.listdir(root / ".uploads") == []
    assert os.listdir(outside) == []


async def test_unknown_and_malformed_ids_are_not_found(uploads: LocalUploadStore) -> None:
    for upload_id in ("A" * 32, "../../etc/passwd", "", "a" * 33):
        with pytest.raises(UploadNotFound):
            await uploads.info(upload_id)
        with pytest.raises(UploadNotFound):
            await uploads.append(upload_id, 0, body(b"x"), max_bytes=MAX)
