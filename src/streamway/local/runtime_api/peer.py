"""Which process holds the other end of a loopback TCP connection (Linux's /proc).

For a Lambda runtime that can only be given ``AWS_LAMBDA_RUNTIME_API=host:port`` (AWS's
Node.js client refuses anything else), a secret in the address is not possible, so the
Runtime API emulator asks the kernel instead: the connection's client socket is found in
``/proc/net/tcp`` by its address, and its inode among the open files of the processes the
emulator was told to trust. No other process can make the kernel say it owns that socket.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Collection

#: Whether :func:`owned_by` can answer at all; elsewhere it says False, so nothing is admitted.
CAN_CHECK = os.path.exists("/proc/net/tcp")


def owned_by(sock: socket.socket, pids: Collection[int]) -> bool:
    """Whether the peer of ``sock`` (a connection accepted on this machine) is a socket one of
    ``pids`` has open. False when that cannot be told."""
    if not pids or not CAN_CHECK:
        return False
    with contextlib.suppress(OSError, ValueError):
        inode = _peer_inode(sock)
        if inode:
            link = f"socket:[{inode}]"
            return any(_has_open(pid, link) for pid in pids)
    return False


def _peer_inode(sock: socket.socket) -> int | None:
    """The inode of the client's end of ``sock``: the row whose local address is our peer's
    and whose remote address is ours (our own end is listed too, the other way round)."""
    table = "/proc/net/tcp6" if sock.family == socket.AF_INET6 else "/proc/net/tcp"
    local, remote = _proc_address(sock.getpeername()), _proc_address(sock.getsockname())
    with open(table, encoding="ascii") as rows:
        next(rows)  # the column names
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[1] == local and fields[2] == remote:
                return int(fields[9])
    return None


def _proc_address(address: tuple[str, int] | tuple[str, int, int, int]) -> str:
    """``host, port`` as /proc/net/tcp{,6} prints it: the address as 32-bit words in the
    machine's byte order, the port big-endian, both in upper-case hex."""
    host, port = address[0], address[1]
    if ":" in host:
        words = struct.unpack("=4I", socket.inet_pton(socket.AF_INET6, host.split("%")[0]))
    else:
        words = struct.unpack("=I", socket.inet_aton(host))
    return "".join(f"{word:08X}" for word in words) + f":{port:04X}"


def _has_open(pid: int, link: str) -> bool:
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # gone, or not ours to look at
        return False
    for descriptor in descriptors:
        with contextlib.suppress(OSError):  # closed while we looked
            if os.readlink(f"/proc/{pid}/fd/{descriptor}") == link:
                return True
    return False
