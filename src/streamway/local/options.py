"""``streamway local``'s options: what the CLI reads, in one object passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streamway.aws_contract import (
    API_GATEWAY_MAX_REQUEST_BYTES,
    DEFAULT_APP,
    LAMBDA_MAX_TIMEOUT_S,
    STREAM_IDLE_TIMEOUT_S,
)


@dataclass(frozen=True)
class LocalOptions:
    host: str = "127.0.0.1"
    port: int = 3000
    stage: str = "dev"
    #: The OpenAPI definition; None for streamway's own.
    definition: Path | None = None
    #: The ASGI app both functions serve (``STREAMWAY_APP``).
    app: str = DEFAULT_APP
    #: Sandboxes per function, as a reserved concurrency limit.
    concurrency: int = 2
    memory_mb: int = 1024
    function_timeout_s: float = LAMBDA_MAX_TIMEOUT_S
    #: Overrides the definition's timeoutInMillis of STREAM / BUFFERED routes (tests).
    stream_timeout_s: float | None = None
    buffered_timeout_s: float | None = None
    stream_idle_timeout_s: float = STREAM_IDLE_TIMEOUT_S
    max_request_bytes: int = API_GATEWAY_MAX_REQUEST_BYTES
    #: Bandwidth shaping as on AWS (10 MB free then 2 MB/s; Lambda 6 MB then 2 MBps).
    throttle: bool = False
    api_keys: tuple[str, ...] = ()
    jwks: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    stage_variables: dict[str, str] = field(default_factory=dict)
    #: ``name=value`` overrides of the metering's list prices.
    prices: tuple[str, ...] = ()
    #: Connection limits (STREAMWAY_REQUEST_HEAD_TIMEOUT_S etc., as for `streamway serve`).
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 512
    keep_alive_timeout_s: int = 5
