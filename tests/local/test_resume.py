"""Resume through ``streamway local``: the resume routes of streamway's API definition reach
the function, a dropped SSE answer resumes on the sandbox that runs it, and a resume that
finds nothing is told so (404 with the Lambda caveat), never answered with a silent nothing.

The scripted model holds after its first piece until the test opens its gate, so the client
leaves while the answer is in the middle, without guessing any timing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.local.test_abort import wait_until_warm
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import RunningLocal, streamway_local
from tests.service.test_resume import SSE, STREAM_ID, SseRead, read_sse

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def peer() -> Iterator[tuple[OpenAIChatPeer, str]]:
    scripted = OpenAIChatPeer()
    with serve_in_thread(scripted) as url:
        yield scripted, url


@pytest.fixture(scope="module")
def local(peer: tuple[OpenAIChatPeer, str]) -> Iterator[RunningLocal]:
    env = {
        "STREAMWAY_MODEL": "openai:scripted",
        "STREAMWAY_OPENAI_BASE_URL": f"{peer[1]}/v1",
        "STREAMWAY_RESUME_GRACE": "30",
        # A function learns that its caller left at its next write (as on Lambda): with the
        # model held, the next heartbeat, soon.
        "STREAMWAY_SSE_HEARTBEAT": "0.2",
    }
    with streamway_local(env) as running:
        yield running


@pytest.fixture
def gate(peer: tuple[OpenAIChatPeer, str]) -> Iterator[threading.Event]:
    scripted = peer[0]
    scripted.gate = threading.Event()
    try:
        yield scripted.gate
    finally:
        scripted.gate.set()
        scripted.gate = None


def test_a_dropped_answer_resumes_through_the_gateway(
    local: RunningLocal, gate: threading.Event
) -> None:
    with httpx.Client(timeout=120) as client, httpx.Client(timeout=120) as other:
        # The client leaves after the first piece; the gateway ends that invocation.
        first = read_sse(
            client, "POST", f"{local.url}/streaming", json_body={"request": "Hi"}, until=1
        )
        assert first.status == 200
        stream_id = first.headers[STREAM_ID]
        # Once that invocation ended, its sandbox takes the next request: the resume finds the
        # answer there. (A resume while it is still busy goes to a new sandbox: the next test.)
        wait_until_warm(local)
        rest = SseRead(0, httpx.Headers())
        ready = threading.Event()
        resumer = threading.Thread(
            target=read_sse,
            args=(other, "GET", f"{local.url}/streaming/{stream_id}"),
            kwargs={"headers": {"last-event-id": "1"}, "into": rest, "ready": ready},
        )
        resumer.start()
        assert ready.wait(120)
        gate.set()
        resumer.join(120)
    assert rest.status == 200
    assert rest.error is None, rest.body
    assert first.ids + rest.ids == list(range(1, len(ANSWER) + 2))
    assert first.text + rest.text == "".join(ANSWER)
    assert rest.named("done")


def test_delete_reaches_the_function_that_runs_the_answer(
    local: RunningLocal, gate: threading.Event
) -> None:
    with httpx.Client(timeout=120) as client:
        first = read_sse(
            client, "POST", f"{local.url}/streaming", json_body={"request": "Hi"}, until=1
        )
        wait_until_warm(local)
        url = f"{local.url}/streaming/{first.headers[STREAM_ID]}"
        assert client.delete(url).status_code == 204
        after = client.get(url, headers={**SSE, "last-event-id": "1"})
        assert after.status_code == 404
        assert after.json()["error"]["code"] == "stream_not_found"
    assert len(local.functions()["StreamFunction"]["sandboxes"]) == 1


def test_a_resume_that_reaches_another_sandbox_is_a_clear_404(
    local: RunningLocal, gate: threading.Event
) -> None:
    """As on Lambda: the sandbox running the answer is busy (its client still reads), so the
    gateway starts another for the resume, which does not have the answer, and says so."""
    with (
        httpx.Client(timeout=120) as client,
        client.stream(
            "POST", f"{local.url}/streaming", json={"request": "Hi"}, headers=SSE
        ) as held,
    ):
        assert held.status_code == 200
        missed = client.get(
            f"{local.url}/streaming/{held.headers[STREAM_ID]}",
            headers={**SSE, "last-event-id": "1"},
        )
        assert missed.status_code == 404
        error = missed.json()["error"]
        assert error["code"] == "stream_not_found"
        assert "another sandbox" in error["message"]
        assert len(local.functions()["StreamFunction"]["sandboxes"]) == 2
