"""The native Lambda runtime beside uvicorn: cold start, and TTFB and throughput of a big stream.

Cold start: process start until the runtime's first ``GET .../invocation/next`` (seen by the
Runtime API emulator), beside process start until uvicorn, serving the same app, accepts a
connection. Both run the app's lifespan first (streamway's app loads its model there), so
both are measured with streamway's app and with a bare ASGI app.

Stream: a 256 MiB response in 1 MiB chunks (``bench/stream_app.py``), read by curl:
  - direct:  curl -> uvicorn -> app
  - lambda:  curl -> emulator's invoke endpoint -> Runtime API -> streamway runtime -> app
TTFB is curl's time to the first response byte (median and best: on a small shared machine a
hop can wait milliseconds for a CPU, and the Lambda path has two more processes to schedule);
throughput is bytes over total time.
Two more lines take curl out, so that each side is two processes, as the direct path is:
  - in-process: the runtime -> the emulator, whose caller reads ``Invocation.chunks()`` in the
    emulator's own process (as ``streamway local``'s gateway does);
  - runtime alone: the runtime streams into a bare socket that answers ``next`` and counts
    the chunked bytes without parsing them, standing in for Lambda's own (native) Runtime
    API, so the Python emulator's parsing is out of the path.
CPU seconds per GiB are read for each process over the same rounds (``/proc/PID/stat`` for
the servers, rusage for the emulator, which runs in this process, and for the curls). On a
2-core machine the Lambda path's three busy processes share two cores where the direct path's
two have one each, so the sum of its CPU per GiB bounds its throughput.

    .venv/bin/python bench/lambda_runtime.py [--rounds 3] [--mib 256]

Targets (issue 5): cold start no slower than uvicorn's; throughput at least 0.5x direct;
TTFB overhead at most 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.process_cpu import process_cpu_s, rusage_cpu_s  # noqa: E402
from tests.servers import free_port  # noqa: E402

from streamway.local.runtime_api import RuntimeAPIServer  # noqa: E402

STREAM_APP = "bench.stream_app:app"
STREAMWAY_APP = "streamway.service.asgi:app"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "STREAMWAY_LOG_LEVEL": "WARNING"}


async def _wait_listening(port: int, process: asyncio.subprocess.Process) -> None:
    while process.returncode is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return
        except OSError:
            await asyncio.sleep(0.002)
    raise RuntimeError("uvicorn exited before listening")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        await process.wait()


async def _uvicorn(app: str, port: int, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _runtime(
    api: RuntimeAPIServer, app: str, env: dict[str, str]
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamway.aws_lambda",
        env={**env, **api.function_env(), "STREAMWAY_APP": app},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def cold_start_uvicorn(app: str) -> float:
    port = free_port()
    started = time.perf_counter()
    process = await _uvicorn(app, port, ENV)
    try:
        await _wait_listening(port, process)
        return time.perf_counter() - started
    finally:
        await _stop(process)


async def cold_start_runtime(app: str) -> float:
    async with RuntimeAPIServer() as api:
        started = time.perf_counter()
        process = await _runtime(api, app, ENV)
        try:
            return await asyncio.wait_for(api.wait_for_first_next(), 60) - started
        finally:
            await _stop(process)


async def curl(url: str, *, post: bool) -> tuple[float, float, int]:
    """(time to first byte s, total s, bytes) as curl measured them."""
    args = [
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{time_starttransfer} %{time_total} %{size_download}",
    ]
    if post:
        args += ["-X", "POST", "-H", "content-type: application/json", "--data-binary", "@-"]
    process = await asyncio.create_subprocess_exec(
        *args, url, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    event = (
        b'{"version":"2.0","routeKey":"$default","rawPath":"/","rawQueryString":"",'
        b'"headers":{},"requestContext":{"http":{"method":"GET","path":"/",'
        b'"protocol":"HTTP/1.1","sourceIp":"127.0.0.1"}},"isBase64Encoded":false}'
    )
    out, _ = await process.communicate(event if post else b"")
    ttfb, total, size = out.decode().split()
    return float(ttfb), float(total), int(float(size))


Runs = list[tuple[float, float, int]]
#: CPU seconds of each process over the measured rounds, by role.
Cpu = dict[str, float]


async def _measured(
    url: str, rounds: int, *, post: bool, server_pid: int, in_process: str | None
) -> tuple[Runs, Cpu]:
    """The rounds, and the CPU seconds the server, this process and the curls spent on them."""
    await curl(url, post=post)  # warm-up
    before = (
        process_cpu_s(server_pid),
        rusage_cpu_s(resource.RUSAGE_SELF),
        rusage_cpu_s(resource.RUSAGE_CHILDREN),
    )
    runs = [await curl(url, post=post) for _ in range(rounds)]
    server, own, children = (
        process_cpu_s(server_pid) - before[0],
        rusage_cpu_s(resource.RUSAGE_SELF) - before[1],
        rusage_cpu_s(resource.RUSAGE_CHILDREN) - before[2],
    )
    cpu = {"server": server, "curl": children}
    if in_process is not None:
        cpu[in_process] = own
    return runs, cpu


async def stream_direct(mib: int, rounds: int) -> tuple[Runs, Cpu]:
    port = free_port()
    process = await _uvicorn(STREAM_APP, port, {**ENV, "STREAM_MIB": str(mib)})
    try:
        await _wait_listening(port, process)
        url = f"http://127.0.0.1:{port}/"
        return await _measured(url, rounds, post=False, server_pid=process.pid, in_process=None)
    finally:
        await _stop(process)


async def stream_lambda(mib: int, rounds: int) -> tuple[Runs, Cpu]:
    async with RuntimeAPIServer(max_streamed_bytes=None) as api:
        process = await _runtime(api, STREAM_APP, {**ENV, "STREAM_MIB": str(mib)})
        url = api.invoke_url
        try:
            await api.wait_for_first_next()
            return await _measured(
                url, rounds, post=True, server_pid=process.pid, in_process="emulator"
            )
        finally:
            await _stop(process)


async def stream_in_process(mib: int, rounds: int) -> list[float]:
    """MiB/s of the runtime's stream as read through the emulator's invoke API in this process."""
    event = {
        "version": "2.0",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1"}},
        "isBase64Encoded": False,
    }
    rates: list[float] = []
    async with RuntimeAPIServer(max_streamed_bytes=None) as api:
        process = await _runtime(api, STREAM_APP, {**ENV, "STREAM_MIB": str(mib)})
        try:
            await api.wait_for_first_next()
            for round_ in range(rounds + 1):  # the first round warms up
                started = time.perf_counter()
                invocation = await api.invoke(event)
                received = 0
                async for chunk in invocation.chunks():
                    received += len(chunk)
                result = await invocation.result()
                assert result.ok, result.error
                assert received >= mib * 1024 * 1024, received
                if round_:
                    rates.append(received / (time.perf_counter() - started) / 1024**2)
            return rates
        finally:
            await _stop(process)


async def stream_runtime_only(mib: int, rounds: int) -> list[float]:
    """MiB/s the runtime pushes into a sink that only counts bytes (no HTTP parsing).

    Raw non-blocking socket calls with ``recv_into`` one reused buffer, so the sink copies
    nothing and costs about what curl does on the direct side.
    """
    loop = asyncio.get_running_loop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    env = {**ENV, "STREAM_MIB": str(mib), "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamway.aws_lambda",
        env={**env, "STREAMWAY_APP": STREAM_APP},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    event = (
        b'{"version":"2.0","rawPath":"/","rawQueryString":"","headers":{},'
        b'"requestContext":{"http":{"method":"GET","protocol":"HTTP/1.1"}}}'
    )
    buffer = bytearray(4 * 1024 * 1024)
    view = memoryview(buffer)
    rates: list[float] = []
    try:
        connection, _ = await loop.sock_accept(listener)
        connection.setblocking(False)

        async def read_until(marker: bytes) -> int:
            received, tail = 0, b""
            while not tail.endswith(marker):
                size = await loop.sock_recv_into(connection, buffer)
                if not size:
                    raise ConnectionError("the runtime closed the connection")
                received += size
                tail = (tail + bytes(view[max(0, size - 16) : size]))[-16:]
            return received

        for round_ in range(rounds + 1):  # the first round warms up
            await read_until(b"\r\n\r\n")  # GET next
            await loop.sock_sendall(
                connection,
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"lambda-runtime-aws-request-id: r%d\r\n"
                b"lambda-runtime-deadline-ms: 9999999999999\r\n"
                b"content-length: %d\r\n\r\n" % (round_, len(event)) + event,
            )
            started = time.perf_counter()
            received = await read_until(b"\r\n0\r\n\r\n")
            elapsed = time.perf_counter() - started
            await loop.sock_sendall(
                connection, b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"
            )
            if round_:
                rates.append(received / elapsed / 1024**2)
        connection.close()
        return rates
    finally:
        await _stop(process)
        listener.close()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mib", type=int, default=256)
    options = parser.parse_args()

    print(f"cold start, median of {options.rounds} (process start -> first `next` / listening)")
    for label, app in (("bare ASGI app", STREAM_APP), ("streamway app", STREAMWAY_APP)):
        runtime, direct = [], []
        for _ in range(options.rounds):  # alternate so a noisy neighbour hurts both
            runtime.append(await cold_start_runtime(app))
            direct.append(await cold_start_uvicorn(app))
        r, d = statistics.median(runtime), statistics.median(direct)
        print(f"  {label:14} lambda runtime {_ms(r)}   uvicorn {_ms(d)}   ratio {r / d:.2f}x")

    print(f"\n{options.mib} MiB stream in 1 MiB chunks, curl, median of {options.rounds}")
    lam, lam_cpu = await stream_lambda(options.mib, options.rounds)
    direct_runs, direct_cpu = await stream_direct(options.mib, options.rounds)
    expected = options.mib * 1024 * 1024
    for runs in (lam, direct_runs):
        assert all(size >= expected for _, _, size in runs), runs
    lam_ttfb = statistics.median(run[0] for run in lam)
    dir_ttfb = statistics.median(run[0] for run in direct_runs)
    lam_best = min(run[0] for run in lam)
    dir_best = min(run[0] for run in direct_runs)
    lam_rate = statistics.median(run[2] / run[1] for run in lam) / 1024**2
    dir_rate = statistics.median(run[2] / run[1] for run in direct_runs) / 1024**2
    print(
        f"  TTFB median lambda {_ms(lam_ttfb)}   uvicorn {_ms(dir_ttfb)}   "
        f"overhead {_ms(lam_ttfb - dir_ttfb)}"
    )
    print(
        f"  TTFB best   lambda {_ms(lam_best)}   uvicorn {_ms(dir_best)}   "
        f"overhead {_ms(lam_best - dir_best)}"
    )
    print(
        f"  throughput  lambda {lam_rate:8.1f} MiB/s uvicorn {dir_rate:8.1f} MiB/s "
        f"ratio {lam_rate / dir_rate:.2f}x"
    )
    gib = options.mib * options.rounds / 1024
    print(
        "  CPU s/GiB   lambda "
        f"{sum(lam_cpu.values()) / gib:.2f} (runtime {lam_cpu['server'] / gib:.2f}, "
        f"emulator {lam_cpu['emulator'] / gib:.2f}, curl {lam_cpu['curl'] / gib:.2f})   "
        f"uvicorn {sum(direct_cpu.values()) / gib:.2f} (uvicorn {direct_cpu['server'] / gib:.2f}, "
        f"curl {direct_cpu['curl'] / gib:.2f});  {os.cpu_count()} cores"
    )
    in_process = statistics.median(await stream_in_process(options.mib, options.rounds))
    print(
        f"  in-process caller (Invocation.chunks) {in_process:8.1f} MiB/s   "
        f"ratio to uvicorn direct {in_process / dir_rate:.2f}x"
    )
    alone = statistics.median(await stream_runtime_only(options.mib, options.rounds))
    print(
        f"  runtime alone (byte-counting Runtime API) {alone:8.1f} MiB/s   "
        f"ratio to uvicorn direct {alone / dir_rate:.2f}x"
    )


if __name__ == "__main__":
    asyncio.run(main())
