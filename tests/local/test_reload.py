"""``streamway local --reload``: new code in new processes, and no stream cut by a reload."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.servers import RunningLocal, streamway_local

pytestmark = pytest.mark.timeout(120)

APP = """
import asyncio
from pathlib import Path
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

VERSION = "{version}"

async def version(request):
    return PlainTextResponse(VERSION)

async def held(gate):
    yield b"start\\n"
    # Opening a FIFO to read blocks until the test opens it to write.
    await asyncio.to_thread(Path(gate).read_bytes)
    yield ("end " + VERSION).encode()

async def hold(request):
    return StreamingResponse(held(request.query_params["gate"]), media_type="text/plain")

app = Starlette(routes=[Route("/version", version), Route("/hold", hold)])
"""


def _write(source: Path, version: str) -> None:
    (source / "app.py").write_text(APP.replace("{version}", version))


def _reloads(running: RunningLocal) -> list[dict[str, object]]:
    return [e for e in running.logs() if str(e.get("message", "")).startswith("reload: ")]


def test_a_change_replaces_idle_processes_now_and_busy_ones_after_their_stream(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    _write(source, "one")
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    args = ("--app", "app:app", "--source", str(source), "--reload", "--concurrency", "2")
    # No bytecode: an edit within the same second and of the same size would look unchanged.
    with streamway_local({"PYTHONDONTWRITEBYTECODE": "1"}, args=args) as running:
        running.wait_for_log(lambda e: "watching" in str(e.get("message")), timeout_s=20)
        with httpx.stream("GET", f"{running.url}/hold", params={"gate": str(gate)}) as held:
            pieces = held.iter_raw()
            assert next(pieces) == b"start\n"  # sandbox 1 is busy with this stream
            assert httpx.get(f"{running.url}/version", timeout=30).text == "one"  # sandbox 2

            _write(source, "version two")
            reload = running.wait_for_log(
                lambda e: str(e.get("message", "")).startswith("reload: "), timeout_s=30
            )
            assert "app.py" in str(reload["message"])
            assert (reload["stopped"], reload["stopping"]) == (1, 1)

            assert httpx.get(f"{running.url}/version", timeout=30).text == "version two"
            gate.write_bytes(b"")  # the held stream ends, in full, from the old code
            assert b"".join(pieces) == b"end one"
        assert len(_reloads(running)) >= 1


def test_code_that_breaks_is_named_at_once(tmp_path: Path) -> None:
    _write(tmp_path, "one")
    args = ("--app", "app:app", "--source", str(tmp_path), "--reload")
    with streamway_local({"PYTHONDONTWRITEBYTECODE": "1"}, args=args) as running:
        running.wait_for_log(lambda e: "watching" in str(e.get("message")), timeout_s=20)
        (tmp_path / "app.py").write_text("def broken(:\n")
        line = running.wait_for_log(
            lambda e: "cannot be served" in str(e.get("message", "")), timeout_s=30
        )
        assert "syntax error in module 'app'" in str(line["message"])
