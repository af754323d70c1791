"""Running ``streamway`` as a user runs it, in a subprocess, with no AWS credentials anywhere
(HOME is empty, metadata lookups off)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("STREAMWAY_", "AWS_", "CDK_"))
    }
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
    )
    env.update(overrides)
    return env


def run_streamway(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamway", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    """cfn-lint on a synthesized template. W3005 (a DependsOn also implied by a GetAtt) is how
    CDK itself orders a function after its role's policy; everything else must be clean."""
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("cfn-lint")),
            str(template),
            "--format",
            "parseable",
            "--ignore-checks",
            "W3005",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
