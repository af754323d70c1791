"""What every object store offers: metadata without reading, and ranged reads that close on cancel.

A store answers two questions. :meth:`ObjectStore.stat` says what an object is (size, ETag,
dates, type, checksum) from metadata alone: a file's ``stat``, S3's ``HeadObject``.
:meth:`ObjectStore.open` returns a body that yields one byte range in chunks, read with a
ranged read upstream (``pread`` at an offset, S3's ranged ``GetObject``), never by reading and
discarding. The body owns its upstream resource (file descriptor, HTTP connection) until
:meth:`ObjectBody.aclose`, which the caller must call, whether the body was read or not.
:meth:`ObjectStore.list` pages through keys in order (UTF-8 byte order, as S3 lists them).

Errors are the store's own, so the HTTP layer maps them to statuses without knowing the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ObjectInfo:
    """An object's metadata, as much as the store knows without reading the object."""

    key: str
    size: int
    etag: str
    """A strong entity tag, quoted as it goes on the wire: ``"..."``."""
    last_modified: datetime
    """Timezone-aware (UTC)."""
    content_type: str | None = None
    """From the object's metadata; None when the store has none (callers guess from the key)."""
    sha256: bytes | None = None
    """SHA-256 of the whole object (32 raw bytes) when the store knows it without reading."""


@dataclass(frozen=True)
class ObjectPage:
    """One page of a listing, in key order."""

    items: list[ObjectInfo]
    next_cursor: str | None
    """Pass back as ``cursor`` for the next page; None when this page is the last. A page may
    hold fewer than ``limit`` items (keys the store will not serve are left out) and still
    have a next one."""


@runtime_checkable
class ObjectBody(Protocol):
    """One byte range of an object, in chunks. Owns an upstream resource until ``aclose()``."""

    reads_ahead: bool
    """True when the body already buffers ahead of its reader, within a fixed bound (an HTTP
    client's receive buffer): the response then needs no read-ahead task of its own."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def __anext__(self) -> bytes: ...

    async def aclose(self) -> None:
        """Release the file descriptor or connection. Safe to call twice and on cancel."""


class ObjectStore(Protocol):
    """A place objects are read from: a local directory or an S3 (compatible) bucket."""

    async def stat(self, key: str) -> ObjectInfo:
        """Metadata of ``key``; raises :class:`ObjectNotFound`, :class:`StoreUnavailable`..."""

    async def open(self, key: str, start: int, end: int, *, etag: str | None = None) -> ObjectBody:
        """Bytes ``[start, end)`` of ``key``, read in ranged reads of the store's chunk size.

        With ``etag``, fails with :class:`ObjectChanged` if the object is no longer that one
        (it was replaced between ``stat`` and ``open``). The returned body has its upstream
        resource open already, so errors such as a missing object surface here, not later.
        """

    async def get(self, key: str) -> tuple[ObjectInfo, ObjectBody]:
        """The whole object and its metadata from one request (a GET without Range).

        What a plain download needs: no ``stat`` round trip first, and the metadata and
        bytes come from the same version of the object.
        """

    async def list(self, prefix: str = "", *, cursor: str | None, limit: int) -> ObjectPage:
        """Up to ``limit`` objects whose keys start with ``prefix``, after the key ``cursor``.

        Items come from the listing alone, without a request per object: ``content_type``
        and ``sha256`` are None. Keys that :func:`~streamway.storage.keys.check_key`
        refuses are left out, since downloading them would fail.
        """

    async def aclose(self) -> None:
        """Release the store's clients and pools."""


class StoreError(Exception):
    """Base of everything a store raises on purpose."""


class InvalidKey(StoreError):
    """The key is not a name this store will look up (``..``, absolute, NUL, outside the root)."""


class ObjectNotFound(StoreError):
    """No object has that key."""


class ObjectChanged(StoreError):
    """The object was replaced while it was being read."""


class StoreUnavailable(StoreError):
    """The store cannot be reached (connection refused, DNS, timeout): worth a retry."""


class StoreFailed(StoreError):
    """The store answered, but with an error (access denied, internal error, short read)."""
