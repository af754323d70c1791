"""One S3 upload's lease: the object ``.uploads/<id>/lease``, held while an append runs.

Why an object: the upload store keeps nothing in a process's memory, and S3 has no lock. It
has conditional writes: the lease is created with ``If-None-Match: *``, which S3 grants to
one writer only, so a second taker gets :class:`UploadBusy` at once (never a wait).

The lease holds its expiry (``{"until": ISO time}``), so a holder that crashed (a sandbox
killed at its timeout) blocks the upload for at most ``lease_s``: the next taker reads the
stale lease, deletes it with ``If-Match`` on the ETag it read (so of two takers racing for
it, one deletes and the other loses) and takes it. A lease whose body cannot be read, or
whose expiry has no time zone, is treated as stale. The holder releases it with
``If-Match`` on its own ETag: a holder whose lease ran out and was taken over cannot delete
the new holder's lease.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from streamway.storage.s3_errors import is_missing, mapped_errors
from streamway.storage.store import StoreError
from streamway.storage.uploads import UploadBusy

log = logging.getLogger("streamway.uploads")

#: How long a lease holds when its holder never releases it: a Lambda function's longest run.
LEASE_S = 900.0


class UploadLease:
    """``async with``: the lease object ``key`` of upload ``upload_id``, taken or refused."""

    def __init__(
        self, client: Any, bucket: str, key: str, upload_id: str, *, lease_s: float = LEASE_S
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self.lease_s = lease_s
        self.etag: str | None = None
        """The ETag of the lease object this holder wrote: its release's ``If-Match``."""

    async def __aenter__(self) -> UploadLease:
        if await self._take():
            return self
        # Held: by a live append, or by one whose process died (its expiry passed).
        try:
            with mapped_errors(self.upload_id):
                response = await self.client.get_object(Bucket=self.bucket, Key=self.key)
                async with response["Body"] as stream:
                    raw = await stream.read()
        except StoreError as error:
            if is_missing(error):  # released meanwhile: the client may try again
                raise UploadBusy(self.upload_id) from None
            raise
        # Parsed outside mapped_errors, which would make a parse error a store failure: an
        # unreadable lease would then refuse every append for good, since it never expires.
        until = _expiry(raw)
        if until > datetime.now(UTC):
            raise UploadBusy(self.upload_id)
        log.warning("taking over a stale upload lease", extra={"upload_id": self.upload_id})
        with mapped_errors(self.upload_id, lost=UploadBusy):
            await self.client.delete_object(
                Bucket=self.bucket, Key=self.key, IfMatch=response["ETag"]
            )
        if await self._take():
            return self
        raise UploadBusy(self.upload_id)

    async def _take(self) -> bool:
        until = datetime.now(UTC) + timedelta(seconds=self.lease_s)
        try:
            with mapped_errors(self.upload_id, lost=UploadBusy):
                response = await self.client.put_object(
                    Bucket=self.bucket,
                    Key=self.key,
                    Body=json.dumps({"until": until.isoformat()}).encode(),
                    IfNoneMatch="*",
                )
        except UploadBusy:
            return False
        self.etag = response["ETag"]
        return True

    async def __aexit__(self, *exc: object) -> None:
        try:
            # Shielded: a cancelled append still releases its lease.
            await asyncio.shield(
                self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
            )
        except Exception:  # gone or taken over: its expiry frees the upload in any case
            log.warning("could not release an upload lease", extra={"upload_id": self.upload_id})


def _expiry(raw: bytes) -> datetime:
    """The lease's ``until``; the distant past (stale) when the body is not a lease's."""
    try:
        until = datetime.fromisoformat(json.loads(raw)["until"])
    except (ValueError, KeyError, TypeError):
        return datetime.min.replace(tzinfo=UTC)
    return until if until.tzinfo is not None else datetime.min.replace(tzinfo=UTC)
