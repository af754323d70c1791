"""The observability group: the shape and level of logs, and which metrics are written.

Traces are configured by OpenTelemetry's own ``OTEL_*`` variables, not here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from streamway.config.base import GroupSettings


class ObservabilitySettings(GroupSettings):
    # The Lambda runtime reads these two variables as well, without validating them
    # (aws_lambda/settings.py); tests/aws_lambda/test_settings.py keeps both readings in step.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
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
