"""What ``streamway package | synth | deploy`` do, apart from typer: each returns an exit
status and explains failures in one message on stderr instead of a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pydantic import ValidationError

from streamway.deploy.package_command import run_package
from streamway.deploy.settings import DeploySettings, LocalModelRefused


def _fail(message: object) -> int:
    print(f"streamway: {message}", file=sys.stderr)
    return 1


def _settings() -> DeploySettings:
    settings = DeploySettings()
    settings.require_remote_model()
    return settings


def run_synth(out: Path) -> int:
    try:
        settings = _settings()
        from streamway.deploy.synth import MissingBundle, synth
    except (LocalModelRefused, ValidationError) as error:
        return _fail(error)
    except ImportError as error:
        return _fail(f"{error}: synth needs the deploy extra (pip install 'streamway[deploy]')")
    try:
        result = synth(settings, out)
    except MissingBundle as error:
        return _fail(error)
    print(f"wrote {result.template}")
    return 0


def run_deploy(out: Path, *, approve: bool, profile: str | None) -> int:
    from streamway.deploy.cdk_cli import NoCdkCli, deploy_command
    from streamway.deploy.credentials import NoCredentials, require_credentials

    # Cheap refusals first: the model, then credentials; packaging and synth take minutes.
    try:
        settings = _settings()
        method = require_credentials(profile)
        print(f"AWS credentials found ({method})", file=sys.stderr)
    except (LocalModelRefused, ValidationError, NoCredentials) as error:
        return _fail(error)
    if settings.runtime == "native" and not settings.bundle_path.is_file():
        status = run_package(
            python=settings.python,
            arch=settings.arch,
            out=settings.bundle_path,
            with_local_model=False,
            find_links=(),
            pin=True,
            project=None,
        )
        if status:
            return status
    if status := run_synth(out):
        return status
    try:
        command = deploy_command(
            out,
            settings.stack_name,
            approve=approve,
            profile=profile,
            outputs_file=out / "outputs.json",
        )
    except NoCdkCli as error:
        return _fail(error)
    print("running " + " ".join(command), file=sys.stderr)
    return subprocess.run(command, check=False).returncode
