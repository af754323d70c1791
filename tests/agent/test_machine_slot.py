"""The machine-wide generation slot: real flocks, real processes, real servers.

Two ``MachineSlot`` objects on one directory stand for two processes (flock conflicts between
open file descriptions, in one process as in two); the last tests use real processes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamway.agent.admission import ModelBusy
from streamway.agent.machine_slot import MachineSlot
from tests.servers import streamway_server

# SmolLM2 writes several hundred tokens (seconds of work) for this prompt with seed 7.
LONG_PROMPT = {"request": "Write a very long story about a lighthouse keeper."}


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        # Polling, because the state under test has no event of its own to wait on.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.001)


async def take(slot: MachineSlot, order: list[str], name: str) -> None:
    async with slot.hold():
        order.append(name)


async def test_a_second_holder_waits_for_the_first(tmp_path: Path) -> None:
    first, second = MachineSlot(tmp_path, 10), MachineSlot(tmp_path, 10)
    order: list[str] = []
    async with first.hold():
        waiter = asyncio.create_task(take(second, order, "second"))
        await until(lambda: second.waiting == 1)
        order.append("first")
    await waiter
    assert order == ["first", "second"]
    assert second.waited == 1


async def test_the_releasing_process_queues_behind_a_waiting_one(tmp_path: Path) -> None:
    """Without the turnstile, the process that just released would take the slot again at
    once (its next answer is already queued), while the other polls: it could starve."""
    busy, other = MachineSlot(tmp_path, 10), MachineSlot(tmp_path, 10)
    order: list[str] = []
    async with busy.hold():
        waiter = asyncio.create_task(take(other, order, "other"))
        await until(lambda: other.waiting == 1)
    await take(busy, order, "busy again")
    await waiter
    assert order == ["other", "busy again"]


async def test_the_wait_is_bounded(tmp_path: Path) -> None:
    holder, late = MachineSlot(tmp_path, 10), MachineSlot(tmp_path, 0.05)
    async with holder.hold():
        with pytest.raises(ModelBusy) as refused:
            async with late.hold():
                pass  # pragma: no cover - never reached
    assert refused.value.retry_after_s >= 1
    assert late.waiting == 0


async def test_a_cancelled_waiter_leaves_the_line(tmp_path: Path) -> None:
    holder, leaving, next_one = (MachineSlot(tmp_path, 10) for _ in range(3))
    order: list[str] = []
    async with holder.hold():
        waiter = asyncio.create_task(take(leaving, order, "leaving"))
        await until(lambda: leaving.waiting == 1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    # The cancelled waiter let go of the turnstile: the next one takes the slot at once.
    await take(next_one, order, "next")
    assert order == ["next"]
    assert next_one.waited == 0


async def test_a_process_that_dies_holding_the_slot_frees_it(tmp_path: Path) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from streamway.agent.machine_slot import MachineSlot\n"
        "async def main():\n"
        "    async with MachineSlot(Path(sys.argv[1]), 10).hold():\n"
        "        print('held', flush=True)\n"
        "        await asyncio.Event().wait()\n"
        "asyncio.run(main())\n",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await holder.stdout.readline() == b"held\n"
        slot = MachineSlot(tmp_path, 30)
        order: list[str] = []
        waiter = asyncio.create_task(take(slot, order, "after the crash"))
        await until(lambda: slot.waiting == 1)
        holder.kill()  # no release, no cleanup: the kernel drops the flock
        await waiter
        assert order == ["after the crash"]
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.communicate()  # reaps it and closes its pipe


def test_a_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(RuntimeError, match="STREAMWAY_MODEL_SLOT_DIR"):
        MachineSlot(shared, 10)
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    with pytest.raises(RuntimeError, match="not a private directory"):
        MachineSlot(link, 10)


def test_two_serve_processes_generate_one_after_the_other(tmp_path: Path) -> None:
    """Issue 15, item 1: two processes on one machine each ran llama.cpp on every core at
    once. Now the second answer waits for the machine's slot while the first generates."""
    env = {"STREAMWAY_MAX_TOKENS": "1500", "STREAMWAY_MODEL_SLOT_DIR": str(tmp_path)}
    with (
        streamway_server(env) as first,
        streamway_server(env) as second,
        httpx.Client(timeout=120) as client,
    ):
        with client.stream("POST", f"{first.url}/streaming", json=LONG_PROMPT) as answer:
            assert answer.status_code == 200
            pieces = answer.iter_raw()
            next(pieces)  # the first process is generating

            result: dict[str, Any] = {}

            def second_answer() -> None:
                reply = httpx.post(
                    f"{second.url}/streaming", json={"request": "Say hi."}, timeout=240
                )
                result["status"] = reply.status_code
                result["body"] = reply.text

            waiter = threading.Thread(target=second_answer)
            waiter.start()
            second.wait_for_log(
                lambda e: e["message"] == "waiting for the machine's model slot", timeout_s=60
            )
            next(pieces)  # the first answer goes on while the second waits ...
            assert second.stats()["model"]["tokens_generated"] == 0  # ... without a token
        # The first client left: its answer stops and the slot passes to the second process.
        waiter.join(timeout=240)
        assert result["status"] == 200, result
        assert result["body"]
        taken = second.wait_for_log(
            lambda e: e["message"] == "machine's model slot taken after a wait"
        )
        assert taken["waited_ms"] > 0
        assert first.stats()["generations"]["cancelled"] == 1
