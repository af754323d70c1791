"""``GET /api/objects``: the store's objects, a page at a time, for the page's file list.

Each object carries a ``url`` relative to the service root (``download/<percent-encoded
key>``), so the page resolves it against its own address and it works under a stage prefix
(``/dev/``) as well as at ``/``. Keys stay plain strings in the JSON; escaping them for
HTML is the page's job (it only ever sets ``textContent`` and ``href``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query

from streamway.service.errors import ApiError, error_responses
from streamway.service.failures import store_error
from streamway.service.object_headers import guess_content_type
from streamway.service.services import ServicesDep
from streamway.storage import InvalidKey, ObjectInfo, StoreError, check_key

router = APIRouter()

DEFAULT_LIMIT = 100
#: S3 returns at most 1000 keys per ListObjectsV2 call.
MAX_LIMIT = 1000


@router.get(
    "/api/objects",
    summary="List the store's objects, a page at a time",
    responses=error_responses(400, 422, 431, 502, 503),
)
async def list_objects(
    services: ServicesDep,
    prefix: Annotated[
        str, Query(max_length=1024, description="Only keys starting with this.")
    ] = "",
    cursor: Annotated[
        str | None, Query(max_length=1024, description="`next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Most objects per page.")] = (
        DEFAULT_LIMIT
    ),
) -> dict[str, Any]:
    _check("prefix", prefix)
    _check("cursor", cursor)
    try:
        page = await services.store.list(prefix, cursor=cursor or None, limit=limit)
    except StoreError as error:
        raise store_error(error, prefix) from None
    return {"objects": [_entry(info) for info in page.items], "next_cursor": page.next_cursor}


def _check(field: str, value: str | None) -> None:
    """A prefix or cursor is a key, or the start of one: the same rules apply."""
    if not value:
        return
    try:
        check_key(value)
    except InvalidKey as error:
        raise ApiError(
            400, f"invalid_{field}", f"`{field}` is not allowed: {error}.", field=field
        ) from None


def _entry(info: ObjectInfo) -> dict[str, Any]:
    return {
        "key": info.key,
        "size": info.size,
        "content_type": info.content_type or guess_content_type(info.key.rsplit("/", 1)[-1]),
        "last_modified": info.last_modified.isoformat(),
        "url": "download/" + quote(info.key, safe="/"),
    }
