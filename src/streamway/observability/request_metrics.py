"""The per-request record: what a request cost and how it ended, read by every signal.

The middleware opens one record per request and puts it in a context variable; the agent's
stream (``service/answer_response.py``) marks the first token, the pieces and the final usage
on it; when the request ends the middleware closes it and hands it to the sinks (EMF lines,
Prometheus) and to the request's span. The ``done`` event's timings that the page shows are
computed by the same record, so the page, the metrics and the traces agree.

Bounded by construction: a fixed set of numbers per request, nothing that grows with the
answer.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

Outcome = Literal["complete", "cancelled", "failed", "cut"]

#: HTTP methods kept as they are in labels and dimensions; anything else is ``OTHER``, so a
#: client inventing methods cannot create new time series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WS"})
#: The route of a request that matched none (404s, scanners): one value, not the raw path.
UNMATCHED_ROUTE = "unmatched"


@dataclass(slots=True)
class RequestMetrics:
    """One request's figures. Times are ``time.perf_counter()`` values."""

    method: str = "GET"
    route: str = UNMATCHED_ROUTE
    started: float = field(default_factory=time.perf_counter)
    status: int = 0
    bytes: int = 0
    first_byte_at: float | None = None
    #: The agent's first event (a piece of text, or an empty answer's end).
    first_token_at: float | None = None
    #: Pieces of text streamed; the output token count while an answer is unfinished.
    pieces: int = 0
    #: The model's own count, once the answer finished.
    usage_output_tokens: int | None = None
    finished_at: float | None = None
    ended_at: float | None = None
    #: Set by whoever knows better than the HTTP exchange (a client that left, a model that
    #: failed inside a complete SSE body); the middleware decides otherwise.
    outcome_hint: Outcome | None = None
    outcome: Outcome = "complete"

    @property
    def method_label(self) -> str:
        return self.method if self.method in KNOWN_METHODS else "OTHER"

    # --- marks -----------------------------------------------------------------------

    def sent(self, nbytes: int) -> None:
        if nbytes and self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()
        self.bytes += nbytes

    def first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def piece(self) -> None:
        self.pieces += 1

    def answer_finished(self, output_tokens: int) -> None:
        self.usage_output_tokens = output_tokens
        self.finished_at = time.perf_counter()

    def end(self, status: int, *, completed: bool, raised: bool) -> None:
        """Closes the record: ``completed`` when the body reached its end, ``raised`` when the
        app raised. The outcome: a hint wins; else an exception after the status is a cut
        stream and before it a failure; a body that never ended was abandoned by its client;
        a 5xx failed; everything else is complete."""
        self.status = status
        self.ended_at = time.perf_counter()
        if self.outcome_hint is not None:
            self.outcome = self.outcome_hint
        elif raised:
            self.outcome = "cut" if status else "failed"
        elif not completed:
            self.outcome = "cancelled"
        elif status >= 500:
            self.outcome = "failed"
        else:
            self.outcome = "complete"

    # --- figures ---------------------------------------------------------------------

    @property
    def agent(self) -> bool:
        """Whether an agent answered (the token figures mean something)."""
        return self.first_token_at is not None

    @property
    def output_tokens(self) -> int:
        return self.usage_output_tokens if self.usage_output_tokens is not None else self.pieces

    @property
    def time_to_first_token_ms(self) -> float | None:
        return _ms(self.started, self.first_token_at)

    @property
    def time_to_first_byte_ms(self) -> float | None:
        return _ms(self.started, self.first_byte_at)

    @property
    def duration_ms(self) -> float | None:
        return _ms(self.started, self.ended_at)

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens over the time from the first token to the answer's end (the page's
        figure): generation speed, without the wait for a slot or the prompt's processing."""
        if self.first_token_at is None:
            return None
        end = self.finished_at or self.ended_at
        if end is None or end <= self.first_token_at or self.output_tokens == 0:
            return None
        return round(self.output_tokens / (end - self.first_token_at), 2)

    def timings(self) -> dict[str, float | None]:
        """The ``done`` event's timings, at the moment the answer finished."""
        end = self.finished_at or time.perf_counter()
        return {
            "time_to_first_token_ms": self.time_to_first_token_ms,
            "total_time_ms": _ms(self.started, end),
            "tokens_per_second": self.tokens_per_second,
        }


def _ms(start: float, end: float | None) -> float | None:
    return None if end is None else round((end - start) * 1000, 2)


current_request: contextvars.ContextVar[RequestMetrics | None] = contextvars.ContextVar(
    "streamway_request_metrics", default=None
)


class MetricsSink(Protocol):
    """Where closed records go: EMF lines, Prometheus. Called once per request, inline, so
    it must be quick and must not raise."""

    def record(self, metrics: RequestMetrics, request_id: str) -> None: ...
