"""A TCP connection's state as Linux shows it in /proc/net/tcp: whether a sender is blocked
behind a reader that stopped reading. Tests wait for that state instead of sleeping."""

from __future__ import annotations

import contextlib
import os

#: /proc/net/tcp's timer code for a connection probing a shut receive window (ICSK_TIME_PROBE0).
_PROBING_A_SHUT_WINDOW = "04"


def zero_window_probes(*, local_port: int | None = None, pid: int | None = None) -> int | None:
    """How many zero-window probes a connection has sent so far while its peer's receive
    window is shut (every buffer towards the peer is full and the sender's writes block), or
    None while no matching connection is in that state. A connection is matched by its local
    port, or by belonging to a process."""
    inodes = _socket_inodes(pid) if pid is not None else None
    with open("/proc/net/tcp", encoding="ascii") as rows:
        next(rows)
        for row in rows:
            fields = row.split()
            timer = fields[5].split(":")[0]
            if timer != _PROBING_A_SHUT_WINDOW:
                continue
            if local_port is not None and int(fields[1].split(":")[1], 16) != local_port:
                continue
            if inodes is not None and fields[9] not in inodes:
                continue
            # The column /proc/net/tcp heads "timeout" is icsk_probes_out.
            return int(fields[8])
    return None


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for descriptor in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{descriptor}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    return inodes
