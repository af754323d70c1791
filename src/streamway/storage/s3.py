"""Objects from S3 or any S3-compatible endpoint, through one aiobotocore client per process.

``stat`` is ``HeadObject`` (with ``ChecksumMode=ENABLED``, so a full-object SHA-256 stored with
the object comes back). An object S3 gives no full-object SHA-256 for (a multipart upload's
checksum is a checksum of checksums) may carry it in the ``streamway-sha256`` tag, which
s3_uploads.py sets: when HeadObject or GetObject says the object has tags, one
``GetObjectTagging`` reads it. Unfinished uploads under ``.uploads/`` are neither listed nor
served. ``get`` is one unranged ``GetObject`` whose response headers give the
metadata, so a plain download costs one request, not two. ``open`` is a ranged ``GetObject``
with ``If-Match`` on the ETag from ``stat``, so an object replaced in between fails instead
of mixing two versions. A body closed before its end closes its HTTP connection rather than
returning it to the pool half-read. ``list`` is one ``ListObjectsV2`` per page, with
``StartAfter`` the cursor (the last key of the previous page). ``presigned_get`` signs a
``GetObject`` URL locally, for redirecting a client to S3 itself.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from streamway.storage.keys import check_key, is_canonical
from streamway.storage.local import UPLOADS_DIR
from streamway.storage.s3_errors import http_status, mapped_errors
from streamway.storage.store import (
    InvalidKey,
    ObjectBody,
    ObjectInfo,
    ObjectNotFound,
    ObjectPage,
    StoreFailed,
)

#: Seconds to wait for a connection, and for each read from an open one.
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60
#: One retry for connection errors: a store that is down should become a 503 quickly.
MAX_ATTEMPTS = 2
#: S3's default type for objects uploaded without one; it says nothing, so the name decides.
_S3_DEFAULT_TYPES = {"binary/octet-stream", "application/octet-stream"}
#: The object tag holding the SHA-256 (hex) of an object uploaded by s3_uploads.py.
SHA256_TAG = "streamway-sha256"


class S3Store:
    """Keys under ``s3://bucket/prefix``; one aiobotocore client, created by :meth:`connect`."""

    def __init__(self, client: Any, bucket: str, prefix: str, *, chunk_size: int) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.chunk_size = chunk_size
        self._exit_stack = AsyncExitStack()

    def __repr__(self) -> str:
        return f"S3Store('s3://{self.bucket}/{self.prefix}')"

    @classmethod
    async def connect(
        cls,
        bucket: str,
        prefix: str,
        *,
        endpoint_url: str | None,
        region: str | None,
        max_connections: int,
        chunk_size: int,
    ) -> S3Store:
        config = AioConfig(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            max_pool_connections=max_connections,
            # Path style works with every S3-compatible server; AWS endpoints still get
            # virtual-hosted style when no endpoint is configured.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            # Presigned URLs default to SigV2, which S3 is retiring and newer Regions refuse.
            signature_version="s3v4",
        )
        exit_stack = AsyncExitStack()
        client = await exit_stack.enter_async_context(
            get_session().create_client(
                "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", config=config
            )
        )
        store = cls(client, bucket, prefix, chunk_size=chunk_size)
        store._exit_stack = exit_stack
        return store

    async def aclose(self) -> None:
        await self._exit_stack.aclose()

    async def stat(self, key: str) -> ObjectInfo:
        head = await self._object_call(
            key, self.client.head_object, Key=self.prefix + key, ChecksumMode="ENABLED"
        )
        return await self._tagged_sha256(_info(key, head), head)

    async def get(self, key: str) -> tuple[ObjectInfo, ObjectBody]:
        response = await self._object_call(
            key, self.client.get_object, Key=self.prefix + key, ChecksumMode="ENABLED"
        )
        try:
            info = await self._tagged_sha256(_info(key, response), response)
        except BaseException:
            response["Body"].close()
            raise
        verify = info.sha256 is not None
        return info, S3Body(
            response["Body"], info.size, self.chunk_size, key=key, verify_end=verify
        )

    async def open(self, key: str, start: int, end: int, *, etag: str | None = None) -> ObjectBody:
        request: dict[str, Any] = {"Key": self.prefix + key}
        if end > start:
            request["Range"] = f"bytes={start}-{end - 1}"
        if etag is not None:
            request["IfMatch"] = etag
        response = await self._object_call(key, self.client.get_object, **request)
        return S3Body(response["Body"], end - start, self.chunk_size, key=key)

    async def presigned_get(
        self, key: str, *, expires_s: int, content_type: str, content_disposition: str
    ) -> str:
        """A ``GetObject`` URL for ``key`` signed with the client's credentials, no request made.

        S3 answers it with ``content_type`` and ``content_disposition`` in place of the stored
        ones (the ``response-content-*`` overrides), so a client that follows it gets the
        same name and type as from the service. It is valid for ``expires_s`` or until the
        signing credentials expire, whichever comes first (a role's session credentials).
        """
        with mapped_errors(key):  # no credentials to sign with: a store failure (502)
            url: str = await self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.prefix + key,
                    "ResponseContentType": content_type,
                    "ResponseContentDisposition": content_disposition,
                },
                ExpiresIn=expires_s,
            )
        return url

    async def _tagged_sha256(self, info: ObjectInfo, response: dict[str, Any]) -> ObjectInfo:
        """``info`` with the SHA-256 of the ``streamway-sha256`` tag, when S3 had none.

        The tag is read only when the response counts tags, so objects without any cost no
        extra request; a tag that cannot be read or is malformed leaves the digest unknown.
        """
        if info.sha256 is not None or not response.get("TagCount"):
            return info
        try:
            tagging = await self.client.get_object_tagging(
                Bucket=self.bucket, Key=self.prefix + info.key
            )
        except Exception:  # refused (no s3:GetObjectTagging) or failed: no digest, no error
            return info
        for tag in tagging.get("TagSet", []):
            if tag.get("Key") == SHA256_TAG:
                try:
                    digest = bytes.fromhex(tag.get("Value", ""))
                except ValueError:
                    return info
                if len(digest) == 32:
                    return replace(info, sha256=digest)
        return info

    async def _object_call(
        self, key: str, call: Callable[..., Awaitable[Any]], **request: Any
    ) -> Any:
        """``HeadObject`` or ``GetObject`` with the store's errors, and a 403 told apart.

        S3 answers a missing key with 403, not 404, when the caller may not list the bucket
        (the GetObject and HeadObject references). The deployed role may list only under
        its prefix (an ``s3:prefix`` condition, which the check for a missing key does not
        meet), so a 403 is followed by one ``ListObjectsV2`` of exactly that key: absent
        means 404; present, or the listing refused, leaves the 403 a real refusal (502).
        """
        if key.split("/", 1)[0] == UPLOADS_DIR:
            raise ObjectNotFound(key)  # an unfinished upload's state (s3_uploads.py)
        try:
            with mapped_errors(key):
                return await call(Bucket=self.bucket, **request)
        except StoreFailed as failure:
            refusal = failure.__cause__
            if (
                isinstance(refusal, ClientError)
                and http_status(refusal) == 403
                and await self._absent(key)
            ):
                raise ObjectNotFound(key) from refusal
            raise

    async def _absent(self, key: str) -> bool:
        """Whether a listing says ``key`` does not exist; False when it cannot tell."""
        full_key = self.prefix + key
        try:
            listing = await self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=full_key, MaxKeys=1
            )
        except Exception:  # refused or failed: the original 403 stands
            return False
        contents = listing.get("Contents", [])
        # The key itself sorts first among the keys it prefixes, so one entry settles it.
        return not contents or contents[0]["Key"] != full_key

    async def list(self, prefix: str = "", *, cursor: str | None, limit: int) -> ObjectPage:
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self.prefix + prefix,
            "MaxKeys": limit,
        }
        if cursor is not None:
            request["StartAfter"] = self.prefix + cursor
        with mapped_errors(prefix):
            response = await self.client.list_objects_v2(**request)
        contents = response.get("Contents", [])
        items = [
            ObjectInfo(
                key=key,
                size=int(entry["Size"]),
                etag=entry["ETag"],
                last_modified=entry["LastModified"],
            )
            for entry in contents
            if _servable(key := entry["Key"].removeprefix(self.prefix))
        ]
        more = response.get("IsTruncated", False) and contents
        return ObjectPage(items, contents[-1]["Key"].removeprefix(self.prefix) if more else None)


def _servable(key: str) -> bool:
    # "folder/" markers that consoles create are not objects anyone downloads; nor are keys
    # that are not canonical ("a//b", "./a"), which downloads answer 404.
    if not is_canonical(key) or key.split("/", 1)[0] == UPLOADS_DIR:
        return False
    try:
        check_key(key)
    except InvalidKey:
        return False
    return True


class S3Body:
    """A ``GetObject`` body read in chunks of at most ``chunk_size`` bytes."""

    # aiohttp keeps receiving while we send, up to twice the requested read size, then
    # stops reading the socket (TCP flow control reaches S3): read-ahead with a fixed bound.
    reads_ahead = True

    def __init__(
        self, stream: Any, length: int, chunk_size: int, *, key: str, verify_end: bool = False
    ) -> None:
        self._stream = stream
        self._remaining = length
        self._verify_end = verify_end
        self._chunk_size = chunk_size
        self._key = key
        self._closed = False

    def __aiter__(self) -> S3Body:
        return self

    async def __anext__(self) -> bytes:
        if self._closed or self._remaining <= 0:
            raise StopAsyncIteration
        # Whatever aiohttp has received, up to a chunk: gathering exactly chunk_size bytes
        # would cost a copy and measured slower (bench/downloads.py).
        try:
            chunk: bytes = await self._stream.read(min(self._chunk_size, self._remaining))
        except Exception as error:  # botocore, aiohttp or socket: mid-body, all are failures
            raise StoreFailed(f"reading {self._key!r} from S3 failed: {error}") from error
        if not chunk:
            raise StoreFailed(f"S3 ended {self._key!r} {self._remaining} bytes early")
        self._remaining -= len(chunk)
        if self._remaining == 0 and self._verify_end:
            await self._check_end()
        return chunk

    async def _check_end(self) -> None:
        """Reads past the last byte before handing the last chunk over.

        botocore checks a response's ``x-amz-checksum-sha256`` only when a read returns
        nothing (``StreamingChecksumBody``): stopping at ``Content-Length`` would skip the
        check. Holding the last chunk until then means a corrupted object never arrives
        complete: the response is aborted instead.
        """
        try:
            extra = await self._stream.read(1)
        except Exception as error:  # botocore's FlexibleChecksumError, or the socket
            raise StoreFailed(f"{self._key!r} from S3 failed its check: {error}") from error
        if extra:
            raise StoreFailed(f"S3 sent more of {self._key!r} than its Content-Length")

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            # Closes the connection (not released to the pool) if the body was not read to
            # its end, so an aborted download never leaves a half-read socket behind.
            self._stream.close()


def _info(key: str, metadata: dict[str, Any]) -> ObjectInfo:
    """ObjectInfo from HeadObject's, or an unranged GetObject's, response."""
    content_type = metadata.get("ContentType")
    return ObjectInfo(
        key=key,
        size=int(metadata["ContentLength"]),
        etag=metadata["ETag"],
        last_modified=metadata["LastModified"],
        content_type=None if content_type in _S3_DEFAULT_TYPES else content_type,
        sha256=_full_object_sha256(metadata),
    )


def _full_object_sha256(head: dict[str, Any]) -> bytes | None:
    # Multipart uploads may carry a checksum of checksums ("...-N", type COMPOSITE): not the
    # SHA-256 of the bytes, so it cannot verify a download.
    value = head.get("ChecksumSHA256")
    if not value or "-" in value or head.get("ChecksumType") == "COMPOSITE":
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest if len(digest) == 32 else None
