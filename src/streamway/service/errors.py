"""Every error the service answers is JSON of one shape, with a status code that fits.

``{"error": {"code": "...", "message": "...", "request_id": "..."}}`` plus optional details
(``field`` for validation errors). Routes raise :class:`ApiError`; the handlers installed by
:func:`install_error_handlers` also reshape FastAPI's and Starlette's own errors (404, 405,
request validation) so a client never has to parse two formats.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from streamway.logs import AlreadyLogged, request_id_var

log = logging.getLogger("streamway.errors")


class ApiError(Exception):
    """An error a client caused or must know about, answered before any body was sent."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.details = details


class StreamAborted(AlreadyLogged):
    """Raised after the response started, so the server drops the connection mid-body.

    Whoever raises it has logged the failure with the request id first (hence
    :class:`~streamway.logs.AlreadyLogged`: uvicorn's own traceback line is dropped).

    An ASGI app cannot "un-send" a 200; the only honest signal left is to never send the
    final chunk. uvicorn closes the connection when an app raises after
    ``http.response.start``, so curl reports error 18 and browsers mark the transfer failed.
    The native Lambda runtime turns the same exception into error trailers.
    """


class ErrorDetail(BaseModel):
    """What went wrong; routes add details of their own (``field``, ``limit_bytes``...)."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    request_id: str | None = None


class ErrorResponse(BaseModel):
    """The body of every error: ``{"error": {"code": ..., "message": ..., ...}}``."""

    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Bad request: malformed JSON, an unsafe key, a Host not allowed",
    404: "No such route, object or resumable answer",
    409: "The session is answering another request; an upload's offset or state conflicts",
    410: "The upload has expired, or a resume asked for events no longer held",
    412: "The tus version (Tus-Resumable) is missing or not supported",
    413: "The body or the prompt is too large, or the response (on Lambda: use Range)",
    415: "A PATCH body that is not application/offset+octet-stream",
    416: "No requested range is within the object",
    422: "A field is missing or has the wrong type",
    431: "A header, or the request head, is too large",
    502: "The model or the object store failed",
    503: "Busy or unavailable: retry later",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these statuses, each with :class:`ErrorResponse`.

    Declaring 422 also keeps FastAPI from documenting its own validation error shape, which
    the handlers below never send.
    """
    return {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]}
        for status in statuses
    }


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, **details}
    request_id = request_id_var.get()
    if request_id is not None:
        error["request_id"] = request_id
    return {"error": error}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, **error.details),
        status_code=error.status,
        headers=error.headers,
    )


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    log.info("request refused", extra={"status": exc.status, "code": exc.code})
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = f"No route for {request.method} {request.url.path}."
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail)
    return error_response(ApiError(exc.status_code, code, message, headers=exc.headers))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"] if part != "body")
    return error_response(ApiError(422, "invalid_field", f"{field}: {first['msg']}", field=field))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
