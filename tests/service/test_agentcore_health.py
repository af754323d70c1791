"""``GET /ping`` as AgentCore reads it: the status and since when, changed by events.

A poller asks every 100 ms through an answer and a background task of an entrypoint
(tests/service/agentcore_entrypoints.py), both held at gates the test opens once the poller
has seen the runtime busy; so each status lasts as long as the test needs, with no timing.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

import httpx
import pytest
import websockets

from streamway.service.agentcore_health import RuntimeHealth
from tests.servers import RunningServer, streamway_server
from tests.service.test_disconnects_and_load import eventually

pytestmark = pytest.mark.timeout(180)

ENTRYPOINT_ENV = {
    "STREAMWAY_AGENTCORE_ENTRYPOINT": "tests.service.agentcore_entrypoints:entrypoint",
    # The entrypoint never asks streamway's model: a client that is never called.
    "STREAMWAY_MODEL": "openai:unused",
    "STREAMWAY_OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    sessions = tmp_path_factory.mktemp("sessions")
    with streamway_server({**ENTRYPOINT_ENV, "STREAMWAY_SESSIONS_DIR": str(sessions)}) as s:
        yield s


class Gate:
    """A loopback port an entrypoint waits at until :meth:`open`."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]

    def open(self) -> None:
        self.socket.settimeout(60)
        connection, _ = self.socket.accept()  # the entrypoint reached the gate
        with connection:
            connection.sendall(b"!")
        self.socket.close()


@dataclass(frozen=True)
class Poll:
    asked_at: float
    answered_at: float
    status: str
    time_of_last_update: int


class Poller:
    """GET /ping every 100 ms in a thread, each answer with when it was asked and answered."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.polls: list[Poll] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                asked = time.time()
                body = client.get(f"{self.url}/ping").json()
                self.polls.append(
                    Poll(asked, time.time(), body["status"], body["time_of_last_update"])
                )
                self._stop.wait(0.1)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def wait_for(self, status: str) -> None:
        """Until a poll after this call answers ``status``."""
        seen = len(self.polls)
        eventually(lambda: any(p.status == status for p in self.polls[seen:]), timeout_s=60)


def test_the_timestamp_moves_exactly_when_the_status_changes(server: RunningServer) -> None:
    with Poller(server.url) as poller:
        poller.wait_for("Healthy")
        # An answer, streamed: busy from its start to its end.
        gate = Gate()
        with httpx.stream(
            "POST",
            f"{server.url}/invocations",
            json={"do": "stream", "gate": gate.port},
            timeout=60,
        ) as response:
            chunks = response.iter_raw()
            assert b"first" in next(chunks)
            poller.wait_for("HealthyBusy")
            gate.open()
            assert b"last" in b"".join(chunks)
        poller.wait_for("Healthy")
        # Background work: the answer is back at once, busy until the work ends.
        gate = Gate()
        answer = httpx.post(
            f"{server.url}/invocations", json={"do": "background", "gate": gate.port}, timeout=60
        )
        assert answer.json() == {"started": True}
        poller.wait_for("HealthyBusy")
        gate.open()
        poller.wait_for("Healthy")

    polls = poller.polls
    runs = [polls[0].status] + [b.status for a, b in pairwise(polls) if a.status != b.status]
    assert runs[-4:] == ["HealthyBusy", "Healthy", "HealthyBusy", "Healthy"]
    for before, after in pairwise(polls):
        if before.status == after.status:
            # No change, no new timestamp: polling never moves it.
            assert after.time_of_last_update == before.time_of_last_update
        else:
            # Stamped when the status changed: after the poll before it was asked, by the
            # time this one was answered.
            assert int(before.asked_at) <= after.time_of_last_update <= after.answered_at


def test_an_open_websocket_keeps_the_runtime_busy(server: RunningServer) -> None:
    async def scenario() -> tuple[str, str]:
        url = server.url.replace("http://", "ws://") + "/ws"
        async with websockets.connect(url):
            busy = await asyncio.to_thread(_status_when, server, "HealthyBusy")
        idle = await asyncio.to_thread(_status_when, server, "Healthy")
        return busy, idle

    assert asyncio.run(scenario()) == ("HealthyBusy", "Healthy")


def _status_when(server: RunningServer, wanted: str) -> str:
    status: str = eventually(
        lambda: (s := httpx.get(f"{server.url}/ping").json()["status"]) == wanted and s,
        timeout_s=30,
    )
    return status


def test_registered_work_counts_until_completed_and_the_decorator_too() -> None:
    now = [1000.0]
    health = RuntimeHealth(clock=lambda: now[0])
    assert health.body() == {"status": "Healthy", "time_of_last_update": 1000}
    now[0] = 1005.0
    task_id = health.add_async_task("reindex", {"files": 3})
    assert health.body() == {"status": "HealthyBusy", "time_of_last_update": 1005}
    assert health.info()["running_jobs"][0]["name"] == "reindex"
    now[0] = 1010.0
    health.changed()  # a recomputation without a change keeps the stamp
    assert health.body()["time_of_last_update"] == 1005
    assert health.complete_async_task(task_id)
    assert not health.complete_async_task(task_id)
    assert health.body() == {"status": "Healthy", "time_of_last_update": 1010}

    seen: list[str] = []

    @health.async_task
    async def job() -> None:
        seen.append(health.status)

    asyncio.run(job())
    assert seen == ["HealthyBusy"]
    assert health.status == "Healthy"
    assert json.dumps(health.info()) == '{"active_count": 0, "running_jobs": []}'
