"""The light install (`pip install streamway`, no extras) in a fresh venv of its own: the
commands it promises work, the service's libraries are absent, and the Lambda runtime serves
a plain ASGI app (no Starlette) through the Runtime API emulator.

The venv is built from uv.lock without extras or dev group (``uv sync --no-dev
--no-editable``) from uv's cache: the same versions a fresh ``pip install
streamway`` resolves to here, in about a second rather than a network install's minutes.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from streamway.local.runtime_api import RuntimeAPIServer
from tests.aws_lambda.fixtures import rest_event
from tests.emulator import http_response
from tests.servers import REPO_ROOT, free_port, stop_process, wait_until_listening

SERVICE_ONLY = ("fastapi", "starlette", "strands", "aiobotocore", "openai", "pydantic_settings")

PLAIN_APP = '''
async def app(scope, receive, send):
    """A bare ASGI app: three chunks, each its own http.response.body message."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({
        "type": "http.response.start",
        "status": 201,
        "headers": [(b"content-type", b"text/plain"), (b"x-plain", b"yes")],
    })
    for part in (b"one ", b"two ", b"three"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
'''


def uv_binary() -> str:
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if not Path(found).is_file():
        pytest.fail("uv is not installed: scripts/setup installs it")
    return found


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("light") / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    env.pop("VIRTUAL_ENV", None)
    command = [uv_binary(), "sync", "--frozen", "--no-dev", "--no-editable"]
    # uv caches a local project's wheel by its pyproject.toml: rebuild it from the source.
    command += ["--reinstall-package", "streamway"]
    command += ["--python", sys.executable, "--project", str(REPO_ROOT), "--quiet"]
    subprocess.run(command, env=env, check=True, timeout=600)
    return venv


def run(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMWAY_", "PYTHON"))}
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        env=env,
        cwd=venv.parent,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", [(), ("local",), ("package",), ("get",), ("put",)])
def test_the_light_commands_work(light_venv: Path, command: tuple[str, ...]) -> None:
    result = run(light_venv, "streamway", *command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: streamway" in result.stdout


@pytest.mark.parametrize("module", SERVICE_ONLY)
def test_the_service_libraries_are_absent(light_venv: Path, module: str) -> None:
    result = run(light_venv, "python", "-c", f"import {module}")
    assert result.returncode == 1
    assert f"No module named '{module}'" in result.stderr


def test_serve_says_which_extra_to_install(light_venv: Path) -> None:
    result = run(light_venv, "streamway", "serve")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert "pip install 'streamway[service]'" in result.stderr


def test_local_with_streamway_s_own_app_says_which_extra_to_install(light_venv: Path) -> None:
    result = run(light_venv, "streamway", "local")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "--app" in result.stderr
    assert "pip install 'streamway[service]'" in result.stderr


def start_runtime(venv: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as log_file:
        return subprocess.Popen(
            [str(venv / "bin" / "python"), "-m", "streamway.aws_lambda"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


async def test_the_runtime_serves_a_plain_asgi_app(light_venv: Path, tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text(PLAIN_APP)
    async with RuntimeAPIServer() as api:
        env = {
            "PATH": os.environ["PATH"],
            **api.function_env(),
            "PYTHONPATH": str(tmp_path),
            "STREAMWAY_APP": "plain:app",
        }
        log = tmp_path / "function.log"
        process = await asyncio.to_thread(start_runtime, light_venv, env, log)
        try:
            invocation = await api.invoke(rest_event("/anything"))
            prelude, body = await asyncio.wait_for(http_response(invocation), 60)
            received = [bytes(chunk) async for chunk in body]
        finally:
            await asyncio.to_thread(stop_process, process)
    assert prelude["statusCode"] == 201, log.read_text()
    assert prelude["headers"]["x-plain"] == "yes"
    assert b"".join(received) == b"one two three"


def test_local_serves_a_plain_asgi_app(light_venv: Path, tmp_path: Path) -> None:
    """`streamway local --app` from the light install: the gateway and a function process,
    with nothing of the service installed."""
    (tmp_path / "plain.py").write_text(PLAIN_APP)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMWAY_", "PYTHON"))}
    command = [str(light_venv / "bin" / "streamway"), "local", "--port", str(port)]
    log = tmp_path / "local.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [*command, "--app", "plain:app"],
            env={**env, "PYTHONPATH": str(tmp_path)},
            cwd=tmp_path,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_listening(port, process, 60)
        response = httpx.get(f"http://127.0.0.1:{port}/dev/download/anything", timeout=60)
    finally:
        stop_process(process)
    assert response.status_code == 201, log.read_text()[-3000:]
    assert response.headers["x-plain"] == "yes"
    assert response.content == b"one two three"


def test_package_builds_a_user_bundle(light_venv: Path, tmp_path: Path) -> None:
    """The packager from the light install: pip is there, and nothing else is needed."""
    (tmp_path / "plain.py").write_text(PLAIN_APP)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    result = run(
        light_venv,
        "streamway",
        *("package", "--app", "plain:app", "--source", str(tmp_path)),
        *("--python", here, "--arch", "x86_64", "--out", str(tmp_path / "plain.zip")),
    )
    assert result.returncode == 0, result.stderr
    assert "streamway runtime" in result.stdout
    with zipfile.ZipFile(tmp_path / "plain.zip") as archive:
        names = archive.namelist()
    assert "plain.py" in names
    assert "streamway/aws_lambda/runtime.py" in names
    assert {name.split("/", 1)[0] for name in names if name.endswith(".dist-info/RECORD")} == {
        f"h11-{importlib.metadata.version('h11')}.dist-info"
    }
