"""What the gateway tells about a function process: why its init failed, in one line, and
its resident memory (now and at its peak)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

_TRACEBACK = "Traceback (most recent call last):"


def init_error_text(error: dict[str, Any] | None) -> str:
    """``Type: message`` of what a function sent to ``/init/error``, on one line.

    A lifespan that failed in Starlette reports the whole traceback as its message; its last
    line (``RuntimeError: the database is down``) is the cause."""
    if error is None:
        return "the process exited or did not start in time"
    kind = str(error.get("errorType") or "Runtime.Unknown")
    lines = [line.strip() for line in str(error.get("errorMessage") or "").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return kind
    cause = lines[-1] if lines[0] == _TRACEBACK else lines[0]
    return cause if cause.startswith(kind) else f"{kind}: {cause}"


def rss_mib(pid: int, *, peak: bool = False) -> float | None:
    """The process's resident set size in MiB, or its highest so far with ``peak`` (None
    when it is gone)."""
    field = "VmHWM:" if peak else "VmRSS:"
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return round(int(line.split()[1]) / 1024, 1)
    return None
