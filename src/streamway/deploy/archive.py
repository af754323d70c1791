"""Trimming a bundle directory and zipping it reproducibly.

The same inputs give the same bytes: entries sorted by path, every timestamp the zip epoch
(1980-01-01), permissions normalised to 0644 or 0755. So two builds of one commit can be
compared by hash, and CDK's asset hash (hence the deployment) changes only when content does.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
#: Removed before zipping: bytecode caches (Lambda's /var/task is read-only, and the
#: interpreter that wrote them may not be the target's), test suites, and pip's console
#: scripts, whose shebangs name the build machine's interpreter.
PRUNED_DIRECTORIES = frozenset({"__pycache__", "tests"})
PRUNED_TOP_LEVEL = frozenset({"bin"})
PRUNED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class ZipReport:
    path: Path
    files: int
    unzipped_bytes: int
    zipped_bytes: int


def prune(root: Path) -> int:
    """Removes what Lambda never reads; returns the bytes freed."""
    freed = 0
    for name in PRUNED_TOP_LEVEL:
        if (root / name).is_dir():
            freed += _size(root / name)
            shutil.rmtree(root / name)
    for directory, subdirectories, files in os.walk(root, topdown=True):
        for name in list(subdirectories):
            if name in PRUNED_DIRECTORIES:
                path = Path(directory, name)
                freed += _size(path)
                shutil.rmtree(path)
                subdirectories.remove(name)
        for name in files:
            if name.endswith(PRUNED_SUFFIXES):
                path = Path(directory, name)
                freed += path.stat().st_size
                path.unlink()
    return freed


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def write_zip(root: Path, out: Path, *, executables: Iterable[str] = ()) -> ZipReport:
    """Zips every file under ``root``; ``executables`` (paths relative to root) get 0755,
    as does anything already executable, everything else 0644."""
    executable = set(executables)
    files = sorted(
        (p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix()
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    unzipped = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in files:
            name = path.relative_to(root).as_posix()
            mode = path.stat().st_mode
            runnable = name in executable or bool(mode & stat.S_IXUSR)
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix: Lambda honours the mode bits in external_attr
            info.external_attr = (stat.S_IFREG | (0o755 if runnable else 0o644)) << 16
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data, compresslevel=6)
    return ZipReport(out, len(files), unzipped, out.stat().st_size)
