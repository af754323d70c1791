"""Resumable uploads into S3 by multipart upload, every byte and every field of state in S3.

An upload ``<id>`` lives under the store's hidden ``.uploads/<id>/`` prefix (never listed nor
served, see s3.py): ``state.json`` (its record, s3_upload_state.py), ``lease`` while an
append runs (s3_upload_lease.py: how appends are serialised across processes) and
``tail-<offset>`` (bytes received but not yet a part).

Why by hand: tus servers with an S3 store exist (tusd, the tus Node server) but not as a
Python library over aiobotocore; tuspyserver keeps its uploads on a local disk.

Every write of ``state.json`` carries ``If-Match`` on the ETag it was read with, so even a
holder whose lease ran out cannot write over a newer state; and a part it uploaded meanwhile
under the same number makes CompleteMultipartUpload fail on its ETag (the state keeps each
part's ETag) rather than publish the wrong bytes.

Parts: S3 wants parts of at least 5 MiB, except the last. A body is read whole into memory
(at most the part limit, 8 MiB by default, checked as it arrives) and its checksum checked
before anything is written, so a failed append keeps nothing. Smaller bodies go into the
tail object; once the tail and a new body reach ``part_min`` they are uploaded as one part.
The tail is downloaded and re-sent (at most ``part_min`` bytes more per append) because
UploadPartCopy can only copy a range of one object into a whole part: it cannot join the
tail with new bytes. An append therefore holds at most ``part_min + max_bytes`` bytes.
Each tail object is named by the offset it ends at, so a state write that fails leaves the
tail the state names untouched.

Completion: an upload that never filled a part is one PutObject with its full-object
``ChecksumSHA256`` (computed here; s3.py reads it from HeadObject). A multipart object has
only a checksum of checksums, and its SHA-256 goes in the object tag ``streamway-sha256``,
which s3.py reads when HeadObject says the object has tags. When one process took every
append (a client's PATCHes on one warm sandbox), it kept a running SHA-256 in memory and
uses it. Otherwise (hashlib's state cannot be stored in S3 for another process) the finished
object is read once (one GetObject, ``If-Match`` on the ETag CompleteMultipartUpload
returned): about 1 s per 100 MB at a Lambda's usual S3 throughput, so past a few GB that last
PATCH outlasts API Gateway's 29 s (the object is published all the same; only the tag may be
missing). A tag, not metadata: metadata is fixed at CreateMultipartUpload, before the digest
is known, and rewriting it means copying the object.

Termination and expiry: AbortMultipartUpload, then every object under ``.uploads/<id>/`` is
deleted, so nothing stays billed. The deploy stack adds a lifecycle rule
(AbortIncompleteMultipartUpload) for uploads whose process died between the two.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from streamway.storage.keys import check_key, is_canonical
from streamway.storage.local import UPLOADS_DIR
from streamway.storage.s3 import SHA256_TAG, S3Store
from streamway.storage.s3_errors import is_missing, mapped_errors
from streamway.storage.s3_upload_lease import LEASE_S, UploadLease
from streamway.storage.s3_upload_state import UploadState
from streamway.storage.store import InvalidKey, StoreError, StoreFailed
from streamway.storage.uploads import (
    ChecksumMismatch,
    LengthConflict,
    ObjectExists,
    OffsetMismatch,
    PartChecksum,
    PartTooLarge,
    UploadBusy,
    UploadExpired,
    UploadInfo,
    UploadNotFound,
    is_upload_id,
    new_upload,
)

log = logging.getLogger("streamway.uploads")

MIB = 1024 * 1024
#: S3's smallest part (all but the last) and most parts per multipart upload.
S3_MIN_PART = 5 * MIB
S3_MAX_PARTS = 10_000
#: Most uploads one expire() call looks at: a sweep's work is bounded.
EXPIRE_BATCH = 1000
#: Most running hashes one process keeps (a few hundred bytes each), the oldest dropped first.
HASH_CACHE = 256
_HASH_CHUNK = MIB


class S3UploadStore:
    """Uploads into the bucket and prefix of an :class:`S3Store`, through its client."""

    def __init__(self, store: S3Store, *, max_bytes: int, lease_s: float = LEASE_S) -> None:
        self.client = store.client  # the object store's: it opens and closes it
        self.bucket = store.bucket
        self.prefix = store.prefix
        self.max_bytes = max_bytes
        self.lease_s = lease_s
        # Parts big enough that the largest upload fits in S3's 10,000.
        self.part_min = max(S3_MIN_PART, -(-max_bytes // S3_MAX_PARTS))
        self._expire_after: str | None = None
        #: upload id -> (offset, SHA-256 of the bytes before it): see _running_hash.
        self._hashes: OrderedDict[str, tuple[int, Any]] = OrderedDict()

    def __repr__(self) -> str:
        return f"S3UploadStore('s3://{self.bucket}/{self.prefix}')"

    # Keys -------------------------------------------------------------------------------

    def _dir(self, upload_id: str) -> str:
        if not is_upload_id(upload_id):
            raise UploadNotFound(upload_id)
        return f"{self.prefix}{UPLOADS_DIR}/{upload_id}/"

    def _state_key(self, upload_id: str) -> str:
        return self._dir(upload_id) + "state.json"

    def _lease_key(self, upload_id: str) -> str:
        return self._dir(upload_id) + "lease"

    def _lease(self, upload_id: str) -> UploadLease:
        return UploadLease(
            self.client, self.bucket, self._lease_key(upload_id), upload_id, lease_s=self.lease_s
        )

    def _tail_key(self, upload_id: str, end: int) -> str:
        return self._dir(upload_id) + f"tail-{end}"

    @staticmethod
    def check_target(key: str) -> str:
        """A safe, canonical key, not in the hidden uploads prefix."""
        check_key(key)
        if not is_canonical(key):
            raise InvalidKey("the key has an empty or '.' segment")
        if key.split("/", 1)[0] == UPLOADS_DIR:
            raise InvalidKey(f"the key may not be under {UPLOADS_DIR}/")
        return key

    # The Protocol ----------------------------------------------------------------------

    async def create(
        self,
        key: str,
        length: int | None,
        *,
        metadata: Mapping[str, str],
        expires: datetime,
        overwrite: bool,
    ) -> UploadInfo:
        self.check_target(key)
        if length is not None and (length < 0 or length > self.max_bytes):
            raise LengthConflict(f"the length {length} is over the maximum {self.max_bytes}")
        if not overwrite and await self._exists(key):
            raise ObjectExists(key)
        info = new_upload(key, length, metadata=metadata, expires=expires)
        state = UploadState(info=info, overwrite=overwrite)
        with mapped_errors(info.upload_id):
            await self.client.put_object(
                Bucket=self.bucket,
                Key=self._state_key(info.upload_id),
                Body=state.to_json(),
                IfNoneMatch="*",
            )
        return info

    async def info(self, upload_id: str) -> UploadInfo:
        return (await self._read(upload_id)).info

    async def append(
        self,
        upload_id: str,
        offset: int,
        body: AsyncIterator[bytes],
        *,
        max_bytes: int,
        checksum: PartChecksum | None = None,
    ) -> UploadInfo:
        """Particular to S3: the body is read whole into memory and checked before any
        write, then joins the tail object or goes up as a part (the module's docstring). The
        append that completes the upload forgets it at once: :meth:`info` then answers
        :class:`UploadNotFound`, and a client checks the object itself."""
        async with self._lease(upload_id):
            state = await self._read(upload_id)
            info = state.info
            if offset != info.offset:
                raise OffsetMismatch(info.offset, offset)
            # A deferred length still may not grow past the store's maximum.
            total = self.max_bytes if info.length is None else info.length
            data = await _read_body(body, min(max_bytes, total - offset), checksum)
            # From here on S3 changes: a client that leaves now does not stop the writes
            # half-way (the part up, the state not), and the lease is held until they end.
            work = asyncio.ensure_future(self._commit(state, data))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                await asyncio.wait([work])
                raise

    async def _commit(self, state: UploadState, data: bytes) -> UploadInfo:
        """The checked body after the upload's bytes: a tail, a part, or the published object."""
        info = state.info
        upload_id, offset = info.upload_id, info.offset
        end = offset + len(data)
        complete = info.length is not None and end == info.length
        if not data and not complete:
            return info
        running = await self._running_hash(upload_id, offset, data)
        old_tail = state.tail
        if old_tail:
            data = await self._get(self._tail_key(upload_id, offset)) + data
        if complete:
            published = await self._publish(state, data, running)
            self._hashes.pop(upload_id, None)  # after: a refused publish keeps the offset
            return published
        if len(data) >= self.part_min:
            await self._upload_part(state, data)
            state.tail = 0
        else:
            await self._put(self._tail_key(upload_id, end), data)
            state.tail = len(data)
        state.info = replace(info, offset=end)
        await self._write(state)
        if running is not None:
            self._hashes[upload_id] = (end, running)
            while len(self._hashes) > HASH_CACHE:
                self._hashes.popitem(last=False)
        if old_tail:
            await self._delete_quietly(self._tail_key(upload_id, offset))
        return state.info

    async def _running_hash(self, upload_id: str, offset: int, data: bytes) -> Any:
        """SHA-256 of the upload's bytes through ``data``, when this process saw all of them.

        A cache, not state: it holds only while every append since the first ran here (a
        warm Lambda sandbox taking a client's PATCHes one after the other). Offsets only
        grow, so a cached hash at this append's offset has seen exactly the bytes before it;
        otherwise (another process appended, or this one restarted) there is none, and the
        finished object is read once instead.
        """
        cached = self._hashes.get(upload_id)
        if offset == 0:
            running = hashlib.sha256()
        elif cached is not None and cached[0] == offset:
            running = cached[1].copy()  # the cached one stays valid if this append fails
        else:
            return None
        await asyncio.to_thread(running.update, data)
        return running

    async def declare_length(self, upload_id: str, length: int) -> UploadInfo:
        async with self._lease(upload_id):
            state = await self._read(upload_id)
            info = state.info
            if info.length is not None and info.length != length:
                raise LengthConflict(f"the upload's length is already {info.length}")
            if length < info.offset or length > self.max_bytes:
                raise LengthConflict(f"the length {length} is below the offset or over the maximum")
            state.info = replace(info, length=length)
            await self._write(state)
            return state.info

    async def terminate(self, upload_id: str) -> None:
        """AbortMultipartUpload, then every object under ``.uploads/<id>/`` is deleted."""
        self._hashes.pop(upload_id, None)
        async with self._lease(upload_id):
            state = await self._read(upload_id)
            await self._remove(state)

    async def expire(self, now: datetime) -> int:
        """Up to EXPIRE_BATCH uploads per call, the next ones on the next call (a cursor kept
        in memory: a process that starts over starts from the first)."""
        removed = 0
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": f"{self.prefix}{UPLOADS_DIR}/",
            "Delimiter": "/",
            "MaxKeys": EXPIRE_BATCH,
        }
        if self._expire_after:
            request["StartAfter"] = self._expire_after
        with mapped_errors(UPLOADS_DIR):
            listing = await self.client.list_objects_v2(**request)
        prefixes = [entry["Prefix"] for entry in listing.get("CommonPrefixes", [])]
        # After every key of the last upload listed: "<id>0" sorts just past "<id>/...".
        more = listing.get("IsTruncated") and prefixes
        self._expire_after = prefixes[-1].removesuffix("/") + "0" if more else None
        for prefix in prefixes:
            upload_id = prefix.rstrip("/").rpartition("/")[2]
            try:
                # Read without the lease first: most uploads are live, and a lease costs two
                # writes. Under the lease, read again: a PATCH may have ended meanwhile.
                if (await self._read(upload_id, check_expiry=False)).info.expires > now:
                    continue
                async with self._lease(upload_id):
                    state = await self._read(upload_id, check_expiry=False)
                    await self._remove(state)
                    removed += 1
            except (UploadBusy, UploadNotFound):
                continue
        return removed

    async def aclose(self) -> None:
        pass  # the client is the object store's

    # Steps ------------------------------------------------------------------------------

    async def _read(self, upload_id: str, *, check_expiry: bool = True) -> UploadState:
        """The upload's state; :class:`UploadExpired` past its expiry (when checked)."""
        key = self._state_key(upload_id)
        try:
            with mapped_errors(upload_id):
                response = await self.client.get_object(Bucket=self.bucket, Key=key)
                async with response["Body"] as stream:
                    raw = await stream.read()
        except StoreError as error:
            if is_missing(error):
                raise UploadNotFound(upload_id) from None
            raise
        try:
            state = UploadState.from_json(raw, response["ETag"])
        except (ValueError, KeyError, TypeError) as error:
            raise StoreFailed(f"the state of upload {upload_id} is unreadable: {error}") from error
        if check_expiry and state.info.expires <= datetime.now(UTC):
            raise UploadExpired(upload_id)
        return state

    async def _write(self, state: UploadState) -> None:
        """``state.json`` replaced, if it is still the one read (else :class:`UploadBusy`)."""
        upload_id = state.info.upload_id
        with mapped_errors(upload_id, lost=UploadBusy):
            response = await self.client.put_object(
                Bucket=self.bucket,
                Key=self._state_key(upload_id),
                Body=state.to_json(),
                IfMatch=state.etag,
            )
        state.etag = response["ETag"]

    async def _upload_part(self, state: UploadState, data: bytes) -> None:
        upload_id = state.info.upload_id
        with mapped_errors(upload_id):
            if state.multipart_id is None:
                created = await self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=self.prefix + state.info.key
                )
                state.multipart_id = created["UploadId"]
            number = len(state.parts) + 1
            response = await self.client.upload_part(
                Bucket=self.bucket,
                Key=self.prefix + state.info.key,
                UploadId=state.multipart_id,
                PartNumber=number,
                Body=data,
            )
        state.parts.append({"n": number, "etag": response["ETag"], "size": len(data)})

    async def _publish(self, state: UploadState, data: bytes, running: Any = None) -> UploadInfo:
        """The last bytes in, the object published under its key, the upload's objects gone.

        ``running`` is the SHA-256 of every byte when this process saw them all; otherwise
        the object is read once to compute it."""
        info = state.info
        assert info.length is not None  # published only once the length is known and reached
        key = self.prefix + info.key
        condition = {} if state.overwrite else {"IfNoneMatch": "*"}
        with mapped_errors(info.key, lost=ObjectExists):
            if not state.parts:
                sha256 = await asyncio.to_thread(_sha256, data)
                await self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=data,
                    # S3 checks the body against it and keeps it: HeadObject gives it back.
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=base64.b64encode(sha256).decode(),
                    **condition,
                )
            else:
                if data:
                    await self._upload_part(state, data)
                assert state.multipart_id is not None
                completed = await self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=state.multipart_id,
                    MultipartUpload={
                        "Parts": [{"PartNumber": p["n"], "ETag": p["etag"]} for p in state.parts]
                    },
                    **condition,
                )
                state.multipart_id = None  # completed: nothing left to abort
        if state.parts:
            if running is not None:
                sha256 = running.digest()
            else:
                sha256 = await self._hash_object(key, completed["ETag"], info.key)
            with mapped_errors(info.key):
                await self.client.put_object_tagging(
                    Bucket=self.bucket,
                    Key=key,
                    Tagging={"TagSet": [{"Key": SHA256_TAG, "Value": sha256.hex()}]},
                )
        await self._remove(state)
        return replace(info, offset=info.length, sha256=sha256)

    async def _hash_object(self, key: str, etag: str, name: str) -> bytes:
        """SHA-256 of the object just completed, read once (see the module's docstring)."""
        digest = hashlib.sha256()
        with mapped_errors(name):
            response = await self.client.get_object(Bucket=self.bucket, Key=key, IfMatch=etag)
            async with response["Body"] as stream:
                while chunk := await stream.read(_HASH_CHUNK):
                    await asyncio.to_thread(digest.update, chunk)
        return digest.digest()

    async def _remove(self, state: UploadState) -> None:
        """Abort the multipart upload and delete every object of the upload but the lease."""
        upload_id = state.info.upload_id
        if state.multipart_id is not None:
            try:
                with mapped_errors(upload_id):
                    await self.client.abort_multipart_upload(
                        Bucket=self.bucket,
                        Key=self.prefix + state.info.key,
                        UploadId=state.multipart_id,
                    )
            except StoreError as error:
                if not is_missing(error):  # NoSuchUpload: aborted already
                    raise
        with mapped_errors(upload_id):
            listing = await self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=self._dir(upload_id), MaxKeys=1000
            )
            keys = [
                {"Key": entry["Key"]}
                for entry in listing.get("Contents", [])
                if entry["Key"] != self._lease_key(upload_id)
            ]
            # The state last: if this fails half-way, the upload is still there to remove.
            keys.sort(key=lambda item: item["Key"] == self._state_key(upload_id))
            if keys:
                await self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                )

    # Single objects ---------------------------------------------------------------------

    async def _exists(self, key: str) -> bool:
        try:
            with mapped_errors(key):
                await self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except StoreError as error:
            if is_missing(error):
                return False
            raise
        return True

    async def _get(self, key: str) -> bytes:
        with mapped_errors(key):
            response = await self.client.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as stream:
                data: bytes = await stream.read()
        return data

    async def _put(self, key: str, data: bytes) -> None:
        with mapped_errors(key):
            await self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    async def _delete_quietly(self, key: str) -> None:
        try:
            await self.client.delete_object(Bucket=self.bucket, Key=key)
        except Exception:  # a leftover tail is removed with the upload
            log.warning("could not delete an old tail", extra={"key": key})


async def _read_body(body: AsyncIterator[bytes], room: int, checksum: PartChecksum | None) -> bytes:
    """The whole body, at most ``room`` bytes, checked against ``checksum``; nothing is kept
    on any failure, since nothing has been written yet."""
    hasher = hashlib.new(checksum.algorithm) if checksum is not None else None
    data = bytearray()
    async for chunk in body:
        if len(data) + len(chunk) > room:
            raise PartTooLarge(f"the body passes {room} bytes")
        if hasher is not None:
            hasher.update(chunk)
        data += chunk
    if checksum is not None and hasher is not None and hasher.digest() != checksum.digest:
        raise ChecksumMismatch(f"the body's {checksum.algorithm} is not the one sent")
    return bytes(data)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
