"""Whether the ``service`` extra is installed: the light install has the runtime, ``local``,
``get`` and ``package``; ``serve`` and streamway's own app need FastAPI, Strands and the rest.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.util import find_spec
from typing import ParamSpec, TypeVar

import typer

#: One top-level module of each distribution only the service extra brings.
SERVICE_MODULES = ("fastapi", "strands", "aiobotocore", "pydantic_settings")
INSTALL_HINT = "pip install 'streamway[service]'"

P = ParamSpec("P")
R = TypeVar("R")


class ServiceMissing(RuntimeError):
    """Something asked for streamway's service, and its extra is not installed."""


def missing_service_modules() -> list[str]:
    return [name for name in SERVICE_MODULES if find_spec(name) is None]


def require_service(what: str) -> None:
    missing = missing_service_modules()
    if missing:
        raise ServiceMissing(
            f"{what} needs streamway's service (missing: {', '.join(missing)}): {INSTALL_HINT}"
        )


def needs_service(command: Callable[P, R]) -> Callable[P, R]:
    """Wraps a command so that, without the service extra, it exits 1 with one line that
    says what to install instead of an import traceback."""

    @functools.wraps(command)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            require_service(f"streamway {command.__name__}")
        except ServiceMissing as error:
            typer.echo(f"streamway: {error}", err=True)
            raise typer.Exit(1) from None
        return command(*args, **kwargs)

    return checked
