"""The ``streamway`` command."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from streamway import __version__

if TYPE_CHECKING:
    from streamway.config import Settings

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

    from streamway.config import Settings
    from streamway.logs import configure_logging
    from streamway.service.app import create_app

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(settings.log_level)
    _ensure_default_samples(settings)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


def _ensure_default_samples(settings: Settings) -> None:
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


def _error_message(body: str, status: int) -> str:
    try:
        error = json.loads(body)["error"]
        return f"streamway: {status} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"streamway: {status}: {body}"


def main() -> None:
    cli()
