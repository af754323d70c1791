"""`streamway get` through `streamway local --throttle`: one stream vs `--parallel 8`.

    .venv/bin/python bench/downloads.py --only parallel [--parallel-size-mib 100] [--runs 1]

`streamway local --throttle` paces every streamed response as API Gateway and Lambda do (the
first 6 MiB free, then 2 MiB/s), with 8 sandboxes (`--concurrency 8`) so that 8 parts run at
once. The sandboxes are warmed by one untimed parallel download first. Each timed download is
a fresh `streamway get` process writing to a file; its peak RSS comes from `wait4`'s rusage.

Targets (issue 19): parallel at least 6x faster than one stream; `streamway get` under 64 MB
of RSS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import streamway_local

MiB = 1024 * 1024
KEY = "parts.bin"


@dataclass
class Fetch:
    seconds: float
    peak_rss_mib: float


def timed_get(url: str, workdir: Path, *args: str) -> Fetch:
    """One `streamway get` into ``workdir``: wall time and the process's peak RSS."""
    out = workdir / "out.bin"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "streamway", "get", url, "-q", "-o", str(out), *args]
    started = time.monotonic()
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"streamway get failed: {stderr}")
    process.returncode = 0
    if process.stderr:
        process.stderr.close()
    return Fetch(seconds, usage.ru_maxrss / 1024)


def imports_rss_mib() -> float:
    """Peak RSS of `streamway get --help`: the interpreter and the imports, no transfer."""
    command = [sys.executable, "-m", "streamway", "get", "--help"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return usage.ru_maxrss / 1024


def measure_parts(size: int, runs: int) -> dict[str, list[Fetch]]:
    with tempfile.TemporaryDirectory(prefix="streamway-bench-parts-") as tmp:
        root = Path(tmp)
        store = root / "store"
        store.mkdir()
        block = os.urandom(MiB)
        with (store / KEY).open("wb") as file:
            for index in range(0, size, MiB):
                file.write((index // MiB).to_bytes(8, "big") + block[8 : min(MiB, size - index)])
        env = {"STREAMWAY_STORE_URL": f"file://{store}", "STREAMWAY_MODEL": "openai:unused"}
        results: dict[str, list[Fetch]] = {"one stream": [], "--parallel 8": []}
        with streamway_local(env, args=("--throttle", "--concurrency", "8")) as local:
            url = f"{local.url}/download/{KEY}"
            timed_get(url, root, "--parallel", "8", "--timeout", "600")  # warms 8 sandboxes
            for _ in range(runs):
                results["one stream"].append(timed_get(url, root, "--parallel", "1"))
                results["--parallel 8"].append(timed_get(url, root, "--parallel", "8"))
        return results


def report_parts(size: int, results: dict[str, list[Fetch]]) -> None:
    print(f"\nstreamway get through streamway local --throttle, {size / MiB:.0f} MiB, best of runs")
    best = {name: min(f.seconds for f in fetches) for name, fetches in results.items()}
    for name, fetches in results.items():
        runs = ", ".join(f"{f.seconds:.1f}" for f in fetches)
        rss = max(f.peak_rss_mib for f in fetches)
        print(
            f"  {name:<13} {best[name]:6.1f} s  {size / best[name] / 1e6:6.1f} MB/s"
            f"   peak RSS {rss:5.1f} MiB   (runs, s: {runs})"
        )
    speedup = best["one stream"] / best["--parallel 8"]
    print(f"  speed-up {speedup:.1f}x   (target >= 6x: {'met' if speedup >= 6 else 'MISSED'})")
    rss = max(f.peak_rss_mib for fetches in results.values() for f in fetches)
    met = "met" if rss * MiB < 64e6 else "MISSED"
    print(
        f"  peak RSS of streamway get {rss:.1f} MiB   (target < 64 MB: {met}); "
        f"`streamway get --help` alone: {imports_rss_mib():.1f} MiB"
    )
