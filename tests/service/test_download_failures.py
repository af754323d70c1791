"""Failures look like failures: aborted transfers, 503s, closed upstreams, bounded memory.

* A store that fails after the headers went out makes curl exit 18 (transfer closed with
  bytes outstanding), and the failure is logged with the request id.
* Killing the S3 server mid-download does the same.
* A thousand clients that leave mid-download leave no file descriptor or connection open.
* A client that stops reading stops the store from reading (backpressure through send()).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streamway.logs import JsonLinesFormatter
from streamway.service.services import services_of
from tests.service.downloads_server import (
    BUCKET,
    MotoS3,
    curl,
    downloads_server,
    moto_s3,
    settle_fds,
    steady_fds,
)
from tests.service.fault_stores import FailingStore, MeteredStore
from tests.tcp_state import zero_window_probes

MiB = 1024 * 1024
DATA = os.urandom(16 * MiB)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with moto_s3() as server:
        server.put("data.bin", DATA)
        yield server


@pytest.fixture
def local_root(tmp_path: Path) -> Path:
    (tmp_path / "data.bin").write_bytes(DATA)
    return tmp_path


class _Lines(logging.Handler):
    """Formats records as the service would log them (JSON with the request id)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonLinesFormatter())
        self.entries: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append(json.loads(self.format(record)))


@pytest.fixture
def download_logs() -> Iterator[_Lines]:
    handler = _Lines()
    logger = logging.getLogger("streamway.downloads")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def store_settings(kind: str, local_root: Path, moto: MotoS3 | None) -> dict[str, str]:
    if kind == "local":
        return {"store_url": f"file://{local_root}"}
    assert moto is not None
    return {"store_url": f"s3://{BUCKET}", "s3_endpoint_url": moto.endpoint}


def headers_of(dump: Path) -> dict[str, str]:
    lines = dump.read_text("latin-1").splitlines()[1:]
    return {k.lower(): v for k, _, v in (line.partition(": ") for line in lines) if v}


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_store_failing_mid_body_aborts_the_transfer(
    kind: str,
    local_root: Path,
    download_logs: _Lines,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    moto = request.getfixturevalue("moto") if kind == "s3" else None
    fail_after = 3 * MiB + 12345
    with downloads_server(**store_settings(kind, local_root, moto)) as server:
        services_of(server.app).store = FailingStore(
            services_of(server.app).store, fail_after=fail_after
        )
        dump = tmp_path / "headers"
        result = curl(
            "-D",
            str(dump),
            "-o",
            os.devnull,
            "-w",
            "%{size_download}",
            server.download_url("data.bin"),
        )
    assert result.returncode == 18, result.stderr  # CURLE_PARTIAL_FILE
    assert int(result.stdout) == fail_after
    headers = headers_of(dump)
    assert headers["content-length"] == str(len(DATA))
    failures = [e for e in download_logs.entries if e["level"] == "ERROR"]
    assert [e["message"] for e in failures] == [
        "store failed mid-download; aborting the connection"
    ]
    assert failures[0]["request_id"] == headers["x-request-id"]
    assert failures[0]["bytes_sent"] == fail_after
    assert "injected read error" in str(failures[0]["exception"])


def test_killing_the_s3_server_mid_download_aborts_the_transfer(tmp_path: Path) -> None:
    # Big enough that the loopback socket buffers on both hops (about 20 MiB) cannot hold
    # the rest of it when moto dies.
    large = DATA * 5
    received = tmp_path / "received.bin"
    with moto_s3() as moto:
        moto.put("data.bin", large, checksum=False)
        with downloads_server(store_url=f"s3://{BUCKET}", s3_endpoint_url=moto.endpoint) as server:
            client = subprocess.Popen(
                [
                    "curl",
                    "-sS",
                    "--limit-rate",
                    "4M",
                    "-o",
                    str(received),
                    "-w",
                    "%{size_download}",
                    server.download_url("data.bin"),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            # Mid-download: once the body's first bytes reached curl.
            wait_until(lambda: received.exists() and received.stat().st_size > 0)
            moto.kill()
            stdout, stderr = client.communicate(timeout=60)
    assert client.returncode == 18, stderr
    assert 0 < int(stdout) < len(large)


def test_unreachable_s3_before_the_headers_is_a_json_503() -> None:
    with moto_s3() as moto:
        moto.put("data.bin", b"x")
        with downloads_server(store_url=f"s3://{BUCKET}", s3_endpoint_url=moto.endpoint) as server:
            moto.kill()
            result = curl("-w", "\n%{http_code}", server.download_url("data.bin"))
    body, _, status = result.stdout.rpartition(b"\n")
    assert status == b"503"
    assert json.loads(body)["error"]["code"] == "store_unavailable"


def wait_until(check: Callable[[], bool], timeout_s: float = 60) -> None:
    """Waits for ``check()``; the timeout only turns a hang into a failure."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not so within {timeout_s} s"
        time.sleep(0.02)


def reads_once_they_stop(metered: MeteredStore, timeout_s: float = 60) -> int:
    """The store's bytes read, once no read has happened for half a second. That a count
    stops changing can only be seen over some time: the half second is a window to look
    through, not a wait for something to happen. A server without backpressure reads to the
    object's end and stops there, which the caller's bound then refuses."""
    deadline = time.monotonic() + timeout_s
    before = metered.meter.bytes_read
    while True:
        time.sleep(0.5)
        now = metered.meter.bytes_read
        if now == before:
            return now
        assert time.monotonic() < deadline, f"the store was still read after {timeout_s} s"
        before = now


def abort_mid_body(port: int, path: str) -> None:
    """Starts a download, reads a little of the body, then resets the connection."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received or len(received) < 70_000:
            chunk = sock.recv(65536)
            assert chunk, "server closed first"
            received += chunk
        assert received.startswith(b"HTTP/1.1 200")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize(("kind", "clients"), [("local", 1000), ("s3", 300)])
def test_aborted_downloads_leave_no_open_descriptors(
    kind: str, clients: int, local_root: Path, request: pytest.FixtureRequest
) -> None:
    moto = request.getfixturevalue("moto") if kind == "s3" else None
    with downloads_server(**store_settings(kind, local_root, moto)) as server:
        metered = MeteredStore(services_of(server.app).store)
        services_of(server.app).store = metered
        port = int(server.url.rsplit(":", 1)[1])
        abort_mid_body(port, "/download/data.bin")  # warm up pools and worker threads
        baseline = steady_fds()
        for _ in range(clients):
            abort_mid_body(port, "/download/data.bin")
        after = settle_fds(baseline)
        # Bodies of aborted downloads are closed as their tasks end, after the sockets.
        wait_until(lambda: metered.meter.open_bodies == 0)
    assert metered.meter.gets == clients + 1
    assert metered.meter.open_bodies == 0  # every upstream body was closed
    assert after <= baseline, f"{after - baseline} descriptors leaked by {clients} aborts"


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_stalled_client_stops_the_store_reading(kind: str, tmp_path: Path) -> None:
    size = 96 * MiB
    with contextlib.ExitStack() as stack:
        if kind == "local":
            with (tmp_path / "huge.bin").open("wb") as file:
                file.truncate(size)  # sparse: instant to make, real to read
            settings = {"store_url": f"file://{tmp_path}"}
        else:
            moto = stack.enter_context(moto_s3())
            moto.put("huge.bin", DATA * (size // len(DATA)), checksum=False)
            settings = {"store_url": f"s3://{BUCKET}", "s3_endpoint_url": moto.endpoint}
        server = stack.enter_context(
            downloads_server(**settings, download_chunk_size=MiB, download_chunks_in_flight=2)
        )
        metered = MeteredStore(services_of(server.app).store)
        services_of(server.app).store = metered
        port = int(server.url.rsplit(":", 1)[1])
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"GET /download/huge.bin HTTP/1.1\r\nHost: test\r\n\r\n")
            received = 0
            while received < 4 * MiB:
                received += len(sock.recv(1 << 20))
            # The client stalls: the server's writes block behind it (its connection probes
            # the client's shut receive window), and then its reads of the store must stop.
            wait_until(lambda: zero_window_probes(local_port=port) is not None)
            read_while_stalled = reads_once_they_stop(metered)
            assert zero_window_probes(local_port=port) is not None  # still stalled
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # Ahead of the client: the read-ahead (queue or aiohttp's buffer), one chunk in send(),
    # plus what the kernel's socket buffers hold (a few MiB on loopback). Not the object.
    ahead = read_while_stalled - received
    assert ahead < 16 * MiB, f"the server read {ahead / MiB:.1f} MiB ahead of a stalled client"
