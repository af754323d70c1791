"""Upload throughput, CPU and memory: tus into `streamway serve` beside a plain streaming PUT.

    .venv/bin/python bench/uploads.py [--size-mib 1024] [--part-mib 8] [--runs 3] [--json F]

All three run on loopback in this one invocation, in alternating runs (PUT, tus, tus without
part checksums, then the other way round...) so that whatever else the machine does weighs on
all alike:

* tus: `streamway serve` with STREAMWAY_UPLOADS on and the local store, and streamway's own
  client (src/streamway/uploader.py, the one behind `streamway put`): POST creation, then
  PATCH parts of --part-mib with `Upload-Checksum: sha256`, the object published under its
  key with its SHA-256 (the server hashes the whole file for `Repr-Digest`); the client's
  final `Repr-Digest` check runs after the clock stops (it reads the whole file once more);
* tus, no part checksum: the same, with `upload(..., part_checksum=False)`: no
  `Upload-Checksum`, so neither side hashes each part (the server still hashes the whole file
  for `Repr-Digest`): what the per-part SHA-256 costs. Same server, same alternating runs;
* PUT (the baseline): a minimal uvicorn app (same event loop and HTTP parser as `serve`) that
  streams the request body into a temporary file, fsyncs it and renames it into place, as
  the tus store does on completion; the client is httpx too, streaming the file in 1 MiB
  chunks with a Content-Length. No checksums: it is the floor of what a body to disk costs.

Each server is its own process (both tus rows share `streamway serve`): its CPU seconds come
from /proc/PID/stat, taken around each upload, and its memory growth is its peak RSS (VmHWM)
at the end minus its RSS after a 1 MiB warm-up upload. The client runs in this process (CPU
from time.process_time). On a shared 2-core machine the CPU seconds per GiB are the honest
figure; the throughputs move with the load.

Targets (issue 22): tus (with part checksums, as `streamway put` sends them) >= 0.7x the PUT's
throughput; server memory growth < 64 MB. Each tus row's ratio to the PUT is printed; --json
has the rows under "tus", "tus_no_checksum" and "put", the ratios as ratio_best, ratio_median,
ratio_cpu (tus) and ratio_best_no_checksum, ratio_median_no_checksum, ratio_cpu_no_checksum.
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
    key: str
    """Its name in --json."""
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
    base_url: str, source: Path, key: str, part_size: int, state: Path, *, checksum: bool = True
) -> tuple[float, float]:
    """(seconds, client CPU seconds) from the creation to the last part's acknowledgement."""
    clock = _Clock(source.stat().st_size)
    started, cpu = time.perf_counter(), time.process_time()
    result = upload(
        source,
        base_url,
        key=key,
        part_size=part_size,
        remember_in=state,
        progress=clock,
        part_checksum=checksum,
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


def measure(workdir: Path, size: int, part_size: int, runs: int) -> tuple[Side, Side, Side]:
    """(tus, tus without part checksums, PUT), in alternating runs."""
    source = workdir / "source.bin"
    make_object(workdir, size).rename(source)
    warmup = workdir / "warmup.bin"
    warmup.write_bytes(os.urandom(MiB))
    expected = sha256_file(source)
    tus_store, put_store = workdir / "tus-store", workdir / "put-store"
    tus_store.mkdir()
    put_store.mkdir()
    state = workdir / "uploads.json"
    tus = Side("tus (streamway serve, local store)", "tus")
    bare = Side("tus, no part checksum", "tus_no_checksum")
    put = Side("PUT (minimal uvicorn app)", "put")

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
        for side, pid in ((tus, tus_pid), (bare, tus_pid), (put, put_pid)):
            side.rss_start_mib = mib(proc_status_kib(pid, "VmRSS"))
        for run in range(runs):
            order = (put, tus, bare) if run % 2 == 0 else (bare, tus, put)
            for side in order:
                key = f"run{run}-{side.key}.bin"
                pid = put_pid if side is put else tus_pid
                before = process_cpu_s(pid)
                if side is put:
                    seconds, client_cpu = put_once(f"{put_url}/{key}", source)
                    written = put_store / key
                else:
                    seconds, client_cpu = tus_once(
                        base, source, key, part_size, state, checksum=side is tus
                    )
                    written = tus_store / key
                side.server_cpu_s += process_cpu_s(pid) - before
                side.seconds.append(seconds)
                side.client_cpu_s += client_cpu
                print(
                    f"  run {run + 1} {side.key:<15} {size / seconds / 1e6:7.1f} MB/s", flush=True
                )
                if run == 0 and side is put and sha256_file(written) != expected:
                    raise SystemExit("the PUT server's file differs from the source")
                written.unlink()  # the tus object's digest was checked by the uploader
                for sidecar in written.parent.glob(written.name + ".*"):
                    sidecar.unlink()
        for side, pid in ((tus, tus_pid), (bare, tus_pid), (put, put_pid)):
            side.peak_rss_mib = mib(proc_status_kib(pid, "VmHWM"))
    return tus, bare, put


def report(
    tus: Side, bare: Side, put: Side, size: int, part_size: int, runs: int
) -> dict[str, object]:
    gib = size * runs / GiB
    print(
        f"\n{size / MiB:.0f} MiB of random bytes, tus parts of {part_size / MiB:g} MiB, "
        f"{runs} alternating runs each; {os.cpu_count()} cores"
    )
    result: dict[str, object] = {"size": size, "part_size": part_size, "runs": runs}
    for figure in (tus, bare, put):
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
        result[figure.key] = {
            **asdict(figure),
            "best_bytes_per_s": max(speeds),
            "median_bytes_per_s": statistics.median(speeds),
            "server_cpu_s_per_gib": figure.server_cpu_s / gib,
            "client_cpu_s_per_gib": figure.client_cpu_s / gib,
            "rss_growth_mib": figure.peak_rss_mib - figure.rss_start_mib,
        }
    for figure, suffix in ((tus, ""), (bare, "_no_checksum")):
        best, median, cpu = ratios(figure, put, size)
        met = "met" if best >= 0.7 else "MISSED"
        target = f"(target >= 0.7x: {met})" if figure is tus else "(no target: a measure)"
        print(
            f"  {figure.name} / PUT = {best:.2f}x best vs best, {median:.2f}x median vs median; "
            f"CPU s/GiB, server + client, PUT / tus = {cpu:.2f}x   {target}"
        )
        result.update(
            {
                f"ratio_best{suffix}": best,
                f"ratio_median{suffix}": median,
                f"ratio_cpu{suffix}": cpu,
            }
        )
    growth = tus.peak_rss_mib - tus.rss_start_mib
    print(
        f"  tus server memory growth {growth:.1f} MiB   "
        f"(target < 64 MB: {'met' if growth * MiB < 64e6 else 'MISSED'})"
    )
    print("  (the CPU ratio is where the throughput ratio goes when the cores are saturated)")
    return result


def ratios(tus: Side, put: Side, size: int) -> tuple[float, float, float]:
    """tus / PUT: best vs best, median vs median; and PUT / tus of CPU s (server + client)."""
    best = max(tus.bytes_per_s(size)) / max(put.bytes_per_s(size))
    median = statistics.median(tus.bytes_per_s(size)) / statistics.median(put.bytes_per_s(size))
    cpu = (put.server_cpu_s + put.client_cpu_s) / (tus.server_cpu_s + tus.client_cpu_s)
    return best, median, cpu


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
        tus, bare, put = measure(Path(tmp), size, part_size, args.runs)
    result = report(tus, bare, put, size, part_size, args.runs)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
