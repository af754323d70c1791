"""The README's run command: `streamway serve` on defaults creates ./samples and serves it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx

from tests.service.downloads_server import NO_MODEL, free_port, wait_for_port


def test_serve_on_defaults_creates_and_serves_the_sample_files(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMWAY_")}
    env |= {"STREAMWAY_MODEL": NO_MODEL, "STREAMWAY_PORT": str(port)}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamway", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout_s=60)
        base = f"http://127.0.0.1:{port}/download/"
        large = httpx.head(base + "sample-80MiB.bin")
        report = httpx.get(base + quote("レポート 2025.pdf"))
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert large.status_code == 200
    assert int(large.headers["content-length"]) > 64 * 1024 * 1024
    assert large.headers["repr-digest"].startswith("sha-256=:")
    assert report.status_code == 200
    assert report.content.startswith(b"%PDF")
    assert (tmp_path / "samples" / "レポート 2025.pdf").is_file()
