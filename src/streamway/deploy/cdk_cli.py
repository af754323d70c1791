"""Running the CDK CLI on an assembly ``streamway synth`` already wrote.

The CLI only uploads assets and drives CloudFormation here: synthesis happened in-process, so
``cdk deploy --app <assembly dir>`` deploys exactly the templates that were inspected.
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: The CLI is released apart from aws-cdk-lib (2.1000+); any recent one reads the assembly.
NPX_PACKAGE = "aws-cdk@^2.1000.0"


class NoCdkCli(RuntimeError):
    """Neither ``cdk`` nor ``npx`` is on PATH."""


def cdk_command() -> list[str]:
    """``cdk`` if installed, else ``npx --yes aws-cdk`` (fetched from npm on first use)."""
    if cdk := shutil.which("cdk"):
        return [cdk]
    if npx := shutil.which("npx"):
        return [npx, "--yes", NPX_PACKAGE]
    raise NoCdkCli(
        "the AWS CDK CLI is needed to deploy: install Node.js and run `npm install -g aws-cdk`"
    )


def deploy_command(
    assembly: Path,
    stack_name: str,
    *,
    approve: bool,
    profile: str | None = None,
    outputs_file: Path | None = None,
) -> list[str]:
    command = [*cdk_command(), "deploy", stack_name, "--app", str(assembly)]
    # Without --yes the CLI stops to ask before creating IAM roles and permissions.
    command += ["--require-approval", "never" if approve else "broadening"]
    if profile:
        command += ["--profile", profile]
    if outputs_file:
        command += ["--outputs-file", str(outputs_file)]
    return command
