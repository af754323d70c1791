"""A bounded mixed-load soak of ``streamway serve`` and ``streamway local`` (issue 15).

    .venv/bin/python bench/soak.py [--target serve|local|both] [--minutes 3] [--concurrency 4]

For a set time, ``--concurrency`` clients send a weighted mix of requests to a real server on
loopback (the embedded model with short answers, the sample files in a temporary store),
with a fixed seed, then stop by themselves:

(a) ``POST /streaming`` answers, plain text and SSE;
(b) downloads of the 80 MiB sample: random single Ranges (checked byte for byte), whole
    GETs, HEAD, If-None-Match (304) and If-Range (206, or 200 when it does not match);
(c) aborted clients: an answer or a download whose client closes after a few bytes (half
    with RST, half with FIN);
(d) bad inputs (malformed, deep or huge JSON, wrong fields, oversized bodies and prompts,
    huge or unsatisfiable Ranges, bad keys and session ids, wrong methods and routes): each
    must get a 4xx with a JSON error body, never a 5xx;
(e) AgentCore: ``POST /invocations`` (SSE or JSON) in a pool of sessions, some new, and
    ``GET /ping``.

Rules, each a failure that makes the exit status 1:

- no 5xx and no unexpected status on valid input; a 503 with Retry-After (the model is
  busy) and a 409 (that session is answering another request) are refusals by design,
  counted apart;
- no cut or timed-out answer on valid input, and no answer with wrong bytes;
- every aborted client's request ends on the server (its access line is written) within
  ``--settle-timeout``; each quiet point (every ``--idle-every`` seconds the clients pause)
  and the end find the model idle (``serve``: ``/stats`` and ``/ping``; ``local``: no
  sandbox busy in ``/_local/functions``) within the same bound;
- the RSS and the open file descriptors of every server process (``local``: the gateway and
  each function process) are flat after the warm-up (the first 25% of the run): their
  least-squares slopes stay under ``--max-rss-slope`` MiB/min and ``--max-fd-slope``
  fds/min.

It prints a table of outcomes per kind and status, the abort and token accounting, each
process's start/end RSS and fds and their slopes, and the machine's load average (these
machines are shared; a busy neighbour slows answers but must not produce 5xx).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.soak_requests import KINDS, Group, Outcome, StoredFile, Target
from bench.soak_watch import LogWatch, ProcessWatch
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import OpenAIChatPeer
from tests.servers import RunningLocal, RunningServer, streamway_local, streamway_server

from streamway.storage.samples import LARGE_SAMPLE, PDF_SAMPLE, ensure_samples

#: Failed outcomes kept whole (for the gateway's reasons); the counts are always complete.
KEEP_FAILED = 1000
#: How the gateway's log gives the reason for Lambda's throttle (API Gateway's 500).
THROTTLED = "Lambda throttled"


@dataclass
class QuietPoint:
    at_s: float
    idle_after_s: float | None  # None: still busy when the bound ran out, or skipped
    detail: str
    skipped: bool = False  # requests still in flight when the bound ran out: not checked


@dataclass
class Run:
    target: Target
    server: RunningServer
    processes: ProcessWatch
    options: argparse.Namespace
    started: float = field(default_factory=time.monotonic)
    outcomes: Counter[tuple[Group, str, str]] = field(default_factory=Counter)
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    failed: list[Outcome] = field(default_factory=list)
    quiet_points: list[QuietPoint] = field(default_factory=list)
    deltas: int = 0
    output_tokens: int = 0
    requests: int = 0
    in_flight: int = 0
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    drained: asyncio.Event = field(default_factory=asyncio.Event)  # set: nothing in flight
    pid_names: dict[int, str] = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def record(self, outcome: Outcome) -> None:
        self.outcomes[(outcome.group, outcome.kind, outcome.label)] += 1
        self.deltas += outcome.deltas
        self.output_tokens += outcome.output_tokens
        if outcome.failure is not None:
            self.failures[(outcome.kind, outcome.failure)] += 1
            if len(self.failed) < KEEP_FAILED:
                self.failed.append(outcome)


# --- the load ---------------------------------------------------------------------------------


def lanes(concurrency: int) -> list[set[str]]:
    """The lane(s) each client draws its requests from: half wait on the model, half not."""
    if concurrency == 1:
        return [{"model", "io"}]
    model = concurrency // 2
    return [{"model"}] * model + [{"io"}] * (concurrency - model)


async def worker(run: Run, number: int, lane: set[str], deadline: float) -> None:
    options = run.options
    rng = random.Random(options.seed * 1000 + number)  # the same sequence on every run
    names = [name for name, (*_, kind_lane) in KINDS.items() if kind_lane in lane]
    weights = [options.weights.get(name, KINDS[name][2]) for name in names]
    if not any(weights):
        return  # every kind of this lane weighted 0
    while time.monotonic() < deadline and run.requests < options.max_requests:
        await run.resume.wait()
        if time.monotonic() >= deadline:
            break
        name = rng.choices(names, weights)[0]
        kind, group, _, _ = KINDS[name]
        run.requests += 1
        run.in_flight += 1
        run.drained.clear()
        try:
            async with asyncio.timeout(options.request_timeout):
                outcome = await kind(run.target, rng)
        except TimeoutError:
            why = f"no answer within {options.request_timeout:g} s"
            outcome = Outcome(name, group, "timeout", failure=why)
        except Exception as error:
            # Counted and shown, never fatal to the run: a cut stream (RemoteProtocolError),
            # a reset, a malformed or truncated answer.
            label = type(error).__name__
            outcome = Outcome(name, group, label, failure=f"{label}: {error}"[:160])
        finally:
            run.in_flight -= 1
            if not run.in_flight:
                run.drained.set()
        run.record(outcome)


async def sampler(run: Run, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await refresh_pid_names(run)
        run.processes.sample(run.elapsed())
        run.target.logs.read()
        try:
            async with asyncio.timeout(run.options.sample_every):
                await stop.wait()
        except TimeoutError:
            pass


async def refresh_pid_names(run: Run) -> None:
    if not isinstance(run.server, RunningLocal):
        return
    try:
        answer = await run.target.client.get(f"{run.server.root}/_local/functions")
        for function in answer.json()["functions"]:
            for sandbox in function["sandboxes"]:
                pid = sandbox.get("pid")
                if pid:
                    run.pid_names[pid] = f"{function['function']} #{sandbox['sandbox']}"
                    if sandbox["state"] != "starting":
                        run.processes.ready_at.setdefault(pid, run.elapsed())
    except (httpx.HTTPError, ValueError, KeyError):
        pass  # the names are for the report only


async def quiet_points(run: Run, deadline: float, stop: asyncio.Event) -> None:
    """Every ``--idle-every`` seconds: pause the clients, let the server settle, go on."""
    while True:
        next_at = time.monotonic() + run.options.idle_every
        if next_at >= deadline - run.options.idle_every / 4:
            return
        try:
            async with asyncio.timeout(next_at - time.monotonic()):
                await stop.wait()
            return
        except TimeoutError:
            pass
        await quiet_point(run)
        run.resume.set()


async def quiet_point(run: Run, *, final: bool = False) -> QuietPoint:
    """Waits for the clients' requests in flight to end, then for the server to be idle.

    On the way, a model answer that is still slow after ``--settle-timeout`` (a busy
    machine) skips the point rather than hold every client for up to ``--request-timeout``;
    the final point waits for it.
    """
    run.resume.clear()
    at_s = run.elapsed()
    bound = run.options.request_timeout + 5 if final else run.options.settle_timeout
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(bound):
            await run.drained.wait()
    if run.in_flight and not final:
        point = QuietPoint(at_s, None, f"{run.in_flight} requests in flight", skipped=True)
        run.quiet_points.append(point)
        return point
    settled = time.monotonic()
    detail = "clients did not stop" if run.in_flight else "busy"
    while time.monotonic() - settled < run.options.settle_timeout:
        busy = await server_busy(run)
        if busy is None:
            point = QuietPoint(at_s, time.monotonic() - settled, "idle")
            run.processes.sample(run.elapsed(), quiet=True)
            break
        detail = busy
        await asyncio.sleep(0.1)
    else:
        point = QuietPoint(at_s, None, detail)
    run.quiet_points.append(point)
    return point


async def server_busy(run: Run) -> str | None:
    """What the server is still doing, or None when nothing generates or waits."""
    client, server = run.target.client, run.server
    try:
        if isinstance(server, RunningLocal):
            answer = await client.get(f"{server.root}/_local/functions")
            busy = [
                f"{function['function']} #{sandbox['sandbox']} {sandbox['state']}"
                for function in answer.json()["functions"]
                for sandbox in function["sandboxes"]
                if sandbox["state"] in ("busy", "settling", "starting")
            ]
            return ", ".join(busy) or None
        stats = (await client.get("/stats")).json()
        ping = (await client.get("/ping")).json()["status"]
    except (httpx.HTTPError, ValueError, KeyError) as error:
        return f"cannot ask: {error!r}"
    active, waiting = stats["generations"]["active"], stats["queue"]["waiting"]
    if active or waiting or ping != "Healthy":
        return f"{active} generating, {waiting} waiting, /ping {ping}"
    return None


async def wait_for_aborted_ends(run: Run) -> None:
    """Bounded wait until the server has logged the end of every request a client left."""
    limit = time.monotonic() + run.options.settle_timeout
    while True:
        run.target.logs.read()
        if not run.target.logs.unended() or time.monotonic() > limit:
            return
        await asyncio.sleep(0.1)


async def soak(server: RunningServer, options: argparse.Namespace, store: Path) -> dict[str, Any]:
    local = isinstance(server, RunningLocal)
    duration = options.seconds if options.seconds is not None else options.minutes * 60
    large, small = stored(store, LARGE_SAMPLE), stored(store, PDF_SAMPLE)
    # No keep-alive: with no request in flight no connection is open, so the servers' open
    # fds at quiet points compare like with like (aborts and bad inputs connect anew anyway).
    limits = httpx.Limits(max_connections=options.concurrency * 2 + 4, max_keepalive_connections=0)
    timeout = httpx.Timeout(options.request_timeout)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=timeout) as client:
        # Before the clock starts: the model answers once, and under `local` each function
        # has a warm sandbox per client (a cold start loads the model: seconds, and on a busy
        # box more than a BUFFERED route's 29 s, which is API Gateway's 504).
        warming = time.monotonic()
        heads = [client.head(f"/download/{large.key}") for _ in range(options.concurrency)]
        large.etag = (await asyncio.gather(*heads))[0].headers["etag"]
        await client.post("/streaming", json={"request": "Hi!"})
        await asyncio.gather(*(client.get("/ping") for _ in range(options.concurrency)))
        print(f"  warm-up requests took {time.monotonic() - warming:.1f} s", flush=True)
        target = Target(
            name="local" if local else "serve",
            base_url=server.url,
            port=server.port,
            prefix=f"/{server.stage}" if isinstance(server, RunningLocal) else "",
            client=client,
            logs=LogWatch(server.log_path),
            large=large,
            small=small,
        )
        pid_names: dict[int, str] = {}  # local: function processes, from /_local/functions
        processes = ProcessWatch(server.process.pid, lambda: pid_names)
        run = Run(target, server, processes, options, pid_names=pid_names)
        run.resume.set()
        run.drained.set()
        load_before = os.getloadavg()
        deadline = time.monotonic() + duration
        stop = asyncio.Event()
        watching = asyncio.create_task(sampler(run, stop))
        pausing = asyncio.create_task(quiet_points(run, deadline, stop))
        clients = enumerate(lanes(options.concurrency))
        await asyncio.gather(*(worker(run, n, lane, deadline) for n, lane in clients))
        stop.set()
        await pausing
        await watching
        load_during = os.getloadavg()
        final = await quiet_point(run, final=True)
        await wait_for_aborted_ends(run)
        stats = None if local else (await client.get("/stats")).json()
    return summarise(run, duration, stats, final, (load_before, load_during))


def stored(store: Path, name: str) -> StoredFile:
    path = store / name
    return StoredFile(urllib.parse.quote(name), path, path.stat().st_size)


# --- the report -------------------------------------------------------------------------------


def summarise(
    run: Run,
    duration: float,
    stats: dict[str, Any] | None,
    final: QuietPoint,
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
) -> dict[str, Any]:
    options, logs = run.options, run.target.logs
    # Lambda's throttles (API Gateway's 500 at the concurrency limit) are counted apart from
    # the 5xx a request itself caused: with a sandbox more than there are clients, one means
    # that a sandbox stayed busy after its client left, past the moment a request waits.
    throttled = Counter(
        (outcome.kind, outcome.failure)
        for outcome in run.failed
        if logs.gateway_failures.get(outcome.gateway_id or "", "").startswith(THROTTLED)
    )
    problems = [
        f"{count} x {kind}: {why}" for (kind, why), count in (run.failures - throttled).items()
    ]
    if throttled:
        problems.append(
            f"{throttled.total()} requests throttled at the functions' concurrency limit "
            f"(API Gateway's 500; streamway local --concurrency {local_concurrency(options)} "
            f"for {options.concurrency} clients)"
        )
    gateway_reasons = Counter(
        logs.gateway_failures.get(outcome.gateway_id or "", "no gateway log line")
        for outcome in run.failed
        if outcome.gateway_id and outcome.label.isdigit() and int(outcome.label) >= 500
    )
    aborted = list(logs.watched.values())
    ended = [end for end in aborted if end.ended_at is not None]
    stop_ms: dict[str, list[float]] = {}
    for end in ended:
        stop_ms.setdefault(end.kind, []).append(max(0.0, (end.ended_at or 0) - end.closed_at))
    if len(ended) < len(aborted):
        problems.append(
            f"{len(aborted) - len(ended)} of {len(aborted)} aborted requests not ended on the "
            f"server within {options.settle_timeout:g} s of the run's end"
        )
    for point in run.quiet_points:
        if point.idle_after_s is None and not point.skipped:
            problems.append(f"quiet point at {point.at_s:.0f} s never idle: {point.detail}")
    warm_up_end = duration * 0.25
    trends, notes = run.processes.trends(warm_up_end)
    notes = [n for n in notes if not n.startswith("server ")]
    for trend in trends:
        if (trend.rss_slope_mib_per_min or 0) > options.max_rss_slope:
            problems.append(
                f"{trend.name}: RSS grows {trend.rss_slope_mib_per_min:.2f} MiB/min "
                f"(limit {options.max_rss_slope:g})"
            )
        if (trend.fds_slope_per_min or 0) > options.max_fd_slope:
            problems.append(
                f"{trend.name}: open fds grow {trend.fds_slope_per_min:.2f}/min "
                f"(limit {options.max_fd_slope:g})"
            )
    return {
        "target": run.target.name,
        "duration_s": round(duration, 1),
        "concurrency": options.concurrency,
        "local_concurrency": local_concurrency(options) if run.target.name == "local" else None,
        "seed": options.seed,
        "requests": run.requests,
        "load_average": {"before": loads[0], "during": loads[1]},
        "outcomes": [
            {"group": g, "kind": k, "outcome": label, "count": n}
            for (g, k, label), n in sorted(run.outcomes.items())
        ],
        "failures": [
            {"kind": kind, "why": why, "count": n} for (kind, why), n in run.failures.items()
        ],
        "gateway_reasons_for_5xx": dict(gateway_reasons),
        "throttled": throttled.total(),
        "aborted": {
            "count": len(aborted),
            "ended": len(ended),
            "by_kind": dict(Counter(end.kind for end in aborted)),
            "server_outcomes": dict(Counter(str(end.outcome) for end in ended)),
            "generations": dict(Counter(end.generation for end in ended if end.generation)),
            "stopped_ms": {
                kind: {
                    "median": round(statistics.median(times) * 1000, 1),
                    "max": round(max(times) * 1000, 1),
                }
                for kind, times in stop_ms.items()
            },
            "not_ended": [f"{logs.watched[rid].kind} {rid}" for rid in logs.unended()][:20],
        },
        "tokens": {
            "client_sse_deltas": run.deltas,
            "client_usage_output_tokens": run.output_tokens,
            "server": stats,
            "generations_logged": dict(logs.generations),
        },
        "quiet_points": [asdict(point) for point in [*run.quiet_points]],
        "final_idle_after_s": final.idle_after_s,
        "warm_up_s": round(warm_up_end, 1),
        "processes": [asdict(trend) for trend in trends],
        "process_notes": notes,
        "server_log": {
            "path": str(logs.path),
            "lines": logs.lines,
            "errors": dict(logs.errors.most_common(8)),
            "access_5xx": dict(logs.server_5xx),
        },
        "problems": problems,
        "passed": not problems,
    }


def print_report(result: dict[str, Any]) -> None:
    load = result["load_average"]
    print(
        f"\n== {result['target']}: {result['duration_s']:g} s, concurrency "
        f"{result['concurrency']}{_sandboxes(result)}, seed {result['seed']}, "
        f"{result['requests']} requests "
        f"({result['requests'] / result['duration_s']:.1f}/s); load average "
        f"{load['before'][0]:.2f} before, {load['during'][0]:.2f} at the end (2 cores, shared)"
    )
    print(f"  {'group':<6} {'kind':<34} {'outcome':<26} {'count':>6}")
    for row in result["outcomes"]:
        print(f"  {row['group']:<6} {row['kind']:<34} {row['outcome']:<26} {row['count']:>6}")
    aborted = result["aborted"]
    print(
        f"\n  aborted clients: {aborted['count']} left after the first bytes "
        f"({_kv(aborted['by_kind'])}); the server ended {aborted['ended']} of them "
        f"({_kv(aborted['server_outcomes'])}); generations {_kv(aborted['generations'])}"
    )
    for kind, times in aborted["stopped_ms"].items():
        print(
            f"  {kind}: client close -> server's end of the request: median "
            f"{times['median']:.0f} ms, max {times['max']:.0f} ms"
        )
    if aborted["not_ended"]:
        print(f"  never ended on the server: {', '.join(aborted['not_ended'])}")
    tokens = result["tokens"]
    print(f"  generations logged: {_kv(tokens['generations_logged'])}")
    if tokens["server"] is not None:
        generations = tokens["server"]["generations"]
        model = tokens["server"].get("model", {})
        print(
            f"  /stats: {_kv(generations)}; model tokens generated "
            f"{model.get('tokens_generated', '?')}; client received "
            f"{tokens['client_sse_deltas']} SSE deltas and "
            f"{tokens['client_usage_output_tokens']} tokens in whole answers' usage"
        )
    points = ", ".join(f"{p['at_s']:.0f} s: {_quiet(p)}" for p in result["quiet_points"])
    print(f"  quiet points (model idle after clients paused): {points}")
    print(
        f"\n  processes after the {result['warm_up_s']:g} s warm-up (slopes fitted to the "
        "quiet points when there are 3+, else to every sample; (all): every sample; (late): "
        "the second half of the fitted points)"
    )
    print(
        f"  {'process':<20} {'pid':>7} {'RSS MiB start->end':>19} {'MiB/min':>8} {'(all)':>7} "
        f"{'(late)':>7} {'fds start->end':>14} {'fds/min':>8} {'(all)':>7} {'points':>7}"
    )
    for p in result["processes"]:
        rss = f"{p['rss_start_mib']:.1f} -> {p['rss_end_mib']:.1f}"
        fds = f"{p['fds_start']} -> {p['fds_end']}"
        points = f"{p['points']} {'q' if p['basis'] == 'quiet points' else 'all'}"
        print(
            f"  {p['name']:<20} {p['pid']:>7} {rss:>19} {_slope(p['rss_slope_mib_per_min'])} "
            f"{_slope(p['rss_slope_all_mib_per_min'], 7)} "
            f"{_slope(p['rss_slope_late_mib_per_min'], 7)} {fds:>14} "
            f"{_slope(p['fds_slope_per_min'])} {_slope(p['fds_slope_all_per_min'], 7)} "
            f"{points:>7}"
        )
    for note in result["process_notes"]:
        print(f"  note: {note}")
    log = result["server_log"]
    print(
        f"\n  server log ({log['path']}): {log['lines']} lines; 5xx access lines "
        f"{_kv(log['access_5xx'])}; "
        f"ERROR lines {_kv(log['errors'])}"
    )
    if result["gateway_reasons_for_5xx"]:
        print(f"  gateway's reasons for 5xx: {_kv(result['gateway_reasons_for_5xx'])}")
    if result["local_concurrency"] is not None:
        print(f"  throttles (Lambda's concurrency limit, API Gateway's 500): {result['throttled']}")
    if result["problems"]:
        print(f"  FAIL ({len(result['problems'])} problems):")
        for problem in result["problems"]:
            print(f"    - {problem}")
    else:
        print("  PASS")


def _sandboxes(result: dict[str, Any]) -> str:
    sandboxes = result["local_concurrency"]
    return f" (sandboxes per function: {sandboxes})" if sandboxes is not None else ""


def _quiet(point: dict[str, Any]) -> str:
    if point["skipped"]:
        return f"skipped ({point['detail']})"
    if point["idle_after_s"] is None:
        return f"BUSY ({point['detail']})"
    return f"idle after {point['idle_after_s']:.2f} s"


def _kv(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in mapping.items()) or "none"


def _slope(value: float | None, width: int = 8) -> str:
    return f"{value:{width}.2f}" if value is not None else f"{'-':>{width}}"


# --- main -------------------------------------------------------------------------------------


@contextmanager
def running(
    kind: str, options: argparse.Namespace, store: Path, workdir: Path, model_env: dict[str, str]
) -> Iterator[Any]:
    env = {
        **model_env,
        "STREAMWAY_STORE_URL": f"file://{store}",
        "STREAMWAY_MAX_TOKENS": str(options.max_tokens),
        "STREAMWAY_SEED": str(options.seed),
        "STREAMWAY_SESSIONS_DIR": str(workdir / f"sessions-{kind}"),
        # INFO: the access and "generation ended" lines are how aborted work is seen to end.
        "STREAMWAY_LOG_LEVEL": "INFO",
    }
    if kind == "serve":
        with streamway_server(env) as server:
            yield server
    else:
        args = ("--concurrency", str(local_concurrency(options)))
        with streamway_local(env, args=args) as server:
            yield server


def local_concurrency(options: argparse.Namespace) -> int:
    """``streamway local --concurrency``: a sandbox per client and one more. A client holds
    one sandbox at a time; one whose client just left is back in ``next`` moments later (and
    a request at the limit waits for it), and the one more covers its way back. A throttle
    (500) then means that a function kept running after its client left."""
    return int(options.local_concurrency or options.concurrency + 1)


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--target", choices=["serve", "local", "both"], default="both")
    parser.add_argument("--minutes", type=float, default=3.0, help="length of each target's run")
    parser.add_argument("--seconds", type=float, help="length in seconds (overrides --minutes)")
    parser.add_argument("--concurrency", type=int, default=4, help="clients at once")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--max-tokens", type=int, default=48, help="STREAMWAY_MAX_TOKENS")
    parser.add_argument(
        "--model",
        choices=["local", "scripted"],
        default="local",
        help="the embedded model, or a scripted OpenAI-compatible peer (seconds, not minutes, "
        "to start; for a quick check of the harness)",
    )
    parser.add_argument(
        "--local-concurrency",
        type=int,
        help="streamway local --concurrency (default: clients + 1)",
    )
    parser.add_argument("--max-requests", type=int, default=200_000, help="per target")
    parser.add_argument("--request-timeout", type=float, default=120.0, help="seconds")
    parser.add_argument("--sample-every", type=float, default=2.0, help="RSS/fds, seconds")
    parser.add_argument("--idle-every", type=float, default=20.0, help="quiet points, seconds")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=30.0,
        help="how long the server may take to go idle / end aborted requests, seconds",
    )
    parser.add_argument("--max-rss-slope", type=float, default=2.0, help="MiB/min per process")
    parser.add_argument("--max-fd-slope", type=float, default=1.0, help="fds/min per process")
    parser.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="KIND=N",
        help=f"weight of a request kind ({', '.join(KINDS)}); repeatable",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    options = parser.parse_args(argv)
    options.weights = {}
    for item in options.weight:
        name, _, value = item.partition("=")
        if name not in KINDS or not value.isdigit():
            parser.error(f"--weight {item}: expected KIND=N with KIND one of {list(KINDS)}")
        options.weights[name] = int(value)
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    targets = ["serve", "local"] if options.target == "both" else [options.target]
    results = []
    with tempfile.TemporaryDirectory(prefix="streamway-soak-") as tmp:
        workdir = Path(tmp)
        store = workdir / "store"
        ensure_samples(store)  # the files `streamway serve` creates on a first run
        with contextlib.ExitStack() as stack:
            model_env = {"STREAMWAY_MODEL": "local"}
            if options.model == "scripted":
                peer = stack.enter_context(serve_in_thread(OpenAIChatPeer(delay_s=0.01)))
                model_env = {
                    "STREAMWAY_MODEL": "openai:scripted",
                    "STREAMWAY_OPENAI_BASE_URL": f"{peer}/v1",
                }
            for name in targets:
                print(f"starting {name}...", flush=True)
                with running(name, options, store, workdir, model_env) as server:
                    result = asyncio.run(soak(server, options, store))
                print_report(result)
                results.append(result)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2, default=str))
    passed = all(result["passed"] for result in results)
    print(f"\nsoak {'PASSED' if passed else 'FAILED'}: {', '.join(targets)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
