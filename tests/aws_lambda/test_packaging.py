"""The bootstrap (provided.al2023) and exec wrapper (managed Python runtime) start the runtime."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

import streamway.aws_lambda
from streamway.local.runtime_api import RuntimeAPIServer, split_prelude
from tests.aws_lambda.fixtures import http_event
from tests.servers import REPO_ROOT, TEST_ENV, stop_process

PACKAGING = Path(streamway.aws_lambda.__file__).parent / "packaging"


def _run(script: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(PACKAGING / script), *args],
        env={
            **os.environ,
            **TEST_ENV,
            **env,
            "LAMBDA_TASK_ROOT": str(REPO_ROOT),
            "STREAMWAY_APP": "tests.aws_lambda.apps:app",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("script", "args", "extra_env"),
    [
        ("bootstrap", [], {"STREAMWAY_PYTHON": sys.executable}),
        # Lambda passes the managed runtime's own command line to the wrapper.
        ("exec-wrapper", [sys.executable, "-m", "awslambdaric", "app.handler"], {}),
    ],
)
async def test_entry_point_serves_an_invocation(
    script: str, args: list[str], extra_env: dict[str, str]
) -> None:
    async with RuntimeAPIServer() as api:
        process = _run(script, args, {**api.function_env(), **extra_env})
        try:
            invocation = await api.invoke(http_event("/headers"))
            result = await asyncio.wait_for(invocation.result(), 30)
        finally:
            await asyncio.to_thread(stop_process, process)
    assert result.ok
    assert split_prelude(result.body)[1] == b"hello"
