"""The ``streamway`` command as a user runs it: a real process against a real server."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.servers import TEST_ENV, RunningServer, free_port, wait_until_listening


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamway", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **TEST_ENV, **(env or {})},
    )


def test_chat_prints_the_answer(server: RunningServer) -> None:
    result = run_cli("chat", "Name three colours.", "--url", server.url)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) >= 3


def test_chat_reports_errors_and_exits_non_zero(server: RunningServer) -> None:
    result = run_cli("chat", "x" * 16_001, "--url", server.url)
    assert result.returncode == 1
    assert "413 prompt_too_long" in result.stderr


def test_chat_against_nothing_fails_plainly() -> None:
    result = run_cli("chat", "hello", "--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "did not complete" in result.stderr


def test_serve_honours_port_like_lambda_web_adapter() -> None:
    port = free_port()
    # No --port: PORT decides, as it does for Lambda Web Adapter.
    process = subprocess.Popen(
        [sys.executable, "-m", "streamway", "serve"],
        env={**os.environ, **TEST_ENV, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port, process, timeout_s=60)
        assert httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("serve", "local", "chat", "get", "package", "synth", "deploy"):
        assert command in result.stdout


def test_local_help_names_its_options_and_limits() -> None:
    result = run_cli("local", "--help")
    assert result.returncode == 0
    for text in ("--stage", "--concurrency", "--throttle", "--api-key", "--jwks", "/_local/"):
        assert text in result.stdout
