"""What `streamway local` would have cost on AWS, and API Gateway's access log line per request.

Every request the local gateway answers becomes one :class:`RequestRecord`.
:meth:`Meter.record` writes it as a JSON access-log line and adds it to the running totals;
only the last :data:`RECENT_REQUESTS` records are kept (``recent`` in the summary), so a long
run's memory does not grow with its request count.
The line has the fields and names of the deployed stage's access log (API Gateway's
``$context`` variables, see :data:`ACCESS_LOG_VARIABLES`). :meth:`Meter.summary` prices the
totals with :class:`Prices`.

What it counts (docs/local-metering.md has AWS's sources, and says which are unconfirmed):

* API Gateway (REST): per request; a STREAMED response counts ``ceil(bytes / 10 MB)``, at
  least 1 (docs/aws-behaviour.md §1, Billing), a BUFFERED one 1.
* Lambda: per invocation, plus duration in GB-seconds: the duration rounded up to the
  millisecond, times memory / 1024.
* Lambda response streaming: the bytes past the first 6 MB of each streamed response, per
  GB, at an estimated rate (``--price streamed_bytes_per_gb=...`` overrides it).

Not modelled: free tiers, volume tiers, data transfer out, CloudWatch logs. The estimate
is a list-price upper bound for one Region (us-east-1, x86).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from streamway.api.access_log import ACCESS_LOG_FIELDS, AWS_ONLY_FIELDS
from streamway.aws_contract import LoggedTransferMode as TransferMode
from streamway.aws_contract import MiB as MB

access_log = logging.getLogger("streamway.local.access")

#: API Gateway bills a streamed response as one request per 10 MB started.
BILLING_CHUNK_BYTES = 10 * MB
#: Lambda's streaming charge starts after the first 6 MB of each response.
LAMBDA_STREAMING_FREE_BYTES = 6 * MB
#: AWS prices data per GB, meaning 2**30 bytes.
GB = 1024 * MB
#: How many of the latest requests ``/_local/metering`` lists; older ones live in the totals
#: and the access log only.
RECENT_REQUESTS = 50


@dataclass(frozen=True)
class RequestRecord:
    """One request as the local API Gateway saw it (times in milliseconds)."""

    request_id: str
    method: str
    path: str  # as requested, without the stage
    resource: str  # the matched resource template, e.g. /download/{proxy+}
    stage: str
    status: int
    transfer_mode: TransferMode
    bytes_out: int  # response body bytes sent to the client
    time_to_all_headers_ms: float
    time_to_first_content_ms: float | None  # None: no body byte was sent
    latency_ms: float  # request received to last byte sent
    #: What Lambda bills: the invocation, plus the init phase on a cold start. None means
    #: the function was never invoked, e.g. the gateway refused the request (401/403/404).
    function_duration_ms: float | None
    memory_mb: int
    cold_start: bool
    source_ip: str
    completed: bool  # False when the stream was cut (client gone, timeout, function error)
    #: When the request arrived, Unix seconds (``$context.requestTime``); None if unknown.
    request_time: float | None = None

    @property
    def invoked(self) -> bool:
        return self.function_duration_ms is not None

    @property
    def billed_requests(self) -> int:
        """API Gateway requests this one counts as: one per 10 MB started when streamed."""
        if self.transfer_mode == "BUFFERED":
            return 1
        return max(1, math.ceil(self.bytes_out / BILLING_CHUNK_BYTES))

    @property
    def billed_duration_ms(self) -> int:
        return 0 if self.function_duration_ms is None else math.ceil(self.function_duration_ms)

    @property
    def streamed_bytes_billed(self) -> int:
        """Bytes past Lambda's first 6 MB of a streamed response."""
        if self.transfer_mode != "STREAMED" or not self.invoked:
            return 0
        return max(0, self.bytes_out - LAMBDA_STREAMING_FREE_BYTES)


@dataclass
class Prices:
    """List prices in USD, us-east-1, x86. Any of them can be set with ``name=value``."""

    #: REST APIs, first 333 million requests a month (AWS whitepaper "Best Practices for
    #: Designing Amazon API Gateway Private APIs", cost optimization, Table 4).
    api_gateway_per_million_requests: float = 3.50
    #: x86, first 6 billion GB-seconds a month (aws.amazon.com/lambda/pricing).
    lambda_per_gb_second: float = 0.0000166667
    #: "$0.20 per 1 million requests" (AWS whitepaper "How AWS Pricing Works", Lambda).
    lambda_per_million_requests: float = 0.20
    #: Lambda response streaming, per GB past the first 6 MB of a response. UNCONFIRMED.
    streamed_bytes_per_gb: float = 0.008

    @classmethod
    def from_assignments(cls, assignments: Iterable[str]) -> Prices:
        """Defaults overridden by ``name=value`` strings, as ``--price`` options give them."""
        names = [field.name for field in dataclasses.fields(cls)]
        values: dict[str, float] = {}
        for assignment in assignments:
            name, sep, raw = assignment.partition("=")
            name = name.strip()
            if not sep or name not in names:
                raise ValueError(
                    f"--price takes name=value with a name among {', '.join(names)}; "
                    f"got {assignment!r}"
                )
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"--price {name}: {raw!r} is not a number") from None
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"--price {name}: a price is a finite number >= 0")
            values[name] = value
        return cls(**values)


@dataclass
class _Totals:
    """What the summary needs, added up request by request (integers: exact sums)."""

    requests: int = 0
    requests_billed: int = 0
    requests_incomplete: int = 0
    bytes_out: int = 0
    bytes_streamed: int = 0
    streamed_bytes_billed: int = 0
    invocations: int = 0
    cold_starts: int = 0
    #: Billed milliseconds x memory MB, divided once at the end into GB-seconds.
    billed_mb_ms: int = 0

    def add(self, rec: RequestRecord) -> None:
        self.requests += 1
        self.requests_billed += rec.billed_requests
        self.requests_incomplete += not rec.completed
        self.bytes_out += rec.bytes_out
        if rec.transfer_mode == "STREAMED":
            self.bytes_streamed += rec.bytes_out
        self.streamed_bytes_billed += rec.streamed_bytes_billed
        if rec.invoked:
            self.invocations += 1
            self.cold_starts += rec.cold_start
            self.billed_mb_ms += rec.billed_duration_ms * rec.memory_mb


class Meter:
    """Writes the access log and keeps the totals of one `streamway local` run.

    Totals, not records: a run of millions of requests holds the same few numbers, plus the
    last :data:`RECENT_REQUESTS` records for a look at what just happened.
    """

    def __init__(self, prices: Prices | None = None, *, recent: int = RECENT_REQUESTS) -> None:
        self.prices = prices or Prices()
        self.totals = _Totals()
        self.recent: deque[RequestRecord] = deque(maxlen=recent)

    def record(self, rec: RequestRecord) -> None:
        self.totals.add(rec)
        self.recent.append(rec)
        entry = access_log_entry(rec)
        access_log.info(
            "%s %s %s %d bytes %.1f ms",
            rec.method,
            rec.path,
            rec.status,
            rec.bytes_out,
            rec.latency_ms,
            extra=entry,
        )

    def summary(self) -> dict[str, Any]:
        t = self.totals
        # One division at the end, so the sum is exact rather than accumulated float error.
        gb_seconds = t.billed_mb_ms / (1000 * 1024)
        prices = self.prices
        cost = {
            "api_gateway_requests": t.requests_billed
            * prices.api_gateway_per_million_requests
            / 1e6,
            "lambda_requests": t.invocations * prices.lambda_per_million_requests / 1e6,
            "lambda_duration": gb_seconds * prices.lambda_per_gb_second,
            "lambda_streamed_bytes": t.streamed_bytes_billed / GB * prices.streamed_bytes_per_gb,
        }
        cost["total"] = sum(cost.values())
        return {
            "requests": t.requests,
            "requests_billed": t.requests_billed,
            "requests_incomplete": t.requests_incomplete,
            "bytes_out": t.bytes_out,
            "bytes_streamed": t.bytes_streamed,
            "streamed_bytes_billed": t.streamed_bytes_billed,
            "invocations": t.invocations,
            "cold_starts": t.cold_starts,
            "lambda_gb_seconds": gb_seconds,
            "estimated_cost_usd": cost,
            "prices": dataclasses.asdict(prices),
            # Newest last, as the access log writes them.
            "recent": [access_log_entry(rec) for rec in self.recent],
        }

    def summary_text(self) -> str:
        """The summary for a person, printed when `streamway local` exits."""
        s = self.summary()
        p = self.prices
        cost = s["estimated_cost_usd"]
        lines = [
            f"{s['requests']} requests ({s['requests_billed']} billed by API Gateway, "
            f"{s['requests_incomplete']} incomplete), {s['invocations']} Lambda invocations "
            f"({s['cold_starts']} cold), {s['bytes_streamed'] / MB:.1f} MiB streamed",
            "Estimated AWS cost (list prices, us-east-1 x86, no free tier):",
            _cost_line(
                "API Gateway requests",
                f"{s['requests_billed']} x ${_rate(p.api_gateway_per_million_requests)}/M",
                cost["api_gateway_requests"],
            ),
            _cost_line(
                "Lambda requests",
                f"{s['invocations']} x ${_rate(p.lambda_per_million_requests)}/M",
                cost["lambda_requests"],
            ),
            _cost_line(
                "Lambda duration",
                f"{s['lambda_gb_seconds']:.3f} GB-s x ${_rate(p.lambda_per_gb_second)}",
                cost["lambda_duration"],
            ),
            _cost_line(
                "Lambda streamed bytes",
                f"{s['streamed_bytes_billed'] / GB:.4f} GB x ${_rate(p.streamed_bytes_per_gb)}/GB",
                cost["lambda_streamed_bytes"],
            ),
            _cost_line("total", "", cost["total"]),
        ]
        return "\n".join(lines)


def _rate(usd: float) -> str:
    # Plain decimals: "$0.0000166667", not "$1.66667e-05".
    return f"{usd:.10f}".rstrip("0").rstrip(".")


def _cost_line(label: str, basis: str, usd: float) -> str:
    return f"  {label:<22} {basis:<36} ${usd:.6f}"


#: The access-log fields API Gateway fills in, under the names the deployed stage's log uses
#: (streamway.api.access_log), less the ones only AWS can know.
ACCESS_LOG_VARIABLES = {
    name: variable for name, variable in ACCESS_LOG_FIELDS.items() if name not in AWS_ONLY_FIELDS
}


def access_log_entry(rec: RequestRecord) -> dict[str, Any]:
    """One access-log line's fields: API Gateway's, then streamway's own (``streamway.*``).

    API Gateway's fields are written the way API Gateway substitutes ``$context``
    variables into the deploy stack's JSON format: every value a string, and ``-`` for an
    empty one. Locally the gateway adds no time of its own, so ``responseLatency`` and
    ``integrationLatency`` are the same number.
    """
    gateway: dict[str, object] = {
        "requestId": rec.request_id,
        "ip": rec.source_ip,
        "requestTime": None if rec.request_time is None else _clf_time(rec.request_time),
        "httpMethod": rec.method,
        "resourcePath": rec.resource,
        "status": rec.status,
        "responseLength": rec.bytes_out,
        "responseLatency": round(rec.latency_ms),
        "responseTransferMode": rec.transfer_mode,
        "timeToAllHeaders": round(rec.time_to_all_headers_ms),
        "timeToFirstContent": (
            None if rec.time_to_first_content_ms is None else round(rec.time_to_first_content_ms)
        ),
        "integrationLatency": round(rec.latency_ms),
    }
    entry: dict[str, Any] = {
        name: "-" if value is None else str(value) for name, value in gateway.items()
    }
    entry.update(
        {
            "streamway.path": f"/{rec.stage}{rec.path}",
            "streamway.stage": rec.stage,
            "streamway.billedRequests": rec.billed_requests,
            "streamway.functionDurationMs": rec.function_duration_ms,
            "streamway.memoryMb": rec.memory_mb,
            "streamway.coldStart": rec.cold_start,
            "streamway.completed": rec.completed,
        }
    )
    return entry


def _clf_time(epoch_s: float) -> str:
    """``$context.requestTime``: "CLF-formatted request time (dd/MMM/yyyy:HH:mm:ss +-hhmm)"."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_s))
