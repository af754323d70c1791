"""A sandbox's log: its process's stdout and stderr, and the tail of each invocation's part.

The process writes to two pipes of ours. What arrives is passed on at once to
``streamway local``'s own stdout and stderr (where the process used to write directly), and
its complete lines are kept in a ring of the last :data:`TAIL_BYTES` (a line is kept whole
only as far as that cap: the ring's memory is bounded whatever the function writes).

The invocation's part of the log is framed as Lambda's platform frames it in CloudWatch:
``START`` when the event is handed over (:meth:`SandboxLog.begin`), then the function's
lines, then ``END`` and ``REPORT`` (:meth:`SandboxLog.end`), which are written here, into the
ring only. Before ``END``, the pipes are read as far as they held anything when the
invocation ended: a line the function wrote before its answer may still be in a pipe when
the answer arrives, and it belongs before ``END``. The pipes' fill level (``FIONREAD``) says
how far that is, so the wait is for the reader, never a poll.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import math
import os
import termios
from collections import OrderedDict, deque
from dataclasses import dataclass

#: What ``LogType=Tail`` answers: the last 4 KB of the invocation's log.
TAIL_BYTES = 4096
#: Invocations whose START is remembered (one at a time per sandbox, but a caller that
#: never asks for a tail leaves its mark behind).
_MARKS = 16
_READ_BYTES = 65536


@dataclass(frozen=True)
class Report:
    """What Lambda's ``REPORT`` line says of one invocation."""

    request_id: str
    duration_ms: float
    memory_mb: int
    max_memory_mib: float | None
    #: The sandbox's init, on the invocation that waited for it (a cold start).
    init_ms: float | None = None

    def line(self) -> str:
        fields = [
            f"REPORT RequestId: {self.request_id}",
            f"Duration: {self.duration_ms:.2f} ms",
            f"Billed Duration: {math.ceil(self.duration_ms)} ms",
            f"Memory Size: {self.memory_mb} MB",
            f"Max Memory Used: {math.ceil(self.max_memory_mib or 0)} MB",
        ]
        if self.init_ms is not None:
            fields.append(f"Init Duration: {self.init_ms:.2f} ms")
        return "\t".join(fields) + "\t\n"


class _Ring:
    """The last ``cap`` bytes of complete lines, each numbered in the order it came."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.lines: deque[tuple[int, bytes]] = deque()
        self.size = 0
        self.count = 0

    def append(self, line: bytes) -> int:
        line = line[-self.cap :]
        number = self.count
        self.count += 1
        self.lines.append((number, line))
        self.size += len(line)
        # Drop the oldest line only while the rest still hold ``cap`` bytes.
        while self.size - len(self.lines[0][1]) >= self.cap:
            self.size -= len(self.lines.popleft()[1])
        return number

    def since(self, number: int) -> bytes:
        return b"".join(line for n, line in self.lines if n >= number)[-self.cap :]


class _Pipe:
    """One of the process's output pipes: its bytes passed on to ``sink_fd`` as they come,
    its complete lines to the ring."""

    def __init__(self, sink_fd: int, ring: _Ring) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.sink_fd = sink_fd
        self.ring = ring
        self.partial = bytearray()
        self.consumed = 0
        self.closed = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def follow(self) -> None:
        """The process has its end: close ours, and read as the pipe becomes readable."""
        self._close_write_end()
        asyncio.get_running_loop().add_reader(self.read_fd, self._readable)

    def _close_write_end(self) -> None:
        # Once only: the number may belong to another file after.
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def _readable(self) -> None:
        try:
            data = os.read(self.read_fd, _READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self._take(data)

    def _take(self, data: bytes) -> None:
        self.consumed += len(data)
        _write_all(self.sink_fd, data)
        self.partial += data
        *lines, rest = bytes(self.partial).split(b"\n")
        for line in lines:
            self.ring.append(line + b"\n")
        self.partial = bytearray(rest[-self.ring.cap :])
        for target, waiter in list(self._waiters):
            if self.consumed >= target and not waiter.done():
                waiter.set_result(None)
        self._waiters = [(t, w) for t, w in self._waiters if not w.done()]

    def flush_partial(self) -> None:
        """A line the process has not ended yet goes into the ring as it is."""
        if self.partial:
            self.ring.append(bytes(self.partial) + b"\n")
            self.partial.clear()

    async def drain(self) -> None:
        """Waits until what the pipe holds now has been read."""
        if self.closed:
            return
        target = self.consumed + _pending(self.read_fd)
        if self.consumed >= target:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        await waiter

    def close(self) -> None:
        """Reads what the pipe still holds, then closes it (idempotent)."""
        if self.closed:
            return
        with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: no loop any more
            asyncio.get_running_loop().remove_reader(self.read_fd)
        remaining = _pending(self.read_fd)
        while remaining > 0:
            try:
                data = os.read(self.read_fd, min(remaining, _READ_BYTES))
            except OSError:
                break
            if not data:
                break
            remaining -= len(data)
            self._take(data)
        self.closed = True
        os.close(self.read_fd)
        self._close_write_end()  # when the process never started
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters = []


class SandboxLog:
    """The log of one sandbox's process (see the module's docstring)."""

    def __init__(self, *, cap: int = TAIL_BYTES, stdout_fd: int = 1, stderr_fd: int = 2) -> None:
        self._ring = _Ring(cap)
        self._sinks = (stdout_fd, stderr_fd)
        self._pipes: tuple[_Pipe, ...] = ()
        self._marks: OrderedDict[str, int] = OrderedDict()

    async def spawn(self, *argv: str, env: dict[str, str]) -> asyncio.subprocess.Process:
        """Starts the process with its stdout and stderr on this log. Python's output is
        unbuffered, as Lambda's Python runtime makes it, so a line is in the log when
        written (unless the environment says otherwise)."""
        self._pipes = tuple(_Pipe(sink, self._ring) for sink in self._sinks)
        out, err = self._pipes
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                env={"PYTHONUNBUFFERED": "1", **env},
                stdout=out.write_fd,
                stderr=err.write_fd,
            )
        except BaseException:
            self.close()
            raise
        for pipe in self._pipes:
            pipe.follow()
        return process

    def begin(self, request_id: str) -> None:
        """``START``: the invocation's part of the log begins here."""
        for pipe in self._pipes:
            pipe.flush_partial()
        self._marks[request_id] = self._ring.append(
            f"START RequestId: {request_id} Version: $LATEST\n".encode()
        )
        while len(self._marks) > _MARKS:
            self._marks.popitem(last=False)

    async def end(self, report: Report) -> bytes:
        """``END`` and ``REPORT`` after what the function wrote until now; the last
        :data:`TAIL_BYTES` of the invocation's part of the log."""
        await self.drain()
        for pipe in self._pipes:
            pipe.flush_partial()
        self._ring.append(f"END RequestId: {report.request_id}\n".encode())
        self._ring.append(report.line().encode())
        return self._ring.since(self._marks.pop(report.request_id, 0))

    async def drain(self) -> None:
        """Waits until what the pipes hold now has been read (and passed on)."""
        await asyncio.gather(*(pipe.drain() for pipe in self._pipes))

    def close(self) -> None:
        """Passes on what the pipes still hold and closes them."""
        for pipe in self._pipes:
            pipe.close()


def _pending(fd: int) -> int:
    """How many bytes the pipe holds, not yet read."""
    count = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, count, True)
    except OSError:
        return 0
    return count[0]


def _write_all(fd: int, data: bytes) -> None:
    """Writes ``data`` to ``streamway local``'s own output; output that cannot go there
    (closed) is dropped, as a process writing there itself would lose it."""
    view = memoryview(data)
    with contextlib.suppress(OSError):
        while view:
            view = view[os.write(fd, view) :]
