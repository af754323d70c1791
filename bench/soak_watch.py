"""What ``bench/soak.py`` watches on the server's side: its processes and its log.

* :class:`ProcessWatch` samples the resident set size and the open file descriptors of a
  server process and every process below it (``streamway local``'s function processes are
  children of the gateway), and fits a least-squares slope to each after a warm-up.
* :class:`LogWatch` reads the server's JSON log lines as they are written and keeps only what
  the soak asks about: when a request it abandoned ended on the server, how its generation
  ended, why the gateway failed a request, and how many errors were logged. Everything kept is
  bounded by what the soak itself sent, or capped.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.servers import proc_status_kib


@dataclass(frozen=True)
class Sample:
    t_s: float  # seconds since the soak started
    rss_kib: int
    fds: int
    quiet: bool  # taken at a quiet point: no request in flight, the server idle


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (``/proc/PID/task/TID/children``, Linux)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in _listdir(f"/proc/{current}/task"):
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
            except OSError:
                continue
            todo.extend(int(child) for child in children.split())
    return found


def open_fds(pid: int) -> int:
    return len(_listdir(f"/proc/{pid}/fd"))


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:  # the process exited between two reads
        return []


def slope_per_min(points: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of (seconds, value) points, per minute; None under 3 points."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


@dataclass
class ProcessSeries:
    pid: int
    name: str
    samples: list[Sample] = field(default_factory=list)


@dataclass(frozen=True)
class Trend:
    """One process's figures after its warm-up."""

    name: str
    pid: int
    basis: str  # "quiet points" or "all samples": what the slopes were fitted to
    rss_start_mib: float
    rss_end_mib: float
    rss_slope_mib_per_min: float | None
    fds_start: int
    fds_end: int
    fds_slope_per_min: float | None
    points: int
    rss_slope_all_mib_per_min: float | None  # over every sample, for comparison
    fds_slope_all_per_min: float | None
    #: Over the second half of the fitted points: growth that is the allocator warming up
    #: flattens there, a leak does not.
    rss_slope_late_mib_per_min: float | None = None


#: A process first seen later than this after the start came up during the run.
_AT_START_S = 1.0


class ProcessWatch:
    """RSS and open fds of ``root_pid``'s process tree, one series per pid."""

    def __init__(self, root_pid: int, names: Callable[[], dict[int, str]] | None = None) -> None:
        self.root_pid = root_pid
        self._names = names
        self.series: dict[int, ProcessSeries] = {}
        #: When a process started during the run was ready (a function's cold start done).
        self.ready_at: dict[int, float] = {}

    def sample(self, t_s: float, *, quiet: bool = False) -> None:
        names = self._names() if self._names is not None else {}
        for pid in process_tree(self.root_pid):
            try:
                sample = Sample(t_s, proc_status_kib(pid, "VmRSS"), open_fds(pid), quiet)
            except (OSError, RuntimeError):  # gone, or a zombie without VmRSS
                continue
            if pid not in self.series:
                self.series[pid] = ProcessSeries(pid, "server" if pid == self.root_pid else "")
            series = self.series[pid]
            series.name = series.name or names.get(pid, "")
            series.samples.append(sample)

    def trends(self, warm_up_s: float) -> tuple[list[Trend], list[str]]:
        """A trend per process after its warm-up: the first ``warm_up_s`` of the run, or, for
        a process started later, as long again after it was ready (a cold start loads the
        model, which is growth by design).
        The slopes are fitted to the quiet points when there are three or more after the
        warm-up (load comes and goes; idle is comparable with idle), else to every sample.
        """
        trends, notes = [], []
        for series in self.series.values():
            name = series.name or f"child {series.pid}"
            born = series.samples[0].t_s
            start = warm_up_s
            if born > _AT_START_S:
                ready = self.ready_at.get(series.pid, born)
                start = ready + warm_up_s
                notes.append(
                    f"{name} (pid {series.pid}) started at {born:.0f} s, ready at {ready:.0f} s"
                )
            after = [s for s in series.samples if s.t_s >= start]
            if len(after) < 3:
                notes.append(f"{name} (pid {series.pid}): too few samples after its warm-up")
                continue
            quiet = [s for s in after if s.quiet]
            basis, fitted = ("quiet points", quiet) if len(quiet) >= 3 else ("all samples", after)
            trends.append(
                Trend(
                    name=name,
                    pid=series.pid,
                    basis=basis,
                    rss_start_mib=fitted[0].rss_kib / 1024,
                    rss_end_mib=fitted[-1].rss_kib / 1024,
                    rss_slope_mib_per_min=_rss_slope(fitted),
                    fds_start=fitted[0].fds,
                    fds_end=fitted[-1].fds,
                    fds_slope_per_min=slope_per_min([(s.t_s, s.fds) for s in fitted]),
                    points=len(fitted),
                    rss_slope_all_mib_per_min=_rss_slope(after),
                    fds_slope_all_per_min=slope_per_min([(s.t_s, s.fds) for s in after]),
                    rss_slope_late_mib_per_min=_rss_slope(_second_half(fitted)),
                )
            )
        return trends, notes


def _second_half(samples: list[Sample]) -> list[Sample]:
    middle = (samples[0].t_s + samples[-1].t_s) / 2
    return [sample for sample in samples if sample.t_s >= middle]


def _rss_slope(samples: list[Sample]) -> float | None:
    return slope_per_min([(s.t_s, s.rss_kib / 1024) for s in samples])


@dataclass
class RequestEnd:
    """What the server logged about one request the soak abandoned."""

    closed_at: float  # Unix time the client closed the connection
    kind: str
    ended_at: float | None = None  # the server's access line for it (Unix time)
    outcome: str | None = None  # the access line's outcome (complete/incomplete/aborted)
    generation: str | None = None  # "generation ended" outcome, for model answers


#: The most gateway failure messages and error lines kept (the counts are always complete).
_KEEP = 2000


class LogWatch:
    """Reads the server's log file as it grows and keeps what the soak asks about."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self.watched: dict[str, RequestEnd] = {}
        self.generations: Counter[str] = Counter()
        self.server_5xx: Counter[str] = Counter()  # "METHOD path-prefix status" on access lines
        self.errors: Counter[str] = Counter()  # ERROR lines by message
        self.gateway_failures: dict[str, str] = {}  # gateway request id -> why
        self.lines = 0

    def watch(self, request_id: str, kind: str, closed_at: float) -> None:
        self.watched[request_id] = RequestEnd(closed_at, kind)

    def read(self) -> None:
        with self.path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                self.lines += 1
                self._take(entry)

    def _take(self, entry: dict[str, Any]) -> None:
        if "_aws" in entry:
            self._take_metrics(entry)
            return
        message, logger = entry.get("message"), entry.get("logger")
        # Under the Lambda runtime (streamway local's functions) lines use Lambda's field names:
        # requestId is the invocation's id and xRequestId the caller's X-Request-Id.
        request_id = entry.get("request_id", entry.get("xRequestId"))
        if entry.get("level") == "ERROR" and len(self.errors) < _KEEP:
            self.errors[str(message).strip().split("\n")[0][:120]] += 1
        if logger == "streamway.access" and message == "request":
            self._count_5xx("app", entry.get("method"), entry.get("path"), entry.get("status"))
            if entry.get("status") == 0 and entry.get("outcome") == "aborted":
                # An exception before the response started: the server answered a bare 500.
                route = "/".join(str(entry.get("path")).split("/")[:3])
                self.server_5xx[f"app: {entry.get('method')} {route} raised (status 0)"] += 1
        elif logger == "streamway.local.access":
            path = entry.get("streamway.path")
            self._count_5xx("gateway", entry.get("httpMethod"), path, entry.get("status"))
        elif logger == "streamway.agent" and message == "generation ended":
            self.generations[str(entry.get("outcome"))] += 1
        elif (
            logger == "streamway.local.gateway"
            and str(message).startswith("request failed")
            and isinstance(request_id, str)
            and len(self.gateway_failures) < _KEEP
        ):
            self.gateway_failures[request_id] = str(message).removeprefix("request failed: ")
        watched = self.watched.get(request_id) if isinstance(request_id, str) else None
        if watched is None:
            return
        if logger == "streamway.access" and message == "request":
            watched.ended_at = _unix_time(entry.get("time"))
            watched.outcome = str(entry.get("outcome"))
        elif logger == "streamway.agent" and message == "generation ended":
            watched.generation = str(entry.get("outcome"))

    def _take_metrics(self, entry: dict[str, Any]) -> None:
        """An EMF line: under the Lambda runtime the one record of a request's end (there is
        no access line there); its requestId is the app's request id (the X-Request-Id)."""
        request_id = entry.get("requestId")
        watched = self.watched.get(request_id) if isinstance(request_id, str) else None
        if watched is None:
            return
        stamp = entry["_aws"].get("Timestamp") if isinstance(entry["_aws"], dict) else None
        watched.ended_at = stamp / 1000 if isinstance(stamp, int | float) else time.time()
        watched.outcome = str(entry.get("outcome"))

    def _count_5xx(self, who: str, method: object, path: object, status: object) -> None:
        if str(status).isdigit() and int(str(status)) >= 500:
            route = "/".join(str(path).split("/")[:3])  # /streaming, /dev/streaming
            self.server_5xx[f"{who}: {method} {route} {status}"] += 1

    def unended(self) -> list[str]:
        return [rid for rid, end in self.watched.items() if end.ended_at is None]


def _unix_time(stamp: object) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
