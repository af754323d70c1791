"""The README's first run: sample files in an empty store directory, never over real ones."""

from __future__ import annotations

import hashlib
from pathlib import Path

from streamway.storage.samples import LARGE_SAMPLE, PDF_SAMPLE, ensure_samples


def test_samples_fill_an_empty_directory_once(tmp_path: Path) -> None:
    directory = tmp_path / "samples"
    written = ensure_samples(directory)
    assert {p.name for p in written} == {LARGE_SAMPLE, PDF_SAMPLE}
    large = directory / LARGE_SAMPLE
    assert large.stat().st_size > 64 * 1024 * 1024
    pdf = directory / "レポート 2025.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-1.4")
    assert pdf.read_bytes().endswith(b"%%EOF\n")
    for path in written:
        sidecar = path.with_name(path.name + ".sha256").read_text().split()[0]
        assert sidecar == hashlib.sha256(path.read_bytes()).hexdigest()

    assert ensure_samples(directory) == []  # not empty any more: left alone


def test_a_directory_with_files_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    assert ensure_samples(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
