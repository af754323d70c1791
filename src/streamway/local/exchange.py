"""One request as the gateway answered it, and the access-log/metering record it becomes.

The request cycle writes it as its steps happen (route, sandbox, invocation, response); the
stream relay reports the response's progress into it through the narrow
:class:`streamway.local.stream_relay.Progress`. At the end :meth:`Exchange.record` gives the
:class:`~streamway.local.metering.RequestRecord` (API Gateway's ``$context`` variables).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from streamway.api.definition import Route
from streamway.aws_contract import LoggedTransferMode, logged_transfer_mode
from streamway.local.metering import RequestRecord


@dataclass
class Exchange:
    request_id: str
    method: str
    #: The path as sent, percent-encoding kept, stage included.
    path: str
    stage: str
    source_ip: str
    #: ``path`` after the stage; None when it is outside the stage.
    path_in_stage: str | None = None
    started: float = field(default_factory=time.perf_counter)
    #: Wall-clock time of arrival (epoch seconds), for the access log's requestTime.
    received_at: float = field(default_factory=time.time)
    resource: str | None = None
    transfer_mode: LoggedTransferMode = "BUFFERED"
    status: int = 0
    bytes_out: int = 0
    #: perf_counter times; None until they happen.
    all_headers_at: float | None = None
    first_content_at: float | None = None
    ended_at: float | None = None
    #: The function's memory size, once the route's function is known.
    memory_mb: int = 0
    cold_start: bool = False
    init_ms: float | None = None
    #: The invocation's Lambda request id: the function logs under it.
    lambda_request_id: str | None = None
    #: From the invocation's start to the relay's end; None when the function never ran.
    function_ms: float | None = None
    #: False when the body did not reach its end (cut, timed out, client gone).
    completed: bool = False
    #: The client has every byte it will get (a HEAD's headers, or Content-Length bytes),
    #: even if the stream's formal end has not been sent yet.
    content_complete: bool = False
    #: The body's length when the headers said it (0 for a HEAD request).
    content_bytes: int | None = None
    error: str | None = None

    def routed(self, route: Route) -> None:
        self.resource = route.resource
        self.transfer_mode = logged_transfer_mode(route.transfer_mode)

    def fail(self, reason: str) -> None:
        """Why the request went wrong; the first reason given is kept."""
        self.error = self.error or reason

    def headers_sent(self, status: int, *, content_bytes: int | None = None) -> None:
        self.status = status
        self.all_headers_at = time.perf_counter()
        self.content_bytes = content_bytes
        self.content_complete = content_bytes == 0

    def content_sent(self, nbytes: int) -> None:
        if nbytes and self.first_content_at is None:
            self.first_content_at = time.perf_counter()
        self.bytes_out += nbytes
        if self.content_bytes is not None and self.bytes_out >= self.content_bytes:
            self.content_complete = True

    def end(self, *, completed: bool, error: str | None = None) -> None:
        self.ended_at = time.perf_counter()
        self.completed = completed
        if error is not None:
            self.fail(error)

    def record(self) -> RequestRecord:
        """What the access log and metering keep of this request."""
        invoked = self.function_ms is not None
        return RequestRecord(
            request_id=self.request_id,
            method=self.method,
            path=self.path if self.path_in_stage is None else self.path_in_stage,
            resource=self.resource or "-",
            stage=self.stage,
            status=self.status,
            transfer_mode=self.transfer_mode,
            bytes_out=self.bytes_out,
            time_to_all_headers_ms=self.time_to_all_headers_ms or 0.0,
            time_to_first_content_ms=self.time_to_first_content_ms,
            latency_ms=self.latency_ms or 0.0,
            # Lambda bills the init phase of a cold start with the invocation.
            function_duration_ms=(self.function_ms or 0.0) + (self.init_ms or 0.0)
            if invoked
            else None,
            memory_mb=self.memory_mb,
            cold_start=self.cold_start,
            source_ip=self.source_ip,
            completed=self.completed,
            request_time=self.received_at,
        )

    def _since_start_ms(self, at: float | None) -> float | None:
        return None if at is None else round((at - self.started) * 1000, 3)

    @property
    def time_to_all_headers_ms(self) -> float | None:
        return self._since_start_ms(self.all_headers_at)

    @property
    def time_to_first_content_ms(self) -> float | None:
        return self._since_start_ms(self.first_content_at)

    @property
    def latency_ms(self) -> float | None:
        return self._since_start_ms(self.ended_at)
