"""An AgentCore entrypoint's values as SSE: JSON-safe, never a repr; its own events as framed."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel

from streamway.service.sse import SseEvent, SseStream, encode_event, json_safe, to_json


class Opaque:
    pass


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    label: object


class Item(BaseModel):
    name: str
    when: datetime.date


def test_known_types_become_json_and_objects_without_a_form_are_left_out() -> None:
    value = {
        "text": "hi",
        "agent": Opaque(),
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5),
        "id": uuid.UUID(int=1),
        "path": Path("/tmp/x"),
        "colour": Colour.RED,
        "point": Point(1, Opaque()),
        "item": Item(name="a", when=datetime.date(2026, 1, 2)),
        "items": [Opaque(), 1, float("nan"), (2, 3)],
        Opaque(): "a key with no JSON form",
        7: "an int key",
    }
    assert json_safe(value) == {
        "text": "hi",
        "when": "2026-01-02T03:04:05",
        "id": "00000000-0000-0000-0000-000000000001",
        "path": "/tmp/x",
        "colour": "red",
        "point": {"x": 1},
        "item": {"name": "a", "when": "2026-01-02"},
        "items": [None, 1, None, [2, 3]],
        "7": "an int key",
    }


def test_no_repr_ever_reaches_the_wire() -> None:
    body = encode_event({"event": {"agent": Opaque(), "data": "Hel"}, "span": Opaque()})
    assert body == b'data: {"event": {"data": "Hel"}}\n\n'
    assert b"object at 0x" not in body


def test_a_value_with_no_json_form_at_all_sends_nothing() -> None:
    assert encode_event(Opaque()) == b""
    assert to_json(Opaque()) == "null"


def test_a_cycle_ends_at_the_depth_limit() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    json.loads(to_json(cycle))  # no RecursionError, valid JSON


def test_an_event_the_entrypoint_frames_is_sent_as_framed() -> None:
    assert SseEvent({"pct": 50}, event="progress", id="1").encode() == (
        b'event: progress\nid: 1\ndata: {"pct": 50}\n\n'
    )
    assert SseEvent("two\nlines", event="note", retry_ms=2000).encode() == (
        b"event: note\nretry: 2000\ndata: two\ndata: lines\n\n"
    )
    # Not encoded twice: a string is the data itself, not a JSON string.
    assert SseEvent("plain").encode() == b"data: plain\n\n"


@pytest.mark.parametrize("field", ["event", "id"])
def test_a_line_break_in_a_field_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        SseEvent("x", **{field: "a\nevent: forged"}).encode()  # type: ignore[arg-type]


def test_a_stream_numbers_its_events_and_opens_with_retry() -> None:
    stream = SseStream()
    assert stream.comment() == b"retry: 3000\n: keep-alive\n\n"
    assert stream.event({"text": "a"}) == b'id: 1\ndata: {"text": "a"}\n\n'
    assert stream.event(Opaque()) == b""  # no event, no id used
    assert stream.comment() == b": keep-alive\n\n"
    assert (
        stream.event(SseEvent({"n": 2}, event="done")) == b'id: 2\nevent: done\ndata: {"n": 2}\n\n'
    )
    assert stream.last_id == 2


def test_an_events_own_id_and_retry_win() -> None:
    stream = SseStream()
    assert (
        stream.event(SseEvent("x", id="mine", retry_ms=50)) == b"id: mine\nretry: 50\ndata: x\n\n"
    )
    # The own id still counts: the next event is the second.
    assert stream.event("y") == b'id: 2\ndata: "y"\n\n'
    opened = SseStream(retry_ms=1000)
    assert opened.event(SseEvent("x", id="7")) == b"retry: 1000\nid: 7\ndata: x\n\n"
