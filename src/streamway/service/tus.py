"""``/uploads``: a tus 1.0 server (resumable uploads) over the configured :class:`UploadStore`.

Written here rather than taken from a library: the tus servers for Python (tuspyserver and
the like) keep their own state on a local disk in their own layout, so none can write through
both our stores (a local directory, and an S3 multipart upload that another Lambda sandbox
continues); the protocol itself is a few headers (https://tus.io/protocols/resumable-upload).

Extensions: creation, creation-with-upload, creation-defer-length, termination, checksum
(sha1, sha256: 460 on a mismatch, and the part is not kept) and expiration. A PATCH body is
at most ``STREAMWAY_UPLOAD_PART_MAX_BYTES`` (below API Gateway's 10 MB): checked from
``Content-Length`` before reading, and while reading a chunked body. A body that breaks off
keeps nothing (the store's rule): the client resends that part from the offset HEAD gives.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from streamway.service.errors import ApiError, error_responses
from streamway.service.failures import store_error
from streamway.service.services import Services, ServicesDep
from streamway.storage.store import InvalidKey, StoreError
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
    UploadStore,
)

router = APIRouter()
log = logging.getLogger("streamway.uploads")

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration"
CHECKSUM_ALGORITHMS = {"sha1": 20, "sha256": 32}
OFFSET_TYPE = "application/offset+octet-stream"
#: Most bytes of Upload-Metadata decoded, and most pairs: bounded before any work.
MAX_METADATA_BYTES = 4096
MAX_METADATA_PAIRS = 32
_METADATA_KEY = re.compile(r"^[!#-+\--~]{1,64}$")  # printable ASCII without space or comma
_DIGITS = re.compile(r"^[0-9]{1,19}$")

# 422 is never sent (the id is any string); declaring it keeps FastAPI's own shape out.
_RESPONSES: dict[int | str, dict[str, Any]] = error_responses(
    400, 404, 409, 410, 412, 413, 415, 422, 502
)


def _tus_headers(**extra: str) -> dict[str, str]:
    return {"tus-resumable": TUS_VERSION, **extra}


def _refuse(status: int, code: str, message: str, **headers: str) -> ApiError:
    return ApiError(status, code, message, headers=_tus_headers(**headers))


def _uploads(services: Services) -> UploadStore:
    if services.uploads is None:
        raise _refuse(404, "uploads_off", "Uploads are off (STREAMWAY_UPLOADS, docs/uploads.md).")
    return services.uploads


def _check_resumable(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise _refuse(
            412,
            "tus_version",
            f"Send Tus-Resumable: {TUS_VERSION}.",
            **{"tus-version": TUS_VERSION},
        )


def _number(request: Request, name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    if not _DIGITS.match(value):
        raise _refuse(400, "bad_header", f"{name} must be a non-negative integer.")
    return int(value)


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: ``key base64,key2 base64``; values kept as sent (base64), checked.

    Linear and capped: the header is refused past MAX_METADATA_BYTES before it is split.
    """
    if not header:
        return {}
    if len(header) > MAX_METADATA_BYTES:
        raise _refuse(400, "bad_metadata", f"Upload-Metadata is over {MAX_METADATA_BYTES} bytes.")
    pairs = header.split(",")
    if len(pairs) > MAX_METADATA_PAIRS:
        raise _refuse(400, "bad_metadata", f"Upload-Metadata has over {MAX_METADATA_PAIRS} keys.")
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, _, value = pair.strip().partition(" ")
        if not _METADATA_KEY.match(key) or key in metadata or " " in value:
            raise _refuse(400, "bad_metadata", f"Upload-Metadata has a bad pair {pair[:80]!r}.")
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _refuse(400, "bad_metadata", f"Upload-Metadata's {key} is not base64.") from None
        metadata[key] = value
    return metadata


def _filename(metadata: dict[str, str]) -> str:
    encoded = metadata.get("filename")
    if encoded is None:
        raise _refuse(400, "bad_metadata", "Upload-Metadata needs a filename (the object key).")
    try:
        return base64.b64decode(encoded).decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(400, "invalid_key", "The filename is not UTF-8 text.") from None


def _checksum(request: Request) -> PartChecksum | None:
    header = request.headers.get("upload-checksum")
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    size = CHECKSUM_ALGORITHMS.get(algorithm)
    if size is None:
        raise _refuse(400, "bad_checksum", f"Upload-Checksum: {algorithm[:16]!r} is not supported.")
    try:
        digest = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != size:
        raise _refuse(400, "bad_checksum", f"Upload-Checksum's {algorithm} digest is malformed.")
    return PartChecksum(algorithm, digest)


def _expires_header(info: UploadInfo) -> str:
    return format_datetime(info.expires.astimezone(UTC), usegmt=True)


def _store_refusal(error: StoreError, upload_id: str | None = None) -> ApiError:
    """The status of an upload store's error (item 6 of issue 22)."""
    headers = _tus_headers()
    if isinstance(error, UploadNotFound):
        return ApiError(404, "upload_not_found", "No such upload.", headers=headers)
    if isinstance(error, UploadExpired):
        return ApiError(410, "upload_expired", "The upload has expired.", headers=headers)
    if isinstance(error, UploadBusy):
        return ApiError(409, "upload_busy", "Another PATCH to this upload runs.", headers=headers)
    if isinstance(error, OffsetMismatch):
        return ApiError(409, "offset_mismatch", str(error), headers=headers, offset=error.expected)
    if isinstance(error, PartTooLarge):
        return ApiError(413, "part_too_large", str(error), headers=headers)
    if isinstance(error, ChecksumMismatch):
        return ApiError(460, "checksum_mismatch", str(error), headers=headers)
    if isinstance(error, LengthConflict):
        return ApiError(400, "length_conflict", str(error), headers=headers)
    if isinstance(error, ObjectExists):
        return ApiError(409, "object_exists", f"{error} already exists.", headers=headers)
    if isinstance(error, InvalidKey):
        return ApiError(
            400, "invalid_key", f"The filename is not allowed: {error}.", headers=headers
        )
    refusal = store_error(error, upload_id or "")
    refusal.headers.update(headers)
    return refusal


def _options_headers(services: Services) -> dict[str, str]:
    return _tus_headers(
        **{
            "tus-version": TUS_VERSION,
            "tus-extension": EXTENSIONS,
            "tus-max-size": str(services.upload_max_bytes),
            "tus-checksum-algorithm": ",".join(CHECKSUM_ALGORITHMS),
            "x-streamway-upload-part-max-bytes": str(services.upload_part_max_bytes),
        }
    )


@router.options(
    "/uploads",
    summary="The tus server's version, extensions and limits",
    status_code=204,
    response_class=Response,
    responses=error_responses(404, 422),
)
@router.options(
    "/uploads/{upload_id}",
    summary="The tus server's version, extensions and limits",
    status_code=204,
    response_class=Response,
    responses=error_responses(404, 422),
)
async def tus_options(services: ServicesDep) -> Response:
    _uploads(services)
    return Response(status_code=204, headers=_options_headers(services))


async def _body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body, refused (PartTooLarge) as soon as it passes ``limit`` bytes."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise PartTooLarge(f"the body passes STREAMWAY_UPLOAD_PART_MAX_BYTES ({limit})")
        yield chunk


class _ClientLeft(Response):
    """What a request whose client left mid-body answers: nothing, there is no one to send it
    to (uvicorn stays quiet for a client it saw go; the access line has status 0, outcome
    ``cancelled``). The store kept nothing of the body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


def _broke_off(upload_id: str) -> Response:
    log.info("client left mid-part: nothing of it kept", extra={"upload_id": upload_id})
    return _ClientLeft()


def _check_part(request: Request, services: Services) -> None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != OFFSET_TYPE:
        raise _refuse(415, "unsupported_media_type", f"A PATCH body must be {OFFSET_TYPE}.")
    length = _number(request, "content-length")
    if length is not None and length > services.upload_part_max_bytes:
        raise _refuse(
            413,
            "part_too_large",
            f"A PATCH body may have {services.upload_part_max_bytes} bytes at most.",
        )


@router.post(
    "/uploads",
    summary="Create an upload (tus creation, creation-with-upload, creation-defer-length)",
    status_code=201,
    response_class=Response,
    responses=_RESPONSES,
)
async def tus_create(request: Request, services: ServicesDep) -> Response:
    store = _uploads(services)
    _check_resumable(request)
    length = _number(request, "upload-length")
    deferred = request.headers.get("upload-defer-length")
    if (length is None) == (deferred is None) or (deferred is not None and deferred != "1"):
        raise _refuse(400, "bad_length", "Send Upload-Length, or Upload-Defer-Length: 1.")
    if length is not None and length > services.upload_max_bytes:
        raise _refuse(413, "upload_too_large", f"Tus-Max-Size is {services.upload_max_bytes}.")
    with_body = _number(request, "content-length") or "transfer-encoding" in request.headers
    if with_body:
        _check_part(request, services)
    metadata = parse_metadata(request.headers.get("upload-metadata"))
    key = _filename(metadata)
    expires = datetime.now(UTC) + timedelta(seconds=services.upload_expiry_s)
    checksum = _checksum(request) if with_body else None
    try:
        info = await store.create(
            key, length, metadata=metadata, expires=expires, overwrite=services.upload_overwrite
        )
    except StoreError as error:
        raise _store_refusal(error) from None
    if with_body or info.complete:  # an empty upload is published by an empty append
        try:
            info = await store.append(
                info.upload_id,
                0,
                _body(request, services.upload_part_max_bytes),
                max_bytes=services.upload_part_max_bytes,
                checksum=checksum,
            )
        except (StoreError, ClientDisconnect) as error:
            # The client never learns this upload's URL: remove it rather than leave it
            # to the expiry sweep.
            with suppress(StoreError):
                await store.terminate(info.upload_id)
            if isinstance(error, ClientDisconnect):
                return _broke_off(info.upload_id)
            raise _store_refusal(error) from None
    location = str(request.url_for("tus_head", upload_id=info.upload_id))
    headers = _tus_headers(location=location, **{"upload-offset": str(info.offset)})
    if not info.complete:
        headers["upload-expires"] = _expires_header(info)
    return Response(status_code=201, headers=headers)


@router.head(
    "/uploads/{upload_id}",
    summary="An upload's offset, length and metadata",
    response_class=Response,
    responses=_RESPONSES,
)
async def tus_head(upload_id: str, request: Request, services: ServicesDep) -> Response:
    store = _uploads(services)
    _check_resumable(request)
    try:
        info = await store.info(upload_id)
    except StoreError as error:
        raise _store_refusal(error, upload_id) from None
    headers = _tus_headers(
        **{
            "upload-offset": str(info.offset),
            "cache-control": "no-store",
            "upload-expires": _expires_header(info),
        }
    )
    if info.length is None:
        headers["upload-defer-length"] = "1"
    else:
        headers["upload-length"] = str(info.length)
    if info.metadata:
        headers["upload-metadata"] = ",".join(f"{k} {v}" for k, v in info.metadata.items())
    return Response(status_code=200, headers=headers)


@router.patch(
    "/uploads/{upload_id}",
    summary="Append a part at Upload-Offset (tus core, checksum)",
    status_code=204,
    response_class=Response,
    responses={**_RESPONSES, 460: {"description": "Checksum mismatch: the part was not kept"}},
)
async def tus_patch(upload_id: str, request: Request, services: ServicesDep) -> Response:
    store = _uploads(services)
    _check_resumable(request)
    _check_part(request, services)
    offset = _number(request, "upload-offset")
    if offset is None:
        raise _refuse(400, "bad_header", "A PATCH needs Upload-Offset.")
    length = _number(request, "upload-length")
    if length is not None and length > services.upload_max_bytes:
        raise _refuse(413, "upload_too_large", f"Tus-Max-Size is {services.upload_max_bytes}.")
    checksum = _checksum(request)
    try:
        if length is not None:
            info = await store.info(upload_id)
            if info.length is None:
                await store.declare_length(upload_id, length)
            elif info.length != length:
                raise LengthConflict(f"the upload's length is {info.length}")
        info = await store.append(
            upload_id,
            offset,
            _body(request, services.upload_part_max_bytes),
            max_bytes=services.upload_part_max_bytes,
            checksum=checksum,
        )
    except StoreError as error:
        raise _store_refusal(error, upload_id) from None
    except ClientDisconnect:
        return _broke_off(upload_id)
    headers = _tus_headers(**{"upload-offset": str(info.offset)})
    if not info.complete:
        headers["upload-expires"] = _expires_header(info)
    return Response(status_code=204, headers=headers)


@router.delete(
    "/uploads/{upload_id}",
    summary="Terminate an upload: every byte of it is removed (tus termination)",
    status_code=204,
    response_class=Response,
    responses=_RESPONSES,
)
async def tus_delete(upload_id: str, request: Request, services: ServicesDep) -> Response:
    store = _uploads(services)
    _check_resumable(request)
    try:
        await store.terminate(upload_id)
    except StoreError as error:
        raise _store_refusal(error, upload_id) from None
    return Response(status_code=204, headers=_tus_headers())
