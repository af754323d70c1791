"""Upload throughput, CPU and memory: tus into `streamway serve` beside a plain streaming PUT.

    .venv/bin/python bench/uploads.py [--size-mib 1024] [--part-mib 8] [--runs 3] [--json F]

Both run on loopback in this one invocation, in alternating runs (PUT first, then tus, then
the other way round...) so that whatever else the machine does weighs on both alike:

* tus: `streamway serve` with STREAMWAY_UPLOADS on and the local store, and streamway's own
  client (src/streamway/uploader.py, the one behind `streamway put`): POST creation, then
  PATCH parts of --part-mib with `Upload-Checksum: sha256`, the object published under its
  key with its SHA-256 (the server hashes the whole file for `Repr-Digest`); the client's
  final `Repr-Digest` check runs after the clock stops (it reads the whole file once more);
* PUT (the baseline): a minimal uvicorn app (same event loop and HTTP parser as `serve`) that
  streams the request body into a temporary file, fsyncs it and renames it into place, as
  the tus store does on completion; the client is httpx too, streaming the file in 1 MiB
  chunks with a Content-Length. No checksums: it is the floor of what a body to disk costs.

Each server is its own process: its CPU seconds come from /proc/PID/stat, and its memory
growth is its peak RSS (VmHWM) at the end minus its RSS after a 1 MiB warm-up upload. The
client runs in this process (CPU from time.process_time). On a shared 2-core machine the
CPU seconds per GiB are the honest figure; the throughputs move with the load.

Targets (issue 22): tus >= 0.7x the PUT's throughput; server memory growth < 64 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from bench.downloads import make_object, running
from bench.process_cpu import process_cpu_s
from tests.servers import free_port, proc_status_kib

from streamway.uploader import upload

MiB = 1024 * 1024
GiB = 1024 * MiB

PUT_APP = textwrap.dedent(
    """
    import os, sys
    import uvicorn

    root = sys.argv[1]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        key = scope["path"].rsplit("/", 1)[1]
        temporary = os.path.join(root, "." + key + ".part")
        with open(temporary, "wb") as file:
            while True:
                message = await receive()
                file.write(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, os.path.join(root, key))
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    """
)


@dataclass
class Side:
    """One side of the comparison: its runs and its server's figures."""

    name: str
    seconds: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    rss_start_mib: float = 0.0
    peak_rss_mib: float = 0.0

    def bytes_per_s(self, size: int) -> list[float]:
        return [size / s for s in self.seconds]


class _Clock:
    """A `Progress` for the uploader that notes when the last part was acknowledged."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.done = 0
        self.finished: float | None = None
        self.finished_cpu: float | None = None

    def start(self, name: str, total: int | None, completed: int) -> None:
        self.done = completed

    def advance(self, nbytes: int) -> None:
        self.done += nbytes
        if self.done >= self.size and self.finished is None:
            self.finished, self.finished_cpu = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        pass


def tus_once(
    base_url: str, source: Path, key: str, part_size: int, state: Path
) -> tuple[float, float]:
    """(seconds, client CPU seconds) from the creation to the last part's acknowledgement."""
    clock = _Clock(source.stat().st_size)
    started, cpu = time.perf_counter(), time.process_time()
    result = upload(
        source, base_url, key=key, part_size=part_size, remember_in=state, progress=clock
    )
    if clock.finished is None or clock.finished_cpu is None or result.resumed_from:
        raise SystemExit(f"tus upload of {key} did not run from 0 to the end in one go")
    if not result.sha256_verified:
        raise SystemExit(f"tus upload of {key}: the download has no Repr-Digest to check")
    return clock.finished - started, clock.finished_cpu - cpu


def _chunks(source: Path) -> Iterator[bytes]:
    with source.open("rb") as file:
        while chunk := file.read(MiB):
            yield chunk


def put_once(url: str, source: Path) -> tuple[float, float]:
    """(seconds, client CPU seconds) of one streaming PUT."""
    started, cpu = time.perf_counter(), time.process_time()
    with httpx.Client(timeout=120) as client:
        response = client.put(
            url,
            content=_chunks(source),
            headers={"content-length": str(source.stat().st_size)},
        )
    if response.status_code != 201:
        raise SystemExit(f"PUT {url}: HTTP {response.status_code}")
    return time.perf_counter() - started, time.process_time() - cpu


def sha256_file(path: Path) -> bytes:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").digest()


def streamway_env(store: Path) -> dict[str, str]:
    return {
        "STREAMWAY_STORE_URL": f"file://{store}",
        "STREAMWAY_UPLOADS": "true",
        "STREAMWAY_MODEL": "openai:unused",  # uploads only: no model in memory
        "STREAMWAY_LOG_LEVEL": "WARNING",
    }


def mib(kib: int) -> float:
    return kib / 1024


def measure(workdir: Path, size: int, part_size: int, runs: int) -> tuple[Side, Side]:
    source = workdir / "source.bin"
    make_object(workdir, size).rename(source)
    warmup = workdir / "warmup.bin"
    warmup.write_bytes(os.urandom(MiB))
    expected = sha256_file(source)
    tus_store, put_store = workdir / "tus-store", workdir / "put-store"
    tus_store.mkdir()
    put_store.mkdir()
    state = workdir / "uploads.json"
    tus, put = Side("tus (streamway serve, local store)"), Side("PUT (minimal uvicorn app)")

    tus_port, put_port = free_port(), free_port()
    base = f"http://127.0.0.1:{tus_port}"
    put_url = f"http://127.0.0.1:{put_port}/put"
    serve = [sys.executable, "-m", "streamway", "serve", "--port", str(tus_port)]
    put_server = [sys.executable, "-c", PUT_APP, str(put_store), str(put_port)]
    with (
        running(serve, tus_port, streamway_env(tus_store)) as tus_pid,
        running(put_server, put_port) as put_pid,
    ):
        tus_once(base, warmup, "warmup.bin", part_size, state)
        put_once(f"{put_url}/warmup.bin", warmup)
        tus.rss_start_mib = mib(proc_status_kib(tus_pid, "VmRSS"))
        put.rss_start_mib = mib(proc_status_kib(put_pid, "VmRSS"))
        for run in range(runs):
            order = ("put", "tus") if run % 2 == 0 else ("tus", "put")
            for which in order:
                key = f"run{run}.bin"
                if which == "tus":
                    before = process_cpu_s(tus_pid)
                    seconds, client_cpu = tus_once(base, source, key, part_size, state)
                    tus.server_cpu_s += process_cpu_s(tus_pid) - before
                    figure, written = tus, tus_store / key
                else:
                    before = process_cpu_s(put_pid)
                    seconds, client_cpu = put_once(f"{put_url}/{key}", source)
                    put.server_cpu_s += process_cpu_s(put_pid) - before
                    figure, written = put, put_store / key
                figure.seconds.append(seconds)
                figure.client_cpu_s += client_cpu
                print(f"  run {run + 1} {which:<3} {size / seconds / 1e6:7.1f} MB/s", flush=True)
                if run == 0 and which == "put" and sha256_file(written) != expected:
                    raise SystemExit("the PUT server's file differs from the source")
                written.unlink()  # the tus object's digest was checked by the uploader
                for sidecar in written.parent.glob(written.name + ".*"):
                    sidecar.unlink()
        tus.peak_rss_mib = mib(proc_status_kib(tus_pid, "VmHWM"))
        put.peak_rss_mib = mib(proc_status_kib(put_pid, "VmHWM"))
    return tus, put


def report(tus: Side, put: Side, size: int, part_size: int, runs: int) -> dict[str, object]:
    gib = size * runs / GiB
    print(
        f"\n{size / MiB:.0f} MiB of random bytes, tus parts of {part_size / MiB:g} MiB, "
        f"{runs} alternating runs each; {os.cpu_count()} cores"
    )
    result: dict[str, object] = {"size": size, "part_size": part_size, "runs": runs}
    for figure in (tus, put):
        speeds = figure.bytes_per_s(size)
        runs_text = ", ".join(f"{s / 1e6:.0f}" for s in speeds)
        print(
            f"  {figure.name:<36} best {max(speeds) / 1e6:7.1f} MB/s, median "
            f"{statistics.median(speeds) / 1e6:7.1f} MB/s   (runs, MB/s: {runs_text})"
        )
        print(
            f"  {'':<36} CPU s/GiB: server {figure.server_cpu_s / gib:.2f}, client "
            f"{figure.client_cpu_s / gib:.2f}; server RSS after warm-up "
            f"{figure.rss_start_mib:.1f} MiB, peak {figure.peak_rss_mib:.1f} MiB, growth "
            f"{figure.peak_rss_mib - figure.rss_start_mib:.1f} MiB"
        )
        result[figure.name.split()[0].lower()] = {
            **asdict(figure),
            "best_bytes_per_s": max(speeds),
            "median_bytes_per_s": statistics.median(speeds),
            "server_cpu_s_per_gib": figure.server_cpu_s / gib,
            "client_cpu_s_per_gib": figure.client_cpu_s / gib,
            "rss_growth_mib": figure.peak_rss_mib - figure.rss_start_mib,
        }
    best = max(tus.bytes_per_s(size)) / max(put.bytes_per_s(size))
    median = statistics.median(tus.bytes_per_s(size)) / statistics.median(put.bytes_per_s(size))
    growth = tus.peak_rss_mib - tus.rss_start_mib
    print(
        f"  tus / PUT = {best:.2f}x best vs best, {median:.2f}x median vs median   "
        f"(target >= 0.7x: {'met' if best >= 0.7 else 'MISSED'})"
    )
    print(
        f"  tus server memory growth {growth:.1f} MiB   "
        f"(target < 64 MB: {'met' if growth * MiB < 64e6 else 'MISSED'})"
    )
    cpu_tus = (tus.server_cpu_s + tus.client_cpu_s) / gib
    cpu_put = (put.server_cpu_s + put.client_cpu_s) / gib
    print(
        f"  CPU s/GiB, server + client: tus {cpu_tus:.2f}, PUT {cpu_put:.2f}: PUT / tus = "
        f"{cpu_put / cpu_tus:.2f}x (where the ratio goes when the cores are saturated)"
    )
    result.update(ratio_best=best, ratio_median=median, ratio_cpu=cpu_put / cpu_tus)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (1024 = 1 GiB)")
    parser.add_argument("--part-mib", type=float, default=8, help="tus part size (PATCH body)")
    parser.add_argument("--runs", type=int, default=3, help="uploads per path, alternating")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    size, part_size = args.size_mib * MiB, int(args.part_mib * MiB)
    with tempfile.TemporaryDirectory(prefix="streamway-bench-uploads-") as tmp:
        print(f"file: {args.size_mib} MiB; runs:", flush=True)
        tus, put = measure(Path(tmp), size, part_size, args.runs)
    result = report(tus, put, size, part_size, args.runs)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
