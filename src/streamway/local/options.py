"""``streamway local``'s options: what the CLI reads, in one object passed down."""

from __future__ import annotations

from collections.abc import Mapping
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
    #: The OpenAPI definition; None for streamway's own, or the catch-all proxy when an app
    #: or a handler is given (see :attr:`catch_all`).
    definition: Path | None = None
    #: The ASGI app both functions serve (``STREAMWAY_APP``).
    app: str = DEFAULT_APP
    #: A plain handler (``STREAMWAY_HANDLER=module.func``) served instead of :attr:`app`.
    handler: str | None = None
    #: The user named the code to serve (``--app``/``--handler``): without a definition the
    #: API is then the catch-all proxy, not streamway's own routes.
    user_code: bool = False
    #: The catch-all's routes are BUFFERED rather than STREAM.
    buffered: bool = False
    #: The app's directory: what --reload watches, and with user code, first on the
    #: functions' PYTHONPATH.
    source: Path = field(default_factory=Path.cwd)
    #: Set in the functions' environment, over the inherited one (``--env-file``).
    env: Mapping[str, str] = field(default_factory=dict)
    #: Replace the function processes when the app's files change.
    reload: bool = False
    #: Sandboxes per function, as a reserved concurrency limit.
    concurrency: int = 2
    #: Invocations each sandbox serves at once, as on Lambda Managed Instances.
    max_concurrency: int = 1
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
    #: A function URL per function, on ports from :attr:`function_url_port_base` (the
    #: gateway's port + 1 by default); see :mod:`streamway.local.function_url`.
    function_urls: bool = True
    function_url_port_base: int | None = None
    #: NONE or AWS_IAM; None for the definition's (or NONE).
    function_url_auth: str | None = None
    #: The URLs' Cors configuration as JSON text; None for the definition's (or none).
    function_url_cors: str | None = None
    #: ``name=value`` overrides of the metering's list prices.
    prices: tuple[str, ...] = ()
    #: AgentCore's data plane runs `streamway serve` as the agent (``--agentcore``) or
    #: forwards to an AgentCore-contract server at this URL (``--agentcore-url``).
    agentcore: bool = False
    agentcore_url: str | None = None
    #: Connection limits (STREAMWAY_REQUEST_HEAD_TIMEOUT_S etc., as for `streamway serve`).
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 512
    keep_alive_timeout_s: int = 5

    @property
    def catch_all(self) -> bool:
        """Whether the API is the catch-all proxy: user code and no definition."""
        return self.user_code and self.definition is None
