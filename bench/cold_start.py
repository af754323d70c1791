"""Cold start of a Lambda bundle: with bytecode compiled ahead, without it, and uvicorn.

Two apps: a hello-world FastAPI app (a user's bundle, ``streamway package --app``) and
streamway's own app (its bundle, configured with a Bedrock model id: nothing is fetched at
import or start). Each bundle is built once, with bytecode, for this machine's Python; the
"without" variant is the same files with every ``__pycache__`` removed. Three timings each:

- bundle, bytecode: process start (the bundle's ``exec-wrapper`` under ``python -S``, so
  only the bundle's files are importable) until the runtime's first ``next`` reaches the
  Runtime API emulator;
- bundle, no bytecode: the same, with the ``.pyc`` files removed;
- uvicorn: ``python -m uvicorn`` serving the same app from this venv until it accepts a
  connection.

``PYTHONDONTWRITEBYTECODE=1`` everywhere: Lambda's code directory is read-only, so a bundle
without bytecode compiles at every cold start; a writable copy here would compile once.
Rounds are interleaved; medians are printed, with the ratios and the targets of issue 14:
the runtime adds at most 2 MB unzipped and imports in at most 100 ms, and streamway's app
with bytecode starts in at most 0.6x the time without.

    .venv/bin/python bench/cold_start.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.deploy.bundles import HERE, lambda_python, unpack  # noqa: E402
from tests.servers import free_port  # noqa: E402

from streamway.deploy.package import BundleReport, package  # noqa: E402
from streamway.deploy.target import Target  # noqa: E402
from streamway.deploy.user_bundle import AppSpec, package_app  # noqa: E402
from streamway.local.runtime_api import RuntimeAPIServer  # noqa: E402

HELLO_APP = """from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def hello() -> dict[str, str]:
    return {"hello": "world"}
"""
STREAMWAY_ENV = {
    "STREAMWAY_MODEL": "bedrock:anthropic.claude-3-haiku-20240307-v1:0",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}
BASE_ENV = {
    "PATH": os.environ["PATH"],
    "PYTHONDONTWRITEBYTECODE": "1",
    "STREAMWAY_LOG_LEVEL": "WARNING",
}
RUNTIME_TARGET_BYTES = 2 * 1000 * 1000
RUNTIME_TARGET_IMPORT_S = 0.100
BYTECODE_TARGET_RATIO = 0.6


def strip_bytecode(root: Path) -> None:
    for cache in list(root.rglob("__pycache__")):
        shutil.rmtree(cache)


async def bundle_cold_start(task_root: Path, python: Path, env: dict[str, str]) -> float:
    async with RuntimeAPIServer() as api:
        full = {**BASE_ENV, **env, **api.function_env(), "LAMBDA_TASK_ROOT": str(task_root)}
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            str(task_root / "exec-wrapper"),
            str(python),
            env=full,
            cwd=task_root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return await asyncio.wait_for(api.wait_for_first_next(), 120) - started
        finally:
            process.kill()
            await process.wait()


async def uvicorn_cold_start(app: str, app_dir: Path, env: dict[str, str]) -> float:
    port = free_port()
    full = {**BASE_ENV, **env, "PYTHONPATH": str(app_dir)}
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "uvicorn", app, "--port", str(port), "--log-level", "warning"),
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while process.returncode is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                    return time.perf_counter() - started
            except OSError:
                await asyncio.sleep(0.002)
        raise RuntimeError(f"uvicorn exited before listening ({app})")
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def runtime_import_s(task_root: Path, python: Path) -> tuple[float, float]:
    """The runtime's import (everything ``python -m streamway.aws_lambda`` loads before the
    app), in a fresh ``python -S`` with the bundle's bytecode; and, of that, asyncio's own
    import, which any app on asyncio pays (uvicorn too)."""
    code = (
        "import time; t = time.perf_counter(); import asyncio; a = time.perf_counter() - t; "
        "import streamway.aws_lambda.runtime; print(time.perf_counter() - t, a)"
    )
    env = {**BASE_ENV, "PYTHONPATH": str(task_root)}
    out = subprocess.run(
        [str(python), "-c", code], env=env, capture_output=True, text=True, check=True
    )
    total, asyncio_s = out.stdout.split()
    return float(total), float(asyncio_s)


def runtime_bytes(report: BundleReport) -> int:
    parts = dict(report.parts)
    return parts.get("streamway runtime", 0) + parts.get("h11", 0)


def build(work: Path) -> tuple[BundleReport, BundleReport]:
    target = Target(HERE, "x86_64")
    source = work / "hello"
    source.mkdir()
    (source / "main.py").write_text(HELLO_APP)
    (source / "requirements.txt").write_text("fastapi\n")
    print("building the hello-world FastAPI bundle ...", file=sys.stderr)
    hello, _ = package_app(AppSpec.parse("main:app", None), source, target, work / "hello.zip")
    print("building streamway's own bundle (a minute or more) ...", file=sys.stderr)
    own = package(target, work / "streamway.zip", project=REPO)
    return hello, own


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.0f} ms"


async def measure(rounds: int, work: Path) -> None:
    hello, own = build(work)
    python = lambda_python(work)
    roots = {}
    for name, report in (("hello", hello), ("streamway", own)):
        roots[name, "bytecode"] = unpack(report.path, work / f"{name}-pyc")
        roots[name, "source"] = unpack(report.path, work / f"{name}-src")
        strip_bytecode(roots[name, "source"])
    store = work / "store"
    store.mkdir()
    envs: dict[str, dict[str, str]] = {
        "hello": {},
        "streamway": {**STREAMWAY_ENV, "STREAMWAY_STORE_URL": store.as_uri()},
    }
    apps = {
        "hello": ("main:app", work / "hello"),
        "streamway": ("streamway.service.asgi:app", REPO),
    }
    times: dict[tuple[str, str], list[float]] = {}
    for round_ in range(rounds + 1):  # the first round warms the page cache, not counted
        for name in ("hello", "streamway"):
            runs = {
                "bytecode": bundle_cold_start(roots[name, "bytecode"], python, envs[name]),
                "source": bundle_cold_start(roots[name, "source"], python, envs[name]),
                "uvicorn": uvicorn_cold_start(*apps[name], envs[name]),
            }
            for kind, run in runs.items():
                elapsed = await run
                if round_:
                    times.setdefault((name, kind), []).append(elapsed)
    imports = [runtime_import_s(roots["hello", "bytecode"], python) for _ in range(rounds)]
    print_results(hello, own, times, imports, rounds)


def print_results(
    hello: BundleReport,
    own: BundleReport,
    times: dict[tuple[str, str], list[float]],
    imports: list[tuple[float, float]],
    rounds: int,
) -> None:
    print(f"\ncold start, process start -> first next (median of {rounds}), Python {HERE}")
    for name in ("hello", "streamway"):
        with_pyc, without, uvicorn = (times[name, k] for k in ("bytecode", "source", "uvicorn"))
        ratio = statistics.median(with_pyc) / statistics.median(without)
        vs_uvicorn = statistics.median(with_pyc) / statistics.median(uvicorn)
        print(
            f"  {name:9}  bytecode {median_ms(with_pyc)}  no bytecode {median_ms(without)}  "
            f"uvicorn {median_ms(uvicorn)}  bytecode/none {ratio:.2f}x  "
            f"bytecode/uvicorn {vs_uvicorn:.2f}x"
        )
    ratio = statistics.median(times["streamway", "bytecode"]) / statistics.median(
        times["streamway", "source"]
    )
    verdict = "met" if ratio <= BYTECODE_TARGET_RATIO else "MISSED"
    print(f"  streamway's app with bytecode: {ratio:.2f}x of without (target <= 0.6x: {verdict})")
    size = runtime_bytes(hello)
    print(
        f"runtime in a user's bundle (streamway runtime + h11, with bytecode): "
        f"{size / 1e6:.2f} MB unzipped (target <= 2 MB: "
        f"{'met' if size <= RUNTIME_TARGET_BYTES else 'MISSED'})"
    )
    imported = statistics.median(total for total, _ in imports)
    asyncio_s = statistics.median(a for _, a in imports)
    print(
        f"runtime import (python -S, bytecode): {imported * 1000:.0f} ms median, of which "
        f"asyncio {asyncio_s * 1000:.0f} ms (target <= 100 ms: "
        f"{'met' if imported <= RUNTIME_TARGET_IMPORT_S else 'MISSED'})"
    )
    print(f"bundles: {hello.summary()}\n         {own.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cold-start-") as work:
        asyncio.run(measure(args.rounds, Path(work)))


if __name__ == "__main__":
    main()
