"""Finding streamway's source checkout: the packager builds a wheel from it and the LWA image
is built from it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import streamway


class NoCheckout(RuntimeError):
    """streamway is installed from a wheel, not run from its source tree."""


def is_streamway_project(directory: Path) -> bool:
    pyproject = directory / "pyproject.toml"
    if not pyproject.is_file():
        return False
    with pyproject.open("rb") as file:
        name = tomllib.load(file).get("project", {}).get("name")
    return bool(name == "streamway")


def find_project_root(start: Path | None = None) -> Path:
    """The checkout holding ``start`` (default: the current directory), else the one this
    package was imported from (src layout: ``<root>/src/streamway``)."""
    here = (start or Path.cwd()).resolve()
    candidates = [here, *here.parents, Path(streamway.__file__).resolve().parents[2]]
    for directory in candidates:
        if is_streamway_project(directory):
            return directory
    raise NoCheckout(
        "no streamway source checkout found (a pyproject.toml naming streamway); run from "
        "the checkout or pass --project DIR"
    )
