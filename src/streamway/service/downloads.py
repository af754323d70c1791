"""``GET|HEAD /download/{key}``: an object from the configured store, streamed with Range support.

Everything that can fail before the first byte is decided before ``http.response.start``:
the key is checked (400), the object stat-ed (404, 503, 502), preconditions and ranges
evaluated (304, 416), and for a GET the upstream body opened (a ranged read that is already
in flight). After the headers went out, a store failure aborts the connection
(:class:`StreamAborted`), so the client sees a failed transfer, never a short "success".

Memory is bounded per download: a reader task fills a queue of at most
``download_chunks_in_flight`` chunks and the sender drains it through ASGI ``send()``, which
blocks while the client is slow (uvicorn's backpressure). Bodies that already read ahead
within a bound (S3: aiohttp's receive buffer) are read by the sender directly. A disconnect
cancels both and closes the upstream body at once.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import mimetypes
import re
from contextlib import suppress
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from streamway.config import Settings
from streamway.http.content_disposition import content_disposition
from streamway.http.disconnect import ClientGone, send_or_gone, until_disconnect
from streamway.http.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    format_http_date,
    if_range_matches,
    is_not_modified,
    parse_ranges,
)
from streamway.service.errors import ApiError, StreamAborted, error_responses
from streamway.storage import (
    InvalidKey,
    ObjectBody,
    ObjectChanged,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StoreError,
    StoreUnavailable,
)
from streamway.storage.keys import check_object_key

log = logging.getLogger("streamway.downloads")

router = APIRouter()


class AnyPathConvertor(PathConvertor):
    """Starlette's ``path``, but across line breaks: its ``.*`` stops at LF, so a file whose
    name holds one was listed and then could not be downloaded (404 "no route")."""

    regex = "(?s:.*)"


register_url_convertor("anypath", AnyPathConvertor())

#: The checksum header (RFC 9530): SHA-256 of the whole object, on 200, 206 and HEAD alike.
DIGEST_HEADER = "repr-digest"


_DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The object", "content": {"application/octet-stream": {}}},
    206: {"description": "One range of the object", "content": {"application/octet-stream": {}}},
    304: {"description": "Not modified (If-None-Match, If-Modified-Since)"},
    **error_responses(400, 404, 416, 422, 431, 502, 503),
}


# GET and HEAD as two routes, not one api_route: one operation id each in the OpenAPI document.
@router.get(
    "/download/{key:anypath}",
    summary="Download an object from the configured store (Range, If-Range, If-None-Match)",
    response_class=Response,
    responses=_DOWNLOAD_RESPONSES,
)
@router.head(
    "/download/{key:anypath}",
    summary="An object's headers, from its metadata only",
    response_class=Response,
    responses=_DOWNLOAD_RESPONSES,
)
async def download(key: str, request: Request) -> Response:
    store: ObjectStore = request.app.state.object_store
    settings: Settings = request.app.state.settings
    plain_get = request.method == "GET" and not any(
        name in request.headers for name in ("range", "if-none-match", "if-modified-since")
    )
    try:
        check_object_key(key)  # 400 unsafe, 404 not the object's one spelling (docs/downloads.md)
        if plain_get:  # the common case: metadata and bytes from one upstream request
            info, body = await store.get(key)
        else:
            info, body = await store.stat(key), None
    except StoreError as error:
        raise api_error_for(error, key) from None
    if body is not None:
        headers = _representation_headers(info)
        headers["content-length"] = str(info.size)
        return ObjectResponse(
            200,
            headers,
            body,
            expected_bytes=info.size,
            chunks_in_flight=settings.store.download_chunks_in_flight,
            key=key,
        )

    headers = _representation_headers(info)
    if is_not_modified(
        request.headers.get("if-none-match"),
        request.headers.get("if-modified-since"),
        info.etag,
        info.last_modified,
    ):
        kept = {"etag", "last-modified", DIGEST_HEADER}
        return ObjectResponse(304, {k: v for k, v in headers.items() if k in kept}, None)

    byte_range = _requested_range(request, info)
    status = 200 if byte_range is None else 206
    selected = byte_range or ByteRange(0, info.size)
    headers["content-length"] = str(selected.length)
    if byte_range is not None:
        headers["content-range"] = byte_range.content_range(info.size)
    if request.method == "HEAD" or selected.length == 0:
        return ObjectResponse(status, headers, None)

    try:
        body = await store.open(key, selected.start, selected.end, etag=info.etag)
    except StoreError as error:
        raise api_error_for(error, key) from None
    return ObjectResponse(
        status,
        headers,
        body,
        expected_bytes=selected.length,
        chunks_in_flight=settings.store.download_chunks_in_flight,
        key=key,
    )


def _representation_headers(info: ObjectInfo) -> dict[str, str]:
    filename = info.key.rsplit("/", 1)[-1]
    headers = {
        "content-type": safe_media_type(info.content_type) or guess_content_type(filename),
        "accept-ranges": "bytes",
        "etag": info.etag,
        "last-modified": format_http_date(info.last_modified),
        "content-disposition": content_disposition(filename),
    }
    if info.sha256 is not None:
        headers[DIGEST_HEADER] = f"sha-256=:{base64.b64encode(info.sha256).decode()}:"
    return headers


#: A media type with parameters, in printable ASCII: what a Content-Type header can carry.
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ -~]*)")


def safe_media_type(value: str | None) -> str | None:
    """``value`` if it can go out as a Content-Type header, else None (guess from the name).

    An object's stored type is whatever its uploader sent: S3 keeps a type with non-Latin-1
    characters, which no HTTP header can carry (encoding it failed the download with a 500).
    """
    if value is None or _MEDIA_TYPE.fullmatch(value) is None:
        return None
    return value


def guess_content_type(filename: str) -> str:
    """A media type from the name, for stores that keep none (and for listings)."""
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


def _requested_range(request: Request, info: ObjectInfo) -> ByteRange | None:
    """The one range to serve, or None for the whole object (see docs/downloads.md)."""
    header = request.headers.get("range")
    if header is None or info.size == 0:
        return None
    if not if_range_matches(request.headers.get("if-range"), info.etag, info.last_modified):
        return None  # the client's copy is another version: send this one whole
    try:
        ranges = parse_ranges(header, info.size)
    except RangeNotSatisfiable as error:
        raise ApiError(
            416,
            "range_not_satisfiable",
            f"The object has {info.size} bytes; the requested range is outside it.",
            headers={"content-range": error.content_range, "accept-ranges": "bytes"},
            size=info.size,
        ) from None
    # Several ranges are answered with the whole object (200), which RFC 9110 allows: no
    # download client asks for them, and each would cost a ranged read upstream.
    if ranges is None or len(ranges) != 1:
        return None
    return ranges[0]


def api_error_for(error: StoreError, key: str) -> ApiError:
    """The JSON error a store failure is answered with (also used by the object listing)."""
    if isinstance(error, InvalidKey):
        return ApiError(400, "invalid_key", f"The key is not allowed: {error}.")
    if isinstance(error, ObjectNotFound):
        return ApiError(404, "not_found", f"No object has the key {key!r}.", key=key)
    if isinstance(error, StoreUnavailable):
        log.error("store unavailable", extra={"key": key, "error": str(error)})
        return ApiError(
            503, "store_unavailable", f"The object store cannot be reached: {error}", retry=True
        )
    if isinstance(error, ObjectChanged):
        return ApiError(
            503,
            "object_changed",
            "The object was replaced while the request was served; try again.",
            retry=True,
        )
    log.error("store failed", extra={"key": key, "error": str(error)})
    return ApiError(502, "store_failed", f"The object store failed: {error}")


_END = object()


class ObjectResponse(Response):
    """A pure ASGI response for an object body; owns the body and closes it in every case."""

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        body: ObjectBody | None,
        *,
        expected_bytes: int = 0,
        chunks_in_flight: int = 2,
        key: str = "",
    ) -> None:
        # Response.__init__ is skipped on purpose: there is no body to render up front.
        self.status_code = status
        self.background = None
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.body_source = body
        self.expected_bytes = expected_bytes
        self.chunks_in_flight = chunks_in_flight
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.body_source
        try:
            start = {"type": "http.response.start", "status": self.status_code}
            if body is None:
                await send({**start, "headers": self.raw_headers})
                await send({"type": "http.response.body", "body": b""})
                return
            await self._stream(body, receive, send, {**start, "headers": self.raw_headers})
        finally:
            if body is not None:
                await body.aclose()

    async def _stream(
        self, body: ObjectBody, receive: Receive, send: Send, start: dict[str, Any]
    ) -> None:
        try:
            await until_disconnect(self._send_all(body, send, start), receive)
        except ClientGone:
            log.info("client disconnected mid-download", extra={"key": self.key})

    async def _send_all(self, body: ObjectBody, send: Send, start: dict[str, Any]) -> None:
        queue: asyncio.Queue[object] = asyncio.Queue(self.chunks_in_flight)
        # A body that buffers by itself is read in line: a second task would only add a
        # hand-off per chunk (measured: about 10% of the S3 path's CPU).
        reader = None if body.reads_ahead else asyncio.create_task(_read_into(body, queue))
        next_item = queue.get if reader is not None else partial(_next_or_error, body)
        sent = 0
        try:
            await send(start)
            while (item := await next_item()) is not _END:
                if isinstance(item, BaseException):
                    log.error(
                        "store failed mid-download; aborting the connection",
                        exc_info=item,
                        extra={"key": self.key, "bytes_sent": sent},
                    )
                    raise StreamAborted(f"the store failed after {sent} bytes") from item
                assert isinstance(item, bytes)
                await send_or_gone(
                    send, {"type": "http.response.body", "body": item, "more_body": True}
                )
                sent += len(item)
            if sent != self.expected_bytes:
                log.error(
                    "store ended early; aborting the connection",
                    extra={"key": self.key, "bytes_sent": sent, "expected": self.expected_bytes},
                )
                raise StreamAborted(f"the store ended after {sent} of {self.expected_bytes}")
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if reader is not None:
                reader.cancel()
                with suppress(asyncio.CancelledError):
                    await reader


async def _read_into(body: ObjectBody, queue: asyncio.Queue[object]) -> None:
    """Reads ahead of the sender, at most ``queue.maxsize`` chunks; failures go in the queue."""
    try:
        async for chunk in body:
            await queue.put(chunk)
    except Exception as error:
        await queue.put(error)
        return
    await queue.put(_END)


async def _next_or_error(body: ObjectBody) -> object:
    """The next chunk; the end as ``_END``; a store failure as the exception, not raised."""
    try:
        return await anext(body)
    except StopAsyncIteration:
        return _END
    except Exception as error:
        return error
