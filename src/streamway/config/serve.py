"""The serve group: how ``streamway serve`` listens, and the limits every request meets.

The head, host and body limits apply wherever the app runs (they are ASGI middleware); the
connection timeouts and cap are uvicorn's, so ``streamway local``'s gateway takes them too.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import NoDecode

from streamway.aws_contract import API_GATEWAY_MAX_REQUEST_BYTES
from streamway.aws_lambda.settings import LoopName, RuntimeSettings
from streamway.config.base import GroupSettings
from streamway.http.head_limits import MAX_HEAD_BYTES, MAX_HEADER_VALUE_BYTES


class ServeSettings(GroupSettings):
    host: str = Field(default="127.0.0.1", description="Interface `streamway serve` binds to.")
    port: int = Field(
        default=8080,
        # LWA reads AWS_LWA_PORT, then PORT; we accept the same names so one env works for both.
        validation_alias=AliasChoices("STREAMWAY_PORT", "AWS_LWA_PORT", "PORT"),
        description="TCP port `streamway serve` listens on.",
    )
    loop: LoopName = Field(
        # The Lambda runtime reads the same variable (aws_lambda/settings.py).
        default=RuntimeSettings.loop,
        description="The event loop of `streamway serve` and of the Lambda runtime: `auto` "
        "takes uvloop when it is installed (as uvicorn does), else asyncio's.",
    )
    max_request_bytes: int = Field(
        default=API_GATEWAY_MAX_REQUEST_BYTES,
        description="Request bodies above this are refused with 413 (API Gateway's own limit).",
    )
    max_header_bytes: int = Field(
        default=MAX_HEADER_VALUE_BYTES,
        gt=0,
        description="A request with a header value longer than this is refused with 431 "
        "(API Gateway's own cap on one header value).",
    )
    max_head_bytes: int = Field(
        default=MAX_HEAD_BYTES,
        gt=0,
        description="A request whose request line and headers together are longer than this "
        "is refused with 431.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=["*"],
        description="Host names the service answers, comma-separated: `api.example.com`, "
        "`*.example.com` (any subdomain), `*` (any host, the default, as Starlette's "
        "TrustedHostMiddleware). Other `Host` headers get 400.",
    )

    # Connections of `streamway serve` and `streamway local` (uvicorn, see http/limits.py).
    request_head_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A connection must send a complete request head within this many seconds "
        "of opening (or of the previous response), else it is closed (408 if a head had begun).",
    )
    request_body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Longest silence while a request body is read before the request is "
        "answered 408 and its connection closed.",
    )
    max_connections: int = Field(
        default=512,
        ge=1,
        description="Connections served at once; a request on one more is answered 503.",
    )
    keep_alive_timeout_s: int = Field(
        default=5, ge=1, description="An idle keep-alive connection is closed after this."
    )
    sse_heartbeat: float = Field(
        default=15.0,
        ge=0,
        description="An SSE answer silent this many seconds gets a comment line, so edges "
        "that cut idle streams (30 s on API Gateway's edge-optimized endpoints) keep it; "
        "0: none.",
    )

    # Resumable SSE answers (service/resumable.py, docs/streaming.md#resume).
    resume_grace: float = Field(
        default=30.0,
        ge=0,
        description="An SSE answer whose client vanished keeps generating this many seconds "
        "into a bounded log, so the client can resume it with `Last-Event-ID`; then it is "
        "cancelled. 0: off (no stream id, the generation stops when the client leaves).",
    )
    resume_stream_max_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Bytes of encoded events one resumable answer keeps; older events are "
        "dropped, and a resume from before them is answered 410 `stream_events_gone`.",
    )
    resume_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Bytes of encoded events all resumable answers keep together; an answer "
        "that takes the total over drops its own oldest events.",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        # `a.example.com,b.example.com` in the environment, as well as a JSON list.
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [host.strip() for host in value.split(",") if host.strip()]
        return value
