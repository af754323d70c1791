"""Sessions on /invocations: memory per session id, isolation, expiry, bounds, one answer at a time;
and a client dropping the SSE stream mid-answer (bedrock-agentcore#563)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamway.agent.sessions import InvalidSessionId, SessionBusy, SessionStore, TooManySessions
from tests.servers import RunningServer, streamway_server
from tests.service.test_disconnects_and_load import eventually

SESSION = "x-amzn-bedrock-agentcore-runtime-session-id"


def sid(name: str) -> str:
    """A session id AgentCore would accept: 33 to 256 characters."""
    return f"{name}-{'0' * 32}"


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


ANN = "session-ann-0000000000000000000000001"
BOB = "session-bob-0000000000000000000000002"


def test_a_session_remembers_and_sessions_are_isolated(sessions_dir: Path) -> None:
    env = {"STREAMWAY_MAX_TOKENS": "16", "STREAMWAY_SESSIONS_DIR": str(sessions_dir)}
    with streamway_server(env) as server:
        first = ask(server, "My name is Ann.", ANN)
        stored = messages(sessions_dir, ANN)
        assert [m["role"] for m in stored] == ["user", "assistant"]
        assert stored[0]["content"] == [{"text": "My name is Ann."}]

        second = ask(server, "What is my name?", ANN)
        stored = messages(sessions_dir, ANN)
        assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]
        # The model saw the first turn: its prompt grew by the whole earlier exchange.
        assert second["usage"]["input_tokens"] > first["usage"]["input_tokens"] + 5  # type: ignore[index]

        other = ask(server, "What is my name?", BOB)
        assert [m["role"] for m in messages(sessions_dir, BOB)] == [
            "user",
            "assistant",
        ]
        assert other["usage"]["input_tokens"] < second["usage"]["input_tokens"]  # type: ignore[index]
        assert len(messages(sessions_dir, ANN)) == 4

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


SHORT = sid("short-lived")


def test_idle_sessions_expire(sessions_dir: Path) -> None:
    env = {
        "STREAMWAY_MAX_TOKENS": "4",
        "STREAMWAY_SESSIONS_DIR": str(sessions_dir),
        "STREAMWAY_SESSION_IDLE_TIMEOUT_S": "1",
    }
    with streamway_server(env) as server:
        ask(server, "Hello", SHORT)
        assert (sessions_dir / f"session_{SHORT}").is_dir()

        def expired() -> bool:
            # AgentCore pings often; a ping after the idle timeout finds the session gone.
            assert httpx.get(f"{server.url}/ping").status_code == 200
            return not (sessions_dir / f"session_{SHORT}").exists()

        eventually(expired, timeout_s=30)
        assert server.stats()["sessions"] == {"open": 0, "answering": 0, "expired": 1, "evicted": 0}
        # The same id starts a new, empty conversation.
        ask(server, "Hello again", SHORT)
        assert len(messages(sessions_dir, SHORT)) == 2


def test_store_is_bounded_and_one_answer_per_session(tmp_path: Path) -> None:
    now = [1000.0]
    store = SessionStore(tmp_path, idle_timeout_s=900, max_sessions=2, clock=lambda: now[0])
    a, b, c = sid("a"), sid("b"), sid("c")
    with store.acquire(a) as manager:
        assert manager.session_id == a
        with pytest.raises(SessionBusy):
            store.acquire(a)
        with pytest.raises(SessionBusy):
            store.check(a)
    assert store.path(a).is_dir()
    now[0] += 1
    with store.acquire(b), store.acquire(a), pytest.raises(TooManySessions):
        store.acquire(c)
    now[0] += 1
    store.acquire(a).release()
    store.check(c)  # a check creates nothing and evicts nothing
    assert c not in store
    assert b in store
    store.acquire(c).release()  # the least recently used idle session (b) makes room
    assert b not in store
    assert a in store
    assert store.stats()["evicted"] == 1

    # Sessions on disk from before a restart are picked up, with their age.
    reopened = SessionStore(tmp_path, idle_timeout_s=900, max_sessions=2)
    assert a in reopened


@pytest.mark.parametrize(
    "session_id",
    [
        sid("ok") + "\n",  # `$` matches before a final newline; fullmatch does not
        "a" * 32,  # AgentCore's minimum is 33
        "a" * 257,  # and its maximum 256
        "../" + "a" * 40,
        "-" + "a" * 40,
        sid("tab\t"),
    ],
)
def test_session_ids_are_agentcores_33_to_256_plain_characters(session_id: str) -> None:
    with pytest.raises(InvalidSessionId):
        SessionStore.validate(session_id)
    assert SessionStore.validate("a" * 33) == "a" * 33
    assert SessionStore.validate("b" * 256) == "b" * 256
    assert SessionStore.validate("0b6a7c1e-3c39-4b2a-9f55-8f1f1c2d3e4f") is not None


DROPPED = sid("dropped-session")


@pytest.fixture
def long_answers(tmp_path: Path) -> Iterator[RunningServer]:
    env = {
        "STREAMWAY_MAX_TOKENS": "1500",
        "STREAMWAY_SESSIONS_DIR": str(tmp_path / "sessions"),
        # Resume off: a client that drops its SSE answer stops it at once (with resume on,
        # the answer waits for a reconnection for the grace period: test_resume.py).
        "STREAMWAY_RESUME_GRACE": "0",
    }
    with streamway_server(env) as server:
        yield server


def test_client_dropping_sse_mid_answer_stops_generation(long_answers: RunningServer) -> None:
    server = long_answers
    story = {"prompt": "Write a very long story about a lighthouse keeper."}
    headers = {"accept": "text/event-stream", SESSION: DROPPED}
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
    assert stats["sessions"]["answering"] == 0

    ping = eventually(
        lambda: (p := httpx.get(f"{server.url}/ping").json())["status"] == "Healthy" and p
    )
    assert isinstance(ping["time_of_last_update"], int)
    # Idle, and Healthy: the generation ended (it is counted when its generator closes), and
    # nothing generated since.
    assert server.stats()["model"]["tokens_generated"] == stopped_at

    # Both a new session and the dropped one answer again.
    for session_id in (sid("fresh-session"), DROPPED):
        again = httpx.post(
            f"{server.url}/invocations",
            json={"prompt": "Say hi."},
            headers={"accept": "application/json", SESSION: session_id},
            timeout=120,
        )
        assert again.status_code == 200
        assert again.json()["result"]


def test_requests_refused_as_busy_create_no_session_and_evict_none(tmp_path: Path) -> None:
    """Issue 15 item 8: a 503 used to create a session first, evicting other people's."""
    sessions_dir = tmp_path / "sessions"
    env = {
        "STREAMWAY_MAX_TOKENS": "1500",
        "STREAMWAY_SESSIONS_DIR": str(sessions_dir),
        "STREAMWAY_MAX_SESSIONS": "3",
        "STREAMWAY_QUEUE_SIZE": "0",  # busy means refused at once
    }
    kept = [sid(f"kept-{n}") for n in range(3)]
    with streamway_server(env) as server:
        for session_id in kept:
            ask(server, "Say hi.", session_id)
        assert server.stats()["sessions"]["open"] == 3

        story = {"prompt": "Write a very long story about a lighthouse keeper."}
        with httpx.Client(timeout=30) as client:
            busy_request = client.build_request(
                "POST",
                f"{server.url}/invocations",
                json=story,
                headers={"accept": "text/event-stream"},
            )
            response = client.send(busy_request, stream=True)
            assert response.status_code == 200
            pieces = response.iter_raw()
            next(pieces)  # the model is answering: every other request is refused

            for n in range(30):
                session_id = kept[0] if n == 0 else sid(f"refused-{n}")
                refused = client.post(
                    f"{server.url}/invocations",
                    json={"prompt": "Hi"},
                    headers={"accept": "application/json", SESSION: session_id},
                )
                assert refused.status_code == 503, refused.text
                assert refused.json()["error"]["code"] == "model_busy"
            response.close()

        stats = server.stats()["sessions"]
        assert (stats["open"], stats["evicted"]) == (3, 0)
        assert sorted(p.name for p in sessions_dir.iterdir()) == [f"session_{s}" for s in kept]
        # The kept conversations are intact: one exchange each.
        for session_id in kept:
            assert len(messages(sessions_dir, session_id)) == 2


def test_a_session_id_with_a_trailing_newline_is_refused_on_the_wire(tmp_path: Path) -> None:
    """`^...$` accepted "id\\n" (and made a directory with a newline in its name)."""
    import asyncio

    import websockets

    sessions_dir = tmp_path / "sessions"
    env = {"STREAMWAY_MAX_TOKENS": "4", "STREAMWAY_SESSIONS_DIR": str(sessions_dir)}

    async def close_code(query: str) -> int | None:
        url = f"ws://127.0.0.1:{server.port}/ws?session_id={query}"
        async with websockets.connect(url) as ws:
            try:
                await ws.send(json.dumps({"prompt": "Hi"}))
                while True:  # the old pattern answered, then waited for the next prompt
                    await asyncio.wait_for(ws.recv(), 30)
            except websockets.ConnectionClosed:
                return ws.close_code

    with streamway_server(env) as server:
        assert asyncio.run(close_code(sid("newline") + "%0A")) == 1008
        assert list(sessions_dir.iterdir()) == []
