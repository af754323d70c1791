"""Download throughput and memory: streamway beside nginx, Starlette FileResponse and direct S3.

    .venv/bin/python bench/downloads.py [--size-mib 1024] [--runs 3] [--skip-s3]

Everything runs on loopback in this one invocation, with curl writing to /dev/null as the
client; each server is its own process, so its peak RSS (VmHWM) is its own.

* local store: streamway (`streamway serve`, STREAMWAY_STORE_URL=file://...) vs nginx with
  sendfile (the ceiling) vs Starlette FileResponse on uvicorn (the usual choice);
* S3: streamway with STREAMWAY_STORE_URL=s3://... vs a direct aiobotocore GetObject of the
  same object from the same S3-protocol server, in a process of its own: moto_server
  (default) or s3rver (`--s3-server s3rver`, npm-installed into ~/.cache/streamway on first
  use); runs of the two alternate;
* slow client: streamway's RSS growth while a rate-limited curl takes the whole object;
* parts: `streamway get` through `streamway local --throttle`, one stream vs `--parallel 8`,
  and its peak RSS (bench/download_parts.py; alone with `--only parallel`).

For S3 it also prints each process's CPU seconds per GiB over the same runs (the S3 server,
streamway and curl; the S3 server and the direct client): on a machine with few cores the
S3 server takes one, and the sum of the relay path's CPU, not streamway's alone, sets how
close it can come to the direct GET.

Targets (issue 3): local >= 2.0x FileResponse and >= 0.5x nginx; S3 >= 0.9x direct GET;
RSS growth < 64 MB while streaming to a slow client; (issue 19) --parallel 8 >= 6x one
stream through the throttle, `streamway get` < 64 MB RSS. nginx comes from apt (`nginx`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.download_parts import measure_parts, report_parts
from bench.process_cpu import process_cpu_s, rusage_cpu_s
from tests.servers import free_port, proc_status_kib, wait_until_listening

MiB = 1024 * 1024
BUCKET = "streamway-bench"
KEY = "object.bin"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@contextmanager
def running(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[int]:
    """Starts a server process, yields its pid once it listens, stops it at the end."""
    process = subprocess.Popen(
        args,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port, process, timeout_s=60)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def curl_speed(url: str, *extra: str) -> float:
    """Bytes per second curl measured for one GET to /dev/null."""
    result = subprocess.run(
        ["curl", "-sS", "--fail", "-o", os.devnull, "-w", "%{speed_download}", *extra, url],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout)


def best_of(runs: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    samples = [measure() for _ in range(runs)]
    return max(samples), samples


@dataclass
class Figure:
    name: str
    bytes_per_s: float
    samples: list[float]
    peak_rss_mib: float | None


def fmt(figure: Figure) -> str:
    rss = f"{figure.peak_rss_mib:6.1f} MiB" if figure.peak_rss_mib is not None else "  (client)"
    runs = ", ".join(f"{s / 1e9:.2f}" for s in figure.samples)
    return (
        f"  {figure.name:<34} {figure.bytes_per_s / 1e9:5.2f} GB/s   peak RSS {rss}"
        f"   (runs, GB/s: {runs})"
    )


def make_object(directory: Path, size: int) -> Path:
    path = directory / KEY
    block = os.urandom(64 * MiB)
    with path.open("wb") as file:
        written = 0
        while written < size:
            piece = block[: min(len(block), size - written)]
            file.write(piece)
            written += len(piece)
    return path


# --- servers -------------------------------------------------------------------------------


def streamway_args(port: int) -> list[str]:
    return [sys.executable, "-m", "streamway", "serve", "--port", str(port)]


def streamway_env(store_url: str, **extra: str) -> dict[str, str]:
    return {
        "STREAMWAY_STORE_URL": store_url,
        "STREAMWAY_MODEL": "openai:unused",  # downloads only: no model in memory
        "STREAMWAY_LOG_LEVEL": "WARNING",
        **extra,
    }


FILE_RESPONSE_APP = textwrap.dedent(
    """
    import sys
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import FileResponse
    from starlette.routing import Route

    root = sys.argv[1]

    async def download(request):
        return FileResponse(f"{root}/{request.path_params['key']}")

    app = Starlette(routes=[Route("/download/{key:path}", download)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    """
)


NGINX_CONF = textwrap.dedent(
    """
    worker_processes 1;
    daemon off;
    pid {prefix}/nginx.pid;
    error_log {prefix}/error.log warn;
    events {{ worker_connections 64; }}
    http {{
        access_log off;
        sendfile on;
        tcp_nopush on;
        client_body_temp_path {prefix}/tmp;
        proxy_temp_path {prefix}/tmp;
        fastcgi_temp_path {prefix}/tmp;
        uwsgi_temp_path {prefix}/tmp;
        scgi_temp_path {prefix}/tmp;
        server {{
            listen 127.0.0.1:{port};
            location /download/ {{ alias {root}/; }}
        }}
    }}
    """
)


@contextmanager
def nginx(root: Path, port: int, workdir: Path) -> Iterator[int]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise SystemExit("nginx is not installed: apt-get install -y nginx")
    prefix = workdir / "nginx"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, root=root))
    # With master_process on (the default), the master forks one worker: measure the worker.
    with running([binary, "-p", str(prefix), "-c", str(conf)], port) as master:
        time.sleep(0.2)
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        yield int(children[0]) if children else master


# --- S3 ------------------------------------------------------------------------------------


def upload_object(endpoint: str, path: Path) -> None:
    import boto3
    from boto3.s3.transfer import TransferConfig

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    client.upload_file(
        str(path),
        BUCKET,
        KEY,
        Config=TransferConfig(multipart_threshold=64 * MiB, multipart_chunksize=64 * MiB),
    )


DIRECT_GET = textwrap.dedent(
    """
    import asyncio, sys, time
    from aiobotocore.session import get_session

    async def main(endpoint, bucket, key, chunk):
        session = get_session()
        async with session.create_client("s3", endpoint_url=endpoint) as client:
            started, cpu = time.perf_counter(), time.process_time()
            response = await client.get_object(Bucket=bucket, Key=key)
            body = response["Body"]
            total = 0
            while data := await body.read(chunk):
                total += len(data)
            elapsed = time.perf_counter() - started
            print(total / elapsed, time.process_time() - cpu)

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    """
)


def direct_get_speed(endpoint: str) -> tuple[float, float]:
    """(bytes per second, the client's CPU seconds for the GET) of one direct GetObject."""
    result = subprocess.run(
        [sys.executable, "-c", DIRECT_GET, endpoint, BUCKET, KEY, str(MiB)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
    )
    speed, cpu = result.stdout.split()
    return float(speed), float(cpu)


# --- slow client ---------------------------------------------------------------------------


def rss_growth_slow_client(url: str, pid: int, rate: str) -> tuple[float, float, float]:
    """(baseline MiB, max MiB during the download, seconds) for one rate-limited download."""
    baseline = proc_status_kib(pid, "VmRSS") / 1024
    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, proc_status_kib(pid, "VmRSS") / 1024)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    try:
        curl_speed(url, "--limit-rate", rate)
    finally:
        stop.set()
        sampler.join()
    return baseline, peak, time.perf_counter() - started


# --- main ----------------------------------------------------------------------------------


SlowClient = tuple[float, float, float]


def measure_local(
    root: Path, workdir: Path, runs: int, slow_rate: str, figures: dict[str, Figure]
) -> SlowClient:
    port = free_port()
    url = f"http://127.0.0.1:{port}/download/{KEY}"
    with nginx(root, port, workdir) as pid:
        best, samples = best_of(runs, lambda: curl_speed(url))
        figures["nginx"] = Figure("nginx (sendfile)", best, samples, peak_rss_mib(pid))

    port = free_port()
    url = f"http://127.0.0.1:{port}/download/{KEY}"
    with running([sys.executable, "-c", FILE_RESPONSE_APP, str(root), str(port)], port) as pid:
        best, samples = best_of(runs, lambda: curl_speed(url))
        figures["fileresponse"] = Figure(
            "Starlette FileResponse (uvicorn)", best, samples, peak_rss_mib(pid)
        )

    port = free_port()
    url = f"http://127.0.0.1:{port}/download/{KEY}"
    with running(streamway_args(port), port, streamway_env(f"file://{root}")) as pid:
        best, samples = best_of(runs, lambda: curl_speed(url))
        figures["local"] = Figure("streamway, local store", best, samples, peak_rss_mib(pid))
        return rss_growth_slow_client(url, pid, slow_rate)


S3RVER_DIR = Path.home() / ".cache" / "streamway" / "s3rver"


def s3_server_command(kind: str, port: int, workdir: Path) -> tuple[list[str], dict[str, str]]:
    """How to start the S3-protocol server, and the credentials it accepts."""
    if kind == "moto":
        moto_server = str(Path(sys.executable).with_name("moto_server"))
        return [moto_server, "-H", "127.0.0.1", "-p", str(port)], S3_ENV
    binary = S3RVER_DIR / "node_modules" / ".bin" / "s3rver"
    if not binary.exists():  # npm, into a cache directory: nothing installed by hand
        S3RVER_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", "s3rver@3.7.1"],
            cwd=S3RVER_DIR,
            check=True,
        )
    data = workdir / "s3rver"
    data.mkdir()
    command = [str(binary), "-d", str(data), "-a", "127.0.0.1", "-p", str(port), "--silent"]
    # s3rver accepts only this key pair.
    return command, {**S3_ENV, "AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}


def measure_s3(
    kind: str,
    root: Path,
    workdir: Path,
    runs: int,
    slow_rate: str,
    figures: dict[str, Figure],
    cpu: dict[str, float],
) -> SlowClient:
    s3_port = free_port()
    endpoint = f"http://127.0.0.1:{s3_port}"
    command, credentials = s3_server_command(kind, s3_port, workdir)
    os.environ.update(credentials)
    with running(command, s3_port) as s3_pid:
        print(f"uploading to {kind}...", flush=True)
        upload_object(endpoint, root / KEY)
        port = free_port()
        url = f"http://127.0.0.1:{port}/download/{KEY}"
        env = streamway_env(f"s3://{BUCKET}", STREAMWAY_S3_ENDPOINT_URL=endpoint)
        with running(streamway_args(port), port, env) as pid:
            curl_speed(url, "--range", "0-0")  # warm up: credentials, client, connection pool
            # Alternate the two so that anything else on the machine weighs on both alike.
            direct, streamed = [], []
            for _ in range(runs):
                server_before = process_cpu_s(s3_pid)
                speed, client_cpu = direct_get_speed(endpoint)
                direct.append(speed)
                cpu["direct: S3 server"] += process_cpu_s(s3_pid) - server_before
                cpu["direct: client"] += client_cpu
                before = process_cpu_s(s3_pid), process_cpu_s(pid), rusage_cpu_s()
                streamed.append(curl_speed(url))
                cpu["streamway: S3 server"] += process_cpu_s(s3_pid) - before[0]
                cpu["streamway: streamway"] += process_cpu_s(pid) - before[1]
                cpu["streamway: curl"] += rusage_cpu_s() - before[2]
            figures["direct"] = Figure("direct aiobotocore GetObject", max(direct), direct, None)
            figures["s3"] = Figure(
                f"streamway, S3 store ({kind})", max(streamed), streamed, peak_rss_mib(pid)
            )
            return rss_growth_slow_client(url, pid, slow_rate)


def peak_rss_mib(pid: int) -> float:
    return proc_status_kib(pid, "VmHWM") / 1024


def ratio(name: str, figure: Figure, baseline: Figure, target: float) -> str:
    value = figure.bytes_per_s / baseline.bytes_per_s
    median = statistics.median(figure.samples) / statistics.median(baseline.samples)
    met = "met" if value >= target else "MISSED"
    return (
        f"  {name:<26} = {value:5.2f}x best vs best, {median:5.2f}x median vs median"
        f"   (target >= {target}x: {met})"
    )


def report(
    figures: dict[str, Figure],
    slow: dict[str, SlowClient],
    slow_rate: str,
    size: int,
    cpu: dict[str, float],
    gib_per_path: float,
) -> None:
    if "local" in figures:
        local, fr, ng = figures["local"], figures["fileresponse"], figures["nginx"]
        print("\nlocal store")
        for figure in (local, fr, ng):
            print(fmt(figure))
        print(ratio("streamway / FileResponse", local, fr, 2.0))
        print(ratio("streamway / nginx", local, ng, 0.5))
    if "s3" in figures:
        s3, direct = figures["s3"], figures["direct"]
        print("\nS3 (same server for both)")
        for figure in (s3, direct):
            print(fmt(figure))
        print(ratio("streamway / direct GET", s3, direct, 0.9))
        for path in ("streamway", "direct"):
            parts = {
                name.split(": ")[1]: seconds / gib_per_path
                for name, seconds in cpu.items()
                if name.startswith(path)
            }
            detail = ", ".join(f"{name} {value:.2f}" for name, value in parts.items())
            total = sum(parts.values())
            print(
                f"  CPU s/GiB, {path:<9} {total:.2f} ({detail}): at most "
                f"{(os.cpu_count() or 1) / total:.2f} GiB/s on {os.cpu_count()} cores"
            )
    print(
        f"\nslow client (curl --limit-rate {slow_rate}): streamway RSS while streaming "
        f"{size / MiB:.0f} MiB"
    )
    for label, (base, peak, seconds) in slow.items():
        growth = peak - base
        met = "met" if growth * MiB < 64e6 else "MISSED"
        print(
            f"  {label:<12} before {base:6.1f} MiB, max {peak:6.1f} MiB, "
            f"growth {growth:5.1f} MiB over {seconds:.1f} s   (target < 64 MB: {met})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="object size (1024 = 1 GiB)")
    parser.add_argument("--runs", type=int, default=3, help="downloads per figure; best is shown")
    parser.add_argument("--slow-rate", default="100M", help="curl --limit-rate for the slow client")
    parser.add_argument("--only", choices=["local", "s3", "parallel"], help="measure only one")
    parser.add_argument(
        "--parallel-size-mib", type=int, default=100, help="object for --only parallel"
    )
    parser.add_argument(
        "--s3-server",
        choices=["moto", "s3rver"],
        default="moto",
        help="S3-protocol server: moto_server (PyPI) or s3rver (npm, installed on first use)",
    )
    args = parser.parse_args()
    size = args.size_mib * MiB
    if args.only == "parallel" or args.only is None:
        parts_size = args.parallel_size_mib * MiB
        report_parts(parts_size, measure_parts(parts_size, args.runs))
        if args.only == "parallel":
            return

    figures: dict[str, Figure] = {}
    slow: dict[str, SlowClient] = {}
    cpu: dict[str, float] = dict.fromkeys(
        (
            "streamway: S3 server",
            "streamway: streamway",
            "streamway: curl",
            "direct: S3 server",
            "direct: client",
        ),
        0.0,
    )
    with tempfile.TemporaryDirectory(prefix="streamway-bench-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # nginx workers run as an unprivileged user
        root = workdir / "store"
        root.mkdir(mode=0o755)
        print(
            f"object: {size / MiB:.0f} MiB of random bytes; client: curl -o /dev/null; "
            f"best of {args.runs} runs",
            flush=True,
        )
        make_object(root, size)
        if args.only != "s3":
            slow["local store"] = measure_local(root, workdir, args.runs, args.slow_rate, figures)
        if args.only != "local":
            slow["S3 store"] = measure_s3(
                args.s3_server, root, workdir, args.runs, args.slow_rate, figures, cpu
            )
    report(figures, slow, args.slow_rate, size, cpu, size * args.runs / 1024**3)


if __name__ == "__main__":
    main()
