"""streamway mounted under ``/dev``, as a client sees it behind an API Gateway stage.

Run by the browser tests with ``uvicorn tests.browser.prefixed_app:app --factory``: a real
server whose every URL starts with ``/dev/``, so a page that used an absolute URL
(``/streaming``) would get 404s. ``/dev`` itself (no slash) serves the page too, as API
Gateway does for a stage's root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from streamway.service.app import create_app
from streamway.service.page import index

PREFIX = "/dev"


def app() -> Starlette:
    streamway = create_app()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # A mounted app's lifespan does not run by itself; it builds the runner and store.
        async with streamway.router.lifespan_context(streamway):
            yield

    async def stage_root(_: Request) -> Response:
        return await index()

    return Starlette(
        routes=[Route(PREFIX, stage_root), Mount(PREFIX, app=streamway)], lifespan=lifespan
    )
