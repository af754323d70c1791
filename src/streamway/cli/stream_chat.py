"""``streamway chat`` against a streamway service: ``POST /streaming`` as SSE, the text
printed as it arrives, a dropped answer resumed, and Ctrl-C stopping the generation.

The answer is asked for as SSE (not plain text) because SSE events carry ids: when the
connection breaks mid-answer (not an ``event: error``, which is the server's own failure),
the chat reconnects to ``GET /streaming/{id}`` with ``Last-Event-ID`` set to the last event it
printed, and prints only the events after it, so no piece is printed twice or lost. It tries
``retries`` times, waiting 0.25 s, then twice as long each time (as the page does), and says
so on stderr. A server that does not send ``Streamway-Stream-Id`` (resume turned off, or an
older streamway) is read the same way, but a drop ends the chat as before.

Ctrl-C sends ``DELETE /streaming/{id}``: without it the server would keep generating for its
resume grace period, waiting for a reconnect that never comes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from httpx_sse import EventSource, SSEError

STREAM_ID_HEADER = "Streamway-Stream-Id"
#: The wait before the first reconnect; each further try waits twice as long.
FIRST_WAIT_S = 0.25
#: Long enough for a slow first token; the model may pause that long between tokens too.
_TIMEOUT = httpx.Timeout(10.0, read=300.0)
#: Stopping must not hang the terminal on a server that is gone.
_DELETE_TIMEOUT_S = 5.0


class ChatFailed(Exception):
    """The answer was refused, failed or could not be resumed; the message says why."""


class _Dropped(Exception):
    """The connection ended before the answer's ``done`` event."""


@dataclass
class StreamChat:
    """One question to the service at ``base_url`` and its answer (see the module doc)."""

    base_url: str
    prompt: str
    write: Callable[[str], None]
    notice: Callable[[str], None]
    retries: int = 3
    #: The stream's id from the first answer's header (None: the server offers no resume).
    stream_id: str | None = None
    #: The id of the last event printed (None: none yet).
    last_id: str | None = None
    finished: bool = False

    def run(self) -> None:
        """Prints the answer; raises :class:`ChatFailed`, or KeyboardInterrupt after
        stopping the generation on the server."""
        with httpx.Client(timeout=_TIMEOUT) as client:
            try:
                self._answer(client)
            except KeyboardInterrupt:
                self.stop(client)
                raise

    def _answer(self, client: httpx.Client) -> None:
        tries = 0
        while True:
            try:
                with self._open(client, resuming=tries > 0) as response:
                    self._check(response, resuming=tries > 0)
                    if self.stream_id is None:
                        self.stream_id = response.headers.get(STREAM_ID_HEADER)
                    for kind, data in self._new_events(response):
                        tries = 0  # the answer moves again: a later drop gets its own tries
                        if self._print(kind, data):
                            return
                raise _Dropped("the connection closed before the answer was complete")
            except (httpx.TransportError, _Dropped) as error:
                if self.stream_id is None or self.last_id is None or tries >= self.retries:
                    raise ChatFailed(f"the answer did not complete: {error!r}") from None
                tries += 1
                self.notice(
                    f"the connection dropped; resuming after event {self.last_id} "
                    f"(try {tries} of {self.retries})"
                )
                time.sleep(FIRST_WAIT_S * 2 ** (tries - 1))

    def _open(
        self, client: httpx.Client, *, resuming: bool
    ) -> AbstractContextManager[httpx.Response]:
        """The question, or after a drop the rest of its answer (the events after the last
        one printed)."""
        if not resuming:
            return client.stream(
                "POST",
                f"{self.base_url}/streaming",
                json={"request": self.prompt},
                headers={"Accept": "text/event-stream"},
            )
        assert self.stream_id is not None
        assert self.last_id is not None
        return client.stream(
            "GET",
            f"{self.base_url}/streaming/{quote(self.stream_id, safe='')}",
            headers={"Accept": "text/event-stream", "Last-Event-ID": self.last_id},
        )

    def _check(self, response: httpx.Response, *, resuming: bool) -> None:
        if response.status_code == 200:
            return
        response.read()
        message = error_message(response.text, response.status_code)
        if resuming:
            raise ChatFailed(f"the connection dropped and the answer could not resume: {message}")
        raise ChatFailed(message)

    def _new_events(self, response: httpx.Response) -> Iterator[tuple[str, dict[str, object]]]:
        """The events after the last one printed, as (event type, JSON data)."""
        try:
            events = EventSource(response).iter_sse()
            for event in events:
                # A block without data (a heartbeat comment after an id) is no event (HTML's
                # SSE rules); httpx-sse hands it out with the id repeated.
                if not event.data:
                    continue
                if event.id and self.last_id is not None and not _newer(event.id, self.last_id):
                    continue
                if event.id:
                    self.last_id = event.id
                yield event.event, json.loads(event.data)
        except SSEError as error:  # not an event stream at all (a proxy's page)
            raise ChatFailed(f"the server did not answer with events: {error}") from None

    def _print(self, kind: str, data: dict[str, object]) -> bool:
        """Prints one event; True once the answer is complete."""
        if kind == "message" and isinstance(data.get("text"), str):
            self.write(str(data["text"]))
        elif kind == "done":
            self.finished = True
            return True
        elif kind == "error":
            raise ChatFailed(f"the answer failed: {_error_text(data)}")
        return False

    def stop(self, client: httpx.Client) -> None:
        """Ends the generation on the server now (Ctrl-C), if it is still running there."""
        if self.stream_id is None or self.finished:
            return
        with suppress(httpx.HTTPError):  # the server is gone: so is the generation
            client.delete(
                f"{self.base_url}/streaming/{quote(self.stream_id, safe='')}",
                timeout=_DELETE_TIMEOUT_S,
            )


def _newer(event_id: str, last_id: str) -> bool:
    """Event ids increase: one at or before the last printed is a repeat, never printed."""
    if event_id.isdigit() and last_id.isdigit():
        return int(event_id) > int(last_id)
    return event_id != last_id


def error_message(body: str, status: int) -> str:
    """One line for an error answer: streamway's ``{"error": {...}}``, else the body."""
    try:
        error = json.loads(body)["error"]
        return f"{status} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{status}: {body}"


def _error_text(data: dict[str, object]) -> str:
    error = data.get("error")
    if isinstance(error, dict):
        return f"{error.get('code')}: {error.get('message')}"
    return json.dumps(data, ensure_ascii=False)
