"""A sandbox's log (local/function_logs.py) with real processes and pipes.

The processes are small Python scripts that say "done" by connecting to a loopback socket.
The test accepts with a blocking call, so the event loop (and the log's reader) has not run
since: what the process wrote is still in the pipe when :meth:`SandboxLog.end` is called.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterator

import pytest

from streamway.local.function_logs import TAIL_BYTES, Report, SandboxLog

pytestmark = pytest.mark.timeout(60)

REQUEST_ID = "8f1e2a64-0000-4000-8000-000000000001"


@pytest.fixture
def gate() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(30)
        yield server


def _script(body: str, gate: socket.socket) -> tuple[str, ...]:
    """``python -c``: ``body`` with ``done()`` (connect to the gate, wait for a byte)."""
    port = gate.getsockname()[1]
    prologue = (
        "import socket, sys\n"
        "def done():\n"
        f"    s = socket.create_connection(('127.0.0.1', {port}))\n"
        "    s.recv(1)\n"
    )
    return (sys.executable, "-c", prologue + body)


def _report() -> Report:
    return Report(REQUEST_ID, duration_ms=12.345, memory_mb=1024, max_memory_mib=40.2)


@pytest.fixture
def devnull() -> Iterator[int]:
    """Where the tests' own output goes when only the tail is looked at."""
    fd = os.open(os.devnull, os.O_WRONLY)
    yield fd
    os.close(fd)


def _read_all(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def test_a_line_still_in_the_pipe_at_the_end_is_before_end(gate: socket.socket) -> None:
    sink_read, sink_write = os.pipe()
    log = SandboxLog(stdout_fd=sink_write, stderr_fd=sink_write)
    body = "print('written just before the end')\nprint('to stderr', file=sys.stderr)\ndone()"
    process = await log.spawn(*_script(body, gate), env=dict(os.environ))
    log.begin(REQUEST_ID)
    connection, _ = gate.accept()  # blocks the loop: the reader has not run since
    tail = await log.end(_report())
    connection.close()
    await process.wait()
    log.close()
    lines = tail.decode().splitlines(keepends=True)
    assert lines[0] == f"START RequestId: {REQUEST_ID} Version: $LATEST\n"
    assert sorted(lines[1:3]) == ["to stderr\n", "written just before the end\n"]
    assert lines[3:] == [
        f"END RequestId: {REQUEST_ID}\n",
        f"REPORT RequestId: {REQUEST_ID}\tDuration: 12.35 ms\tBilled Duration: 13 ms\t"
        "Memory Size: 1024 MB\tMax Memory Used: 41 MB\t\n",
    ]
    os.close(sink_write)
    passed_on = _read_all(sink_read)
    os.close(sink_read)
    # Passed on as written; START, END and REPORT are the tail's only.
    assert b"written just before the end\n" in passed_on
    assert b"to stderr\n" in passed_on
    assert b"RequestId" not in passed_on


async def test_a_line_longer_than_the_tail_keeps_its_end(gate: socket.socket, devnull: int) -> None:
    """A megabyte with no newline (more than a pipe holds: the loop runs meanwhile)."""
    gate.setblocking(False)
    log = SandboxLog(stdout_fd=devnull)
    body = "sys.stdout.write('a' * (1 << 20) + 'z')\nsys.stdout.flush()\ndone()"
    process = await log.spawn(*_script(body, gate), env=dict(os.environ))
    log.begin(REQUEST_ID)
    connection, _ = await asyncio.get_running_loop().sock_accept(gate)
    tail = await log.end(_report())
    connection.close()
    await process.wait()
    log.close()
    assert len(tail) == TAIL_BYTES
    assert tail.startswith(b"a" * 100)
    assert f"az\nEND RequestId: {REQUEST_ID}\nREPORT".encode() in tail


async def test_what_came_before_start_is_not_in_the_tail(gate: socket.socket, devnull: int) -> None:
    log = SandboxLog(stdout_fd=devnull)
    body = "print('at init')\ndone()\nprint('in the invocation')\ndone()"
    process = await log.spawn(*_script(body, gate), env=dict(os.environ))
    init_done, _ = gate.accept()
    await log.drain()  # "at init" was written before the connection
    log.begin(REQUEST_ID)
    init_done.sendall(b"x")
    invocation_done, _ = gate.accept()
    tail = await log.end(_report())
    for connection in (init_done, invocation_done):
        connection.close()
    await process.wait()
    log.close()
    assert tail.decode().splitlines()[:2] == [
        f"START RequestId: {REQUEST_ID} Version: $LATEST",
        "in the invocation",
    ]


async def test_a_process_s_last_words_reach_local_s_output() -> None:
    """A process that exits with an error message: it is passed on, pipe closed or not."""
    sink_read, sink_write = os.pipe()
    log = SandboxLog(stdout_fd=sink_write, stderr_fd=sink_write)
    process = await log.spawn(
        sys.executable, "-c", "raise SystemExit('last words')", env=dict(os.environ)
    )
    await process.wait()
    log.close()
    os.close(sink_write)
    assert b"last words" in _read_all(sink_read)
    os.close(sink_read)


async def test_init_duration_is_reported_on_a_cold_start() -> None:
    report = Report("r", duration_ms=1.0, memory_mb=128, max_memory_mib=None, init_ms=250.5)
    assert report.line() == (
        "REPORT RequestId: r\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 0 MB\tInit Duration: 250.50 ms\t\n"
    )
