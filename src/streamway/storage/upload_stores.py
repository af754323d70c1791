"""Which upload store ``/uploads`` writes to (the one downloads read), and its expiry sweep."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from streamway.config import Settings
from streamway.storage import local_directory
from streamway.storage.local_uploads import LocalUploadStore
from streamway.storage.uploads import UploadStore

log = logging.getLogger("streamway.uploads")

#: Seconds between two sweeps of expired uploads (each sweep's work is bounded by the store).
SWEEP_INTERVAL_S = 600.0


def open_upload_store(settings: Settings) -> UploadStore:
    """The upload store beside the object store of ``settings.store``."""
    directory = local_directory(settings.store.store_url)
    if directory is None:
        raise RuntimeError("uploads to an S3 store need storage/s3_uploads.py (issue 22)")
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
