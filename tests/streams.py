"""Client-side helpers for reading a streamed answer the way a client sees it, over a socket."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class StreamedAnswer:
    """A response read chunk by chunk, with when each chunk arrived."""

    status: int
    headers: httpx.Headers
    chunks: list[bytes] = field(default_factory=list)
    arrived_at: list[float] = field(default_factory=list)
    #: The exception that ended the read early, if the body was cut off.
    error: httpx.HTTPError | None = None

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def text(self) -> str:
        return self.body.decode()

    @property
    def spread_s(self) -> float:
        """Seconds between the first and the last chunk."""
        return self.arrived_at[-1] - self.arrived_at[0] if self.arrived_at else 0.0

    def json(self) -> Any:
        return json.loads(self.body)

    def sse_events(self) -> list[tuple[str, Any]]:
        """``(event name, decoded data)`` per SSE event; unnamed events are ``message``.

        A block without data (a comment, a heartbeat) is no event, as for EventSource."""
        events = []
        for block in self.text.split("\n\n"):
            name, data = "message", []
            for line in block.splitlines():
                key, _, value = line.partition(": ")
                if key == "event":
                    name = value
                elif key == "data":
                    data.append(value)
            if data:
                events.append((name, json.loads("\n".join(data))))
        return events


def post_prompt(
    base_url: str,
    prompt: str,
    *,
    accept: str = "text/plain",
    request_id: str | None = None,
    timeout_s: float = 60,
) -> StreamedAnswer:
    """POSTs ``prompt`` to /streaming and reads the body as it arrives, tolerating a cut-off."""
    headers = {"accept": accept}
    if request_id is not None:
        headers["x-request-id"] = request_id
    with (
        httpx.Client(timeout=timeout_s) as client,
        client.stream(
            "POST", f"{base_url}/streaming", json={"request": prompt}, headers=headers
        ) as response,
    ):
        answer = StreamedAnswer(response.status_code, response.headers)
        try:
            for chunk in response.iter_raw():
                answer.chunks.append(chunk)
                answer.arrived_at.append(time.monotonic())
        except httpx.HTTPError as error:
            answer.error = error
    return answer
