"""How an object too big for one response is fetched: Lambda's cap, and S3 redirects.

On Lambda one streamed response carries at most 200 MiB, its prelude included, and a stream
that goes past it is cut mid-body. So when the service runs as a function, an object larger
than :data:`MAX_RESPONSE_BYTES` carries :data:`MAX_RESPONSE_HEADER` on HEAD, 200 and 206,
and a GET that would send more than that in one response is refused with 413 before the
status line goes out: the client learns to ask for ranges instead of receiving a truncated
file. Off Lambda (``streamway serve``, a container) no cap applies and nothing is added.

With ``STREAMWAY_S3_REDIRECT_OVER`` and an S3 store, a GET without ``Range`` of an object
larger than that is answered with 307 to a presigned ``GetObject`` URL, so the bytes go
from S3 to the client directly; see docs/downloads.md for when to use which.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from starlette.responses import Response

from streamway.aws_contract import LAMBDA_MAX_STREAMED_RESPONSE_BYTES, PRELUDE_MAX_BYTES
from streamway.config import StoreSettings
from streamway.service.errors import ApiError
from streamway.storage import ObjectInfo, ObjectStore, S3Store

log = logging.getLogger("streamway.downloads")

#: Sent with an object larger than one response can carry: the most body bytes one response
#: (a whole object or one range) may hold, so a client fetches it in ranges of at most this.
MAX_RESPONSE_HEADER = "x-streamway-max-response-bytes"

#: The body bytes one streamed response can carry on Lambda: the 200 MiB cap counts the
#: prelude (status and headers as JSON, then 8 NULs), which the runtime keeps within 16 KiB.
MAX_RESPONSE_BYTES = LAMBDA_MAX_STREAMED_RESPONSE_BYTES - PRELUDE_MAX_BYTES


def response_cap() -> int | None:
    """The most body bytes one response may carry in this process; None when unlimited.

    Lambda sets ``AWS_LAMBDA_FUNCTION_NAME`` for every runtime: the native one, Lambda Web
    Adapter (whose requests carry no ``aws.context``, so the scope could not tell) and
    ``streamway local``'s functions.
    """
    return MAX_RESPONSE_BYTES if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else None


def cap_headers(info: ObjectInfo, cap: int | None) -> dict[str, str]:
    """:data:`MAX_RESPONSE_HEADER` when ``info`` is larger than one response can carry."""
    if cap is None or info.size <= cap:
        return {}
    return {MAX_RESPONSE_HEADER: str(cap)}


def too_large(info: ObjectInfo, length: int, cap: int) -> ApiError:
    """The 413 for a GET whose one response would carry more than ``cap`` bytes.

    413 rather than 416: 416 answers a Range outside the object, and resuming clients read
    it as "your copy is complete"; a 5xx would invite retrying the same request. 413 is a
    client error that says "too large", the status Lambda itself gives a response over its
    cap (``Function.ResponseSizeTooLarge``), and the body says what to do instead.
    """
    return ApiError(
        413,
        "response_too_large",
        f"{length} bytes are more than one response can carry here ({cap} bytes, Lambda's "
        f"streamed response cap); fetch the object ({info.size} bytes) in ranges of at most "
        f"{cap} bytes, e.g. `Range: bytes=0-{cap - 1}`.",
        headers={MAX_RESPONSE_HEADER: str(cap), "accept-ranges": "bytes"},
        size=info.size,
        max_response_bytes=cap,
    )


def redirect_over(settings: StoreSettings, store: ObjectStore) -> int | None:
    """The size above which GETs are redirected to S3; None when off or the store is not S3."""
    if settings.s3_redirect_over is not None and not isinstance(store, S3Store):
        log.warning(
            "STREAMWAY_S3_REDIRECT_OVER is ignored: the store is not S3",
            extra={"store": repr(store)},
        )
        return None
    return settings.s3_redirect_over


async def s3_redirect(
    store: ObjectStore,
    info: ObjectInfo,
    headers: Mapping[str, str],
    *,
    over: int | None,
    expiry_s: int,
) -> Response | None:
    """307 to a presigned URL for ``info`` when it is larger than ``over``; else None.

    The URL carries the service's Content-Type and Content-Disposition as S3 response
    overrides, so the file gets the same name and type. ``no-store``: the URL holds a
    signature and expires, so no cache may keep the redirect.
    """
    if over is None or info.size <= over or not isinstance(store, S3Store):
        return None
    url = await store.presigned_get(
        info.key,
        expires_s=expiry_s,
        content_type=headers["content-type"],
        content_disposition=headers["content-disposition"],
    )
    return Response(status_code=307, headers={"location": url, "cache-control": "no-store"})
