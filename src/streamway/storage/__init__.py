"""Object stores behind one small interface, chosen by ``STREAMWAY_STORE_URL``.

``file:///abs/dir``, ``file://./relative/dir`` (against the working directory) or a plain path
select :class:`LocalStore`; ``s3://bucket/prefix`` selects :class:`S3Store`, with
``STREAMWAY_S3_ENDPOINT_URL`` for S3-compatible servers.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from streamway.config import StoreSettings
from streamway.storage.keys import check_key
from streamway.storage.local import LocalStore
from streamway.storage.s3 import S3Store
from streamway.storage.store import (
    InvalidKey,
    ObjectBody,
    ObjectChanged,
    ObjectInfo,
    ObjectNotFound,
    ObjectPage,
    ObjectStore,
    StoreError,
    StoreFailed,
    StoreUnavailable,
)

__all__ = [
    "InvalidKey",
    "LocalStore",
    "ObjectBody",
    "ObjectChanged",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectPage",
    "ObjectStore",
    "S3Store",
    "StoreError",
    "StoreFailed",
    "StoreUnavailable",
    "check_key",
    "local_directory",
    "open_store",
]


def local_directory(store_url: str) -> Path | None:
    """The directory a ``file:`` URL or plain path names; None for an ``s3://`` URL."""
    if store_url.startswith("s3://"):
        return None
    if store_url.startswith("file://"):
        return Path(unquote(store_url.removeprefix("file://")))
    if store_url.startswith("file:"):
        return Path(unquote(store_url.removeprefix("file:")))
    return Path(store_url)


async def open_store(settings: StoreSettings) -> ObjectStore:
    """The store ``settings.store_url`` names, ready to use; ``aclose()`` it when done."""
    directory = local_directory(settings.store_url)
    if directory is not None:
        return LocalStore(directory, chunk_size=settings.download_chunk_size)
    url = urlsplit(settings.store_url)
    if not url.netloc:
        raise ValueError(f"STREAMWAY_STORE_URL={settings.store_url!r} names no bucket")
    return await S3Store.connect(
        url.netloc,
        unquote(url.path),
        endpoint_url=settings.s3_endpoint_url,
        region=settings.aws_region,
        max_connections=settings.s3_max_connections,
        chunk_size=settings.download_chunk_size,
    )
