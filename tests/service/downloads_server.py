"""Real parts for download tests: streamway on uvicorn in a thread, moto's S3 server, curl.

streamway runs in-process (a uvicorn server on a loopback port in a thread) so a test can
count the server's open file descriptors in ``/proc/self/fd`` and put a fault-injecting
store in front of the real one. The S3 side is ``moto_server`` in a subprocess, a real
S3-protocol server over HTTP that a test can kill mid-download.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from fastapi import FastAPI

from streamway.service.app import create_app
from tests.settings import flat_settings

BUCKET = "streamway-test"
#: The downloads never touch the model; a remote model id keeps startup free of llama.cpp.
NO_MODEL = "openai:unused"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout_s} s")


@dataclass
class ThreadServer:
    url: str
    app: FastAPI

    def download_url(self, key: str) -> str:
        from urllib.parse import quote

        return f"{self.url}/download/{quote(key)}"


@contextmanager
def downloads_server(**settings: Any) -> Iterator[ThreadServer]:
    """streamway with ``flat_settings(**settings)`` on a free loopback port, until it ends."""
    port = free_port()
    app = create_app(flat_settings(model=NO_MODEL, port=port, **settings))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"streamway-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("streamway did not start")
        time.sleep(0.02)
    try:
        yield ThreadServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@dataclass
class MotoS3:
    endpoint: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def put(self, key: str, data: bytes, *, checksum: bool = True, **extra: Any) -> None:
        if checksum:
            extra["ChecksumAlgorithm"] = "SHA256"
        self.client().put_object(Bucket=BUCKET, Key=key, Body=data, **extra)

    def store_env(self, prefix: str) -> dict[str, str]:
        """The environment that gives a streamway process its store under ``prefix`` here."""
        return {
            **S3_ENV,
            "STREAMWAY_STORE_URL": f"s3://{BUCKET}/{prefix}",
            "STREAMWAY_S3_ENDPOINT_URL": self.endpoint,
        }

    def multipart_uploads(self) -> list[dict[str, Any]]:
        """The bucket's multipart uploads not yet completed nor aborted."""
        uploads: list[dict[str, Any]] = (
            self.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
        )
        return uploads

    def keys(self, prefix: str) -> list[str]:
        """The keys under ``prefix`` (one page: the tests keep fewer than 1,000)."""
        listing = self.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [entry["Key"] for entry in listing.get("Contents", [])]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@contextmanager
def s3_credentials() -> Iterator[None]:
    """Dummy credentials for boto3 and aiobotocore; moto accepts any."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in S3_ENV.items():
            patch.setenv(name, value)
        yield


@contextmanager
def moto_s3(*, unauthenticated_requests: int | None = None) -> Iterator[MotoS3]:
    """``moto_server`` on a free loopback port with the test bucket created.

    With ``unauthenticated_requests``, moto checks IAM (its INITIAL_NO_AUTH_ACTION_COUNT)
    once that many requests, the bucket's creation first among them, have been served.
    """
    port = free_port()
    executable = Path(sys.executable).with_name("moto_server")
    env = dict(os.environ)
    if unauthenticated_requests is not None:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(unauthenticated_requests)
    process = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        with s3_credentials():
            moto = MotoS3(f"http://127.0.0.1:{port}", process)
            moto.client().create_bucket(Bucket=BUCKET)
            yield moto
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def curl(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Runs the real curl; the caller checks ``returncode`` (18: transfer closed early)."""
    binary = shutil.which("curl")
    if binary is None:  # scripts/setup installs it; a clear failure beats a skipped test
        raise RuntimeError("curl is not installed; run scripts/setup")
    return subprocess.run(
        [binary, "--silent", "--show-error", "--globoff", *args],
        capture_output=True,
        timeout=timeout_s,
        check=False,
    )


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def steady_fds(quiet_s: float = 0.3, timeout_s: float = 10.0) -> int:
    """Open descriptors once the count has not changed for ``quiet_s``."""
    deadline = time.monotonic() + timeout_s
    count = open_fds()
    stable_since = time.monotonic()
    while time.monotonic() - stable_since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.05)
        now = open_fds()
        if now != count:
            count, stable_since = now, time.monotonic()
    return count


def settle_fds(baseline: int, timeout_s: float = 10.0) -> int:
    """Open descriptors once the server has finished cleaning up (or the timeout passed)."""
    deadline = time.monotonic() + timeout_s
    count = open_fds()
    while count > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
        count = open_fds()
    return count
