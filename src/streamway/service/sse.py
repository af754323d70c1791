"""The SSE an AgentCore entrypoint sends: its values as JSON ``data:``, or events it frames.

The bedrock-agentcore SDK writes every yielded value as ``data: <json>`` and falls back to
``str(value)`` for what ``json.dumps`` refuses, so a Strands event yielded as is goes out as
the repr of a live Agent; and a value that is already an SSE event (``event:``, ``id:``) is
JSON-encoded a second time inside ``data:``. Here:

- a value is made JSON-safe first (:func:`json_safe`): dataclasses, pydantic models, dates,
  UUIDs and the like become JSON; what has no JSON form (an Agent, a span, a socket) is left
  out, and the type is logged once, never written as a repr;
- :class:`SseEvent` is an event the entrypoint frames itself: its ``event:``, ``id:`` and
  ``retry:`` fields as given, its data as JSON (or a string as it is).

Every SSE answer of the service (``/streaming``'s, ``/invocations``', an entrypoint's) is
written through an :class:`SseStream`: its events are numbered ``id: 1``, ``2``, ``3``...,
its first block opens with ``retry:``, and its heartbeats are comments.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import logging
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

log = logging.getLogger("streamway.agentcore")

#: Deeper than this is taken for a cycle (or hostile) and left out.
_MAX_DEPTH = 64
_SKIPPED = object()
_warned: set[str] = set()


@dataclass(frozen=True)
class SseEvent:
    """One SSE event, framed as given: ``event:``/``id:``/``retry:`` lines, then its data
    (a ``str`` as is, one ``data:`` line per line; anything else as JSON)."""

    data: Any
    event: str | None = None
    id: str | None = None
    retry_ms: int | None = None

    def encode(self) -> bytes:
        lines = []
        for name, value in (("event", self.event), ("id", self.id)):
            if value is not None:
                if any(c in value for c in "\r\n\0"):
                    raise ValueError(f"an SSE {name} cannot hold a line break or NUL: {value!r}")
                lines.append(f"{name}: {value}")
        if self.retry_ms is not None:
            lines.append(f"retry: {int(self.retry_ms)}")
        data = self.data if isinstance(self.data, str) else to_json(self.data)
        lines += [f"data: {line}" for line in data.replace("\r\n", "\n").split("\n")]
        return ("\n".join(lines) + "\n\n").encode()


#: How long a client that lost the stream waits before it reconnects (SSE's ``retry:``).
RETRY_MS = 3000


class SseStream:
    """One SSE stream as written: ids 1, 2, 3... on its events, ``retry:`` first.

    An event that brings its own ``id:`` (an entrypoint's :class:`SseEvent`) keeps it, and
    still counts; one that brings its own ``retry:`` keeps that. The id line comes first in
    a block, so ``event:`` and ``data:`` stay together as they were.
    """

    def __init__(self, retry_ms: int = RETRY_MS) -> None:
        #: The id of the last event written (0: none yet).
        self.last_id = 0
        self._retry_ms: int | None = retry_ms

    def event(self, value: Any) -> bytes:
        """``value`` (an :class:`SseEvent`, or data as JSON) as the stream's next event;
        empty, and not counted, when nothing of it has a JSON form."""
        body = encode_event(value)
        if not body:
            return b""
        self.last_id += 1
        own = value if isinstance(value, SseEvent) else SseEvent(None)
        head = self._opening(own.retry_ms is None)
        if own.id is None:
            head += f"id: {self.last_id}\n"
        return head.encode() + body

    def comment(self, text: str = "keep-alive") -> bytes:
        """A comment block (a heartbeat): no event, ignored by every client."""
        return f"{self._opening(True)}: {text}\n\n".encode()

    def _opening(self, with_retry: bool) -> str:
        """The ``retry:`` line if nothing was written yet (and it is wanted), else nothing."""
        retry_ms, self._retry_ms = self._retry_ms, None
        return f"retry: {retry_ms}\n" if retry_ms is not None and with_retry else ""


def encode_event(value: Any) -> bytes:
    """``value`` as one SSE event (empty when nothing of it has a JSON form)."""
    if isinstance(value, SseEvent):
        return value.encode()
    safe = json_safe(value)
    if safe is _SKIPPED:
        return b""
    return f"data: {json.dumps(safe, ensure_ascii=False)}\n\n".encode()


def to_json(value: Any) -> str:
    """``value`` as JSON text, through :func:`json_safe` (``null`` when none of it is)."""
    safe = json_safe(value)
    return json.dumps(None if safe is _SKIPPED else safe, ensure_ascii=False)


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` with only JSON in it; what has no JSON form is left out of mappings, is
    ``null`` in sequences, and is the module's skip marker at the top."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= _MAX_DEPTH:
        return _skip(value)
    if isinstance(value, Mapping):
        pairs = ((_key(k), json_safe(v, depth + 1)) for k, v in value.items())
        return {k: v for k, v in pairs if k is not None and v is not _SKIPPED}
    if isinstance(value, list | tuple | set | frozenset):
        items = (json_safe(item, depth + 1) for item in value)
        return [None if item is _SKIPPED else item for item in items]
    converted = _converted(value)
    if converted is _SKIPPED:
        return _skip(value)
    return json_safe(converted, depth + 1)


def _converted(value: Any) -> Any:
    """A JSON-able form of a known non-JSON type, or the skip marker."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal | PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    model_dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(model_dump) and not isinstance(value, type):
        try:
            return model_dump(mode="json")
        except Exception:
            return _SKIPPED
    return _SKIPPED


def _key(key: Any) -> str | None:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    return None


def _skip(value: Any) -> Any:
    name = f"{type(value).__module__}.{type(value).__qualname__}"
    if name not in _warned:
        _warned.add(name)
        log.warning("left out of an event: no JSON form", extra={"type": name})
    return _SKIPPED
