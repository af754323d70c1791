"""Real servers on loopback for the tests: ``streamway serve`` in a subprocess, and helpers.

Tests talk to streamway over a real socket because that is the only way to see streaming
as a client does (httpx's ASGITransport buffers whole responses, httpx#2186).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# Short, reproducible answers keep the suite fast; tests that need long ones raise it.
TEST_ENV = {
    "STREAMWAY_MAX_TOKENS": "64",
    "STREAMWAY_SEED": "7",
    "STREAMWAY_LOG_LEVEL": "INFO",
    # The servers of one test run share one machine-wide model slot among themselves, and not
    # with whatever else runs on the machine (another checkout's tests, a benchmark): those
    # would otherwise hold the slot for minutes and turn these tests' answers into 503s.
    "STREAMWAY_MODEL_SLOT_DIR": tempfile.mkdtemp(prefix="streamway-test-slot-"),
}


REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout_s} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Asks a server process to stop, and kills it if it has not within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def raw_http(
    port: int, head: bytes, body_parts: Sequence[bytes] = (), timeout_s: float = 10
) -> bytes:
    """Sends a hand-built request; returns what the server answered before it closed (or
    before a JSON body ended, or ``timeout_s``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.shutdown(socket.SHUT_WR) if body_parts else None
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer


@dataclass
class RunningServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def logs(self) -> list[dict[str, Any]]:
        """The server's JSON log lines so far (other lines, if any, are skipped)."""
        entries = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return entries

    def errors(self, request_id: str) -> list[dict[str, Any]]:
        """The ERROR lines logged for one request."""
        return [
            entry
            for entry in self.logs()
            if entry.get("level") == "ERROR" and entry.get("request_id") == request_id
        ]

    def wait_for_log(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 5
    ) -> dict[str, Any]:
        """The first log entry matching ``predicate``, waiting for it to be written."""
        deadline = time.monotonic() + timeout_s
        while True:
            for entry in self.logs():
                if predicate(entry):
                    return entry
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching log line within {timeout_s} s")
            time.sleep(0.02)

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/stats", timeout=5).json()
        return result


@contextmanager
def python_server(
    args: list[str], port: int, env: Mapping[str, str], *, log_prefix: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Runs ``python <args>`` from the repository root with the test settings and ``env``,
    its output in a log file, until the block ends; yields once ``port`` accepts."""
    log_path = Path(tempfile.mkstemp(prefix=log_prefix, suffix=".log")[1])
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, *args],
            env={**os.environ, **TEST_ENV, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        try:
            wait_until_listening(port, process, timeout_s=60)
            yield process, log_path
        finally:
            stop_process(process)


@contextmanager
def streamway_server(
    env: Mapping[str, str] | None = None, *, args: tuple[str, ...] = ()
) -> Iterator[RunningServer]:
    """Runs ``python -m streamway serve`` with ``env`` on a free port until the block ends."""
    port = free_port()
    command = ["-m", "streamway", "serve", "--port", str(port), *args]
    with python_server(command, port, env or {}, log_prefix="streamway-") as (process, log):
        yield RunningServer(f"http://127.0.0.1:{port}", port, process, log)


@dataclass
class RunningLocal(RunningServer):
    """``streamway local``: :attr:`url` is the stage's base URL, :attr:`root` the server's."""

    root: str = ""
    stage: str = "dev"

    def functions(self) -> dict[str, dict[str, Any]]:
        """``GET /_local/functions`` keyed by function name."""
        answer = httpx.get(f"{self.root}/_local/functions", timeout=5).json()
        return {entry["function"]: entry for entry in answer["functions"]}

    def peak_rss_kib(self) -> int:
        """The gateway process's peak resident set size so far (VmHWM)."""
        return proc_status_kib(self.process.pid, "VmHWM")

    def rss_kib(self) -> int:
        return proc_status_kib(self.process.pid, "VmRSS")


def proc_status_kib(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` field in KiB (VmRSS, VmHWM), for memory checks and benchmarks."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc status")


@contextmanager
def streamway_local(
    env: Mapping[str, str] | None = None, *, args: tuple[str, ...] = (), stage: str = "dev"
) -> Iterator[RunningLocal]:
    """Runs ``python -m streamway local`` (gateway + function processes) on a free port.

    The repository root is on the functions' PYTHONPATH, so ``--app tests....`` works.
    """
    port = free_port()
    command = ["-m", "streamway", "local", "--port", str(port), "--stage", stage, *args]
    pythonpath = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    local_env = {"PYTHONPATH": pythonpath, **(env or {})}
    with python_server(command, port, local_env, log_prefix="streamway-local-") as (process, log):
        root = f"http://127.0.0.1:{port}"
        yield RunningLocal(f"{root}/{stage}", port, process, log, root=root, stage=stage)


@dataclass
class RunningFunction:
    """A function process running ``python -m streamway.aws_lambda`` against an emulator."""

    api: Any  # streamway.local.runtime_api.RuntimeAPIServer
    process: subprocess.Popen[bytes]
    log_path: Path

    def peak_rss_kib(self) -> int:
        """The process's peak resident set size so far (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM in /proc status")

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_function_process(
    api_env: Mapping[str, str], app: str | None, env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    """Starts ``python -m streamway.aws_lambda`` serving ``app`` (None: no STREAMWAY_APP, for
    a plain handler named in ``env``); its output goes to a file."""
    log_path = Path(tempfile.mkstemp(prefix="streamway-lambda-", suffix=".log")[1])
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamway.aws_lambda"],
            env={
                **os.environ,
                **TEST_ENV,
                **api_env,
                **({"STREAMWAY_APP": app} if app is not None else {}),
                "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
                **(env or {}),
            },
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    return process, log_path


@asynccontextmanager
async def lambda_function(
    app: str | None = "tests.aws_lambda.apps:app",
    env: Mapping[str, str] | None = None,
    **emulator_options: Any,
) -> AsyncIterator[RunningFunction]:
    """The Runtime API emulator on loopback and a real runtime process serving ``app``."""
    from streamway.local.runtime_api import RuntimeAPIServer

    async with RuntimeAPIServer(**emulator_options) as api:
        process, log_path = start_function_process(api.function_env(), app, env)
        try:
            yield RunningFunction(api, process, log_path)
        finally:
            stop_process(process)


def exchange(port: int, head: bytes, parts: Sequence[bytes]) -> bytes:
    """Sends a request and reads the answer until the server closes (``Connection: close``).

    Unlike ``raw_http`` this never half-closes: a gateway may take that for a client that left.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        for part in parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # refused before the whole body was read
        answer = b""
        while data := sock.recv(65536):
            answer += data
        return answer
