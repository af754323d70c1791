"""``GET|HEAD /download/{key}``: an object from the configured store, streamed with Range support.

Everything that can fail before the first byte is decided before ``http.response.start``:
the key is checked (400), the object stat-ed (404, 503, 502), preconditions and ranges
evaluated (304, 416), a response too large for Lambda refused (413) or redirected to S3
(307, big_objects.py), and for a GET the upstream body opened (a ranged read that is already
in flight). The body is then sent by :class:`ObjectResponse` (object_response.py), with
bounded memory, aborting the connection if the store fails after the headers went out.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.responses import Response

from streamway.http.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    if_range_matches,
    is_not_modified,
    parse_ranges,
)
from streamway.service.big_objects import cap_headers, s3_redirect, too_large
from streamway.service.errors import ApiError, error_responses
from streamway.service.failures import store_error
from streamway.service.object_headers import DIGEST_HEADER, representation_headers
from streamway.service.object_response import ObjectResponse
from streamway.service.services import Services, ServicesDep
from streamway.storage import ObjectInfo, StoreError
from streamway.storage.keys import check_object_key

router = APIRouter()


class AnyPathConvertor(PathConvertor):
    """Starlette's ``path``, but across line breaks: its ``.*`` stops at LF, so a file whose
    name holds one was listed and then could not be downloaded (404 "no route")."""

    regex = "(?s:.*)"


register_url_convertor("anypath", AnyPathConvertor())


_DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The object", "content": {"application/octet-stream": {}}},
    206: {"description": "One range of the object", "content": {"application/octet-stream": {}}},
    304: {"description": "Not modified (If-None-Match, If-Modified-Since)"},
    307: {
        "description": "The object is larger than STREAMWAY_S3_REDIRECT_OVER: fetch it from "
        "the presigned S3 URL in `Location` (a GET without Range only)"
    },
    **error_responses(400, 404, 413, 416, 422, 431, 502, 503),
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
async def download(key: str, request: Request, services: ServicesDep) -> Response:
    plain_get = request.method == "GET" and not any(
        name in request.headers for name in ("range", "if-none-match", "if-modified-since")
    )
    cap = services.max_response_bytes
    try:
        check_object_key(key)  # 400 unsafe, 404 not the object's one spelling (docs/downloads.md)
        # The common case: metadata and bytes from one upstream request. A redirect needs the
        # size before any read, so with redirects on every GET starts with a stat.
        if plain_get and services.s3_redirect_over is None:
            info, body = await services.store.get(key)
        else:
            info, body = await services.store.stat(key), None
    except StoreError as error:
        raise store_error(error, key) from None
    if body is None:
        return await _selected(request, services, key, info)
    if cap is not None and info.size > cap:
        await body.aclose()  # rare and refused: one aborted read beats a stat before every GET
        raise too_large(info, info.size, cap)
    headers = representation_headers(info)
    headers["content-length"] = str(info.size)
    return ObjectResponse(
        200,
        headers,
        body,
        expected_bytes=info.size,
        chunks_in_flight=services.download_chunks_in_flight,
        key=key,
    )


async def _selected(request: Request, services: Services, key: str, info: ObjectInfo) -> Response:
    """A conditional, ranged or HEAD request's answer: 304, 416, 307, 413 or what it selects."""
    cap = services.max_response_bytes
    headers = representation_headers(info) | cap_headers(info, cap)
    if is_not_modified(
        request.headers.get("if-none-match"),
        request.headers.get("if-modified-since"),
        info.etag,
        info.last_modified,
    ):
        kept = {"etag", "last-modified", DIGEST_HEADER}
        return ObjectResponse(304, {k: v for k, v in headers.items() if k in kept}, None)

    byte_range = _requested_range(request, info)
    if request.method == "GET" and "range" not in request.headers:
        # Never with Range: S3 would get the client's If-Range, which it may not honour.
        redirect = await _redirect(services, key, info, headers)
        if redirect is not None:
            return redirect
    status = 200 if byte_range is None else 206
    selected = byte_range or ByteRange(0, info.size)
    if request.method == "GET" and cap is not None and selected.length > cap:
        raise too_large(info, selected.length, cap)
    headers["content-length"] = str(selected.length)
    if byte_range is not None:
        headers["content-range"] = byte_range.content_range(info.size)
    if request.method == "HEAD" or selected.length == 0:
        return ObjectResponse(status, headers, None)

    try:
        body = await services.store.open(key, selected.start, selected.end, etag=info.etag)
    except StoreError as error:
        raise store_error(error, key) from None
    return ObjectResponse(
        status,
        headers,
        body,
        expected_bytes=selected.length,
        chunks_in_flight=services.download_chunks_in_flight,
        key=key,
    )


async def _redirect(
    services: Services, key: str, info: ObjectInfo, headers: dict[str, str]
) -> Response | None:
    try:
        return await s3_redirect(
            services.store,
            info,
            headers,
            over=services.s3_redirect_over,
            expiry_s=services.s3_redirect_expiry_s,
        )
    except StoreError as error:
        raise store_error(error, key) from None


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
