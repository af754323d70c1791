"""AWS's own Node.js runtime interface client against the emulator.

If the emulator speaks the protocol as AWS's client does, streamway's runtime and emulator
are not merely agreeing with each other. The client (npm ``aws-lambda-ric``) is installed
once into a cache outside the repository; npm 11 skips its install scripts, so they are run
by hand (they build libcurl and aws-lambda-cpp from tarballs shipped in the package).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from streamway.local.runtime_api import RuntimeAPIServer, split_prelude
from tests.emulator import http_response
from tests.servers import stop_process

RIC_VERSION = "4.0.2"
CACHE = Path.home() / ".cache" / "streamway-tests" / "ric"
PACKAGE = CACHE / "node_modules" / "aws-lambda-ric"
FUNCTION = Path(__file__).parent / "node_function"


@pytest.fixture(scope="session")
def ric_entry() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the Node.js runtime interface client")
    if not (PACKAGE / "rapid-client.node").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / "package.json").write_text('{"private": true}')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", f"aws-lambda-ric@{RIC_VERSION}"],
            cwd=CACHE,
            check=True,
            capture_output=True,
            timeout=600,
        )
        for script in ("scripts/preinstall.sh", "scripts/postinstall.sh"):
            subprocess.run(
                ["bash", script], cwd=PACKAGE, check=True, capture_output=True, timeout=1200
            )
    return PACKAGE / "index.mjs"


@pytest.fixture
def node_function(ric_entry: Path) -> tuple[Path, dict[str, str]]:
    return ric_entry, {"LAMBDA_TASK_ROOT": str(FUNCTION), "_HANDLER": "index.handler"}


def _start(entry: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["node", str(entry), "index.handler"],
        cwd=FUNCTION,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.timeout(1500)
async def test_node_ric_streams_through_the_emulator(
    node_function: tuple[Path, dict[str, str]],
) -> None:
    entry, env = node_function
    async with RuntimeAPIServer() as api:
        # The client takes only host:port (it refuses a path after it), so its process is
        # admitted instead: the emulator checks each connection's owner in /proc.
        process = _start(entry, {**api.function_env(with_secret=False), **env})
        api.admit(process.pid)
        try:
            ok = await api.invoke({"rawPath": "/ok"})
            prelude, body = await asyncio.wait_for(http_response(ok), 30)
            first = await anext(body)
            first_at = time.perf_counter()
            assert not ok.done  # the handler is still waiting before its second write
            rest = [chunk async for chunk in body]
            ok_result = await ok.result()
            # A lower bound (the handler's own pause), which a slow machine only lengthens.
            assert time.perf_counter() - first_at > 0.2

            failed = await (await api.invoke({"rawPath": "/fail"})).result()
        finally:
            await asyncio.to_thread(stop_process, process)

    assert prelude == {
        "statusCode": 200,
        "headers": {"content-type": "text/plain"},
        "cookies": ["a=1"],
    }
    assert (first, rest) == (b"hello ", [b"world"])
    assert ok_result.ok
    headers = ok_result.response_headers
    assert headers["lambda-runtime-function-response-mode"] == "streaming"
    assert headers["transfer-encoding"] == "chunked"
    assert headers["content-type"] == "application/vnd.awslambda.http-integration-response"
    assert headers["trailer"] == (
        "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
    )

    # A throw after the first write: the body so far, then real trailers.
    assert split_prelude(failed.body)[1] == b"hello "
    assert failed.trailers["lambda-runtime-function-error-type"] == "Error"
    error = json.loads(base64.b64decode(failed.trailers["lambda-runtime-function-error-body"]))
    assert (error["errorType"], error["errorMessage"]) == ("Error", "boom")
    assert failed.error == error
