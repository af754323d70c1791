"""Which upload store ``/uploads`` writes to (the one downloads read), and its expiry sweep."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from streamway.config import Settings
from streamway.storage import ObjectStore, S3Store, local_directory
from streamway.storage.local_uploads import LocalUploadStore
from streamway.storage.s3_uploads import S3UploadStore
from streamway.storage.uploads import UploadStore

log = logging.getLogger("streamway.uploads")

#: Seconds between two sweeps of expired uploads (each sweep's work is bounded by the store).
SWEEP_INTERVAL_S = 600.0


def open_upload_store(settings: Settings, store: ObjectStore) -> UploadStore:
    """The upload store beside ``store``, the object store downloads read (an S3 one shares
    its client, which ``store.aclose()`` closes)."""
    if isinstance(store, S3Store):
        return S3UploadStore(store, max_bytes=settings.uploads.upload_max_bytes)
    directory = local_directory(settings.store.store_url)
    if directory is None:
        raise RuntimeError(f"no upload store for {store!r}")
    return LocalUploadStore(directory, max_bytes=settings.uploads.upload_max_bytes)


async def sweep_expired(store: UploadStore, interval_s: float = SWEEP_INTERVAL_S) -> None:
    """Remove expired uploads at startup and then every ``interval_s``, until cancelled."""
    while True:
        try:
            removed = await store.expire(datetime.now(UTC))
            if removed:
                log.info("expired uploads removed", extra={"removed": removed})
        except Exception:
            log.exception("the sweep of expired uploads failed")
        await asyncio.sleep(interval_s)
