"""``STREAMWAY_AGENTCORE_ENTRYPOINT``: your own agent on streamway's ``/invocations``.

The entrypoint is tests/service/agentcore_entrypoints.py, served by ``streamway serve``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.servers import RunningServer, streamway_server
from tests.service.test_agentcore_health import ENTRYPOINT_ENV

pytestmark = pytest.mark.timeout(120)

SESSION = "x-amzn-bedrock-agentcore-runtime-session-id"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    sessions = tmp_path_factory.mktemp("sessions")
    with streamway_server({**ENTRYPOINT_ENV, "STREAMWAY_SESSIONS_DIR": str(sessions)}) as s:
        yield s


def test_own_events_go_out_as_framed_and_values_json_safe(server: RunningServer) -> None:
    response = httpx.post(f"{server.url}/invocations", json={"do": "framed"}, timeout=60)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    # Its own id and retry win; the others are numbered on (what was left out is no event),
    # and the stream opens with retry:.
    assert response.text == (
        'retry: 3000\nevent: progress\nid: 1\ndata: {"pct": 50}\n\n'
        "id: 2\nevent: note\nretry: 2000\ndata: plain text\ndata: second line\n\n"
        'id: 3\ndata: {"text": "hi", "when": "2026-01-02T03:04:05", '
        '"id": "00000000-0000-0000-0000-000000000001", "items": [null, 1, null]}\n\n'
        'id: 4\ndata: "done"\n\n'
    )
    assert "object at 0x" not in response.text
    left_out = server.wait_for_log(lambda e: e["message"] == "left out of an event: no JSON form")
    assert left_out["type"] == "tests.service.agentcore_entrypoints.Opaque"


def test_a_failure_mid_stream_ends_with_the_sdk_s_error_event(server: RunningServer) -> None:
    response = httpx.post(f"{server.url}/invocations", json={"do": "fail"}, timeout=60)
    assert response.text == (
        'retry: 3000\nid: 1\ndata: "a"\n\n'
        'id: 2\ndata: {"error": "boom", "error_type": "RuntimeError", '
        '"message": "An error occurred during streaming"}\n\n'
    )


def test_a_whole_answer_is_json_safe_and_sees_the_session(server: RunningServer) -> None:
    session = "s" * 40
    response = httpx.post(
        f"{server.url}/invocations", json={"do": "json"}, headers={SESSION: session}, timeout=60
    )
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"session": session, "when": "2026-01-02"}


def test_a_body_that_is_not_json_is_400(server: RunningServer) -> None:
    response = httpx.post(f"{server.url}/invocations", content=b"{nope", timeout=60)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
