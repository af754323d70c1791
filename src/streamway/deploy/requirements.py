"""Which dependencies a user's bundle installs: the first of these that applies.

1. ``--requirements FILE``: that file, as pip reads it (it must exist).
2. ``uv.lock`` beside a ``pyproject.toml`` in the source directory: the locked versions of the
   project's dependencies, without its dev group (``uv export``; needs uv).
3. ``requirements.txt`` in the source directory.
4. ``pyproject.toml``'s ``[project] dependencies`` (as declared, not pinned).
5. Nothing: the app needs no more than the standard library and the runtime.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path


class RequirementsError(ValueError):
    """The dependencies named cannot be read (a usage error, not a failed build)."""


@dataclass(frozen=True)
class Requirements:
    #: Where they came from, for the summary: a path, or "pyproject.toml dependencies".
    source: str
    #: A requirements file for ``pip install -r``; None when there are none.
    file: Path | None


def find_requirements(source: Path, explicit: Path | None, scratch: Path) -> Requirements:
    """The app's dependencies, written to a file under ``scratch`` when they are not one."""
    if explicit is not None:
        if not explicit.is_file():
            raise RequirementsError(f"the requirements file {explicit} does not exist")
        return Requirements(str(explicit), explicit.resolve())
    pyproject = source / "pyproject.toml"
    if (source / "uv.lock").is_file() and pyproject.is_file():
        return Requirements(str(source / "uv.lock"), _export_uv_lock(source, scratch))
    if (source / "requirements.txt").is_file():
        return Requirements(str(source / "requirements.txt"), source / "requirements.txt")
    if pyproject.is_file():
        with pyproject.open("rb") as file:
            dependencies = tomllib.load(file).get("project", {}).get("dependencies", [])
        if dependencies:
            written = scratch / "pyproject-requirements.txt"
            written.write_text("\n".join(dependencies) + "\n", encoding="utf-8")
            return Requirements(f"{pyproject} dependencies", written)
    return Requirements("none", None)


def _export_uv_lock(source: Path, scratch: Path) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        raise RequirementsError(
            f"{source} has a uv.lock but uv is not installed: install uv, or pass "
            "--requirements FILE"
        )
    written = scratch / "uv-lock-requirements.txt"
    command = [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"]
    command += ["--no-header", "--quiet", "--directory", str(source), "--output-file", str(written)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        reason = (completed.stderr or completed.stdout).strip().splitlines()
        raise RequirementsError(f"uv export of {source / 'uv.lock'} failed: {reason[-1:]}")
    return written
