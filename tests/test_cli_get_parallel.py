"""``streamway get --parallel N`` as a user runs it: parts at once, resumed, never mixed.

Behind ``streamway local --throttle`` (API Gateway and Lambda's caps: 200 MiB per streamed
response, 2 MiB/s past its first 6 MiB) for what only parts can do; against streamway on
uvicorn in this process, with a fault-injecting or gated store in front of the real one,
for failures that must land at an exact place (a part dropped mid-way, the object replaced
between parts).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.types import Receive, Scope, Send

from streamway.service.services import services_of
from streamway.storage import ObjectBody, ObjectInfo, ObjectStore
from tests.peers.loopback import serve_in_thread
from tests.servers import RunningLocal, streamway_local
from tests.service.downloads_server import downloads_server
from tests.service.fault_stores import FailingStore, MeteredStore

pytestmark = pytest.mark.timeout(900)

MiB = 1024 * 1024
#: The machine may be loaded: a cold Lambda sandbox can take minutes to answer.
SLOW = ("--timeout", "600")


def write_object(path: Path, size: int) -> str:
    """``size`` pseudo-random bytes (each MiB distinct) and their ``.sha256`` sidecar."""
    block = os.urandom(MiB)
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for index in range(0, size, MiB):
            piece = (index // MiB).to_bytes(8, "big") + block[8 : min(MiB, size - index)]
            piece = piece[: min(MiB, size - index)]
            file.write(piece)
            digest.update(piece)
    sha256 = digest.hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{sha256}  {path.name}\n")
    return sha256


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(4 * MiB):
            digest.update(block)
    return digest.hexdigest()


def get_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamway", "get", *args]


def streamway_get(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        get_command(*args), cwd=cwd, capture_output=True, text=True, timeout=800, check=False
    )


# --- through streamway local --throttle -------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("store")
    sums = {
        "40MB.bin": write_object(root / "40MB.bin", 40 * 1000 * 1000),
        "260MB.bin": write_object(root / "260MB.bin", 260 * 1000 * 1000),
    }
    return root, sums


@pytest.fixture(scope="module")
def throttled(store: tuple[Path, dict[str, str]]) -> Iterator[RunningLocal]:
    env = {"STREAMWAY_STORE_URL": f"file://{store[0]}", "STREAMWAY_MODEL": "openai:unused"}
    with streamway_local(env, args=("--throttle", "--concurrency", "8")) as running:
        yield running


def test_40_mb_by_8_parts_and_by_one_stream_are_the_same_file(
    throttled: RunningLocal, store: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    url = f"{throttled.url}/download/40MB.bin"
    parts = streamway_get(url, "--parallel", "8", "-o", "parts.bin", *SLOW, cwd=tmp_path)
    one = streamway_get(url, "--parallel", "1", "-o", "one.bin", "-q", *SLOW, cwd=tmp_path)
    assert parts.returncode == 0, parts.stderr
    assert one.returncode == 0, one.stderr
    assert "sha-256 verified, 8 connections" in parts.stderr
    assert "MB/s" in parts.stderr  # one progress bar for the whole
    assert "connections" not in one.stderr
    assert sha256_of(tmp_path / "parts.bin") == sha256_of(tmp_path / "one.bin")
    assert sha256_of(tmp_path / "parts.bin") == store[1]["40MB.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.bin", "parts.bin"]


def test_260_mb_past_lambdas_cap_comes_whole_only_in_parts(
    throttled: RunningLocal, store: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    url = f"{throttled.url}/download/260MB.bin"
    parts = streamway_get(url, "-q", *SLOW, cwd=tmp_path)  # the default: over one part
    assert parts.returncode == 0, parts.stderr
    assert "sha-256 verified, 8 connections" in parts.stderr
    assert sha256_of(tmp_path / "260MB.bin") == store[1]["260MB.bin"]

    one = streamway_get(
        url, "--parallel", "1", "--retries", "0", "-o", "one.bin", "-q", *SLOW, cwd=tmp_path
    )
    assert one.returncode == 1
    # The service knows it runs on Lambda and refuses one response past the cap before any
    # body byte (docs/downloads.md), rather than letting Lambda cut it near 200 MiB.
    assert "HTTP 413 response_too_large" in one.stderr
    assert "Range: bytes=0-209698815" in one.stderr
    assert not (tmp_path / "one.bin").exists()
    part = tmp_path / "one.bin.part"
    assert not part.exists() or part.stat().st_size == 0


def test_a_killed_download_resumes_its_parts(
    throttled: RunningLocal, store: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    url = f"{throttled.url}/download/40MB.bin"
    args = (url, "--parallel", "2", "-o", "out.bin", "-q", *SLOW)
    state = tmp_path / "out.bin.part.json"
    client = subprocess.Popen(get_command(*args), cwd=tmp_path, stderr=subprocess.DEVNULL)
    try:
        # Both parts (20 MB each) past Lambda's free 6 MiB: the rest comes at 2 MiB/s.
        while written(state) < 14 * MiB:
            assert client.poll() is None, "the download ended before it was killed"
            time.sleep(0.05)
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait()
    kept = written(state)
    assert kept < 40 * 1000 * 1000

    resumed = streamway_get(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed with" in resumed.stderr
    assert int(resumed.stderr.split("resumed with ")[1].split()[0]) >= kept
    assert sha256_of(tmp_path / "out.bin") == store[1]["40MB.bin"]
    assert not state.exists()


def written(state: Path) -> int:
    """Bytes ``FILE.part.json`` records as written (0 while it is missing)."""
    try:
        return sum(end - start for start, end in json.loads(state.read_text())["have"])
    except (OSError, ValueError, KeyError):
        return 0


# --- against streamway in this process, with a store in front ---------------------------------

SIZE = 12 * MiB + 1


@pytest.fixture
def small_store(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "store"
    root.mkdir()
    return root, write_object(root / "object.bin", SIZE)


def test_a_part_dropped_mid_way_is_fetched_again_from_where_it_stopped(
    small_store: tuple[Path, str], tmp_path: Path
) -> None:
    root, sha256 = small_store
    with downloads_server(store_url=f"file://{root}") as server:
        metered = MeteredStore(
            FailingStore(services_of(server.app).store, fail_after=2 * MiB, failures=1)
        )
        services_of(server.app).store = metered
        result = streamway_get(
            server.download_url("object.bin"), "-n", "4", "-o", "out.bin", "-q", cwd=tmp_path
        )
    assert result.returncode == 0, result.stderr
    assert "sha-256 verified, 4 connections" in result.stderr
    assert sha256_of(tmp_path / "out.bin") == sha256
    plan = [(0, 3 * MiB + 1), (3 * MiB + 1, 6 * MiB + 2), (6 * MiB + 2, 9 * MiB + 3)]
    plan.append((9 * MiB + 3, SIZE))
    ranges = sorted(metered.meter.ranges)
    retried = [r for r in ranges if r not in plan]
    assert len(ranges) == 5
    assert len(retried) == 1
    # The one extra request asks for the rest of a part, from the byte where it stopped.
    assert any(retried[0] == (start + 2 * MiB, end) for start, end in plan)


def test_a_later_run_fetches_only_what_is_missing(
    small_store: tuple[Path, str], tmp_path: Path
) -> None:
    root, sha256 = small_store
    with downloads_server(store_url=f"file://{root}") as server:
        real = services_of(server.app).store
        services_of(server.app).store = FailingStore(real, fail_after=MiB, failures=1)
        url = server.download_url("object.bin")
        args = (url, "-n", "4", "--retries", "0", "-o", "out.bin", "-q")
        failed = streamway_get(*args, cwd=tmp_path)
        assert failed.returncode == 1
        assert "run the same command again to resume" in failed.stderr
        assert not (tmp_path / "out.bin").exists()
        kept = written(tmp_path / "out.bin.part.json")
        assert kept >= MiB

        metered = MeteredStore(real)
        services_of(server.app).store = metered
        resumed = streamway_get(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed with {kept} bytes kept" in resumed.stderr
    assert sum(end - start for start, end in metered.meter.ranges) == SIZE - kept
    assert sha256_of(tmp_path / "out.bin") == sha256


class GatedStore:
    """The real store; the first ``gates`` opens of a range not at byte 0 wait, after
    saying so, until the test lets them go (it replaces the object in between)."""

    def __init__(self, store: ObjectStore, gates: int) -> None:
        self.store = store
        self.gates_left = gates
        self.reached = threading.Semaphore(0)
        self.release = threading.Semaphore(0)

    async def stat(self, key: str) -> ObjectInfo:
        return await self.store.stat(key)

    async def open(self, key: str, start: int, end: int, *, etag: str | None = None) -> ObjectBody:
        if start > 0 and self.gates_left > 0:
            self.gates_left -= 1
            self.reached.release()
            await asyncio.to_thread(self.release.acquire, True, 300)
        return await self.store.open(key, start, end, etag=etag)

    async def get(self, key: str) -> tuple[ObjectInfo, ObjectBody]:
        return await self.store.get(key)

    async def aclose(self) -> None:
        await self.store.aclose()


def replace_object(path: Path, tag: int) -> bytes:
    """A new version of the object: other bytes, the same size, a later mtime (new ETag)."""
    data = bytes([tag]) * SIZE
    before = path.stat().st_mtime_ns
    fresh = path.with_name(f"new-{tag}")
    fresh.write_bytes(data)
    os.utime(fresh, ns=(before + 10**9, before + 10**9))
    fresh.replace(path)  # a reader of the old version keeps reading the old version
    path.with_name(path.name + ".sha256").unlink(missing_ok=True)
    return data


def run_with_replacements(root: Path, tmp_path: Path, times: int) -> tuple[int, str, bytes]:
    """Starts a 2-part download; each time a part past byte 0 is asked for, replaces the
    object before the store opens it. Returns the client's exit status and stderr, and the
    last version."""
    newest = b""
    with downloads_server(store_url=f"file://{root}") as server:
        gated = GatedStore(services_of(server.app).store, gates=times)
        services_of(server.app).store = gated
        client = subprocess.Popen(
            get_command(server.download_url("object.bin"), "-n", "2", "-o", "out.bin", "-q"),
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for tag in range(times):
                assert gated.reached.acquire(timeout=300), "no part past byte 0 was asked for"
                newest = replace_object(root / "object.bin", tag)
                gated.release.release()
            _, stderr = client.communicate(timeout=600)
        finally:
            if client.poll() is None:
                client.kill()
                client.communicate()
    return client.returncode, stderr, newest


def test_an_object_replaced_between_parts_restarts_the_download_unmixed(
    small_store: tuple[Path, str], tmp_path: Path
) -> None:
    status, stderr, new = run_with_replacements(small_store[0], tmp_path, times=1)
    assert status == 0, stderr
    assert (tmp_path / "out.bin").read_bytes() == new  # all of the new version, nothing old


def test_an_object_that_keeps_changing_fails_clearly(
    small_store: tuple[Path, str], tmp_path: Path
) -> None:
    status, stderr, _ = run_with_replacements(small_store[0], tmp_path, times=2)
    assert status == 1
    assert "changed on the server twice during the download" in stderr
    assert "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == []


BODY = os.urandom(4 * MiB)


async def ignores_range(scope: Scope, receive: Receive, send: Send) -> None:
    """A server that says it takes byte ranges, then answers every GET with 200 and all."""
    headers = [
        (b"content-length", str(len(BODY)).encode()),
        (b"accept-ranges", b"bytes"),
        (b"etag", b'"v1"'),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    body = b"" if scope["method"] == "HEAD" else BODY
    await send({"type": "http.response.body", "body": body})


def test_a_server_that_ignores_range_fails_clearly(tmp_path: Path) -> None:
    with serve_in_thread(ignores_range) as url:
        parts = streamway_get(f"{url}/x.bin", "-n", "4", "-o", "parts.bin", "-q", cwd=tmp_path)
        one = streamway_get(f"{url}/x.bin", "-n", "1", "-o", "one.bin", "-q", cwd=tmp_path)
    assert parts.returncode == 1
    assert "the server ignored Range (200 instead of 206): use --parallel 1" in parts.stderr
    assert "Traceback" not in parts.stderr
    assert not (tmp_path / "parts.bin").exists()
    assert one.returncode == 0, one.stderr
    assert (tmp_path / "one.bin").read_bytes() == BODY
