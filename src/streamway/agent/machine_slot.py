"""One embedded model generates at a time on this machine, whichever process it runs in.

llama.cpp sizes its thread pool to the machine. Two processes generating at once (two
``streamway serve``, or the function processes of ``streamway local``) each run that many
threads on the same cores; the threads spin-wait for each other at every layer and the two
answers take many times as long as they would one after the other (docs/providers.md). So
the answer holds a machine-wide slot while it evaluates its prompt and generates, and the
other processes wait for it in turn at full thread count.

The slot is an ``flock`` on a file in a private per-user directory:

- the kernel releases it when its holder exits or crashes, so a dead process never keeps it;
- it is taken with ``LOCK_NB`` and retried every few milliseconds, so the wait never blocks
  the event loop, is cancelled like any coroutine (a client that leaves stops waiting at
  once) and is bounded by a timeout (then :class:`ModelBusy`, a 503 with ``Retry-After``);
- a second lock, the *turnstile*, orders the waiters: only its holder polls the slot. A
  process that just released the slot and has another answer queued must take the turnstile
  first, which the other process already holds, so two busy processes alternate instead of
  the faster poller taking the slot again and again.

Within a process the model's own lock already lets one answer at a time reach the slot.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import math
import os
import stat
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from streamway.agent.admission import ModelBusy

log = logging.getLogger("streamway.agent.slot")

#: How often a waiter retries the lock. A hand-over costs at most this; answers take seconds.
POLL_S = 0.01


def default_slot_dir() -> Path:
    """A directory every streamway process of this user on this machine agrees on.

    The temp directory rather than ``$XDG_RUNTIME_DIR``: function processes, cron jobs and ssh
    sessions may lack the latter, and processes that disagree on the path share nothing.
    """
    return Path(tempfile.gettempdir()) / f"streamway-{os.getuid()}"


def private_dir(path: Path) -> Path:
    """``path``, created 0700 if missing; refused if another user could hold or swap its locks
    (a world-writable /tmp lets anyone create the directory first)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise RuntimeError(
            f"{path} is not a private directory of this user (a symlink, someone else's, or "
            "writable by others); set STREAMWAY_MODEL_SLOT_DIR to a directory of your own."
        )
    return path


def _open_lock(path: Path) -> int:
    # O_NOFOLLOW: the directory is private, but never follow a planted link anyway.
    # Python makes the descriptor non-inheritable, so no child process keeps the lock.
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class MachineSlot:
    """The machine-wide generation slot. ``async with slot.hold(): ...`` generates in it."""

    def __init__(self, directory: Path, timeout_s: float) -> None:
        self.directory = private_dir(directory)
        self.timeout_s = timeout_s
        self._slot = directory / "model.slot"
        self._turnstile = directory / "model.turnstile"
        self.taken = 0
        self.waited = 0
        self.waiting = 0  # answers of this process waiting for the slot now
        # Moving average of how long the slot is held, for an honest Retry-After.
        self._mean_hold_s = 1.0

    async def _lock(self, fd: int, deadline: float) -> None:
        """Locks ``fd`` before ``deadline``, retrying every POLL_S. Raises ModelBusy."""
        loop = asyncio.get_running_loop()
        while not _try_lock(fd):
            if loop.time() >= deadline:
                raise ModelBusy(
                    "Another process on this machine has been generating with the embedded "
                    f"model for {self.timeout_s:g} s; try again shortly.",
                    max(1, math.ceil(self._mean_hold_s)),
                )
            await asyncio.sleep(POLL_S)

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        started = time.monotonic()
        waited = False
        turnstile = _open_lock(self._turnstile)
        self.waiting += 1
        try:
            if not _try_lock(turnstile):
                waited = True
                log.info("waiting for the machine's model slot")
                await self._lock(turnstile, deadline)
            slot = _open_lock(self._slot)
            try:
                if not _try_lock(slot):
                    if not waited:
                        waited = True
                        log.info("waiting for the machine's model slot")
                    await self._lock(slot, deadline)
            except BaseException:
                os.close(slot)
                raise
        finally:
            # In the slot (or given up): the next process in line may start polling it.
            os.close(turnstile)
            self.waiting -= 1
        self.taken += 1
        if waited:
            self.waited += 1
            waited_ms = round((time.monotonic() - started) * 1000)
            log.info("machine's model slot taken after a wait", extra={"waited_ms": waited_ms})
        held_from = time.monotonic()
        try:
            yield
        finally:
            os.close(slot)  # closing the last descriptor releases the flock
            held = time.monotonic() - held_from
            self._mean_hold_s = 0.8 * self._mean_hold_s + 0.2 * held
