"""Pruning and the reproducible zip."""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from pathlib import Path

import pytest

from streamway.deploy.archive import prune, write_zip
from streamway.deploy.package import BundleTooLarge, require_within_limit


def _tree(root: Path) -> Path:
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("x = 1\n")
    (root / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0" * 100)
    (root / "pkg" / "tests").mkdir()
    (root / "pkg" / "tests" / "test_pkg.py").write_text("def test(): pass\n")
    (root / "pkg" / "stale.pyc").write_bytes(b"\0" * 10)
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/somewhere/python\n")
    (root / "bootstrap").write_text("#!/bin/sh\n")
    (root / "lib.so").write_bytes(b"\x7fELF")
    (root / "lib.so").chmod(0o775)
    return root


def test_prune_removes_what_lambda_never_reads(tmp_path: Path) -> None:
    root = _tree(tmp_path / "b")
    freed = prune(root)
    remaining = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert remaining == ["bootstrap", "lib.so", "pkg/__init__.py"]
    assert freed == 100 + 17 + 10 + 20


def test_zip_is_reproducible_with_normalised_modes(tmp_path: Path) -> None:
    first = _tree(tmp_path / "one")
    report = write_zip(first, tmp_path / "one.zip", executables=["bootstrap"])
    second = _tree(tmp_path / "two")
    # Different mtimes and creation order must not change a byte.
    os.utime(second / "pkg" / "__init__.py", (1, 1))
    write_zip(second, tmp_path / "two.zip", executables=["bootstrap"])
    digest = [
        hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("one.zip", "two.zip")
    ]
    assert digest[0] == digest[1]

    with zipfile.ZipFile(report.path) as archive:
        infos = archive.infolist()
    modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in infos}
    assert modes["bootstrap"] == 0o755
    assert modes["lib.so"] == 0o755  # executable on disk stays executable
    assert modes["pkg/__init__.py"] == 0o644
    assert [i.filename for i in infos] == sorted(modes)
    assert report.files == len(infos)
    assert report.unzipped_bytes == sum(i.file_size for i in infos)


def test_a_bundle_over_the_limit_is_refused_and_removed(tmp_path: Path) -> None:
    report = write_zip(_tree(tmp_path / "b"), tmp_path / "b.zip")
    require_within_limit(report, report.unzipped_bytes)  # exactly at the limit is fine
    with pytest.raises(BundleTooLarge, match=f"unzips to {report.unzipped_bytes:,} bytes"):
        require_within_limit(report, report.unzipped_bytes - 1)
    assert not report.path.exists()
