"""The S3 upload store against a real S3-protocol server (moto_server over HTTP on loopback).

Every check reads S3 itself through boto3 (ListMultipartUploads, ListParts, the objects under
the hidden prefix), and the finished object through the download store (S3Store.stat), so a
store that kept state in memory or skipped a step would fail here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from streamway.storage import InvalidKey, ObjectNotFound, S3Store, s3_uploads
from streamway.storage.s3 import SHA256_TAG
from streamway.storage.s3_uploads import S3UploadStore
from streamway.storage.uploads import (
    ChecksumMismatch,
    ObjectExists,
    OffsetMismatch,
    PartChecksum,
    PartTooLarge,
    UploadBusy,
    UploadExpired,
    UploadInfo,
    UploadNotFound,
)
from tests.service.downloads_server import BUCKET, MotoS3

MIB = 1024 * 1024
PREFIX = "files"
HIDDEN = f"{PREFIX}/.uploads/"
T = TypeVar("T")


async def connect(moto: MotoS3) -> S3Store:
    return await S3Store.connect(
        BUCKET,
        PREFIX,
        endpoint_url=moto.endpoint,
        region=None,
        max_connections=8,
        chunk_size=MIB,
    )


def with_stores(moto: MotoS3, test: Callable[..., Awaitable[T]], count: int = 1) -> T:
    """Runs ``test(upload_store, ..., object_store)`` with ``count`` upload stores, each on its
    own client (as in separate Lambda sandboxes)."""

    async def run() -> T:
        stores = [await connect(moto) for _ in range(count)]
        try:
            uploads = [S3UploadStore(store, max_bytes=1024 * MIB) for store in stores]
            return await test(*uploads, stores[0])
        finally:
            for store in stores:
                await store.aclose()

    return asyncio.run(run())


async def chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def sha256_of(data: bytes) -> PartChecksum:
    return PartChecksum("sha256", hashlib.sha256(data).digest())


async def new_upload(store: S3UploadStore, key: str, length: int | None) -> UploadInfo:
    return await store.create(
        key,
        length,
        metadata={"filename": "eA=="},
        expires=datetime.now(UTC) + timedelta(hours=1),
        overwrite=False,
    )


def part_sizes(moto: MotoS3, key: str) -> list[int]:
    uploads = [u for u in moto.multipart_uploads() if u["Key"] == f"{PREFIX}/{key}"]
    if not uploads:
        return []
    (upload,) = uploads
    parts = moto.client().list_parts(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
    return [int(part["Size"]) for part in parts.get("Parts", [])]


def test_60_mb_in_8_mb_parts_arrives_whole_with_its_sha256(moto: MotoS3) -> None:
    data = os.urandom(60 * MIB)
    part = 8 * MIB

    async def test(uploads: S3UploadStore, store: S3Store) -> None:
        info = await new_upload(uploads, "big/sixty.bin", len(data))
        for start in range(0, len(data), part):
            body = data[start : start + part]
            info = await uploads.append(
                info.upload_id, start, chunks(body), max_bytes=part, checksum=sha256_of(body)
            )
            if not info.complete:  # each 8 MiB body is a part of its own
                assert part_sizes(moto, "big/sixty.bin") == [part] * (start // part + 1)
        assert info.complete
        assert info.sha256 == hashlib.sha256(data).digest()
        stat = await store.stat("big/sixty.bin")  # what downloads read (Repr-Digest)
        assert (stat.size, stat.sha256) == (len(data), hashlib.sha256(data).digest())
        with pytest.raises(UploadNotFound):
            await uploads.info(info.upload_id)

    with_stores(moto, test)
    body = moto.client().get_object(Bucket=BUCKET, Key=f"{PREFIX}/big/sixty.bin")["Body"].read()
    assert body == data
    tags = moto.client().get_object_tagging(Bucket=BUCKET, Key=f"{PREFIX}/big/sixty.bin")
    assert tags["TagSet"] == [{"Key": SHA256_TAG, "Value": hashlib.sha256(data).hexdigest()}]
    assert moto.multipart_uploads() == []
    assert moto.keys(HIDDEN) == []


def test_small_patches_are_held_in_s3_until_they_make_a_5_mib_part(moto: MotoS3) -> None:
    data = os.urandom(12 * MIB + 3)

    async def test(uploads: S3UploadStore, store: S3Store) -> None:
        info = await new_upload(uploads, "small-parts.bin", len(data))
        for start in range(0, len(data), MIB):
            info = await uploads.append(
                info.upload_id, start, chunks(data[start : start + MIB]), max_bytes=MIB
            )
            if info.complete:
                break
            held = info.offset - sum(part_sizes(moto, "small-parts.bin"))
            # Whatever is not in a part yet is in exactly one tail object, in S3.
            tails = [key for key in moto.keys(HIDDEN) if "/tail-" in key]
            assert tails == ([f"{HIDDEN}{info.upload_id}/tail-{info.offset}"] if held else [])
            sizes = part_sizes(moto, "small-parts.bin")
            assert all(size >= 5 * MIB for size in sizes)
            assert len(sizes) == info.offset // (5 * MIB)
        assert info.complete
        assert info.sha256 == hashlib.sha256(data).digest()
        assert (await store.stat("small-parts.bin")).sha256 == hashlib.sha256(data).digest()

    with_stores(moto, test)
    body = moto.client().get_object(Bucket=BUCKET, Key=f"{PREFIX}/small-parts.bin")["Body"].read()
    assert body == data
    assert moto.keys(HIDDEN) == []


def test_two_processes_continue_one_upload_alternately(moto: MotoS3) -> None:
    data = os.urandom(23 * MIB + 11)
    step = 3 * MIB

    async def test(first: S3UploadStore, second: S3UploadStore, store: S3Store) -> None:
        info = await new_upload(first, "alternate.bin", len(data))
        for turn, start in enumerate(range(0, len(data), step)):
            uploads = (first, second)[turn % 2]
            assert (await uploads.info(info.upload_id)).offset == start
            info = await uploads.append(
                info.upload_id, start, chunks(data[start : start + step]), max_bytes=step
            )
        assert info.complete
        assert (await store.stat("alternate.bin")).sha256 == hashlib.sha256(data).digest()

    with_stores(moto, test, count=2)
    body = moto.client().get_object(Bucket=BUCKET, Key=f"{PREFIX}/alternate.bin")["Body"].read()
    assert body == data


def test_a_concurrent_append_gets_busy_and_nothing_is_corrupted(moto: MotoS3) -> None:
    data = os.urandom(6 * MIB)

    async def test(first: S3UploadStore, second: S3UploadStore, store: S3Store) -> None:
        info = await new_upload(first, "concurrent.bin", len(data))
        started = asyncio.Event()
        release = asyncio.Event()

        async def slow_body() -> AsyncIterator[bytes]:
            yield data[:MIB]
            started.set()  # the first append holds the lease while it reads its body
            await release.wait()
            yield data[MIB : 4 * MIB]

        winner = asyncio.create_task(
            first.append(info.upload_id, 0, slow_body(), max_bytes=8 * MIB)
        )
        await asyncio.wait_for(started.wait(), 30)
        with pytest.raises(UploadBusy):
            await second.append(info.upload_id, 0, chunks(data[: 2 * MIB]), max_bytes=8 * MIB)
        with pytest.raises(UploadBusy):
            await second.terminate(info.upload_id)
        release.set()
        after = await asyncio.wait_for(winner, 60)
        assert after.offset == 4 * MIB
        with pytest.raises(OffsetMismatch) as mismatch:  # the loser's offset is stale now
            await second.append(info.upload_id, 0, chunks(data[:MIB]), max_bytes=8 * MIB)
        assert mismatch.value.expected == 4 * MIB
        done = await second.append(
            info.upload_id, 4 * MIB, chunks(data[4 * MIB :]), max_bytes=8 * MIB
        )
        assert done.sha256 == hashlib.sha256(data).digest()

    with_stores(moto, test, count=2)
    body = moto.client().get_object(Bucket=BUCKET, Key=f"{PREFIX}/concurrent.bin")["Body"].read()
    assert body == data


def test_a_stale_lease_of_a_crashed_process_is_taken_over(moto: MotoS3) -> None:
    data = os.urandom(MIB)

    async def test(uploads: S3UploadStore, store: S3Store) -> None:
        info = await new_upload(uploads, "stale-lease.bin", len(data))
        lease = f"{HIDDEN}{info.upload_id}/lease"
        live = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        moto.client().put_object(Bucket=BUCKET, Key=lease, Body=json.dumps({"until": live}))
        with pytest.raises(UploadBusy):
            await uploads.append(info.upload_id, 0, chunks(data), max_bytes=MIB)
        past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        moto.client().put_object(Bucket=BUCKET, Key=lease, Body=json.dumps({"until": past}))
        done = await uploads.append(info.upload_id, 0, chunks(data), max_bytes=MIB)
        assert done.complete
        assert done.sha256 == hashlib.sha256(data).digest()

    with_stores(moto, test)
    assert moto.keys(HIDDEN) == []


def test_a_refused_body_keeps_nothing(moto: MotoS3) -> None:
    data = os.urandom(7 * MIB)

    async def test(uploads: S3UploadStore, store: S3Store) -> None:
        info = await new_upload(uploads, "refused.bin", len(data))
        info = await uploads.append(info.upload_id, 0, chunks(data[:MIB]), max_bytes=8 * MIB)
        before = sorted(moto.keys(HIDDEN))
        wrong = PartChecksum("sha1", hashlib.sha1(b"something else").digest())
        with pytest.raises(ChecksumMismatch):
            await uploads.append(
                info.upload_id, MIB, chunks(data[MIB:]), max_bytes=8 * MIB, checksum=wrong
            )
        with pytest.raises(PartTooLarge):  # over the part limit
            await uploads.append(info.upload_id, MIB, chunks(data[MIB:]), max_bytes=2 * MIB)
        with pytest.raises(PartTooLarge):  # over the declared length
            await uploads.append(info.upload_id, MIB, chunks(data[MIB:] + b"x"), max_bytes=8 * MIB)

        async def broken() -> AsyncIterator[bytes]:
            yield data[MIB : 2 * MIB]
            raise ConnectionResetError("the client went away")

        with pytest.raises(ConnectionResetError):
            await uploads.append(info.upload_id, MIB, broken(), max_bytes=8 * MIB)
        assert (await uploads.info(info.upload_id)).offset == MIB
        assert sorted(moto.keys(HIDDEN)) == before  # no lease left, no new tail
        assert part_sizes(moto, "refused.bin") == []
        done = await uploads.append(
            info.upload_id,
            MIB,
            chunks(data[MIB:]),
            max_bytes=8 * MIB,
            checksum=sha256_of(data[MIB:]),
        )
        assert done.sha256 == hashlib.sha256(data).digest()

    with_stores(moto, test)


def test_terminate_and_expire_leave_no_multipart_upload_nor_state(moto: MotoS3) -> None:
    data = os.urandom(6 * MIB + 5)

    async def test(uploads: S3UploadStore, store: S3Store) -> None:
        ids = []
        for name in ("terminated.bin", "expired.bin", "kept.bin"):
            info = await new_upload(uploads, name, 20 * MIB)
            await uploads.append(info.upload_id, 0, chunks(data), max_bytes=8 * MIB)
            ids.append(info.upload_id)
        assert len(moto.multipart_uploads()) == 3
        await uploads.terminate(ids[0])
        with pytest.raises(UploadNotFound):
            await uploads.info(ids[0])
        with pytest.raises(UploadNotFound):
            await uploads.terminate(ids[0])
        # expired.bin: its state says it expired (as if written an hour ago with a short expiry)
        state_key = f"{HIDDEN}{ids[1]}/state.json"
        state = json.loads(moto.client().get_object(Bucket=BUCKET, Key=state_key)["Body"].read())
        state["expires"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        moto.client().put_object(Bucket=BUCKET, Key=state_key, Body=json.dumps(state))
        with pytest.raises(UploadExpired):
            await uploads.info(ids[1])
        assert await uploads.expire(datetime.now(UTC)) == 1
        with pytest.raises(UploadNotFound):
            await uploads.info(ids[1])
        assert (await uploads.info(ids[2])).offset == len(data)
        assert [u["Key"] for u in moto.multipart_uploads()] == [f"{PREFIX}/kept.bin"]
        assert all(key.startswith(f"{HIDDEN}{ids[2]}/") for key in moto.keys(HIDDEN))
        await uploads.terminate(ids[2])
        for name in ("terminated.bin", "expired.bin", "kept.bin"):
            with pytest.raises(ObjectNotFound):
                await store.stat(name)

    with_stores(moto, test)
    assert moto.multipart_uploads() == []
    assert moto.keys(HIDDEN) == []


def test_small_and_empty_uploads_are_one_object_with_a_full_object_sha256(moto: MotoS3) -> None:
    data = os.urandom(3 * MIB + 1)

    async def test(uploads: S3UploadStore, store: S3Store) -> None:
        info = await new_upload(uploads, "small.bin", len(data))
        info = await uploads.append(info.upload_id, 0, chunks(data), max_bytes=8 * MIB)
        assert info.sha256 == hashlib.sha256(data).digest()
        assert (await store.stat("small.bin")).sha256 == hashlib.sha256(data).digest()
        # A deferred length may not grow past the store's maximum either (2 MiB for this one).
        deferred = await new_upload(uploads, "deferred.bin", None)
        capped = S3UploadStore(store, max_bytes=2 * MIB)
        with pytest.raises(PartTooLarge):
            await capped.append(deferred.upload_id, 0, chunks(data), max_bytes=8 * MIB)
        assert (await uploads.info(deferred.upload_id)).offset == 0
        await uploads.terminate(deferred.upload_id)
        empty = await new_upload(uploads, "empty.bin", None)
        await uploads.declare_length(empty.upload_id, 0)
        done = await uploads.append(empty.upload_id, 0, chunks(b""), max_bytes=8 * MIB)
        assert done.complete
        assert done.sha256 == hashlib.sha256(b"").digest()
        assert (await store.stat("empty.bin")).size == 0

    with_stores(moto, test)
    assert moto.multipart_uploads() == []  # no multipart upload was needed
    head = moto.client().head_object(Bucket=BUCKET, Key=f"{PREFIX}/small.bin")
    assert head.get("TagCount", 0) == 0


def test_existing_keys_and_bad_keys_are_refused(moto: MotoS3) -> None:
    moto.put(f"{PREFIX}/taken.bin", b"already here")
    data = os.urandom(MIB)

    async def test(uploads: S3UploadStore, store: S3Store) -> None:
        with pytest.raises(ObjectExists):
            await new_upload(uploads, "taken.bin", 10)
        for bad in ("../up.bin", "/abs.bin", "a//b.bin", ".uploads/x.bin"):
            with pytest.raises(InvalidKey):
                await new_upload(uploads, bad, 10)
        # The key appears while the upload runs: the last append is refused, nothing kept.
        info = await new_upload(uploads, "raced.bin", len(data))
        moto.put(f"{PREFIX}/raced.bin", b"someone else")
        with pytest.raises(ObjectExists):
            await uploads.append(info.upload_id, 0, chunks(data), max_bytes=8 * MIB)
        assert (await uploads.info(info.upload_id)).offset == 0
        await uploads.terminate(info.upload_id)
        with pytest.raises(UploadNotFound):
            await uploads.info("not-an-upload-id")

    with_stores(moto, test)
    raced = moto.client().get_object(Bucket=BUCKET, Key=f"{PREFIX}/raced.bin")["Body"].read()
    assert raced == b"someone else"


def test_unfinished_uploads_are_neither_listed_nor_served(moto: MotoS3) -> None:
    async def test(uploads: S3UploadStore, store: S3Store) -> None:
        info = await new_upload(uploads, "hidden.bin", 10 * MIB)
        await uploads.append(info.upload_id, 0, chunks(b"x" * MIB), max_bytes=8 * MIB)
        assert moto.keys(HIDDEN)  # the state and the tail are there...
        page = await store.list("", cursor=None, limit=1000)
        assert not [item.key for item in page.items if item.key.startswith(".uploads")]
        with pytest.raises(ObjectNotFound):  # ...but not objects anyone downloads
            await store.stat(f".uploads/{info.upload_id}/state.json")
        await uploads.terminate(info.upload_id)

    with_stores(moto, test)


def test_the_sweep_works_through_many_uploads_a_batch_at_a_time(
    moto: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_uploads, "EXPIRE_BATCH", 2)

    async def test(uploads: S3UploadStore, store: S3Store) -> None:
        live = [await new_upload(uploads, f"live-{n}.bin", 10) for n in range(4)]
        expired = [
            await uploads.create(
                f"old-{n}.bin",
                10,
                metadata={},
                expires=datetime.now(UTC) - timedelta(seconds=1),
                overwrite=False,
            )
            for n in range(2)
        ]
        # Six uploads, two per call: three calls see each once, wherever the ids sort (a
        # sweep that always started from the first would miss those sorting after two live).
        removed = [await uploads.expire(datetime.now(UTC)) for _ in range(3)]
        assert sum(removed) == 2
        for info in expired:
            with pytest.raises(UploadNotFound):
                await uploads.info(info.upload_id)
        for info in live:
            assert (await uploads.info(info.upload_id)).offset == 0
            await uploads.terminate(info.upload_id)

    with_stores(moto, test)
    assert moto.keys(HIDDEN) == []
