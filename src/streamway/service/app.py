"""``create_app(settings)``: the one ASGI app for uvicorn, the Lambda runtime and LWA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from streamway import __version__
from streamway.agent.runner import AgentRunner
from streamway.agent.sessions import SessionStore
from streamway.config import Settings
from streamway.http.head_limits import HeadLimitMiddleware, HeadTooLarge
from streamway.service import agentcore, agentcore_ws, downloads, objects, page, streaming
from streamway.service.errors import error_body, install_error_handlers
from streamway.service.middleware import AllowedHostsMiddleware, RequestContextMiddleware
from streamway.storage import open_store


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Built once per process (not per request or per Lambda invocation): the model load
        # is the expensive part of a cold start.
        app.state.agent_runner = AgentRunner.from_settings(settings)
        app.state.sessions = SessionStore(
            settings.sessions_dir,
            idle_timeout_s=settings.session_idle_timeout_s,
            max_sessions=settings.max_sessions,
        )
        app.state.object_store = await open_store(settings)
        try:
            yield
        finally:
            await app.state.object_store.aclose()

    app = FastAPI(title="streamway", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(streaming.router)
    app.include_router(downloads.router)
    app.include_router(agentcore.router)
    app.include_router(agentcore_ws.router)
    app.state.ping_status = agentcore.PingStatus()
    app.include_router(objects.router)
    app.include_router(page.router)

    @app.get("/stats", summary="Counters for generations and the admission queue")
    async def stats(request: Request) -> dict[str, Any]:
        runner: AgentRunner = request.app.state.agent_runner
        sessions: SessionStore = request.app.state.sessions
        return {**runner.stats(), "sessions": sessions.stats()}

    # Added innermost first: Starlette runs the last one added outermost. The request id and
    # the access log wrap the refusals of the head and host checks too.
    app.add_middleware(AllowedHostsMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(
        HeadLimitMiddleware,
        max_header_bytes=settings.max_header_bytes,
        max_head_bytes=settings.max_head_bytes,
        body=_head_too_large,
    )
    app.add_middleware(RequestContextMiddleware, max_request_bytes=settings.max_request_bytes)
    return app


def _head_too_large(refusal: HeadTooLarge) -> dict[str, Any]:
    details: dict[str, Any] = {"limit_bytes": refusal.limit_bytes}
    if refusal.header is not None:
        details["header"] = refusal.header
    return error_body("request_header_too_large", refusal.message, **details)
