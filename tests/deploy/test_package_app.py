"""A user's bundle (`streamway package --app`), built from a Starlette app written here with a
requirements file: what it holds, that it is reproducible, and that it serves a streamed
request through the Runtime API emulator from its own files and bytecode."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from streamway.deploy.bytecode import cache_tag
from streamway.deploy.package import BundleReport
from streamway.deploy.target import Target
from streamway.deploy.user_bundle import DEFAULTS_FILE, RUNTIME_FILES, AppSpec, package_app
from streamway.local.runtime_api import RuntimeAPIServer
from tests.aws_lambda.fixtures import rest_event
from tests.deploy.bundles import HERE, lambda_python, start_function, unpack
from tests.emulator import http_response
from tests.servers import stop_process

# A pip install of a few wheels, and bytecode compiled for them.
pytestmark = pytest.mark.timeout(600)

STARLETTE_APP = """
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route


async def numbers(request):
    async def lines():
        for i in range(5):
            yield f"line {i}\\n"

    return StreamingResponse(lines(), media_type="text/plain", headers={"x-app": "mine"})


app = Starlette(routes=[Route("/numbers", numbers)])
"""
SERVICE_ONLY = ("fastapi", "strands", "aiobotocore", "openai", "pydantic_settings")
NOT_THE_RUNTIME = ("cli", "service", "agent", "deploy", "local", "config", "storage", "api")


def write_app(source: Path) -> Path:
    source.mkdir()
    (source / "main.py").write_text(STARLETTE_APP)
    (source / "requirements.txt").write_text("starlette\n")
    # Left out by the exclusion rule: a secret, version control, tests, a virtualenv, caches.
    (source / ".env").write_text("SECRET=1\n")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (source / "tests").mkdir()
    (source / "tests" / "test_main.py").write_text("def test(): pass\n")
    (source / "env").mkdir()
    (source / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"stale")
    (source / "static").mkdir()
    (source / "static" / "page.html").write_text("<p>kept</p>\n")
    return source


@pytest.fixture(scope="module")
def starlette_bundle(tmp_path_factory: pytest.TempPathFactory) -> BundleReport:
    work = tmp_path_factory.mktemp("app")
    source = write_app(work / "src")
    report, deps = package_app(
        AppSpec.parse("main:app", None), source, Target(HERE, "x86_64"), work / "app.zip"
    )
    assert deps == str(source.resolve() / "requirements.txt")
    return report


def test_the_bundle_holds_the_app_its_dependencies_and_the_runtime_only(
    starlette_bundle: BundleReport,
) -> None:
    stale = "__pycache__/main.cpython-311.pyc"
    with zipfile.ZipFile(starlette_bundle.path) as archive:
        names = archive.namelist()
        defaults = archive.read(DEFAULTS_FILE).decode()
        # The source's own bytecode is never copied (for a 3.11 target it is compiled anew).
        assert stale not in names or archive.read(stale) != b"stale"
    tops = {name.split("/", 1)[0] for name in names}
    assert "main.py" in names
    assert "static/page.html" in names
    assert "starlette" in tops
    assert any(top.startswith("starlette-") for top in tops)
    assert "streamway/aws_lambda/runtime.py" in names
    for module in SERVICE_ONLY:
        assert module not in tops
    assert not [n for n in names if n.startswith(tuple(f"streamway/{p}/" for p in NOT_THE_RUNTIME))]
    assert not [t for t in tops if t.startswith(("streamway-0", "pip", "typer", "uvicorn"))]
    # The exclusion rule.
    assert not [n for n in names if n.startswith((".env", ".git", "tests/", "env/"))]
    assert "export STREAMWAY_APP='main:app'" in defaults
    assert "streamway runtime" in dict(starlette_bundle.parts)
    assert "largest: " in starlette_bundle.summary()


def test_the_same_app_gives_the_same_zip(starlette_bundle: BundleReport, tmp_path: Path) -> None:
    source = write_app(tmp_path / "src")
    again, _ = package_app(
        AppSpec.parse("main:app", None), source, Target(HERE, "x86_64"), tmp_path / "again.zip"
    )
    assert again.path.read_bytes() == starlette_bundle.path.read_bytes()


async def test_the_bundle_streams_through_the_runtime_api(
    starlette_bundle: BundleReport, tmp_path: Path
) -> None:
    task_root = unpack(starlette_bundle.path, tmp_path / "task")
    tag = cache_tag(HERE)
    assert starlette_bundle.compiled_by is not None  # this machine runs the target's Python
    assert (task_root / "__pycache__" / f"main.{tag}.pyc").is_file()
    assert (task_root / "starlette" / "__pycache__" / f"applications.{tag}.pyc").is_file()
    before = _snapshot(task_root)
    async with RuntimeAPIServer() as api:
        # No STREAMWAY_APP: the bundle's defaults name its app.
        env = {"PATH": os.environ["PATH"], **api.function_env(), "LAMBDA_TASK_ROOT": str(task_root)}
        log = tmp_path / "function.log"
        process = start_function(task_root, lambda_python(tmp_path), env, log)
        try:
            invocation = await api.invoke(rest_event("/numbers"))
            prelude, body = await asyncio.wait_for(http_response(invocation), 60)
            chunks = [bytes(chunk) async for chunk in body]
        finally:
            await asyncio.to_thread(stop_process, process)
    assert prelude["statusCode"] == 200, log.read_text()[-3000:]
    assert prelude["headers"]["x-app"] == "mine"
    assert b"".join(chunks) == b"".join(f"line {i}\n".encode() for i in range(5))
    # The bundle's bytecode was taken as it is: the interpreter wrote no .pyc of its own (it
    # would have, beside a stale or foreign one), and only the bundle's files were imported.
    assert _snapshot(task_root) == before


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_runtime_files_are_what_the_runtime_imports() -> None:
    code = (
        "import sys, streamway.aws_lambda.runtime\n"
        "print('\\n'.join(m.__file__ for n, m in sys.modules.items() if n.startswith('streamway')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    package = Path(__import__("streamway").__file__).parent
    for loaded in completed.stdout.split():
        relative = Path(loaded).relative_to(package).as_posix()
        assert any(relative == kept or relative.startswith(kept + "/") for kept in RUNTIME_FILES), (
            relative
        )


def _package(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    streamway = Path(sys.executable).with_name("streamway")
    return subprocess.run(
        [str(streamway), "package", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "cause"),
    [
        (["--app", "nowhere:app"], "no module nowhere in"),
        (["--handler", "main.pkg.handle"], "no module main.pkg in"),
        (["--app", "main"], "--app must look like module:attribute"),
        (["--app", "main:app", "--handler", "main.handle"], "give one of --app"),
        (["--app", "main:app", "--requirements", "missing.txt"], "missing.txt does not exist"),
        (["--app", "main:app", "--source", "nope"], "--source nope is not a directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], cause: str) -> None:
    (tmp_path / "main.py").write_text("app = None\n")
    completed = _package(*args, "--out", str(tmp_path / "x.zip"), cwd=tmp_path)
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.count("\n") == 1, completed.stderr
    assert cause in completed.stderr
    assert not (tmp_path / "x.zip").exists()


def test_a_handler_bundle_names_its_handler_unless_the_function_does(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "handlers.py").write_text("def stream(event, context):\n    yield b'hi'\n")
    report, deps = package_app(
        AppSpec.parse(None, "handlers.stream"),
        source,
        Target(HERE, "x86_64"),
        tmp_path / "h.zip",
        bytecode=False,
    )
    assert deps == "none"
    task_root = unpack(report.path, tmp_path / "task")
    assert not list(task_root.rglob("*.pyc"))

    def sourced(env: dict[str, str]) -> str:
        script = f'. ./{DEFAULTS_FILE}; echo "$STREAMWAY_APP|$STREAMWAY_HANDLER"'
        return subprocess.run(
            ["sh", "-c", script], env=env, cwd=task_root, capture_output=True, text=True
        ).stdout.strip()

    assert sourced({}) == "|handlers.stream"
    assert sourced({"STREAMWAY_HANDLER": "other.fn"}) == "|other.fn"
    assert sourced({"STREAMWAY_APP": "web:app"}) == "web:app|"
