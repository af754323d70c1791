"""Which upload store /uploads gets, and the sweep that removes expired uploads."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamway.config import Settings
from streamway.storage import open_store
from streamway.storage.local_uploads import LocalUploadStore
from streamway.storage.s3_uploads import S3UploadStore
from streamway.storage.upload_stores import open_upload_store, sweep_expired
from tests.service.downloads_server import BUCKET, moto_s3
from tests.settings import flat_settings


def test_a_directory_store_gets_the_local_upload_store(tmp_path: Path) -> None:
    settings: Settings = flat_settings(
        store_url=f"file://{tmp_path}", uploads=True, upload_max_bytes=64 * 1024 * 1024
    )
    objects = asyncio.run(open_store(settings.store))
    store = open_upload_store(settings, objects)
    assert isinstance(store, LocalUploadStore)
    assert store.root == tmp_path.resolve()
    assert store.max_bytes == 64 * 1024 * 1024


def test_an_s3_store_gets_the_s3_upload_store_on_its_client() -> None:
    async def run(endpoint: str) -> None:
        settings: Settings = flat_settings(
            store_url=f"s3://{BUCKET}/files", s3_endpoint_url=endpoint, uploads=True
        )
        objects = await open_store(settings.store)
        try:
            store = open_upload_store(settings, objects)
            assert isinstance(store, S3UploadStore)
            assert store.client is getattr(objects, "client", None)  # one client, not two
            assert (store.bucket, store.prefix) == (BUCKET, "files/")
            assert store.max_bytes == settings.uploads.upload_max_bytes
            # It works: an upload on the moto server, and the sweep finds nothing to remove.
            info = await store.create(
                "x.bin",
                3,
                metadata={},
                expires=datetime.now(UTC) + timedelta(hours=1),
                overwrite=False,
            )
            assert (await store.info(info.upload_id)).offset == 0
            await store.terminate(info.upload_id)
            assert await store.expire(datetime.now(UTC)) == 0
        finally:
            await objects.aclose()

    with moto_s3() as moto:
        asyncio.run(run(moto.endpoint))


def wait_until_gone(directory: Path, upload_id: str, timeout_s: float = 30) -> None:
    """Waits for the upload's files to go; the timeout only turns a hang into a failure."""
    deadline = time.monotonic() + timeout_s
    while any(name.startswith(upload_id) for name in os.listdir(directory)):
        assert time.monotonic() < deadline, f"upload {upload_id} still there after {timeout_s} s"
        time.sleep(0.01)


async def test_the_sweep_removes_expired_uploads_at_once_and_then_periodically(
    tmp_path: Path,
) -> None:
    store = LocalUploadStore(tmp_path, max_bytes=1000)
    past = datetime.now(UTC) - timedelta(seconds=1)
    old = await store.create("old.bin", 10, metadata={}, expires=past, overwrite=False)
    kept = await store.create(
        "kept.bin", 10, metadata={}, expires=past + timedelta(hours=1), overwrite=False
    )
    uploads = tmp_path / ".uploads"

    sweeper = asyncio.create_task(sweep_expired(store, interval_s=0.05))
    try:
        await asyncio.to_thread(wait_until_gone, uploads, old.upload_id)
        # A later round finds an upload that expired after the first one.
        newer = await store.create("newer.bin", 10, metadata={}, expires=past, overwrite=False)
        await asyncio.to_thread(wait_until_gone, uploads, newer.upload_id)
    finally:
        sweeper.cancel()
    assert sorted(os.listdir(uploads)) == sorted(
        f"{kept.upload_id}.{suffix}" for suffix in ("data", "json", "lock")
    )
