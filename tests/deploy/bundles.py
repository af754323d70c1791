"""Helpers of the bundle tests: unzip as Lambda does, and run a bundle's start script under an
interpreter that sees nothing but the bundle."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

HERE = f"{sys.version_info.major}.{sys.version_info.minor}"


def unpack(bundle: Path, destination: Path) -> Path:
    """Extracts as Lambda does, keeping the mode bits zipfile.extractall would drop."""
    with zipfile.ZipFile(bundle) as archive:
        for info in archive.infolist():
            path = Path(archive.extract(info, destination))
            path.chmod((info.external_attr >> 16) & 0o777)
    return destination


def lambda_python(tmp_path: Path) -> Path:
    """This machine's base interpreter with no site-packages (-S), as Lambda's runtime would
    have: everything streamway imports must come from the bundle."""
    python = tmp_path / f"python{HERE}"
    python.write_text(f'#!/bin/sh\nexec "{sys._base_executable}" -S "$@"\n')
    python.chmod(0o755)
    return python


def start_function(
    task_root: Path, python: Path, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as log_file:
        # Lambda runs the wrapper with the managed runtime's own command line.
        return subprocess.Popen(
            [str(task_root / "exec-wrapper"), str(python), "-m", "awslambdaric"],
            env=env,
            cwd=task_root,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
