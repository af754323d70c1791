"""Bundles and synthesized templates, built once per test session (pip and CDK are slow)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from streamway.deploy.package import BundleReport, package
from streamway.deploy.target import Target
from tests.servers import REPO_ROOT

BuildBundle = Callable[[str, str], BundleReport]


@pytest.fixture(scope="session")
def build_bundle(tmp_path_factory: pytest.TempPathFactory) -> BuildBundle:
    """Builds (once) the real bundle for a Python version and architecture, from PyPI wheels
    pinned to this environment's versions; pip's own cache keeps reruns quick."""
    built: dict[tuple[str, str], BundleReport] = {}
    directory = tmp_path_factory.mktemp("bundles")

    def build(python: str, arch: str) -> BundleReport:
        if (python, arch) not in built:
            built[python, arch] = package(
                Target(python, arch),  # type: ignore[arg-type]
                directory / f"lambda-{python}-{arch}.zip",
                project=REPO_ROOT,
            )
        return built[python, arch]

    return build


@pytest.fixture(scope="session")
def placeholder_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zip standing in for the bundle where only its presence matters (stack tests): CDK
    hashes and copies it, nothing runs it."""
    path = tmp_path_factory.mktemp("placeholder") / "lambda.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("bootstrap", "#!/bin/sh\n")
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No STREAMWAY_* or AWS_* from the developer's shell leaks into DeploySettings."""
    for name in list(os.environ):
        if name.startswith(("STREAMWAY_", "AWS_", "CDK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
