"""``streamway local`` beside ``streamway serve``: what the local API Gateway + Lambda hop costs.

Both servers run in this one invocation, on loopback, with the same store and the same
scripted OpenAI-compatible model (tests/peers/openai_chat.py, in a thread of this process),
so the only difference is the path:

  serve:  curl -> uvicorn -> app
  local:  curl -> gateway (uvicorn) -> Runtime API emulator -> function process -> app

Figures, each the median of ``--rounds`` runs with the two sides alternating (a noisy
neighbour on a small shared machine hurts both):

- download of a large object (default 190 MB, under Lambda's 200 MB cap on a streamed
  response): curl's time to first byte and throughput;
- ``POST /streaming``: time to first token (curl's time to first byte: status and headers go
  out with the first token on both paths) and time to the whole answer;
- the first request through ``local`` after start-up, which includes the function's cold
  start (process start until its first ``next``);
- the gateway's peak RSS after the downloads.

    .venv/bin/python bench/local.py [--rounds 5] [--mb 190] [--model scripted|local]

``--model local`` puts the embedded model (SmolLM2 on llama.cpp) behind ``/streaming``
instead of the scripted one: each side then loads it in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import OpenAIChatPeer
from tests.servers import RunningServer, streamway_local, streamway_server

MB = 1_000_000
KEY = "object.bin"
PROMPT = json.dumps({"request": "What is response streaming?"})


def make_object(root: Path, size: int) -> None:
    block = os.urandom(8 * 1024 * 1024)
    with (root / KEY).open("wb") as file:
        written = 0
        while written < size:
            piece = block[: min(len(block), size - written)]
            file.write(piece)
            written += len(piece)


def curl(url: str, *extra: str) -> tuple[float, float, int]:
    """(time to first byte s, total s, bytes) as curl measured them."""
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            "-o",
            os.devnull,
            "-w",
            "%{time_starttransfer} %{time_total} %{size_download}",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ttfb, total, size = result.stdout.split()
    return float(ttfb), float(total), int(float(size))


def download(server: RunningServer) -> tuple[float, float, int]:
    return curl(f"{server.url}/download/{KEY}")


def streaming(server: RunningServer) -> tuple[float, float, int]:
    return curl(
        f"{server.url}/streaming",
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "--data-binary",
        PROMPT,
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mb", type=int, default=190, help="object size in MB (10^6 bytes)")
    parser.add_argument("--model", choices=["scripted", "local"], default="scripted")
    options = parser.parse_args()
    size = options.mb * MB

    with (
        tempfile.TemporaryDirectory(prefix="streamway-bench-") as tmp,
        serve_in_thread(OpenAIChatPeer(delay_s=0.02)) as peer,
    ):
        make_object(Path(tmp), size)
        env = {
            "STREAMWAY_STORE_URL": f"file://{tmp}",
            "STREAMWAY_MODEL": "openai:scripted" if options.model == "scripted" else "local",
            "STREAMWAY_OPENAI_BASE_URL": f"{peer}/v1",
            "STREAMWAY_LOG_LEVEL": "WARNING",
        }
        with streamway_server(env) as serve, streamway_local(env) as local:
            cold_ttfb, _, _ = streaming(local)  # the first request starts StreamFunction
            warm_ttfb, _, _ = streaming(local)
            streaming(serve)
            print("first request through local (function cold start included)")
            print(f"  POST /streaming TTFB cold {_ms(cold_ttfb)}   warm {_ms(warm_ttfb)}")

            for label, measure in (("download", download), ("streaming", streaming)):
                runs: dict[str, list[tuple[float, float, int]]] = {"local": [], "serve": []}
                for _ in range(options.rounds):
                    runs["local"].append(measure(local))
                    runs["serve"].append(measure(serve))
                ttfb = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
                total = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
                if label == "download":
                    assert all(r[2] == size for v in runs.values() for r in v), runs
                    rate = {
                        k: statistics.median(r[2] / r[1] for r in v) / MB for k, v in runs.items()
                    }
                    print(f"\nGET /download ({options.mb} MB), median of {options.rounds}")
                    print(
                        f"  throughput  local {rate['local']:8.1f} MB/s  serve "
                        f"{rate['serve']:8.1f} MB/s  ratio {rate['local'] / rate['serve']:.2f}x"
                    )
                else:
                    print(f"\nPOST /streaming ({options.model} model), median of {options.rounds}")
                    print(
                        f"  whole answer local {_ms(total['local'])}   serve "
                        f"{_ms(total['serve'])}   overhead {_ms(total['local'] - total['serve'])}"
                    )
                print(
                    f"  TTFB        local {_ms(ttfb['local'])}   serve {_ms(ttfb['serve'])}   "
                    f"overhead {_ms(ttfb['local'] - ttfb['serve'])}   "
                    f"ratio {ttfb['local'] / ttfb['serve']:.2f}x"
                )
            print(f"\ngateway peak RSS {local.peak_rss_kib() / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
