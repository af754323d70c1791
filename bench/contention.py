"""Two answers at once beside the same two one after the other, on one machine (issue 15, 1).

Two processes running the embedded model on the same cores: the two function processes
(sandboxes) of ``streamway local``'s StreamFunction, and two ``streamway serve`` processes.
For each, the time for two ``POST /streaming`` answers one after the other, then for the same
two at once, and the ratio (target: at most 1.25x). With the machine-wide slot the second
answer waits for the first and both run at full thread count; ``--slot process`` shows what
happens without it (each process runs llama.cpp on every core at the same time).

Same prompt, same seed, same ``--max-tokens``: every answer is the same tokens, so the two
phases do the same work. CPU seconds per answer are the model processes' user + system time
over a phase (bench/process_cpu.py) divided by its two answers.

    .venv/bin/python bench/contention.py [--max-tokens 128] [--slot machine] [--slot process]

Figures on a shared machine are noisy: run it when nothing else is (or say it was not).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.process_cpu import process_cpu_s
from tests.servers import streamway_local, streamway_server

PROMPT = {"request": "Write a short story about a lighthouse keeper."}


def answer(url: str) -> int:
    """One whole answer; the number of bytes it had."""
    with httpx.Client(timeout=900) as client:
        reply = client.post(f"{url}/streaming", json=PROMPT)
        reply.raise_for_status()
        return len(reply.content)


def at_once(urls: Sequence[str]) -> list[int]:
    sizes = [0] * len(urls)

    def run(index: int) -> None:
        sizes[index] = answer(urls[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sizes


def one_after_the_other(urls: Sequence[str]) -> list[int]:
    return [answer(url) for url in urls]


def measure(
    label: str, urls: Sequence[str], pids: Callable[[], list[int]], rounds: int
) -> tuple[float, float]:
    """Prints and returns (sequential s, concurrent s), medians over ``rounds``."""
    phases: dict[str, list[float]] = {"one after the other": [], "at once": []}
    cpu: dict[str, list[float]] = {"one after the other": [], "at once": []}
    for _ in range(rounds):
        for phase, run in (("one after the other", one_after_the_other), ("at once", at_once)):
            before = sum(process_cpu_s(pid) for pid in pids())
            started = time.perf_counter()
            sizes = run(urls)
            phases[phase].append(time.perf_counter() - started)
            cpu[phase].append((sum(process_cpu_s(pid) for pid in pids()) - before) / len(urls))
            assert len(set(sizes)) == 1, f"answers differ in size: {sizes}"
    sequential = sorted(phases["one after the other"])[rounds // 2]
    concurrent = sorted(phases["at once"])[rounds // 2]
    print(f"{label}: two answers ({sizes[0]} bytes each), median of {rounds}")
    for phase, times in phases.items():
        per_answer = sorted(cpu[phase])[rounds // 2]
        print(f"  {phase:20s} {sorted(times)[rounds // 2]:7.2f} s   CPU {per_answer:6.2f} s/answer")
    print(f"  ratio at once / one after the other: {concurrent / sequential:.2f}x (target 1.25x)")
    sys.stdout.flush()
    return sequential, concurrent


@contextmanager
def two_serves(env: dict[str, str]) -> Iterator[tuple[list[str], list[int]]]:
    with streamway_server(env) as first, streamway_server(env) as second:
        yield [first.url, second.url], [first.process.pid, second.process.pid]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--slot",
        action="append",
        choices=["machine", "process"],
        help="STREAMWAY_MODEL_SLOT values to measure (repeatable; default: machine)",
    )
    parser.add_argument("--only", choices=["local", "serve"], help="measure one side only")
    options = parser.parse_args()

    for slot in options.slot or ["machine"]:
        with ExitStack() as stack:
            slot_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="streamway-slot-"))
            env = {
                "STREAMWAY_MAX_TOKENS": str(options.max_tokens),
                "STREAMWAY_LOG_LEVEL": "WARNING",
                "STREAMWAY_MODEL_SLOT": slot,
                # The second answer waits a whole answer for the slot: never a 503 here.
                "STREAMWAY_QUEUE_TIMEOUT_S": "900",
                # Private to this run: other streamway processes on the machine do not wait.
                "STREAMWAY_MODEL_SLOT_DIR": slot_dir,
            }
            print(f"--- STREAMWAY_MODEL_SLOT={slot}, max {options.max_tokens} tokens", flush=True)
            if options.only in (None, "local"):
                with streamway_local(env) as local:
                    at_once([local.url, local.url])  # cold-starts both sandboxes

                    def sandboxes() -> list[int]:
                        stream = local.functions()["StreamFunction"]["sandboxes"]
                        return [s["pid"] for s in stream if s["pid"] is not None]

                    assert len(sandboxes()) == 2, local.functions()
                    measure(
                        "streamway local (StreamFunction, 2 sandboxes)",
                        [local.url] * 2,
                        sandboxes,
                        options.rounds,
                    )
            if options.only in (None, "serve"):
                with two_serves(env) as (urls, pids):
                    answer(urls[0]), answer(urls[1])  # warm: load pages, first-call costs
                    measure("two streamway serve processes", urls, lambda: pids, options.rounds)


if __name__ == "__main__":
    main()
