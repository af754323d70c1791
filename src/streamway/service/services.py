"""What the routes use, built once per process, and the one way a route gets it.

:func:`open_services` builds :class:`Services`, and :func:`services_lifespan` does so in the
app's lifespan (the model load is the expensive part of a cold start, so never per request
or per Lambda invocation); a route takes ``services: ServicesDep`` and FastAPI hands it over.
The settings a route needs are read here, once, into plain fields, so the routes never look
at the settings themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import Depends
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from streamway.agent.providers import close_model
from streamway.agent.runner import AgentRunner
from streamway.agent.sessions import SessionStore
from streamway.config import Settings
from streamway.service.agentcore_health import RuntimeHealth, health
from streamway.service.big_objects import redirect_over, response_cap
from streamway.service.resumable import ResumableStreams
from streamway.storage import ObjectStore, open_store
from streamway.storage.upload_stores import open_upload_store, sweep_expired
from streamway.storage.uploads import UploadStore

#: An AgentCore entrypoint (agentcore_entrypoint.py): payload[, context] -> answer or events.
Entrypoint = Callable[..., Any]


@dataclass
class Services:
    """The process's model runner, sessions and object store, and the limits routes apply.

    Not frozen: tests put a fault-injecting store in place of the real one.
    """

    runner: AgentRunner
    sessions: SessionStore
    store: ObjectStore
    #: /ping's status: the process's :data:`~streamway.service.agentcore_health.health`.
    health: RuntimeHealth
    max_prompt_chars: int
    invocations_default_response: Literal["sse", "json"]
    download_chunks_in_flight: int
    #: STREAMWAY_AGENTCORE_ENTRYPOINT's function, which then answers /invocations.
    entrypoint: Entrypoint | None = None
    #: How big objects are fetched (big_objects.py): the S3 redirect, and the most body bytes
    #: one response may carry (Lambda's cap when this process is a function; else None).
    s3_redirect_over: int | None = None
    s3_redirect_expiry_s: int = 300
    max_response_bytes: int | None = None
    #: Seconds of silence after which an SSE answer gets a comment line (0: never).
    sse_heartbeat_s: float = 0.0
    #: Where /uploads writes (tus.py); None when uploads are off (STREAMWAY_UPLOADS).
    uploads: UploadStore | None = None
    upload_max_bytes: int = 0
    upload_part_max_bytes: int = 0
    upload_expiry_s: float = 0.0
    upload_overwrite: bool = False
    #: The SSE answers a client can resume (resumable.py); off (grace 0) unless configured.
    streams: ResumableStreams = field(default_factory=lambda: ResumableStreams(0, 1, 1))


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """The services ``settings`` describe, until the block ends (then the store and the
    model's client are closed)."""
    runner = AgentRunner.from_settings(settings.model)
    # Event-driven: the status (and its timestamp) changes when the queue does, not on a ping.
    runner.admission.on_change = health.changed

    def answering() -> bool:
        return runner.admission.busy

    sessions = SessionStore(
        settings.agentcore.sessions_dir,
        idle_timeout_s=settings.agentcore.session_idle_timeout_s,
        max_sessions=settings.agentcore.max_sessions,
    )
    store = await open_store(settings.store)
    uploads = open_upload_store(settings, store) if settings.uploads.uploads else None
    sweeper = asyncio.create_task(sweep_expired(uploads)) if uploads is not None else None
    streams = ResumableStreams(
        grace_s=settings.serve.resume_grace,
        stream_max_bytes=settings.serve.resume_stream_max_bytes,
        max_bytes=settings.serve.resume_max_bytes,
    )
    health.watch(answering)
    try:
        yield Services(
            runner=runner,
            sessions=sessions,
            store=store,
            health=health,
            max_prompt_chars=settings.model.max_prompt_chars,
            invocations_default_response=settings.agentcore.invocations_default_response,
            download_chunks_in_flight=settings.store.download_chunks_in_flight,
            entrypoint=_entrypoint(settings.agentcore.agentcore_entrypoint),
            s3_redirect_over=redirect_over(settings.store, store),
            s3_redirect_expiry_s=settings.store.s3_redirect_expiry_s,
            max_response_bytes=response_cap(),
            sse_heartbeat_s=settings.serve.sse_heartbeat,
            uploads=uploads,
            upload_max_bytes=settings.uploads.upload_max_bytes,
            upload_part_max_bytes=settings.uploads.upload_part_max_bytes,
            upload_expiry_s=settings.uploads.upload_expiry,
            upload_overwrite=settings.uploads.upload_overwrite,
            streams=streams,
        )
    finally:
        await streams.aclose()
        health.unwatch(answering)
        if sweeper is not None:
            sweeper.cancel()
        if uploads is not None:
            await uploads.aclose()
        try:
            await store.aclose()
        finally:
            await close_model(runner.model)


def _entrypoint(spec: str | None) -> Entrypoint | None:
    if spec is None:
        return None
    # Here, not at the top: the entrypoint's router needs this module's ServicesDep.
    from streamway.service.agentcore_entrypoint import load_entrypoint

    return load_entrypoint(spec)


def services_lifespan(
    settings: Settings,
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """An app's lifespan that opens its services for as long as it runs."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            yield

    return lifespan


def services_of(app: Starlette) -> Services:
    """The services of a running app (its lifespan has started)."""
    services: Services = app.state.services
    return services


async def _services(connection: HTTPConnection) -> Services:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop per
    # request for an attribute read (bench/uploads.py: a few ms of CPU per tus PATCH).
    return services_of(connection.app)


#: A route's parameter for the services: ``services: ServicesDep``.
ServicesDep = Annotated[Services, Depends(_services)]
