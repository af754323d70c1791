"""Sessions on /invocations: memory per session id, isolation, expiry, bounds, one answer at a time;
and a client dropping the SSE stream mid-answer (bedrock-agentcore#563)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamway.agent.sessions import SessionBusy, SessionStore, TooManySessions
from tests.servers import RunningServer, streamway_server
from tests.service.test_disconnects_and_load import eventually

SESSION = "x-amzn-bedrock-agentcore-runtime-session-id"


def messages(sessions_dir: Path, session_id: str) -> list[dict[str, object]]:
    folder = sessions_dir / f"session_{session_id}" / "agents" / "agent_default" / "messages"
    files = sorted(folder.glob("message_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    return [json.loads(path.read_text())["message"] for path in files]


def ask(server: RunningServer, prompt: str, session_id: str) -> dict[str, object]:
    response = httpx.post(
        f"{server.url}/invocations",
        json={"prompt": prompt},
        headers={"accept": "application/json", SESSION: session_id},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.fixture
def sessions_dir(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


def test_a_session_remembers_and_sessions_are_isolated(sessions_dir: Path) -> None:
    env = {"STREAMWAY_MAX_TOKENS": "16", "STREAMWAY_SESSIONS_DIR": str(sessions_dir)}
    with streamway_server(env) as server:
        first = ask(server, "My name is Ann.", "session-ann-0000000000000000000000001")
        stored = messages(sessions_dir, "session-ann-0000000000000000000000001")
        assert [m["role"] for m in stored] == ["user", "assistant"]
        assert stored[0]["content"] == [{"text": "My name is Ann."}]

        second = ask(server, "What is my name?", "session-ann-0000000000000000000000001")
        stored = messages(sessions_dir, "session-ann-0000000000000000000000001")
        assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]
        # The model saw the first turn: its prompt grew by the whole earlier exchange.
        assert second["usage"]["input_tokens"] > first["usage"]["input_tokens"] + 5  # type: ignore[index]

        other = ask(server, "What is my name?", "session-bob-0000000000000000000000002")
        assert [
            m["role"] for m in messages(sessions_dir, "session-bob-0000000000000000000000002")
        ] == [
            "user",
            "assistant",
        ]
        assert other["usage"]["input_tokens"] < second["usage"]["input_tokens"]  # type: ignore[index]
        assert len(messages(sessions_dir, "session-ann-0000000000000000000000001")) == 4

        # Without a session id nothing is stored.
        ask_plain = httpx.post(
            f"{server.url}/invocations",
            json={"prompt": "Hi"},
            headers={"accept": "application/json"},
            timeout=60,
        )
        assert ask_plain.status_code == 200
        assert server.stats()["sessions"]["open"] == 2

        bad = httpx.post(
            f"{server.url}/invocations", json={"prompt": "Hi"}, headers={SESSION: "../etc"}
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_session_id"


def test_idle_sessions_expire(sessions_dir: Path) -> None:
    env = {
        "STREAMWAY_MAX_TOKENS": "4",
        "STREAMWAY_SESSIONS_DIR": str(sessions_dir),
        "STREAMWAY_SESSION_IDLE_TIMEOUT_S": "1",
    }
    with streamway_server(env) as server:
        ask(server, "Hello", "short-lived")
        assert (sessions_dir / "session_short-lived").is_dir()
        time.sleep(1.2)
        assert httpx.get(f"{server.url}/ping").status_code == 200  # AgentCore pings often
        assert not (sessions_dir / "session_short-lived").exists()
        assert server.stats()["sessions"] == {"open": 0, "answering": 0, "expired": 1, "evicted": 0}
        # The same id starts a new, empty conversation.
        ask(server, "Hello again", "short-lived")
        assert len(messages(sessions_dir, "short-lived")) == 2


def test_store_is_bounded_and_one_answer_per_session(tmp_path: Path) -> None:
    now = [1000.0]
    store = SessionStore(tmp_path, idle_timeout_s=900, max_sessions=2, clock=lambda: now[0])
    with store.acquire("a") as manager:
        assert manager.session_id == "a"
        with pytest.raises(SessionBusy):
            store.acquire("a")
    assert store.path("a").is_dir()
    now[0] += 1
    with store.acquire("b"), store.acquire("a"), pytest.raises(TooManySessions):
        store.acquire("c")
    now[0] += 1
    store.acquire("a").release()
    store.acquire("c").release()  # the least recently used idle session ("b") makes room
    assert "b" not in store
    assert "a" in store
    assert store.stats()["evicted"] == 1

    # Sessions on disk from before a restart are picked up, with their age.
    reopened = SessionStore(tmp_path, idle_timeout_s=900, max_sessions=2)
    assert "a" in reopened


@pytest.fixture
def long_answers(tmp_path: Path) -> Iterator[RunningServer]:
    env = {"STREAMWAY_MAX_TOKENS": "1500", "STREAMWAY_SESSIONS_DIR": str(tmp_path / "sessions")}
    with streamway_server(env) as server:
        yield server


def test_client_dropping_sse_mid_answer_stops_generation(long_answers: RunningServer) -> None:
    server = long_answers
    story = {"prompt": "Write a very long story about a lighthouse keeper."}
    headers = {"accept": "text/event-stream", SESSION: "dropped-session"}
    with httpx.Client(timeout=30) as client:
        response = client.send(
            client.build_request("POST", f"{server.url}/invocations", json=story, headers=headers),
            stream=True,
        )
        assert response.status_code == 200
        pieces = response.iter_raw()
        for _ in range(5):
            next(pieces)
        assert httpx.get(f"{server.url}/ping").json()["status"] == "HealthyBusy"
        # A second request for the same session while it answers is refused, not interleaved.
        busy = httpx.post(f"{server.url}/invocations", json={"prompt": "Hi"}, headers=headers)
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "session_busy"
        response.close()  # the client goes away mid-answer

    stats = eventually(lambda: (s := server.stats())["generations"]["active"] == 0 and s)
    assert stats["generations"]["cancelled"] == 1
    stopped_at = stats["model"]["tokens_generated"]
    time.sleep(0.5)
    assert server.stats()["model"]["tokens_generated"] == stopped_at
    assert stats["sessions"]["answering"] == 0

    ping = eventually(
        lambda: (p := httpx.get(f"{server.url}/ping").json())["status"] == "Healthy" and p
    )
    assert isinstance(ping["time_of_last_update"], int)

    # Both a new session and the dropped one answer again.
    for session_id in ("fresh-session", "dropped-session"):
        again = httpx.post(
            f"{server.url}/invocations",
            json={"prompt": "Say hi."},
            headers={"accept": "application/json", SESSION: session_id},
            timeout=120,
        )
        assert again.status_code == 200
        assert again.json()["result"]
