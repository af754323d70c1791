"""Lambda Managed Instances: 32 token streams in one runtime process, beside 32 processes.

A scripted OpenAI-compatible model (``peer`` below, in its own uvicorn process) streams
``--tokens`` tokens per answer with a fixed ``--delay-ms`` between them. streamway's app
(``STREAMWAY_MODEL=openai:scripted``) relays them as a streamed chat answer, under the native
Lambda runtime, driven through the Runtime API emulator in this process:

  - one:   one runtime process with ``AWS_LAMBDA_MAX_CONCURRENCY=32`` (32 ``next`` loops);
  - many:  32 runtime processes at concurrency 1, one emulator each: the model AWS's own
           Python runtime uses on Managed Instances (a process per concurrent request).

Each round sends 32 chat invocations at once (one warm-up round first, so no cold start is
measured). Figures, same run: total RSS of the runtime processes (peak, VmHWM, summed),
tokens per second over a round (32 x tokens / wall time, median of the rounds), and time to
first token (invocation to the first body byte after the prelude, median over every stream).

    nice -n 10 .venv/bin/python bench/managed_instances.py [--rounds 3]

Targets (issue 21): RSS at most 0.2x of the 32 processes; tokens/s at least 0.9x; TTFT
overhead at most 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.aws_lambda.fixtures import http_event  # noqa: E402
from tests.emulator import http_response  # noqa: E402
from tests.servers import free_port, proc_status_kib  # noqa: E402

from streamway.local.runtime_api import FunctionConfig, RuntimeAPIServer  # noqa: E402

STREAMS = 32
APP = "streamway.service.asgi:app"


# --- the scripted model: ``uvicorn bench.managed_instances:peer`` ---------------------------


async def peer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """OpenAI's streamed chat completion: ``BENCH_TOKENS`` tokens, ``BENCH_DELAY_MS`` apart."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    tokens, delay = int(os.environ["BENCH_TOKENS"]), int(os.environ["BENCH_DELAY_MS"]) / 1000
    head = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": head})

    async def event(delta: dict[str, Any], finish: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        data = json.dumps({**chunk, "choices": [choice]})
        await send(
            {"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": True}
        )

    await event({"role": "assistant", "content": ""})
    for number in range(tokens):
        await asyncio.sleep(delay)
        await event({"content": f" t{number}"})
    await event({}, "stop")
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


# --- the runtime processes ---------------------------------------------------------------------


def _chat_event() -> dict[str, Any]:
    event = http_event("/streaming", method="POST", body=json.dumps({"request": "Hello"}))
    event["headers"] = {"content-type": "application/json", "accept": "text/plain"}
    return event


async def _start(api: RuntimeAPIServer, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamway.aws_lambda",
        env={**env, **api.function_env()},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _one_stream(api: RuntimeAPIServer) -> tuple[float, int]:
    """One chat invocation: its time to first token (s) and its body's size."""
    started = time.perf_counter()
    invocation = await api.invoke(_chat_event())
    prelude, body = await http_response(invocation)
    assert prelude["statusCode"] == 200, prelude
    first: float | None = None
    size = 0
    async for chunk in body:
        if chunk and first is None:
            first = time.perf_counter() - started
        size += len(chunk)
    result = await invocation.result()
    assert result.ok, result.error
    assert first is not None
    return first, size


async def _round(apis: list[RuntimeAPIServer]) -> tuple[float, list[float]]:
    """32 streams at once, spread over ``apis``: wall time and every stream's TTFT."""
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(_one_stream(apis[n % len(apis)]) for n in range(STREAMS)))
    return time.perf_counter() - started, [ttft for ttft, _ in outcomes]


async def measure(
    processes: int, concurrency: int, env: dict[str, str], rounds: int
) -> tuple[float, list[float], list[float]]:
    """``processes`` runtimes at ``concurrency`` each: summed peak RSS (MiB), the rounds'
    wall times, every measured stream's TTFT."""
    config = FunctionConfig(max_concurrency=concurrency if concurrency > 1 else None)
    apis = [RuntimeAPIServer(config) for _ in range(processes)]
    children: list[asyncio.subprocess.Process] = []
    try:
        for api in apis:
            await api.start()
            children.append(await _start(api, env))
        await asyncio.gather(*(api.wait_for_next_call(concurrency) for api in apis))
        await _round(apis)  # warm-up: every process answers once before anything is measured
        walls: list[float] = []
        ttfts: list[float] = []
        for _ in range(rounds):
            wall, round_ttfts = await _round(apis)
            walls.append(wall)
            ttfts += round_ttfts
        rss = sum(proc_status_kib(child.pid, "VmHWM") for child in children) / 1024
        return rss, walls, ttfts
    finally:
        for child in children:
            if child.returncode is None:
                child.terminate()
        await asyncio.gather(*(child.wait() for child in children))
        for api in apis:
            await api.close()


async def _peer_process(port: int, tokens: int, delay_ms: int) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(REPO), "BENCH_TOKENS": str(tokens)}
    env["BENCH_DELAY_MS"] = str(delay_ms)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "bench.managed_instances:peer",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--lifespan",
        "off",
        env=env,
    )
    for _ in range(500):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return process
        except OSError:
            await asyncio.sleep(0.02)
    raise RuntimeError("the scripted model did not start")


async def main(rounds: int, tokens: int, delay_ms: int) -> None:
    port = free_port()
    peer_process = await _peer_process(port, tokens, delay_ms)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "STREAMWAY_APP": APP,
        "STREAMWAY_LOG_LEVEL": "WARNING",
        "STREAMWAY_METRICS_EMF": "false",
        "STREAMWAY_MODEL": "openai:scripted",
        "STREAMWAY_OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "STREAMWAY_OPENAI_API_KEY": "sk-bench",
        "STREAMWAY_CONCURRENCY": str(STREAMS),
        "STREAMWAY_QUEUE_SIZE": str(STREAMS),
    }
    try:
        one = await measure(1, STREAMS, env, rounds)
        many = await measure(STREAMS, 1, env, rounds)
    finally:
        peer_process.terminate()
        await peer_process.wait()
    _report(one, many, tokens, delay_ms, rounds)


def _report(
    one: tuple[float, list[float], list[float]],
    many: tuple[float, list[float], list[float]],
    tokens: int,
    delay_ms: int,
    rounds: int,
) -> None:
    def rate(walls: list[float]) -> float:
        return STREAMS * tokens / statistics.median(walls)

    rss_one, rss_many = one[0], many[0]
    rate_one, rate_many = rate(one[1]), rate(many[1])
    ttft_one, ttft_many = statistics.median(one[2]) * 1000, statistics.median(many[2]) * 1000
    print(
        f"{STREAMS} streams x {tokens} tokens, {delay_ms} ms per token; "
        f"median of {rounds} rounds after a warm-up round"
    )
    print(f"{'':34}{'1 process x 32':>16}{'32 processes x 1':>18}  ratio / overhead")
    print(
        f"{'runtime RSS, peak, summed (MiB)':34}{rss_one:>16.1f}{rss_many:>18.1f}  "
        f"{rss_one / rss_many:.3f}x (target <= 0.2x)"
    )
    print(
        f"{'tokens/s':34}{rate_one:>16.1f}{rate_many:>18.1f}  "
        f"{rate_one / rate_many:.3f}x (target >= 0.9x)"
    )
    print(
        f"{'time to first token, median (ms)':34}{ttft_one:>16.1f}{ttft_many:>18.1f}  "
        f"{ttft_one - ttft_many:+.1f} ms (target <= 10 ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--delay-ms", type=int, default=20)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.tokens, arguments.delay_ms))
