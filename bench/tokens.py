"""Tokens per second and time to first token: streamway over HTTP beside llama.cpp called directly.

Both sides run the same GGUF, the same system prompt, the same sampling and the same seed, so
they generate the same tokens; rounds alternate between them so a noisy neighbour hurts both.
The HTTP side is the whole path a user sees: a real ``streamway serve`` process on loopback,
the Strands agent, SSE framing, and an httpx client reading events as they arrive.

    .venv/bin/python bench/tokens.py [--rounds 5] [--max-tokens 256]

Targets (issue 2): HTTP tokens/s at least 0.95x direct; time-to-first-token overhead at most
20 ms. Tokens/s is measured after the first token (generation rate, not prefill).
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
    def __init__(self, threads: int, max_tokens: int) -> None:
        self.port = free_port()
        env = {
            **os.environ,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=len(PROMPTS))
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

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

    def median(runs: list[Run], field: str) -> float:
        return statistics.median(getattr(run, field) for run in runs)

    d_rate, h_rate = median(direct_results, "rate"), median(http_results, "rate")
    d_ttft, h_ttft = median(direct_results, "ttft_s"), median(http_results, "ttft_s")
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
