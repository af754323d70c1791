"""``streamway.aws_lambda``'s public surface: what ``__all__`` names, and what importing costs."""

from __future__ import annotations

import subprocess
import sys

import streamway.aws_lambda as aws_lambda
from streamway.aws_lambda.types import Receive, Scope, Send

#: What a cold start must not pay for: the runtime serves apps that may not use any of them.
HEAVY = ("pydantic", "pydantic_settings", "fastapi", "starlette", "llama_cpp", "strands")


def test_all_names_only_what_the_package_defines() -> None:
    assert len(set(aws_lambda.__all__)) == len(aws_lambda.__all__)
    missing = [name for name in aws_lambda.__all__ if not hasattr(aws_lambda, name)]
    assert not missing, missing


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from streamway.aws_lambda import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(aws_lambda.__all__)


def test_every_public_name_lives_in_the_runtime() -> None:
    for name in aws_lambda.__all__:
        module = getattr(getattr(aws_lambda, name), "__module__", None)
        # Type aliases (ASGIApp, RawHeaders) are typing objects, owned by typing/collections.
        if module is not None and name not in ("ASGIApp", "RawHeaders"):
            assert module.startswith("streamway.aws_lambda."), (name, module)


def test_the_documented_extension_points_are_public() -> None:
    """docs/lambda.md tells users to subclass EventSource and list it before HTTP_SOURCES."""
    assert issubclass(aws_lambda.RestApiV1, aws_lambda.EventSource)
    assert issubclass(aws_lambda.HttpApiV2, aws_lambda.EventSource)
    sources = aws_lambda.HTTP_SOURCES
    assert sources == (aws_lambda.HttpApiV2, aws_lambda.RestApiV1)
    bridge = aws_lambda.AsgiBridge(_app, sources=(aws_lambda.RestApiV1,))
    assert bridge.sources == (aws_lambda.RestApiV1,)


def test_importing_the_runtime_loads_no_framework_and_no_model() -> None:
    code = (
        "import sys, streamway.aws_lambda\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert completed.stdout.strip() == "[]", completed.stdout


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("never called")
