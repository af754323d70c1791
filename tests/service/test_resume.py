"""Resumable SSE answers (docs/streaming.md#resume), against the real server.

A cut connection resumed with ``Last-Event-ID`` gives, byte for byte, the answer an uncut
connection gives (the real model, a fixed seed, a real TCP proxy that cuts mid-answer); a
new reader takes a stream over; the refusals (404, 400, 410); DELETE; the grace period's end
and the memory bounds, read from ``/stats``; and ``/invocations`` resumed by its session.

The tests that must know where an answer stands use the scripted model, which holds after
its first piece until the test opens its gate: no timing is guessed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import RunningServer, streamway_server
from tests.service.test_disconnects_and_load import eventually
from tests.tcp_proxy import cutting_proxy

pytestmark = pytest.mark.timeout(300)

PROMPT = "Explain in a few sentences why the sky is blue."
STREAM_ID = "streamway-stream-id"
SSE = {"accept": "text/event-stream"}


@dataclass
class Event:
    """One SSE block as sent: its raw bytes, its id, name and decoded data."""

    raw: bytes
    id: int | None
    name: str
    data: Any


@dataclass
class SseRead:
    """What a client read of an SSE response: its complete blocks, and how it ended."""

    status: int
    headers: httpx.Headers
    events: list[Event] = field(default_factory=list)
    body: bytes = b""
    error: httpx.HTTPError | None = None

    @property
    def ids(self) -> list[int]:
        return [event.id for event in self.events if event.id is not None]

    @property
    def text(self) -> str:
        return "".join(e.data["text"] for e in self.events if e.name == "message")

    def named(self, name: str) -> list[Event]:
        return [event for event in self.events if event.name == name]


def parse_blocks(body: bytes) -> list[Event]:
    """The complete events in ``body`` (a block cut in the middle is not one; nor is a
    comment, such as a heartbeat)."""
    events = []
    for block in body.split(b"\n\n")[:-1]:
        event_id, name, data = None, "message", []
        for line in block.decode().split("\n"):
            key, _, value = line.partition(": ")
            if key == "id":
                event_id = int(value)
            elif key == "event":
                name = value
            elif key == "data":
                data.append(value)
        if data:
            events.append(Event(block + b"\n\n", event_id, name, json.loads("\n".join(data))))
    return events


def read_sse(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    json_body: dict[str, Any] | None = None,
    until: int | None = None,
    into: SseRead | None = None,
    ready: threading.Event | None = None,
) -> SseRead:
    """Reads an SSE response to its end or its cut (``until``: stops, closing the
    connection, once that many events arrived). ``into`` is filled as it reads; ``ready``
    is set when the status arrived."""
    with client.stream(method, url, headers={**SSE, **(headers or {})}, json=json_body) as r:
        read = into or SseRead(r.status_code, r.headers)
        read.status, read.headers = r.status_code, r.headers
        if ready is not None:
            ready.set()
        try:
            for chunk in r.iter_raw():
                read.body += chunk
                read.events = parse_blocks(read.body)
                if until is not None and len(read.events) >= until:
                    break
        except httpx.HTTPError as error:
            read.error = error
    return read


def resume_stats(server: RunningServer) -> dict[str, Any]:
    resume: dict[str, Any] = server.stats()["resume"]
    return resume


# --- the byte-exact resume, with the real model -------------------------------------------


@pytest.fixture(scope="module")
def model_server() -> Iterator[RunningServer]:
    with streamway_server({"STREAMWAY_RESUME_GRACE": "30"}) as running:
        yield running


@pytest.mark.parametrize("how", ["header", "query"])
def test_a_cut_answer_resumed_after_its_last_event_is_the_uncut_answer_byte_for_byte(
    model_server: RunningServer, how: str
) -> None:
    with httpx.Client(timeout=120) as client:
        whole = read_sse(
            client, "POST", f"{model_server.url}/streaming", json_body={"request": PROMPT}
        )
        assert whole.status == 200
        assert whole.error is None
        assert whole.named("done"), whole.body
        assert len(whole.body) > 1500  # long enough that a cut at 700 bytes is mid-answer

        with cutting_proxy(model_server.port) as proxy:
            base = f"http://127.0.0.1:{proxy.port}"
            proxy.cut_after(700)  # counted from the status line: about 15 events in
            first = read_sse(client, "POST", f"{base}/streaming", json_body={"request": PROMPT})
            assert proxy.cuts == 1
            assert first.status == 200
            assert first.error is not None
            assert not first.named("done")
            stream_id = first.headers[STREAM_ID]
            last = str(first.ids[-1])
            if how == "header":
                rest = read_sse(
                    client, "GET", f"{base}/streaming/{stream_id}", headers={"last-event-id": last}
                )
            else:
                rest = read_sse(client, "GET", f"{base}/streaming/{stream_id}?last_event_id={last}")
            assert proxy.cuts == 1  # the resume went through untouched

    assert rest.status == 200
    assert rest.error is None, rest.body
    assert rest.headers[STREAM_ID] == stream_id
    # No event repeated or missing: ids 1, 2, 3... across the cut.
    ids = first.ids + rest.ids
    assert ids == list(range(1, len(whole.events) + 1))
    # The same text, and the same events as sent, but for done's timings.
    assert first.text + rest.text == whole.text
    resumed = [e.raw for e in first.events + rest.events if e.name != "done"]
    assert resumed == [e.raw for e in whole.events if e.name != "done"]
    assert rest.named("done")[0].data["usage"] == whole.named("done")[0].data["usage"]
    # Read to its end, the stream is forgotten at once.
    eventually(lambda: resume_stats(model_server)["live_streams"] == 0, timeout_s=30)


# --- the scripted model, held after its first piece ---------------------------------------


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[OpenAIChatPeer, str]]:
    peer = OpenAIChatPeer()
    with serve_in_thread(peer) as url:
        yield peer, url


def scripted_env(url: str, **extra: str) -> dict[str, str]:
    return {
        "STREAMWAY_MODEL": "openai:scripted",
        "STREAMWAY_OPENAI_BASE_URL": f"{url}/v1",
        "STREAMWAY_RESUME_GRACE": "30",
        **extra,
    }


@pytest.fixture(scope="module")
def held(scripted: tuple[OpenAIChatPeer, str]) -> Iterator[RunningServer]:
    with streamway_server(scripted_env(scripted[1])) as running:
        yield running


@pytest.fixture
def gate(scripted: tuple[OpenAIChatPeer, str]) -> Iterator[threading.Event]:
    peer = scripted[0]
    peer.gate = threading.Event()
    try:
        yield peer.gate
    finally:
        peer.gate.set()
        peer.gate = None


def counters(server: RunningServer) -> dict[str, int]:
    stats = server.stats()
    return {**stats["generations"], **{f"resume_{k}": v for k, v in stats["resume"].items()}}


def test_a_new_reader_takes_the_stream_over_and_the_old_one_is_told(
    held: RunningServer, gate: threading.Event
) -> None:
    with httpx.Client(timeout=120) as client, httpx.Client(timeout=120) as other:
        with client.stream(
            "POST", f"{held.url}/streaming", json={"request": PROMPT}, headers=SSE
        ) as old:
            assert old.status_code == 200
            stream_id = old.headers[STREAM_ID]
            body = b""
            chunks = old.iter_raw()
            while not parse_blocks(body):
                body += next(chunks)  # the first piece; the model holds after it
            new = SseRead(0, httpx.Headers())
            ready = threading.Event()
            reader = threading.Thread(
                target=read_sse,
                args=(other, "GET", f"{held.url}/streaming/{stream_id}"),
                kwargs={"headers": {"last-event-id": "1"}, "into": new, "ready": ready},
            )
            reader.start()
            # The old connection ends at once, told why, while the model still holds.
            for chunk in chunks:
                body += chunk
        assert ready.wait(60)
        assert new.status == 200
        gate.set()
        reader.join(120)
    old_events = parse_blocks(body)
    assert [e.name for e in old_events] == ["message", "error"]
    assert old_events[1].id is None
    assert old_events[1].data["error"]["code"] == "stream_taken_over"
    assert new.error is None
    assert new.ids == list(range(2, len(ANSWER) + 2))
    assert old_events[0].data["text"] + new.text == "".join(ANSWER)


def test_the_refusals_of_a_resume_are_json_with_their_status(
    held: RunningServer, gate: threading.Event
) -> None:
    with httpx.Client(timeout=60) as client:
        unknown = client.get(f"{held.url}/streaming/no-such-stream", headers=SSE)
        assert unknown.status_code == 404
        error = unknown.json()["error"]
        assert error["code"] == "stream_not_found"
        assert "another sandbox" in error["message"]
        assert error["request_id"] == unknown.headers["x-request-id"]

        first = read_sse(
            client, "POST", f"{held.url}/streaming", json_body={"request": PROMPT}, until=1
        )
        stream_id = first.headers[STREAM_ID]
        url = f"{held.url}/streaming/{stream_id}"
        for bad in ["x", "-1", "1.5", "99", "1" * 25]:
            refused = client.get(url, headers={**SSE, "last-event-id": bad})
            assert refused.status_code == 400, bad
            assert refused.json()["error"]["code"] == "bad_last_event_id"
        refused = client.get(f"{url}?last_event_id=abc", headers=SSE)
        assert refused.status_code == 400
        assert client.delete(url).status_code == 204


def test_delete_stops_the_generation_now_and_the_open_reader_sees_it_failed(
    held: RunningServer, gate: threading.Event
) -> None:
    before = counters(held)
    with httpx.Client(timeout=60) as client:
        with client.stream(
            "POST", f"{held.url}/streaming", json={"request": PROMPT}, headers=SSE
        ) as response:
            stream_id = response.headers[STREAM_ID]
            body = b""
            chunks = response.iter_raw()
            while not parse_blocks(body):
                body += next(chunks)
            deleted = client.delete(f"{held.url}/streaming/{stream_id}")
            assert deleted.status_code == 204
            for chunk in chunks:
                body += chunk
        events = parse_blocks(body)
        assert [e.name for e in events] == ["message", "error"]
        assert events[1].data["error"]["code"] == "stream_cancelled"
        # The model was stopped, not finished: its gate is still closed.
        eventually(lambda: counters(held)["cancelled"] > before["cancelled"], timeout_s=60)
        assert not gate.is_set()
        after = counters(held)
        assert after["resume_deleted"] == before["resume_deleted"] + 1
        assert after["resume_live_streams"] == 0
        assert client.get(f"{held.url}/streaming/{stream_id}").status_code == 404
        assert client.delete(f"{held.url}/streaming/{stream_id}").status_code == 404


SESSION = "x-amzn-bedrock-agentcore-runtime-session-id"


def test_invocations_resume_the_sessions_answer_with_last_event_id(
    held: RunningServer, gate: threading.Event
) -> None:
    session = {SESSION: f"resumed-session-{'0' * 32}"}
    url = f"{held.url}/invocations"
    with httpx.Client(timeout=120) as client, httpx.Client(timeout=120) as other:
        first = read_sse(client, "POST", url, headers=session, json_body={"prompt": "Hi"}, until=1)
        assert first.status == 200
        assert first.events[0].data == {"type": "delta", "text": ANSWER[0]}
        # Without its session, or for a session with no answer, nothing is resumed.
        no_session = client.post(url, json={"prompt": "Hi"}, headers={"last-event-id": "1"})
        assert no_session.status_code == 400
        assert no_session.json()["error"]["code"] == "bad_last_event_id"
        unknown = client.post(
            url,
            json={"prompt": "Hi"},
            headers={SESSION: f"other-session-{'0' * 32}", "last-event-id": "1"},
        )
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "stream_not_found"

        rest = SseRead(0, httpx.Headers())
        ready = threading.Event()
        resumer = threading.Thread(
            target=read_sse,
            args=(other, "POST", url),
            kwargs={
                "headers": {**session, "last-event-id": "1"},
                "json_body": {"prompt": "Hi"},
                "into": rest,
                "ready": ready,
            },
        )
        resumer.start()
        assert ready.wait(60)
        gate.set()  # the rest is generated live, to the resumed connection
        resumer.join(120)
    assert rest.status == 200
    assert rest.error is None
    assert rest.ids == list(range(2, len(ANSWER) + 2))
    deltas = [e.data["text"] for e in first.events + rest.events if e.data["type"] == "delta"]
    assert deltas == ANSWER
    assert rest.events[-1].data["type"] == "done"


# --- the grace period's end and the bounds -------------------------------------------------


@pytest.fixture(scope="module")
def short_grace(scripted: tuple[OpenAIChatPeer, str]) -> Iterator[RunningServer]:
    with streamway_server(scripted_env(scripted[1], STREAMWAY_RESUME_GRACE="1")) as running:
        yield running


def test_a_vanished_clients_generation_stops_when_the_grace_ends(
    short_grace: RunningServer, gate: threading.Event
) -> None:
    before = counters(short_grace)
    with httpx.Client(timeout=60) as client:
        first = read_sse(
            client, "POST", f"{short_grace.url}/streaming", json_body={"request": PROMPT}, until=1
        )
        stream_id = first.headers[STREAM_ID]
        # Nobody resumes: when the grace ends, the held generation is cancelled.
        eventually(
            lambda: counters(short_grace)["resume_grace_cancels"] > before["resume_grace_cancels"],
            timeout_s=60,
        )
        after = counters(short_grace)
        assert after["cancelled"] == before["cancelled"] + 1
        assert after["completed"] == before["completed"]
        assert after["resume_live_streams"] == 0
        assert after["resume_bytes"] == 0
        assert not gate.is_set()  # the model was still holding: it was stopped, not finished
        gone = client.get(f"{short_grace.url}/streaming/{stream_id}", headers=SSE)
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "stream_not_found"
    line = short_grace.wait_for_log(
        lambda e: e.get("message", "").startswith("no client resumed within the grace")
    )
    assert line["stream_id"] == stream_id


#: Small enough that the scripted answer (about 700 bytes of events) overflows one stream's
#: log, and two held answers the total.
STREAM_MAX, TOTAL_MAX = 400, 600


@pytest.fixture(scope="module")
def bounded(scripted: tuple[OpenAIChatPeer, str]) -> Iterator[RunningServer]:
    env = scripted_env(
        scripted[1],
        STREAMWAY_RESUME_STREAM_MAX_BYTES=str(STREAM_MAX),
        STREAMWAY_RESUME_MAX_BYTES=str(TOTAL_MAX),
    )
    with streamway_server(env) as running:
        yield running


def test_the_logs_never_pass_their_bounds_and_a_late_resume_is_410(
    bounded: RunningServer, scripted: tuple[OpenAIChatPeer, str]
) -> None:
    peer = scripted[0]
    streams = []
    with httpx.Client(timeout=60) as client:
        for _ in range(2):
            # Each client leaves after the first event, while the model holds (so its reader
            # cannot have read the whole answer); then the answer goes on into its log.
            peer.gate = threading.Event()
            try:
                first = read_sse(
                    client,
                    "POST",
                    f"{bounded.url}/streaming",
                    json_body={"request": PROMPT},
                    until=1,
                )
            finally:
                peer.gate.set()
                peer.gate = None
            streams.append(first.headers[STREAM_ID])
            eventually(lambda: resume_stats(bounded)["running"] == 0, timeout_s=60)
        stats = resume_stats(bounded)
        assert stats["live_streams"] == 2
        assert stats["stream_max_bytes"] == STREAM_MAX
        assert stats["max_bytes"] == TOTAL_MAX
        assert 0 < stats["peak_stream_bytes"] <= STREAM_MAX
        assert stats["bytes"] <= stats["peak_bytes"] <= TOTAL_MAX
        # Two logs were held at once, beyond what one stream may hold.
        assert stats["peak_bytes"] > STREAM_MAX

        late = client.get(
            f"{bounded.url}/streaming/{streams[0]}", headers={**SSE, "last-event-id": "1"}
        )
        assert late.status_code == 410
        assert late.json()["error"]["code"] == "stream_events_gone"
        for stream_id in streams:
            assert client.delete(f"{bounded.url}/streaming/{stream_id}").status_code == 204
    assert resume_stats(bounded)["bytes"] == 0
