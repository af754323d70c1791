"""``streamway get`` as a user runs it, against streamway on loopback: resume, verify, fail."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from streamway.service.services import services_of
from streamway.storage import ObjectBody, ObjectInfo, ObjectStore
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
            FailingStore(services_of(server.app).store, fail_after=5 * MiB, failures=1)
        )
        services_of(server.app).store = metered
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
        real = services_of(server.app).store
        services_of(server.app).store = FailingStore(real, fail_after=3 * MiB, failures=1)
        url = server.download_url("レポート 2025.pdf")
        failed = streamway_get(url, "-o", str(out), "--retries", "0", "-q", cwd=tmp_path)
        assert failed.returncode == 1
        assert "run the same command again to resume" in failed.stderr
        assert (tmp_path / "out.bin.part").stat().st_size == 3 * MiB
        assert not out.exists()

        metered = MeteredStore(real)
        services_of(server.app).store = metered
        resumed = streamway_get(url, "-o", str(out), "-q", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert metered.meter.ranges == [(3 * MiB, len(DATA))]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == SHA256


def test_get_starts_over_when_the_object_changed_since_the_partial_copy(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    out = tmp_path / "out.bin"
    with downloads_server(store_url=f"file://{store}") as server:
        real = services_of(server.app).store
        services_of(server.app).store = FailingStore(real, fail_after=2 * MiB, failures=1)
        url = server.download_url("nosum.bin")
        assert streamway_get(url, "-o", str(out), "--retries", "0", "-q", cwd=tmp_path).returncode
        changed = os.urandom(len(DATA))
        (store / "nosum.bin").write_bytes(changed)  # a new version: new ETag
        services_of(server.app).store = real
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


class RenamingStore:
    """The real store, with every object presented under ``name``: the server then suggests
    that name in Content-Disposition (what a hostile or careless server can send)."""

    def __init__(self, store: ObjectStore, name: str) -> None:
        self.store = store
        self.name = name

    async def stat(self, key: str) -> ObjectInfo:
        return dataclasses.replace(await self.store.stat(key), key=self.name)

    async def open(self, key: str, start: int, end: int, *, etag: str | None = None) -> ObjectBody:
        return await self.store.open(key, start, end, etag=etag)

    async def get(self, key: str) -> tuple[ObjectInfo, ObjectBody]:
        info, body = await self.store.get(key)
        return dataclasses.replace(info, key=self.name), body

    async def aclose(self) -> None:
        await self.store.aclose()


def test_get_does_not_overwrite_an_existing_file_with_the_servers_name(tmp_path: Path) -> None:
    """Issue 15 item 7: a server-chosen name replaced an existing file (curl -OJ refuses)."""
    store = make_store(tmp_path / "store")
    work = tmp_path / "work"
    work.mkdir()
    mine = work / "nosum.bin"
    mine.write_bytes(b"my own file")
    (work / "other.bin.part").write_bytes(b"not a download")
    with downloads_server(store_url=f"file://{store}") as server:
        url = server.download_url("nosum.bin")
        refused = streamway_get(url, "-q", cwd=work)
        assert refused.returncode == 1
        assert "already exists" in refused.stderr
        assert "--force" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert mine.read_bytes() == b"my own file"
        assert sorted(p.name for p in work.iterdir()) == ["nosum.bin", "other.bin.part"]

        # A .part that is not this URL's partial download is not ours to truncate either.
        services_of(server.app).store = RenamingStore(services_of(server.app).store, "other.bin")
        stranger = streamway_get(url, "-q", cwd=work)
        assert stranger.returncode == 1
        assert "is not a partial download" in stranger.stderr
        assert (work / "other.bin.part").read_bytes() == b"not a download"
        services_of(server.app).store = services_of(server.app).store.store

        explicit = streamway_get(url, "-q", "-o", "nosum.bin", cwd=work)  # named: overwrite
        assert explicit.returncode == 0, explicit.stderr
        assert mine.read_bytes() == DATA
        mine.write_bytes(b"my own file")
        forced = streamway_get(url, "-q", "--force", cwd=work)
        assert forced.returncode == 0, forced.stderr
        assert mine.read_bytes() == DATA


def test_get_without_o_still_resumes_its_own_partial_download(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    work = tmp_path / "work"
    work.mkdir()
    with downloads_server(store_url=f"file://{store}") as server:
        real = services_of(server.app).store
        services_of(server.app).store = FailingStore(real, fail_after=3 * MiB, failures=1)
        url = server.download_url("nosum.bin")
        failed = streamway_get(url, "--retries", "0", "-q", cwd=work)
        assert failed.returncode == 1
        assert (work / "nosum.bin.part").stat().st_size == 3 * MiB
        services_of(server.app).store = real
        resumed = streamway_get(url, "-q", cwd=work)  # like curl -C - -OJ
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at byte {3 * MiB}" in resumed.stderr
    assert (work / "nosum.bin").read_bytes() == DATA


def test_get_reduces_a_suggested_name_to_a_safe_base_name(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    work = tmp_path / "work"
    work.mkdir()
    with downloads_server(store_url=f"file://{store}") as server:
        real = services_of(server.app).store
        url = server.download_url("nosum.bin")

        services_of(server.app).store = RenamingStore(real, "evil\x00name.txt")
        nul = streamway_get(url, "-q", cwd=work)
        services_of(server.app).store = RenamingStore(real, "..\\..\\escape.txt")
        backslashes = streamway_get(url, "-q", cwd=work)
        services_of(server.app).store = RenamingStore(real, "..")
        dots = streamway_get(url, "-q", cwd=work)
        services_of(server.app).store = RenamingStore(real, "line\nbreak.txt")
        newline = streamway_get(url, "-q", cwd=work)
    for refused in (nul, newline):
        assert refused.returncode == 1
        assert "control characters" in refused.stderr
        assert "-o" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert backslashes.returncode == 0, backslashes.stderr
    assert dots.returncode == 0, dots.stderr
    assert sorted(p.name for p in work.iterdir()) == ["download", "escape.txt"]
    assert not (tmp_path / "escape.txt").exists()
