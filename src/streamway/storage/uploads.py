"""What every upload store offers: resumable uploads whose state lives in the store itself.

The tus routes (``service/tus.py``) speak HTTP; an :class:`UploadStore` keeps the bytes and
the state. Nothing about an upload lives in a process's memory that another process would
need: any process (a second uvicorn worker, another Lambda sandbox) can take the next PATCH
of an upload another one started. A process may keep a cache (a running SHA-256, say), but
only as a shortcut it can rebuild or do without.

An upload goes ``create`` → ``append``... → complete (the append that reaches the declared
length publishes the object under its key, atomically: no reader ever sees part of it) or
``terminate`` (its bytes are gone). ``expire`` removes uploads past their expiry.

A store may keep a finished upload's record until it expires (the local store does): ``info``
then gives it complete (``offset == length``), an ``append`` at that offset with no bytes
returns it unchanged (any byte is :class:`PartTooLarge`), and ``terminate`` forgets the record
but never removes the published object. A store that forgets it at once answers
:class:`UploadNotFound` instead; a client then checks the object itself.

Appends to one upload are serialised by the store: a second append while one runs gets
:class:`UploadBusy` at once (the tus routes answer 409), never a wait and never interleaved
bytes. An append whose body fails a checksum, breaks off or runs over keeps nothing of that
body: the offset stays where it was.

Errors are the store's own, so the HTTP layer maps them to statuses without knowing the store.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from streamway.storage.store import StoreError


@dataclass(frozen=True)
class PartChecksum:
    """A checksum the client sent for one append's body (tus ``Upload-Checksum``)."""

    algorithm: str
    """``sha1`` or ``sha256`` (hashlib names)."""
    digest: bytes
    """The raw digest the body must have."""


@dataclass(frozen=True)
class UploadInfo:
    """An upload's state, as the store holds it."""

    upload_id: str
    """Opaque, unguessable, URL-safe; the last segment of the upload's URL."""
    key: str
    """The object key the finished upload is published under (already checked)."""
    offset: int
    """Bytes received and kept so far."""
    length: int | None
    """The declared total; None while the length is deferred."""
    created: datetime
    expires: datetime
    """Timezone-aware (UTC). Past it, the upload is gone (:class:`UploadExpired`)."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    """The client's ``Upload-Metadata`` as sent (values still base64), to echo on HEAD."""
    sha256: bytes | None = None
    """SHA-256 of the published object, once complete (when the store knows it)."""

    @property
    def complete(self) -> bool:
        return self.length is not None and self.offset == self.length


#: An upload id as :func:`new_upload` makes them (24 random bytes, URL-safe base64).
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{32}")


def is_upload_id(text: str) -> bool:
    """Whether ``text`` could be an id :func:`new_upload` made: checked before any store
    turns it into a file name or an S3 key."""
    return _UPLOAD_ID.fullmatch(text) is not None


def new_upload(
    key: str, length: int | None, *, metadata: Mapping[str, str], expires: datetime
) -> UploadInfo:
    """A new, empty upload's state with a fresh unguessable id (for every store)."""
    return UploadInfo(
        upload_id=secrets.token_urlsafe(24),
        key=key,
        offset=0,
        length=length,
        created=datetime.now(UTC),
        expires=expires,
        metadata=dict(metadata),
    )


class UploadStore(Protocol):
    """Where uploads are written: a local directory, or an S3 bucket by multipart upload."""

    async def create(
        self,
        key: str,
        length: int | None,
        *,
        metadata: Mapping[str, str],
        expires: datetime,
        overwrite: bool,
    ) -> UploadInfo:
        """A new, empty upload that will publish ``key``. Raises :class:`ObjectExists` when
        ``key`` is already an object and ``overwrite`` is False (checked again on publish)."""

    async def info(self, upload_id: str) -> UploadInfo:
        """The upload's state; :class:`UploadNotFound` or :class:`UploadExpired`."""

    async def append(
        self,
        upload_id: str,
        offset: int,
        body: AsyncIterator[bytes],
        *,
        max_bytes: int,
        checksum: PartChecksum | None = None,
    ) -> UploadInfo:
        """Write ``body`` at ``offset`` and return the new state; publish when complete.

        Raises :class:`OffsetMismatch` (``offset`` is not the upload's), :class:`UploadBusy`
        (another append runs), :class:`PartTooLarge` (the body passes ``max_bytes`` or the
        declared length), :class:`ChecksumMismatch`, :class:`ObjectExists` (on publish,
        when the key appeared meanwhile and overwriting is off). In every failure case the
        upload's offset is unchanged and nothing of the body is kept.
        """

    async def declare_length(self, upload_id: str, length: int) -> UploadInfo:
        """Fix a deferred length (tus ``Upload-Length`` on a PATCH); it cannot be below the
        offset or change once set."""

    async def terminate(self, upload_id: str) -> None:
        """Remove the upload and every byte of it."""

    async def expire(self, now: datetime) -> int:
        """Remove uploads whose expiry is before ``now``; how many were removed."""

    async def aclose(self) -> None:
        """Release the store's clients."""


class UploadError(StoreError):
    """Base of everything an upload store raises on purpose."""


class UploadNotFound(UploadError):
    """No upload has that id (or it was terminated, or its finished record is gone)."""


class UploadExpired(UploadError):
    """The upload existed but passed its expiry; its bytes are gone or about to be."""


class UploadBusy(UploadError):
    """Another append to the same upload is running."""


class OffsetMismatch(UploadError):
    def __init__(self, expected: int, given: int) -> None:
        super().__init__(f"the upload is at offset {expected}, not {given}")
        self.expected = expected
        self.given = given


class PartTooLarge(UploadError):
    """A body passes the part limit or the upload's declared length."""


class ChecksumMismatch(UploadError):
    """The body does not have the checksum the client sent; it was not kept."""


class LengthConflict(UploadError):
    """A length declared twice, below the offset, or over the store's maximum."""


class ObjectExists(UploadError):
    """The target key is already an object, and overwriting is off."""
