"""``streamway local``: API Gateway REST and Lambda function processes on this machine."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from streamway.aws_contract import DEFAULT_APP

if TYPE_CHECKING:
    from streamway.local.gateway import LocalGateway

LOCAL_HELP = (
    "Run API Gateway REST (STREAM and BUFFERED) and Lambda on this machine, from the same "
    "API definition that deploys."
    "\n\n"
    "Which API: with no --app/--handler, streamway's own app and definition. With --app "
    "module:attr (an ASGI app) or --handler module.func (a plain handler) and no "
    "--definition: a catch-all proxy, any method on / and /{proxy+}, STREAM (15 min), or "
    "BUFFERED (29 s) with --buffered; the whole app is served under /STAGE/. With "
    "--definition: that definition's routes, whatever the code. The code is imported from "
    "--source (first on the functions' PYTHONPATH; the working directory by default) and "
    "checked at start-up in a separate process: one that cannot be imported exits 2."
    "\n\n"
    "Serves http://HOST:PORT/STAGE/... Each route of the definition is relayed as API Gateway "
    "relays it: STREAM routes to StreamFunction (the streamway Lambda runtime in "
    "response_stream mode), BUFFERED routes to BufferedFunction (buffered mode). Each "
    "function runs as real processes, one Runtime API emulator each, started on first use "
    "(a cold start) and reused while warm, up to --concurrency at once; beyond that a "
    "request is throttled as Lambda throttles it (API Gateway answers 500). With "
    "--max-concurrency N each process serves up to N requests at once (Managed Instances)."
    "\n\n"
    "API Gateway's limits apply: 403 for unknown routes, 413 over 10 MB of request, "
    "BUFFERED: 29 s (504) and 10 MB (502); STREAM: the route's timeout (up to 15 min) and a "
    "5 min idle timeout. GET /_local/functions shows the function processes, "
    "GET /_local/metering the requests, bytes and Lambda GB-seconds with an AWS cost "
    "estimate (also logged on exit); with --api-key or --jwks they need the same "
    "credentials. The Lambda API's Invoke and InvokeWithResponseStream answer on the same "
    "port, outside the stage (boto3's lambda client with --endpoint-url; off with --api-key "
    "or --jwks). Each function also answers as a Lambda function URL (payload format 2.0) "
    "on a port of its own: --port + 1, + 2... in the order of /_local/functions "
    "(StreamFunction's RESPONSE_STREAM, BufferedFunction's BUFFERED), with "
    "--function-url-auth and --function-url-cors (or the definition's "
    "x-streamway-function-url); off with --no-function-urls. With --agentcore (streamway "
    "serve, started on the first invocation) or --agentcore-url URL (any server of "
    "AgentCore's HTTP contract), AgentCore Runtime's InvokeAgentRuntime answers on the "
    "gateway's port too (boto3's bedrock-agentcore client, streamway chat --agentcore). "
    "The functions "
    "read the same STREAMWAY_* settings as `streamway serve`, and --env-file's variables "
    "over them; --reload replaces them when a *.py file under --source changes (a busy one "
    "after its invocation). See docs/local.md."
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
        str | None,
        typer.Option(
            help="The ASGI app the functions serve, as module:attribute; without "
            "--definition, behind the catch-all proxy.  [default: streamway's own]"
        ),
    ] = None,
    handler: Annotated[
        str | None,
        typer.Option(
            help="A plain handler (STREAMWAY_HANDLER) instead of an app, as module.function; "
            "without --definition, behind the catch-all proxy."
        ),
    ] = None,
    buffered: Annotated[
        bool,
        typer.Option("--buffered", help="The catch-all's routes are BUFFERED, not STREAM."),
    ] = False,
    source: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            exists=True,
            help="The app's directory: importable by the functions, watched by --reload.  "
            "[default: the working directory]",
        ),
    ] = None,
    env_file: Annotated[
        Path | None,
        typer.Option(help="A dotenv file (KEY=VALUE lines) of the functions' environment."),
    ] = None,
    reload: Annotated[
        bool,
        typer.Option("--reload", help="Replace the function processes when a *.py file changes."),
    ] = False,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Most processes (concurrent invocations) per function.")
    ] = 2,
    max_concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            help="Invocations one function process serves at once, as on Lambda Managed "
            "Instances (AWS_LAMBDA_MAX_CONCURRENCY): up to this many requests share a "
            "process before another starts. 1: one at a time, as on Lambda's default compute.",
        ),
    ] = 1,
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
    function_urls: Annotated[
        bool,
        typer.Option(
            "--function-urls/--no-function-urls",
            help="Serve each function also as a Lambda function URL on a port of its own.",
        ),
    ] = True,
    function_url_port_base: Annotated[
        int | None,
        typer.Option(
            help="The first function URL's port; the next function's is one more.  "
            "[default: --port + 1]"
        ),
    ] = None,
    function_url_auth: Annotated[
        str | None,
        typer.Option(
            help="The function URLs' auth type: NONE, or AWS_IAM (a SigV4 signature must be "
            "present and well formed; it is not verified).  [default: NONE]"
        ),
    ] = None,
    function_url_cors: Annotated[
        str | None,
        typer.Option(
            help="The function URLs' CORS configuration as JSON, as AWS spells it: "
            '\'{"AllowOrigins": ["*"], "AllowMethods": ["GET"], "MaxAge": 300}\'.'
        ),
    ] = None,
    price: Annotated[
        list[str] | None,
        typer.Option(
            help="Override a list price of the cost estimate, as name=value (e.g. "
            "lambda_per_gb_second=0.0000133334); repeatable. See GET /_local/metering."
        ),
    ] = None,
    agentcore: Annotated[
        bool,
        typer.Option(
            "--agentcore",
            help="Serve AgentCore's InvokeAgentRuntime in front of streamway serve, started "
            "as a child process on the first invocation.",
        ),
    ] = False,
    agentcore_url: Annotated[
        str | None,
        typer.Option(
            help="Serve AgentCore's InvokeAgentRuntime in front of this AgentCore-contract "
            "server (POST /invocations, GET /ping), e.g. http://127.0.0.1:8080."
        ),
    ] = None,
) -> None:
    from streamway.cli.local_settings import prepare_local
    from streamway.cli.service_extra import ServiceMissing, require_service
    from streamway.local.options import LocalOptions
    from streamway.local.server import build_gateway, run

    if app is not None and handler is not None:
        _refuse("--app and --handler are exclusive: the functions serve one or the other")
    if buffered and (definition is not None or (app is None and handler is None)):
        _refuse("--buffered applies to the catch-all proxy (--app/--handler, no --definition)")
    if agentcore and agentcore_url is not None:
        _refuse("--agentcore and --agentcore-url are exclusive: one agent runtime at a time")
    try:
        if agentcore:
            require_service("streamway local --agentcore")
        # streamway's own app (no --app/--handler) needs the service extra and its samples.
        limits = prepare_local(app or handler or DEFAULT_APP)
    except (ServiceMissing, ValueError) as error:
        _refuse(str(error))
    options = LocalOptions(
        host=host,
        port=port,
        stage=stage,
        definition=definition,
        app=app or DEFAULT_APP,
        handler=handler,
        user_code=app is not None or handler is not None,
        buffered=buffered,
        source=source or Path.cwd(),
        env=_read_env_file(env_file),
        reload=reload,
        concurrency=concurrency,
        max_concurrency=max_concurrency,
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
        function_urls=function_urls,
        function_url_port_base=function_url_port_base,
        function_url_auth=function_url_auth,
        function_url_cors=function_url_cors,
        head_timeout_s=limits.head_timeout_s,
        body_timeout_s=limits.body_timeout_s,
        max_connections=limits.max_connections,
        keep_alive_timeout_s=limits.keep_alive_timeout_s,
        agentcore=agentcore,
        agentcore_url=agentcore_url,
    )
    try:
        gateway = build_gateway(options)
    except ValueError as error:  # a bad definition, auth or function URL options
        _refuse(str(error))
    if reload and importlib.util.find_spec("watchfiles") is None:
        _refuse("--reload needs watchfiles (pip install watchfiles)")
    if options.user_code:
        _check_code(gateway)
    run(gateway, options)


def _refuse(reason: str) -> NoReturn:
    typer.echo(f"streamway local: {reason}", err=True)
    raise typer.Exit(2)


def _read_env_file(path: Path | None) -> dict[str, str]:
    from streamway.env_file import EnvFileError, read_env_file

    try:
        return read_env_file(path) if path is not None else {}
    except EnvFileError as error:
        _refuse(f"--env-file {error}")


def _check_code(gateway: LocalGateway) -> None:
    """Refuses code the functions could not import, asking a child process (the user's code
    is never imported here)."""
    from streamway.local.import_check import check

    spec = next(iter(gateway.config.pools.values())).spec
    if (problem := check(spec)) is not None:
        _refuse(problem)
