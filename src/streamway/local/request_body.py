"""The request body as the gateway reads it: whole, bounded in size and in patience.

API Gateway hands a function the whole body in its event, so the gateway reads all of it
first; past the payload limit it answers 413, and a client that stops sending gets 408 from
streamway local (API Gateway cuts slow clients on terms it does not document).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from streamway.http.disconnect import ClientGone

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import Receive


class BodyTooLarge(Exception):
    """The request body passed the payload limit (413)."""


class BodyStalled(Exception):
    """No part of the request body came for the body timeout (408)."""


async def read_body(receive: Receive, limit: int, timeout_s: float) -> bytes:
    """The whole body, at most ``limit`` bytes (:class:`BodyTooLarge` past it); a silence of
    ``timeout_s`` between two pieces is :class:`BodyStalled` (a body that never ends would
    hold a connection forever), the client leaving :class:`ClientGone`."""
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), timeout_s)
        except TimeoutError:
            raise BodyStalled() from None
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)
