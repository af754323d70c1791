"""``streamway local``: API Gateway REST and Lambda function processes on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streamway.aws_contract import DEFAULT_APP

LOCAL_HELP = (
    "Run API Gateway REST (STREAM and BUFFERED) and Lambda on this machine, from the same "
    "API definition that deploys."
    "\n\n"
    "Serves http://HOST:PORT/STAGE/... Each route of the definition is relayed as API Gateway "
    "relays it: STREAM routes to StreamFunction (the streamway Lambda runtime in "
    "response_stream mode), BUFFERED routes to BufferedFunction (buffered mode). Each "
    "function runs as real processes, one Runtime API emulator each, started on first use "
    "(a cold start) and reused while warm, up to --concurrency at once; beyond that a "
    "request is throttled as Lambda throttles it (API Gateway answers 500)."
    "\n\n"
    "API Gateway's limits apply: 403 for unknown routes, 413 over 10 MB of request, "
    "BUFFERED: 29 s (504) and 10 MB (502); STREAM: the route's timeout (up to 15 min) and a "
    "5 min idle timeout. GET /_local/functions shows the function processes, "
    "GET /_local/metering the requests, bytes and Lambda GB-seconds with an AWS cost "
    "estimate (also logged on exit); with --api-key or --jwks they need the same "
    "credentials. The functions "
    "read the same STREAMWAY_* settings as `streamway serve` (see docs/local.md)."
)


# Long only in its signature: one parameter per option, as Typer reads them.
def local(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    stage: Annotated[str, typer.Option(help="The stage name: the first path segment.")] = "dev",
    definition: Annotated[
        Path | None,
        typer.Option(help="An OpenAPI definition. [default: streamway's own]"),
    ] = None,
    app: Annotated[
        str, typer.Option(help="The ASGI app both functions serve, as module:attribute.")
    ] = DEFAULT_APP,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Most processes (concurrent invocations) per function.")
    ] = 2,
    memory: Annotated[
        int, typer.Option(help="Memory size (MB) the functions are told they have.")
    ] = 1024,
    function_timeout: Annotated[
        float, typer.Option(help="The functions' timeout in seconds (Lambda's, up to 900).")
    ] = 900.0,
    stream_timeout: Annotated[
        float | None,
        typer.Option(help="Override STREAM routes' integration timeout, in seconds."),
    ] = None,
    stream_idle_timeout: Annotated[
        float, typer.Option(help="Longest silence in a stream before it is cut, in seconds.")
    ] = 300.0,
    buffered_timeout: Annotated[
        float | None,
        typer.Option(help="Override BUFFERED routes' integration timeout, in seconds."),
    ] = None,
    throttle: Annotated[
        bool,
        typer.Option(
            "--throttle",
            help="Shape bandwidth as AWS does: after 10 MB (API Gateway) / 6 MB (Lambda) of "
            "a streamed response, 2 MB/s.",
        ),
    ] = False,
    api_key: Annotated[
        list[str] | None,
        typer.Option(help="Require an API key (x-api-key) on non-public routes; repeatable."),
    ] = None,
    jwks: Annotated[
        Path | None,
        typer.Option(
            help="Require a JWT (Authorization) on non-public routes, checked "
            "against this JWKS file, as a Cognito authorizer would."
        ),
    ] = None,
    jwt_issuer: Annotated[str | None, typer.Option(help="The JWT's required iss.")] = None,
    jwt_audience: Annotated[str | None, typer.Option(help="The JWT's required aud.")] = None,
    price: Annotated[
        list[str] | None,
        typer.Option(
            help="Override a list price of the cost estimate, as name=value (e.g. "
            "lambda_per_gb_second=0.0000133334); repeatable. See GET /_local/metering."
        ),
    ] = None,
) -> None:
    from streamway.cli.local_settings import prepare_local
    from streamway.cli.service_extra import ServiceMissing
    from streamway.local.options import LocalOptions
    from streamway.local.server import build_gateway, run

    try:
        limits = prepare_local(app)
    except (ServiceMissing, ValueError) as error:
        typer.echo(f"streamway local: {error}", err=True)
        raise typer.Exit(2) from None
    options = LocalOptions(
        host=host,
        port=port,
        stage=stage,
        definition=definition,
        app=app,
        concurrency=concurrency,
        memory_mb=memory,
        function_timeout_s=function_timeout,
        stream_timeout_s=stream_timeout,
        buffered_timeout_s=buffered_timeout,
        stream_idle_timeout_s=stream_idle_timeout,
        throttle=throttle,
        api_keys=tuple(api_key or ()),
        jwks=jwks,
        jwt_issuer=jwt_issuer,
        jwt_audience=jwt_audience,
        prices=tuple(price or ()),
        head_timeout_s=limits.head_timeout_s,
        body_timeout_s=limits.body_timeout_s,
        max_connections=limits.max_connections,
        keep_alive_timeout_s=limits.keep_alive_timeout_s,
    )
    try:
        gateway = build_gateway(options)
    except ValueError as error:  # a bad definition, or auth options that cannot work
        typer.echo(f"streamway local: {error}", err=True)
        raise typer.Exit(2) from None
    run(gateway, options)
