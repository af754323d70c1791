"""A client that goes away stops the work done for it: one exception and one helper for it.

Every streaming response in streamway (the agent's answer, an object's body, the local
gateway's relay) does the same two things: it watches ``receive()`` for ``http.disconnect``
while it works, and it treats a ``send()`` that raises ``OSError`` (ASGI 2.4: the server
says so once the client is gone) as the client leaving. Both end as :class:`ClientGone`,
after the work was cancelled and awaited, so nothing keeps running for nobody.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import Receive, Send


T = TypeVar("T")


class ClientGone(Exception):
    """The HTTP client disconnected before the work for it was done."""


async def wait_for_disconnect(receive: Receive) -> None:
    """Returns when the client disconnects.

    Only after the request body was read: ``receive()`` then says nothing until the client
    leaves, so this loop sees no other message.
    """
    while (await receive())["type"] != "http.disconnect":
        pass


async def until_disconnect(work: Awaitable[T], receive: Receive) -> T:
    """Runs ``work`` unless the client leaves first.

    A client that leaves cancels ``work``, which is awaited before :class:`ClientGone` is
    raised; ``work`` raising :class:`ClientGone` itself (a failed ``send``) ends the same way.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(wait_for_disconnect(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
        # The work's own end (or its cancellation) is awaited in every case, so no task is
        # left running and no exception goes unretrieved.
        await asyncio.gather(task, watcher, return_exceptions=True)
    if task.cancelled():
        raise ClientGone()
    return task.result()


async def send_or_gone(send: Send, message: MutableMapping[str, Any]) -> None:
    """``send(message)``; a server that says the client is gone (``OSError``) is ClientGone."""
    try:
        await send(message)
    except OSError as error:
        raise ClientGone() from error
