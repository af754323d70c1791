"""What the gateway learns about one request while relaying it: the raw material of the
access log line and of metering (API Gateway's ``$context.integration.*`` variables)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from streamway.aws_contract import LoggedTransferMode as TransferMode


@dataclass
class Exchange:
    request_id: str
    method: str
    path: str
    stage: str
    source_ip: str
    started: float = field(default_factory=time.perf_counter)
    #: Wall-clock time of arrival (epoch seconds), for the access log's requestTime.
    received_at: float = field(default_factory=time.time)
    resource: str | None = None
    transfer_mode: TransferMode = "BUFFERED"
    status: int = 0
    bytes_out: int = 0
    #: perf_counter times; None until they happen.
    all_headers_at: float | None = None
    first_content_at: float | None = None
    ended_at: float | None = None
    function_ms: float | None = None
    memory_mb: int | None = None
    cold_start: bool = False
    #: The invocation's Lambda request id: the function logs under it.
    lambda_request_id: str | None = None
    init_ms: float | None = None
    #: False when the body did not reach its end (cut, timed out, client gone).
    completed: bool = False
    #: The client has every byte it will get (a HEAD's headers, or Content-Length bytes),
    #: even if the stream's formal end has not been sent yet.
    content_complete: bool = False
    error: str | None = None

    def headers_sent(self, status: int) -> None:
        self.status = status
        self.all_headers_at = time.perf_counter()

    def content_sent(self, nbytes: int) -> None:
        if nbytes and self.first_content_at is None:
            self.first_content_at = time.perf_counter()
        self.bytes_out += nbytes

    def end(self, *, completed: bool, error: str | None = None) -> None:
        self.ended_at = time.perf_counter()
        self.completed = completed
        self.error = self.error or error

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
