"""What ``streamway package`` does, apart from typer: streamway's own bundle or a user's app,
with one-line errors and exit codes (2: bad usage, 1: the build failed) instead of
tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from streamway.deploy.native import BundleMismatch
from streamway.deploy.package import BundleReport, PackagingError, package
from streamway.deploy.project import NoCheckout, find_project_root
from streamway.deploy.requirements import RequirementsError
from streamway.deploy.target import Target, default_bundle_path
from streamway.deploy.user_bundle import AppSpec, AppSpecError, package_app

USAGE_ERROR = 2
BUILD_ERROR = 1


def _fail(message: object, status: int = BUILD_ERROR) -> int:
    print(f"streamway: {message}", file=sys.stderr)
    return status


def run_package(
    *,
    python: str,
    arch: str,
    out: Path | None,
    with_local_model: bool,
    find_links: Sequence[str],
    pin: bool,
    project: Path | None,
) -> int:
    """streamway's own bundle (its service, from the checkout)."""
    try:
        target = Target(python, arch)  # type: ignore[arg-type]  # checked in __post_init__
    except ValueError as error:
        return _fail(error)
    try:
        report = package(
            target,
            out or default_bundle_path(python, arch),
            project=project or find_project_root(),
            with_local_model=with_local_model,
            find_links=find_links,
            pin=pin,
        )
    except (ValueError, PackagingError, BundleMismatch, NoCheckout) as error:
        return _fail(error)
    return _report(report)


def run_package_app(
    *,
    app: str | None,
    handler: str | None,
    source: Path,
    requirements: Path | None,
    python: str,
    arch: str,
    out: Path | None,
    find_links: Sequence[str],
) -> int:
    """A user's app (``--app``) or plain handler (``--handler``) from ``source``."""
    try:
        spec = AppSpec.parse(app, handler)
        target = Target(python, arch)  # type: ignore[arg-type]  # checked in __post_init__
        if not source.is_dir():
            raise AppSpecError(f"--source {source} is not a directory")
    except ValueError as error:
        return _fail(error, USAGE_ERROR)
    try:
        report, deps = package_app(
            spec,
            source,
            target,
            out or default_bundle_path(python, arch),
            requirements=requirements,
            find_links=find_links,
        )
    except (AppSpecError, RequirementsError) as error:
        return _fail(error, USAGE_ERROR)
    except (PackagingError, BundleMismatch) as error:
        return _fail(error)
    print(f"{spec.env_name}={spec.value}; dependencies from {deps}", file=sys.stderr)
    return _report(report)


def _report(report: BundleReport) -> int:
    print(report.bytecode_note(), file=sys.stderr)
    print(report.summary())
    return 0
