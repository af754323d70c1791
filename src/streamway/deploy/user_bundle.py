"""``streamway package --app module:attr | --handler module.func``: a Lambda zip of a user's
app, its dependencies and streamway's runtime, and nothing of streamway's service.

The bundle's root holds:

- the source directory's files (see :data:`EXCLUDED_DIRECTORIES` for what is left out);
- the app's dependencies (:mod:`.requirements`), installed for the target by pip as for
  streamway's own bundle, with h11 (the runtime's one dependency) pinned to the version
  installed here;
- streamway's runtime only, copied from this installation: :data:`RUNTIME_FILES`;
- ``bootstrap`` and ``exec-wrapper``, and ``streamway-defaults.sh``, which they read: it sets
  ``STREAMWAY_APP`` (or ``STREAMWAY_HANDLER``) to what was packaged unless the function's
  configuration sets either.

uvloop is not added: its native wheel is larger than the whole runtime. An app that lists it
in its requirements gets it, and the runtime uses it. An app that lists streamway itself
gets the runtime files above in place of the installed package (keep streamway among the
development dependencies: its command-line dependencies are of no use in a function).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

import streamway
from streamway.deploy.archive import PRUNED_DIRECTORIES, PRUNED_SUFFIXES
from streamway.deploy.package import (
    LAMBDA_UNZIPPED_LIMIT,
    BundleReport,
    add_entry_points,
    finish,
    install,
    prune_distributions,
)
from streamway.deploy.requirements import find_requirements
from streamway.deploy.target import Target

#: What the runtime imports of streamway, relative to the package (a test checks it against
#: what ``python -m streamway.aws_lambda`` loads).
RUNTIME_FILES = (
    "__init__.py",
    "aws_contract.py",
    "logs.py",
    "aws_lambda",
    "observability/__init__.py",
    "observability/request_metrics.py",
    "observability/tracing.py",
)
#: Directories of the source never copied: version control, caches and tool state (any name
#: starting with a dot), bytecode of the build machine, tests, build output, node modules;
#: and any virtualenv, whatever its name (a directory holding ``pyvenv.cfg``).
EXCLUDED_DIRECTORIES = PRUNED_DIRECTORIES | {"test", "node_modules", "dist", "build", "cdk.out"}
#: Files never copied: dotfiles (``.env`` holds secrets; the function's environment is set
#: in its configuration) and bytecode (what the packager prunes from every bundle).
EXCLUDED_SUFFIXES = PRUNED_SUFFIXES
DEFAULTS_FILE = "streamway-defaults.sh"

_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_APP = re.compile(rf"({_DOTTED}):({_DOTTED})")
_HANDLER = re.compile(rf"({_DOTTED})\.([A-Za-z_]\w*)")


class AppSpecError(ValueError):
    """``--app``/``--handler`` is malformed or names no module in the source directory."""


@dataclass(frozen=True)
class AppSpec:
    kind: Literal["app", "handler"]
    value: str  # module:attr, or module.func

    @classmethod
    def parse(cls, app: str | None, handler: str | None) -> AppSpec:
        if (app is None) == (handler is None):
            raise AppSpecError("give one of --app module:attr and --handler module.func")
        if app is not None:
            if not _APP.fullmatch(app):
                raise AppSpecError(f"--app must look like module:attribute, not {app!r}")
            return cls("app", app)
        assert handler is not None
        if not _HANDLER.fullmatch(handler):
            raise AppSpecError(f"--handler must look like module.function, not {handler!r}")
        return cls("handler", handler)

    @property
    def module(self) -> str:
        pattern = _APP if self.kind == "app" else _HANDLER
        found = pattern.fullmatch(self.value)
        assert found is not None
        return found.group(1)

    @property
    def env_name(self) -> str:
        return "STREAMWAY_APP" if self.kind == "app" else "STREAMWAY_HANDLER"

    def require_module_in(self, source: Path) -> None:
        """Refuses a module the bundle would not hold: the function would fail to start."""
        base = source.joinpath(*self.module.split("."))
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return
        raise AppSpecError(
            f"--{self.kind} {self.value}: no module {self.module} in {source} (looked for "
            f"{base.relative_to(source)}.py and {base.relative_to(source)}/__init__.py)"
        )


def package_app(
    spec: AppSpec,
    source: Path,
    target: Target,
    out: Path,
    *,
    requirements: Path | None = None,
    find_links: Sequence[str] = (),
    limit_bytes: int = LAMBDA_UNZIPPED_LIMIT,
    bytecode: bool = True,
) -> tuple[BundleReport, str]:
    """Builds ``out``; returns its report and where the dependencies came from."""
    source = source.resolve()
    spec.require_module_in(source)
    with tempfile.TemporaryDirectory(prefix="streamway-package-") as scratch:
        work = Path(scratch)
        found = find_requirements(source, requirements, work)
        root = work / "bundle"
        copy_source(source, root, skip=out.resolve())
        pins = [f"h11=={metadata.version('h11')}"]
        extra = ["-r", str(found.file)] if found.file is not None else []
        install([*pins, *extra], root, target, find_links=find_links)
        # An app that lists streamway itself gets the runtime below, not the whole package.
        prune_distributions(root, ("streamway",))
        copy_runtime(root)
        add_entry_points(root)
        write_defaults(root, spec)
        own = {"streamway": "streamway runtime"}
        report = finish(
            root, target, out, limit_bytes=limit_bytes, compile_bytecode=bytecode, own=own
        )
    return report, found.source


def copy_source(source: Path, root: Path, *, skip: Path) -> None:
    """Copies the app's files, leaving out what :data:`EXCLUDED_DIRECTORIES` and the dotfile
    and bytecode rules exclude, and ``skip`` (the zip being written, if it is inside)."""

    def ignored(directory: str, names: list[str]) -> set[str]:
        return {name for name in names if _excluded(Path(directory, name), skip)}

    shutil.copytree(source, root, ignore=ignored, symlinks=False)


def _excluded(path: Path, skip: Path) -> bool:
    if path.name.startswith(".") or path.name.endswith(EXCLUDED_SUFFIXES) or path == skip:
        return True
    if not path.is_dir():
        return False
    return (
        path.name in EXCLUDED_DIRECTORIES
        or path.name.endswith(".egg-info")
        or (path / "pyvenv.cfg").is_file()
    )


def copy_runtime(root: Path) -> None:
    """streamway's runtime files, from this installation, under ``root/streamway``."""
    package = Path(streamway.__file__).parent
    for relative in RUNTIME_FILES:
        origin, destination = package / relative, root / "streamway" / relative
        if destination.exists():
            raise AppSpecError(f"the source directory has its own {destination.relative_to(root)}")
        destination.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(origin, destination)


def write_defaults(root: Path, spec: AppSpec) -> None:
    """The file the start scripts source: the packaged app, unless the function's
    configuration names one. ``spec`` is a dotted name (checked), safe inside quotes."""
    (root / DEFAULTS_FILE).write_text(
        "# Written by `streamway package`: the app this bundle was built for.\n"
        'if [ -z "${STREAMWAY_APP:-}${STREAMWAY_HANDLER:-}" ]; then\n'
        f"  export {spec.env_name}='{spec.value}'\n"
        "fi\n",
        encoding="utf-8",
    )
