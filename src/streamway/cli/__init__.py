"""The ``streamway`` command: one Typer app, its commands registered here in help order.

Each command group lives in its own module and imports what it runs only when it runs, so
``streamway --help`` stays fast and serving never loads the deploy tooling. ``serve`` needs
the ``service`` extra; without it, it says so in one line.
"""

from __future__ import annotations

from typing import Annotated

import typer

from streamway import __version__
from streamway.cli import aws, client, local, serve
from streamway.cli.service_extra import needs_service

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


cli.command()(needs_service(serve.serve))
cli.command(help=local.LOCAL_HELP)(local.local)
cli.command(help=client.CHAT_HELP)(client.chat)
cli.command(help=client.GET_HELP)(client.get)
cli.command(help=client.PUT_HELP)(client.put)
cli.command(help=aws.PACKAGE_HELP)(aws.package)
cli.command(help=aws.SYNTH_HELP)(aws.synth)
cli.command(help=aws.DEPLOY_HELP)(aws.deploy)


def main() -> None:
    cli()
