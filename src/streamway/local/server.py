"""``streamway local``: the gateway and its functions, served by uvicorn.

The functions are those the deploy stack creates from the same definition:
StreamFunction (``STREAMWAY_LAMBDA_INVOKE_MODE=response_stream``) behind STREAM routes and
BufferedFunction (``buffered``) behind BUFFERED ones, each running ``options.app`` (or
``options.handler``). The definition is the given one, streamway's own, or, for a user's
app or handler given without one, the catch-all proxy (:mod:`streamway.local.catch_all`).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from streamway.api.definition import ApiDefinition, load_definition
from streamway.aws_contract import TransferMode, invoke_mode_for
from streamway.http.head_limits import HeadLimitMiddleware
from streamway.local.agentcore import LOCAL_RUNTIME_ARN, AgentCoreApi, AgentRuntime
from streamway.local.catch_all import catch_all_definition
from streamway.local.functions import FunctionSpec
from streamway.local.gateway import LocalGateway
from streamway.local.gateway_responses import REQUEST_TIMEOUT
from streamway.local.metering import Meter, Prices
from streamway.local.options import LocalOptions
from streamway.local.request_cycle import GatewayConfig
from streamway.local.rest_event import StageContext, api_id_for
from streamway.local.shared_sandbox import pool_for
from streamway.local.throttle import Pacer, gateway_and_lambda_throttle

if TYPE_CHECKING:  # types only: starlette is not in the light install
    from starlette.types import ASGIApp

    from streamway.local.function_url import FunctionUrlApp

log = logging.getLogger("streamway.local")

FUNCTION_NAMES: dict[TransferMode, str] = {
    "STREAM": "StreamFunction",
    "BUFFERED": "BufferedFunction",
}


def build_definition(options: LocalOptions) -> ApiDefinition:
    """The definition with auth applied as the deploy stack would: an API key when keys are
    given, the JWT authorizer when a JWKS is."""
    if options.catch_all:
        definition = catch_all_definition("BUFFERED" if options.buffered else "STREAM")
    else:
        definition = load_definition(options.definition)
    if options.api_keys or options.jwks:
        definition = definition.with_auth(
            api_key=bool(options.api_keys), authorizer=options.jwks is not None
        )
    return definition


def build_gateway(options: LocalOptions) -> LocalGateway:
    from streamway.observability import tracing

    tracing.setup()  # the gateway hop's spans, only with OTEL_* set (docs/observability.md)
    definition = build_definition(options)
    modes = {route.transfer_mode for route in definition.routes}
    pools = {
        mode: pool_for(function_spec(options, mode)) for mode in FUNCTION_NAMES if mode in modes
    }
    auth = None
    if options.api_keys or options.jwks:
        # Imported only when asked for: JWT checks need the `gateway` extra (pyjwt[crypto]).
        from streamway.local.auth import GatewayAuth

        auth = GatewayAuth.from_options(
            definition, options.api_keys, options.jwks, options.jwt_issuer, options.jwt_audience
        )
    title = str(definition.document.get("info", {}).get("title", "streamway"))
    stage = StageContext(
        stage=options.stage,
        api_id=api_id_for(title),
        binary_media_types=definition.binary_media_types,
        stage_variables=options.stage_variables or None,
    )
    config = GatewayConfig(
        definition,
        stage,
        pools,
        stream_timeout_s=options.stream_timeout_s,
        buffered_timeout_s=options.buffered_timeout_s,
        stream_idle_timeout_s=options.stream_idle_timeout_s,
        body_timeout_s=options.body_timeout_s,
        max_request_bytes=options.max_request_bytes,
        pacers=_pacers if options.throttle else tuple,
        auth=auth,
    )
    gateway = LocalGateway(
        config,
        meter=Meter(Prices.from_assignments(options.prices)),
        agentcore=agentcore_api(options),
    )
    if options.function_urls:
        _add_function_urls(gateway, options)
    return gateway


def _add_function_urls(gateway: LocalGateway, options: LocalOptions) -> None:
    """A function URL per function (:mod:`streamway.local.function_url`), also listed in
    ``/_local/functions``; ValueError for a bad auth type or CORS configuration."""
    from streamway.local.function_url import UrlSettings, function_urls

    config = gateway.config
    settings = UrlSettings.resolve(
        config.definition.document, options.function_url_auth, options.function_url_cors
    )
    first_port = options.function_url_port_base or options.port + 1
    urls = function_urls(
        config.pools.values(), settings, first_port, body_timeout_s=options.body_timeout_s
    )
    _list_function_urls(gateway, urls, options.host)


def _list_function_urls(gateway: LocalGateway, urls: dict[int, FunctionUrlApp], host: str) -> None:
    """The URLs by port, and in ``/_local/functions``."""
    gateway.function_urls = urls
    for url_app in urls.values():
        gateway.control.function_urls[url_app.url.function] = url_app.url.describe(host)


def agentcore_api(options: LocalOptions) -> AgentCoreApi | None:
    """AgentCore's data plane in front of the agent the options name, if they name one."""
    if not options.agentcore and options.agentcore_url is None:
        return None
    runtime = AgentRuntime(options.agentcore_url, env=options.env)
    log.info(
        "AgentCore runtime %s -> %s",
        LOCAL_RUNTIME_ARN,
        runtime.describe(),
        extra={"agent_runtime_arn": LOCAL_RUNTIME_ARN},
    )
    return AgentCoreApi(runtime, body_timeout_s=options.body_timeout_s)


def function_spec(options: LocalOptions, mode: TransferMode) -> FunctionSpec:
    """The function behind ``mode``'s routes, with the user's code, source and environment."""
    return FunctionSpec(
        name=FUNCTION_NAMES[mode],
        invoke_mode=invoke_mode_for(mode),
        app=options.app,
        handler=options.handler,
        memory_mb=options.memory_mb,
        timeout_s=options.function_timeout_s,
        concurrency=options.concurrency,
        max_concurrency=options.max_concurrency,
        env=options.env,
        # streamway's own app runs as it always has, with nothing put before its path.
        pythonpath=(str(options.source.resolve()),) if options.user_code else (),
    )


def _pacers() -> tuple[Pacer, ...]:
    # A STREAM response behind Lambda passes Lambda's cap, then API Gateway's: in effect 6 MB
    # at once, then 2 MB/s. One pair per response.
    return (gateway_and_lambda_throttle(),)


def run(gateway: LocalGateway, options: LocalOptions) -> None:
    """Serves until interrupted; the lifespan shutdown stops the function processes."""
    import uvicorn

    from streamway.http.limits import ServerLimits

    limits = ServerLimits(
        head_timeout_s=options.head_timeout_s,
        body_timeout_s=options.body_timeout_s,
        max_connections=options.max_connections,
        keep_alive_timeout_s=options.keep_alive_timeout_s,
    )
    app: ASGIApp = HeadLimitMiddleware(gateway)  # API Gateway's header caps: 431 first
    sockets = None
    if gateway.function_urls:
        from streamway.local.function_url import PortDispatch, listen, log_urls

        # One server for every port: the URLs share the gateway's loop, pools and lifespan.
        try:
            sockets, urls = listen(
                options.host,
                options.port,
                gateway.function_urls,
                strict=options.function_url_port_base is not None,
            )
        except OSError as error:
            raise SystemExit(f"streamway local: {error}") from None
        _list_function_urls(gateway, urls, options.host)
        app = PortDispatch(app, urls)
        log_urls(options.host, options.port, options.stage, urls.values())
    if options.reload:
        from streamway.local.reload import Reloader, with_background

        reloader = Reloader(options.source, list(gateway.config.pools.values()))
        app = with_background(app, reloader.watch)
    server_options: dict[str, Any] = dict(
        host=options.host,
        port=options.port,
        log_config=None,
        access_log=False,
        # API Gateway sends no Server header of its own; uvicorn's would be a local tell.
        server_header=False,
        timeout_graceful_shutdown=5,
        # The gateway times out a stalled body itself (request_cycle.py), with the request id.
        **limits.uvicorn_options(REQUEST_TIMEOUT.body()),
    )
    if sockets is None:
        uvicorn.run(app, **server_options)
        return
    server = uvicorn.Server(uvicorn.Config(app, **server_options))
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)
