"""``streamway local --app`` without a definition: the catch-all proxy, the app's source and
environment, and the one-line errors of code that cannot be served."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamway.local.function_spec import FunctionSpec
from streamway.local.import_check import check
from tests.servers import REPO_ROOT, TEST_ENV, RunningLocal, streamway_local

pytestmark = pytest.mark.timeout(120)

#: Not importable from the repository: only --source puts it on the functions' path.
ECHO_APP = """
import base64, os, pathlib

# Who imported this module: the start-up check and the function processes, never the gateway.
with pathlib.Path(__file__).with_name("imported_by").open("a") as record:
    record.write(f"{os.getpid()}\\n")

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    event = scope["aws.event"]
    answer = {
        "resource": event["resource"],
        "pathParameters": event["pathParameters"],
        "httpMethod": event["httpMethod"],
        "isBase64Encoded": event["isBase64Encoded"],
        "body": base64.b64encode(body).decode(),
        "greeting": os.environ.get("GREETING"),
        "invoke_mode": os.environ.get("STREAMWAY_LAMBDA_INVOKE_MODE"),
    }
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

import json
"""

FAILING_LIFESPAN_APP = """
from contextlib import asynccontextmanager
from starlette.applications import Starlette

@asynccontextmanager
async def lifespan(app):
    raise RuntimeError("the database is down")
    yield

app = Starlette(lifespan=lifespan)
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("app-source")
    (directory / "echo_app.py").write_text(ECHO_APP)
    (directory / "failing_app.py").write_text(FAILING_LIFESPAN_APP)
    (directory / "app.env").write_text('# the functions\' environment\nGREETING="hello, world"\n')
    return directory


def _serve(source: Path, *options: str) -> Iterator[RunningLocal]:
    args = ("--app", "echo_app:app", "--source", str(source), *options)
    with streamway_local(args=(*args, "--env-file", str(source / "app.env"))) as running:
        yield running


@pytest.fixture(scope="module")
def echo(source: Path) -> Iterator[RunningLocal]:
    yield from _serve(source)


def test_the_root_is_the_root_resource_without_path_parameters(echo: RunningLocal) -> None:
    answer = httpx.get(f"{echo.url}/", timeout=30).json()
    assert answer["resource"] == "/"
    assert answer["pathParameters"] is None
    assert answer["invoke_mode"] == "response_stream"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_on_any_path_reaches_the_proxy_resource(
    echo: RunningLocal, method: str
) -> None:
    answer = httpx.request(method, f"{echo.url}/a/b%20c/d", timeout=30).json()
    assert answer["resource"] == "/{proxy+}"
    assert answer["pathParameters"] == {"proxy": "a/b c/d"}
    assert answer["httpMethod"] == method


def test_any_request_body_reaches_the_app_byte_for_byte(echo: RunningLocal) -> None:
    body = bytes(range(256))  # not UTF-8: text would mangle it; */* is binary
    answer = httpx.post(
        f"{echo.url}/upload", content=body, headers={"content-type": "text/plain"}, timeout=30
    ).json()
    assert answer["isBase64Encoded"] is True
    assert base64.b64decode(answer["body"]) == body


def test_the_source_is_importable_and_the_env_file_is_the_environment(
    echo: RunningLocal,
) -> None:
    # echo_app is only in --source, not on the repository's path.
    assert httpx.get(f"{echo.url}/x", timeout=30).json()["greeting"] == "hello, world"
    assert set(echo.functions()) == {"StreamFunction"}


def test_the_gateway_never_imports_the_app(echo: RunningLocal, source: Path) -> None:
    [sandbox] = echo.functions()["StreamFunction"]["sandboxes"]
    importers = {int(pid) for pid in (source / "imported_by").read_text().split()}
    # The start-up check's process, and the function's.
    assert len(importers) >= 2
    assert sandbox["pid"] in importers
    assert echo.process.pid not in importers


def test_buffered_gives_the_same_routes_in_buffered_mode(source: Path) -> None:
    for running in _serve(source, "--buffered"):
        answer = httpx.get(f"{running.url}/a/b", timeout=30).json()
        assert answer["resource"] == "/{proxy+}"
        assert answer["invoke_mode"] == "buffered"
        assert set(running.functions()) == {"BufferedFunction"}


def test_a_failing_lifespan_is_the_functions_init_error(source: Path) -> None:
    args = ("--app", "failing_app:app", "--source", str(source))
    with streamway_local(args=args) as running:
        response = httpx.get(f"{running.url}/", timeout=30)
        assert response.status_code == 502
        assert response.json() == {"message": "Internal server error"}
        line = running.wait_for_log(lambda entry: "request failed" in entry.get("message", ""))
        assert "RuntimeError: the database is down" in line["message"]
        assert "\n" not in line["message"]


def _local(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamway", "local", "--port", "1", *args],
        env={**os.environ, **TEST_ENV},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--app", "nope:app"), "cannot import module 'nope': No module named 'nope'"),
        (("--app", "echo_app:nothing"), "'echo_app' has no attribute 'nothing'"),
        (("--handler", "nope.handler"), "cannot import module 'nope': No module named 'nope'"),
        (("--app", "echo_app:app", "--env-file", "missing.env"), "missing.env: no such file"),
        (("--app", "a:b", "--handler", "c.d"), "--app and --handler are exclusive"),
        (("--buffered",), "--buffered applies to the catch-all proxy"),
    ],
)
def test_code_that_cannot_be_served_exits_2_with_one_line(
    source: Path, args: tuple[str, ...], error: str
) -> None:
    done = _local(*args, cwd=source)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert error in line
    assert line.startswith("streamway local: ")


def test_a_module_that_fails_on_import_is_named_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n")
    done = _local("--app", "broken:app", "--source", str(tmp_path))
    assert done.returncode == 2
    assert "syntax error in module 'broken'" in done.stderr


def test_a_handler_runs_as_streamway_handler_never_beside_streamway_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMWAY_APP", "inherited:app")
    spec = FunctionSpec(name="F", invoke_mode="response_stream", handler="tests.handler.run")
    env = spec.process_env({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9/secret"})
    assert env["STREAMWAY_HANDLER"] == "tests.handler.run"
    assert "STREAMWAY_APP" not in env
    assert env["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9/secret"
    monkeypatch.setenv("STREAMWAY_HANDLER", "inherited.handler")
    app_env = FunctionSpec(name="F", invoke_mode="buffered", app="a:b").process_env()
    assert app_env["STREAMWAY_APP"] == "a:b"
    assert "STREAMWAY_HANDLER" not in app_env


def test_the_import_check_finds_a_handler_function() -> None:
    spec = FunctionSpec(name="F", invoke_mode="response_stream", pythonpath=(str(REPO_ROOT),))
    found = FunctionSpec(**{**spec.__dict__, "handler": "tests.local.parity.produce.chunks"})
    missing = FunctionSpec(**{**spec.__dict__, "handler": "tests.local.parity.produce.nope"})
    assert check(found) is None
    assert check(missing) == "'tests.local.parity.produce' has no attribute 'nope'"


def test_the_source_comes_first_on_the_functions_path(tmp_path: Path) -> None:
    spec = FunctionSpec(name="F", invoke_mode="buffered", pythonpath=(str(tmp_path),))
    assert spec.process_env()["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path)
    assert json.loads(json.dumps(spec.code_env())) == {"STREAMWAY_APP": spec.app}
