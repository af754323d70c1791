"""``streamway get`` as a user runs it, against streamway on loopback: resume, verify, fail."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.service.downloads_server import downloads_server
from tests.service.fault_stores import FailingStore, MeteredStore

MiB = 1024 * 1024
DATA = os.urandom(12 * MiB + 1)
SHA256 = hashlib.sha256(DATA).hexdigest()


def make_store(root: Path) -> Path:
    root.mkdir()
    (root / "レポート 2025.pdf").write_bytes(DATA)
    (root / "レポート 2025.pdf.sha256").write_text(f"{SHA256}  x\n")
    (root / "nosum.bin").write_bytes(DATA)
    return root


def streamway_get(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamway", "get", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_get_names_the_file_as_the_server_suggests_and_verifies_it(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    work = tmp_path / "work"
    work.mkdir()
    with downloads_server(store_url=f"file://{store}") as server:
        result = streamway_get(server.download_url("レポート 2025.pdf"), cwd=work)
        unverified = streamway_get(server.download_url("nosum.bin"), "-q", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "sha-256 verified" in result.stderr
    assert "MB/s" in result.stderr or "bytes" in result.stderr  # the progress bar was drawn
    assert sorted(p.name for p in work.iterdir()) == ["nosum.bin", "レポート 2025.pdf"]
    assert hashlib.sha256((work / "レポート 2025.pdf").read_bytes()).hexdigest() == SHA256
    assert unverified.returncode == 0
    assert "size verified, no checksum sent" in unverified.stderr


def test_get_resumes_by_itself_after_the_connection_drops(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    out = tmp_path / "out.pdf"
    with downloads_server(store_url=f"file://{store}") as server:
        metered = MeteredStore(
            FailingStore(server.app.state.object_store, fail_after=5 * MiB, failures=1)
        )
        server.app.state.object_store = metered
        result = streamway_get(
            server.download_url("レポート 2025.pdf"), "-o", str(out), "-q", cwd=tmp_path
        )
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == SHA256
    assert metered.meter.ranges == [(0, len(DATA)), (5 * MiB, len(DATA))]
    assert f"resumed at byte {5 * MiB}" in result.stderr
    assert not (tmp_path / "out.pdf.part").exists()
    assert not (tmp_path / "out.pdf.part.json").exists()


def test_get_keeps_the_partial_file_and_a_later_run_resumes_it(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    out = tmp_path / "out.bin"
    with downloads_server(store_url=f"file://{store}") as server:
        real = server.app.state.object_store
        server.app.state.object_store = FailingStore(real, fail_after=3 * MiB, failures=1)
        url = server.download_url("レポート 2025.pdf")
        failed = streamway_get(url, "-o", str(out), "--retries", "0", "-q", cwd=tmp_path)
        assert failed.returncode == 1
        assert "run the same command again to resume" in failed.stderr
        assert (tmp_path / "out.bin.part").stat().st_size == 3 * MiB
        assert not out.exists()

        metered = MeteredStore(real)
        server.app.state.object_store = metered
        resumed = streamway_get(url, "-o", str(out), "-q", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert metered.meter.ranges == [(3 * MiB, len(DATA))]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == SHA256


def test_get_starts_over_when_the_object_changed_since_the_partial_copy(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    out = tmp_path / "out.bin"
    with downloads_server(store_url=f"file://{store}") as server:
        real = server.app.state.object_store
        server.app.state.object_store = FailingStore(real, fail_after=2 * MiB, failures=1)
        url = server.download_url("nosum.bin")
        assert streamway_get(url, "-o", str(out), "--retries", "0", "-q", cwd=tmp_path).returncode
        changed = os.urandom(len(DATA))
        (store / "nosum.bin").write_bytes(changed)  # a new version: new ETag
        server.app.state.object_store = real
        result = streamway_get(url, "-o", str(out), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == changed  # If-Range failed, so the whole new version came


def test_get_rejects_a_download_whose_checksum_does_not_match(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    (store / "nosum.bin.sha256").write_text(f"{'0' * 64}  nosum.bin\n")  # a wrong sidecar
    with downloads_server(store_url=f"file://{store}") as server:
        result = streamway_get(server.download_url("nosum.bin"), "-q", cwd=tmp_path)
    assert result.returncode == 1
    assert "SHA-256 mismatch" in result.stderr
    assert not (tmp_path / "nosum.bin").exists()
    assert not (tmp_path / "nosum.bin.part").exists()


def test_get_reports_http_errors_from_the_server(tmp_path: Path) -> None:
    with downloads_server(store_url=f"file://{tmp_path}") as server:
        result = streamway_get(server.download_url("missing.bin"), "-o", "x", "-q", cwd=tmp_path)
    assert result.returncode == 1
    assert "HTTP 404 not_found" in result.stderr
