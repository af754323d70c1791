"""Logs as people and machines read them, from real processes: a terminal, a pipe, Lambda.

``streamway serve`` runs with its stderr on a pseudo-terminal (a person's view) or a file (a
log shipper's); the native Lambda runtime runs against the Runtime API emulator, where
Lambda's own JSON field names and the invocation's request id are expected.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.aws_lambda.fixtures import http_event
from tests.servers import (
    REPO_ROOT,
    TEST_ENV,
    free_port,
    lambda_function,
    stop_process,
    streamway_server,
    wait_until_listening,
)

ESCAPE = "\x1b"


class Terminal:
    """The reading end of a pseudo-terminal a server writes its stderr to."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.text = ""

    def wait_for(self, pattern: str, timeout_s: float = 30) -> str:
        """The first line matching ``pattern``, reading until it appears."""
        deadline = time.monotonic() + timeout_s
        regex = re.compile(pattern)
        while True:
            for line in self.text.splitlines():
                if regex.search(line):
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} in:\n{self.text}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    self.text += os.read(self.master, 65536).decode(errors="replace")
                except OSError:  # the other end closed
                    raise AssertionError(f"the server exited; it wrote:\n{self.text}") from None


@contextmanager
def serve_on_a_terminal(env: Mapping[str, str]) -> Iterator[tuple[str, Terminal]]:
    """``streamway serve`` with stdout and stderr on a pseudo-terminal."""
    port = free_port()
    master, slave = pty.openpty()
    environment = {**os.environ, **TEST_ENV, **env}
    if "NO_COLOR" not in env:
        environment.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamway", "serve", "--port", str(port)],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        cwd=REPO_ROOT,
    )
    os.close(slave)
    try:
        wait_until_listening(port, process, timeout_s=60)
        yield f"http://127.0.0.1:{port}", Terminal(master)
    finally:
        stop_process(process)
        os.close(master)


def test_on_a_terminal_a_line_is_text_without_escape_codes_under_no_color() -> None:
    with serve_on_a_terminal({"NO_COLOR": "1", "TERM": "xterm-256color"}) as (url, terminal):
        httpx.get(f"{url}/ping", headers={"X-Request-Id": "tty-plain-1"}, timeout=10)
        access = terminal.wait_for(r"tty-plain-1.*request")
    assert "status=200" in access
    assert "path=/ping" in access
    assert re.match(r"^\d\d:\d\d:\d\d\.\d{3}  INFO ", access), access
    assert ESCAPE not in terminal.text
    for line in terminal.text.splitlines():
        assert not line.lstrip().startswith("{"), line


def test_on_a_terminal_lines_are_coloured() -> None:
    with serve_on_a_terminal({"TERM": "xterm-256color"}) as (url, terminal):
        httpx.get(f"{url}/ping", headers={"X-Request-Id": "tty-colour-1"}, timeout=10)
        access = terminal.wait_for(r"tty-colour-1")
    assert "\x1b[32mINFO" in access  # uvicorn's green for INFO
    assert not access.lstrip().startswith("{")


def test_log_format_json_wins_on_a_terminal() -> None:
    env = {"STREAMWAY_LOG_FORMAT": "json", "TERM": "xterm-256color"}
    with serve_on_a_terminal(env) as (url, terminal):
        httpx.get(f"{url}/ping", headers={"X-Request-Id": "tty-json-1"}, timeout=10)
        access = json.loads(terminal.wait_for(r'"request_id": "tty-json-1"'))
    assert access["status"] == 200
    assert ESCAPE not in terminal.text


def test_piped_every_line_is_json_without_color_message() -> None:
    with streamway_server() as server:
        httpx.get(f"{server.url}/ping", headers={"X-Request-Id": "piped-1"}, timeout=10)
        server.wait_for_log(lambda e: e.get("request_id") == "piped-1")
    lines = server.log_path.read_text(encoding="utf-8").splitlines()
    # uvicorn's own start-up and shutdown lines are among them (they carry color_message).
    assert any("Uvicorn running on" in line for line in lines)
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= entry.keys()
        assert "color_message" not in entry, line
        assert ESCAPE not in line


# --- under the native Lambda runtime ------------------------------------------------------


def _json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


async def test_lambda_runtime_logs_in_lambdas_json_fields_with_the_invocation_id() -> None:
    async with lambda_function() as function:
        invocations = [
            await function.api.invoke(http_event(path)) for path in ("/headers", "/abort")
        ]
        for invocation in invocations:
            await invocation.result()
        ids = [invocation.request_id for invocation in invocations]
        deadline = time.monotonic() + 10
        while function.output().count('"message": "invocation"') < 2:
            assert time.monotonic() < deadline, function.output()
            await asyncio.sleep(0.02)
        entries = _json_lines(function.output())

    for entry in entries:  # every line, start-up included, is Lambda-shaped JSON
        assert {"timestamp", "level", "message", "logger"} <= entry.keys(), entry
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["timestamp"])
        assert "time" not in entry
        assert "request_id" not in entry
    # One access line per invocation, under the invocation's request id.
    access = [entry for entry in entries if entry["message"] == "invocation"]
    assert [entry["requestId"] for entry in access] == ids
    assert access[0]["status"] == 201
    assert access[0]["outcome"] == "complete"
    assert access[0]["coldStart"] is True
    assert access[1]["outcome"] == "cut"
    assert access[1]["coldStart"] is False
    # The failure mid-stream is logged with Lambda's exception fields, under its request id.
    failure = next(e for e in entries if e.get("errorType") == "StreamAborted")
    assert failure["requestId"] == ids[1]
    assert failure["level"] == "ERROR"
    assert isinstance(failure["stackTrace"], list)


async def test_lambda_log_format_text_and_level_are_honoured() -> None:
    env = {"AWS_LAMBDA_LOG_FORMAT": "Text"}
    async with lambda_function(env=env) as function:
        invocation = await function.api.invoke(http_event("/headers"))
        await invocation.result()
        deadline = time.monotonic() + 10
        while "\tinvocation" not in function.output():
            assert time.monotonic() < deadline, function.output()
            await asyncio.sleep(0.02)
        output = function.output()
    line = next(line for line in output.splitlines() if "\tinvocation" in line)
    assert re.match(
        rf"^\[INFO\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{invocation.request_id}\t",
        line,
    ), line

    # AWS_LAMBDA_LOG_LEVEL (Lambda's application log level) filters: WARN drops INFO lines.
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"}
    async with lambda_function(env=env) as function:
        await (await function.api.invoke(http_event("/headers"))).result()
        failed = await function.api.invoke(http_event("/abort"))
        await failed.result()
        deadline = time.monotonic() + 10
        while "StreamAborted" not in function.output():
            assert time.monotonic() < deadline, function.output()
            await asyncio.sleep(0.02)
        entries = _json_lines(function.output())
    assert entries, "the failure is logged"
    assert {entry["level"] for entry in entries} <= {"WARNING", "ERROR", "CRITICAL"}
    assert all(entry["requestId"] == failed.request_id for entry in entries)


@pytest.mark.parametrize(
    ("env", "level", "shape"),
    [
        ({}, "INFO", "json"),
        ({"AWS_LAMBDA_LOG_FORMAT": "Text"}, "INFO", "text"),
        ({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "TRACE"}, "DEBUG", "json"),
        ({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "FATAL"}, "CRITICAL", "json"),
        ({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "warn"}, "WARNING", "json"),
    ],
)
def test_lambda_logging_controls_map_to_python(env: dict[str, str], level: str, shape: str) -> None:
    from streamway.logs import lambda_logging

    assert lambda_logging(env, "INFO", "auto") == (level, shape)
    # An explicit STREAMWAY_LOG_FORMAT wins over the function's format.
    assert lambda_logging(env, "INFO", "text")[1] == "text"
