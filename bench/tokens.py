"""Tokens per second and time to first token: streamway over HTTP beside llama.cpp called directly.

Both sides run the same GGUF, the same system prompt, the same sampling and the same seed, so
they generate the same tokens; rounds alternate between them so a noisy neighbour hurts both.
The HTTP side is the whole path a user sees: a real ``streamway serve`` process on loopback,
the Strands agent, SSE framing, and an httpx client reading events as they arrive.

    .venv/bin/python bench/tokens.py [--rounds 5] [--max-tokens 256]
    .venv/bin/python bench/tokens.py --tracing     # streamway with tracing on vs off

Targets (issue 2): HTTP tokens/s at least 0.95x direct; time-to-first-token overhead at most
20 ms. Tokens/s is measured after the first token (generation rate, not prefill).

``--tracing`` (issue 24) compares two ``streamway serve`` processes instead, one with
``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a real OTLP/HTTP receiver on loopback (the
tests' own, which decodes every span) and one without: tokens/s within 2%.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import free_port, wait_until_listening

from streamway.agent.local_model import bundled_gguf
from streamway.config import DEFAULT_SYSTEM_PROMPT

PROMPTS = [
    "What is response streaming?",
    "Explain how a lighthouse works.",
    "Describe a walk through a forest in autumn.",
    "Why do APIs have timeouts?",
    "Write a short letter to a friend about the sea.",
]
SEED = 11
TEMPERATURE = 0.7
REPEAT_PENALTY = 1.3


@dataclass
class Run:
    tokens: int
    ttft_s: float
    rate: float  # tokens per second after the first token


def summarise(arrivals: list[float]) -> Run:
    if len(arrivals) < 2:
        raise RuntimeError("an answer needs at least two tokens to measure a rate")
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    return Run(len(arrivals), arrivals[0], rate)


class Direct:
    def __init__(self, threads: int) -> None:
        from llama_cpp import Llama

        self.llama = Llama(
            model_path=str(bundled_gguf()), n_ctx=4096, n_threads=threads, verbose=False
        )

    def run(self, prompt: str, max_tokens: int) -> Run:
        messages = [
            {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
            {"role": "user", "content": prompt},
        ]
        started = time.perf_counter()
        arrivals = []
        for chunk in self.llama.create_chat_completion(
            messages=messages,  # type: ignore[arg-type]
            stream=True,
            max_tokens=max_tokens,
            temperature=TEMPERATURE,
            repeat_penalty=REPEAT_PENALTY,
            seed=SEED,
        ):
            if chunk["choices"][0]["delta"].get("content"):  # type: ignore[index]
                arrivals.append(time.perf_counter() - started)
        return summarise(arrivals)


class OverHttp:
    def __init__(
        self, threads: int, max_tokens: int, extra_env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            **(extra_env or {}),
            "STREAMWAY_MAX_TOKENS": str(max_tokens),
            "STREAMWAY_SEED": str(SEED),
            "STREAMWAY_TEMPERATURE": str(TEMPERATURE),
            "STREAMWAY_REPEAT_PENALTY": str(REPEAT_PENALTY),
            "STREAMWAY_THREADS": str(threads),
            "STREAMWAY_LOG_LEVEL": "WARNING",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamway", "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_listening(self.port, self.process, timeout_s=60)
        self.client = httpx.Client(timeout=120)

    def run(self, prompt: str) -> Run:
        started = time.perf_counter()
        arrivals = []
        with self.client.stream(
            "POST",
            f"http://127.0.0.1:{self.port}/streaming",
            json={"request": prompt},
            headers={"Accept": "text/event-stream"},
        ) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if line.startswith("data: ") and "text" in json.loads(line[6:]):
                    arrivals.append(time.perf_counter() - started)
        return summarise(arrivals)

    def close(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(timeout=10)


def median_of(runs: list[Run], field: str) -> float:
    return statistics.median(getattr(run, field) for run in runs)


def tracing_on_vs_off(rounds: int, max_tokens: int, threads: int) -> None:
    """Tokens/s of streamway with tracing on (spans exported to a real OTLP receiver) and off,
    rounds alternating between the two servers."""
    from tests.observability.otlp_receiver import otlp_receiver

    with otlp_receiver() as receiver:
        traced_env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_SERVICE_NAME": "bench-tokens",
        }
        # Without OTEL_* in its environment whatever the caller's shell has.
        untraced_env = {name: "" for name in os.environ if name.startswith("OTEL_")}
        off = OverHttp(threads, max_tokens, untraced_env)
        on = OverHttp(threads, max_tokens, traced_env)
        try:
            off.run(PROMPTS[0])
            on.run(PROMPTS[0])
            results: dict[str, list[Run]] = {"off": [], "on": []}
            for round_index in range(rounds):
                prompt = PROMPTS[round_index % len(PROMPTS)]
                pair = [("off", off), ("on", on)]
                if round_index % 2:  # alternate which goes first
                    pair.reverse()
                for name, server in pair:
                    results[name].append(server.run(prompt))
        finally:
            off.close()
            on.close()
        spans = len(receiver.spans)
    off_rate, on_rate = median_of(results["off"], "rate"), median_of(results["on"], "rate")
    off_ttft, on_ttft = median_of(results["off"], "ttft_s"), median_of(results["on"], "ttft_s")
    print(f"rounds: {rounds}, max tokens: {max_tokens}, threads: {threads}")
    print(f"spans received by the OTLP receiver: {spans}")
    print(f"{'':24}{'tracing on':>12}{'tracing off':>13}{'ratio':>8}")
    print(f"{'tokens/s (median)':24}{on_rate:12.1f}{off_rate:13.1f}{on_rate / off_rate:8.3f}")
    print(f"{'first token ms (median)':24}{on_ttft * 1000:12.1f}{off_ttft * 1000:13.1f}")
    within = abs(on_rate / off_rate - 1) <= 0.02
    print("target (tokens/s within 2%):", "met" if within else "NOT met")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=len(PROMPTS))
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tracing", action="store_true", help="compare tracing on vs off instead")
    args = parser.parse_args()
    if args.tracing:
        tracing_on_vs_off(args.rounds, args.max_tokens, args.threads)
        return

    direct = Direct(args.threads)
    http = OverHttp(args.threads, args.max_tokens)
    try:
        # One warm-up each: first calls pay for page faults and thread start-up.
        direct.run(PROMPTS[0], 16)
        http.run(PROMPTS[0])
        direct_results: list[Run] = []
        http_results: list[Run] = []
        for round_index in range(args.rounds):
            prompt = PROMPTS[round_index % len(PROMPTS)]
            direct_results.append(direct.run(prompt, args.max_tokens))
            http_results.append(http.run(prompt))
    finally:
        http.close()

    d_rate, h_rate = median_of(direct_results, "rate"), median_of(http_results, "rate")
    d_ttft, h_ttft = median_of(direct_results, "ttft_s"), median_of(http_results, "ttft_s")
    tokens = sum(r.tokens for r in http_results), sum(r.tokens for r in direct_results)
    print(f"rounds: {args.rounds}, max tokens: {args.max_tokens}, threads: {args.threads}")
    print(f"tokens generated (http, direct): {tokens[0]}, {tokens[1]}")
    print(f"{'':24}{'streamway http':>16}{'direct llama.cpp':>18}{'ratio':>8}")
    print(f"{'tokens/s (median)':24}{h_rate:16.1f}{d_rate:18.1f}{h_rate / d_rate:8.3f}")
    print(
        f"{'first token ms (median)':24}{h_ttft * 1000:16.1f}{d_ttft * 1000:18.1f}"
        f"{'':8}overhead {1000 * (h_ttft - d_ttft):+.1f} ms"
    )
    ok = h_rate / d_rate >= 0.95 and (h_ttft - d_ttft) <= 0.020
    print("targets (>= 0.95x tokens/s, <= 20 ms TTFT overhead):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
