"""Function URLs beside the gateway: one port per function, in one uvicorn server.

The gateway's port and each function URL's port are bound here and handed to the same
uvicorn server; :class:`PortDispatch` sends a request to the app of the port it arrived on
(``scope["server"]``), so the function URLs share the gateway's event loop, pools and
lifespan (whose shutdown stops the function processes).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from streamway.aws_contract import STREAMING_INVOKE_MODE
from streamway.local.function_url.app import FunctionUrlApp
from streamway.local.function_url.config import UrlConfig, UrlSettings
from streamway.local.functions import FunctionPool

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("streamway.local.function_url")


def function_urls(
    pools: Iterable[FunctionPool],
    settings: UrlSettings,
    first_port: int,
    *,
    body_timeout_s: float = 30.0,
) -> dict[int, FunctionUrlApp]:
    """A URL per function, on ``first_port``, ``first_port + 1``... in the functions' order;
    the invoke mode is the function's (a streaming function's URL is RESPONSE_STREAM)."""
    apps = {}
    for offset, pool in enumerate(pools):
        streams = pool.spec.invoke_mode == STREAMING_INVOKE_MODE
        url = UrlConfig(
            pool.spec.name,
            first_port + offset,
            "RESPONSE_STREAM" if streams else "BUFFERED",
            settings,
        )
        apps[url.port] = FunctionUrlApp(url, pool, body_timeout_s=body_timeout_s)
    return apps


class PortDispatch:
    """The gateway, and a function URL per port: each request goes by its local port."""

    def __init__(self, gateway: ASGIApp, urls: Mapping[int, ASGIApp]) -> None:
        self.gateway = gateway
        self.urls = urls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server") or ("", 0)
            app = self.urls.get(int(server[1] or 0))
            if app is not None:
                await app(scope, receive, send)
                return
        await self.gateway(scope, receive, send)


def listen(
    host: str, port: int, urls: Mapping[int, FunctionUrlApp], *, strict: bool
) -> tuple[list[socket.socket], dict[int, FunctionUrlApp]]:
    """Bound sockets for the gateway's ``port`` and each URL's, and the URLs by the port
    they got. A URL's port that is taken moves to one the system picks, unless ``strict``
    (the ports were asked for); OSError names a port that could not be bound."""
    sockets = [_bind(host, port)]
    bound: dict[int, FunctionUrlApp] = {}
    try:
        for wanted, app in urls.items():
            try:
                sock = _bind(host, wanted)
            except OSError:
                if strict:
                    raise
                sock = _bind(host, 0)
                log.warning("port %d is taken: %s's URL moves", wanted, app.url.function)
            sockets.append(sock)
            app.url = replace(app.url, port=sock.getsockname()[1])
            bound[app.url.port] = app
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets, bound


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound as uvicorn binds its own (IPv6 when the host has a colon)."""
    sock = socket.socket(family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(error.errno, f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.set_inheritable(True)
    return sock


def log_urls(host: str, port: int, stage: str, apps: Iterable[FunctionUrlApp]) -> None:
    """The start-up lines: where the API and each function URL answer."""
    shown = f"[{host}]" if ":" in host else host
    log.info("API Gateway on http://%s:%d/%s/", shown, port, stage)
    for app in apps:
        described = app.url.describe(host)
        log.info(
            "function URL of %s on %s (%s, auth %s)",
            app.url.function,
            described["url"],
            app.url.invoke_mode,
            app.url.settings.auth_type,
            extra={"function": app.url.function, "url": described["url"]},
        )
