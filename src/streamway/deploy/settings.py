"""What a deployment is made of, read from ``STREAMWAY_DEPLOY_*`` (and ``STREAMWAY_MODEL``).

The function's model is the service's own ``STREAMWAY_MODEL`` (``bedrock:<id>`` or
``openai:<model>``), so the setting a developer runs with locally is the one deployed.
``local`` is refused: the embedded llama.cpp model does not belong in a Lambda bundle by
default (it needs the ``local`` extra, compiled for the target, and a 98 MB model file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamway.deploy.target import default_bundle_path

Arch = Literal["arm64", "x86_64"]
PythonVersion = Literal["3.11", "3.12", "3.13"]


class LocalModelRefused(ValueError):
    """STREAMWAY_MODEL=local was asked for on AWS."""


class DeploySettings(BaseSettings):
    """Every knob of the stack; field docs double as the reference in docs/deploy.md."""

    # populate_by_name: tests and callers may pass region=, model=... despite the aliases.
    model_config = SettingsConfigDict(
        env_prefix="STREAMWAY_DEPLOY_", extra="ignore", populate_by_name=True
    )

    stack_name: str = Field(default="Streamway", description="The CloudFormation stack name.")
    region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices(
            "STREAMWAY_DEPLOY_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"
        ),
        description="The Region the stack (API, functions, model calls) lives in.",
    )
    account: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STREAMWAY_DEPLOY_ACCOUNT", "CDK_DEFAULT_ACCOUNT"),
        description="The AWS account id; unset, the template stays account-agnostic.",
    )

    # --- the functions ---------------------------------------------------------------------
    runtime: Literal["native", "lwa"] = Field(
        default="native",
        description="`native`: streamway's own Lambda runtime from a zip bundle. `lwa`: the "
        "container image of deploy/lwa/Dockerfile behind Lambda Web Adapter.",
    )
    base: Literal["python", "provided.al2023"] = Field(
        default="python",
        description="For `native`: the managed Python runtime with the exec wrapper, or "
        "`provided.al2023` with `bootstrap` (bring a Python layer, see `provided_python`).",
    )
    provided_python: str = Field(
        default="/opt/python/bin/python3",
        description="On `provided.al2023`: the interpreter your layer ships (STREAMWAY_PYTHON).",
    )
    layers: list[str] = Field(
        default_factory=list, description="Lambda layer ARNs to attach (e.g. a Python layer)."
    )
    python: PythonVersion = Field(default="3.12", description="The Lambda Python version.")
    arch: Arch = Field(default="arm64", description="The Lambda CPU architecture.")
    memory_mb: int = Field(default=1024, ge=128, le=10240, description="Memory per function.")
    timeout_s: int = Field(
        default=900,
        ge=1,
        le=900,
        description="Function timeout; STREAM routes may run up to 15 minutes.",
    )
    bundle: Path | None = Field(
        default=None,
        description="The zip from `streamway package`; default dist/lambda-<python>-<arch>.zip.",
    )
    model: str = Field(
        default="local",
        validation_alias=AliasChoices("STREAMWAY_DEPLOY_MODEL", "STREAMWAY_MODEL"),
        description="The function's STREAMWAY_MODEL: `bedrock:<model id or profile id>` or "
        "`openai:<model>`; `local` is refused.",
    )
    model_regions: list[str] | None = Field(
        default=None,
        description="Regions a cross-Region inference profile routes to (its foundation "
        "model is granted in each); default from the profile's geography prefix.",
    )
    model_arns: list[str] = Field(
        default_factory=list,
        description="Extra Bedrock ARNs to allow (e.g. an application inference profile and "
        "the foundation models behind it).",
    )
    environment: dict[str, str] = Field(
        default_factory=dict,
        description="Extra environment for the functions (e.g. STREAMWAY_MAX_TOKENS).",
    )

    # --- the object store ------------------------------------------------------------------
    bucket: str | None = Field(
        default=None,
        description="An existing bucket downloads come from; unset, the stack creates one.",
    )
    prefix: str = Field(default="", description="The key prefix inside the bucket.")
    uploads: bool = Field(
        default=False,
        description="Serve /uploads (tus resumable uploads into the bucket): the buffered "
        "function gets STREAMWAY_UPLOADS=true and may write under the prefix, and a bucket the "
        "stack creates gets lifecycle rules that abort abandoned multipart uploads.",
    )

    # --- the API ---------------------------------------------------------------------------
    stage_name: str = Field(default="prod", description="The API stage (the URL's first segment).")
    api_key: bool = Field(
        default=False, description="Require an x-api-key, with a usage plan (throttle + quota)."
    )
    throttle_rate: float = Field(default=50, description="Usage plan: requests per second.")
    throttle_burst: int = Field(default=100, description="Usage plan: burst.")
    quota_per_day: int = Field(default=10_000, description="Usage plan: requests per day.")
    cognito: bool = Field(
        default=False, description="Require a Cognito user pool JWT (Authorization header)."
    )
    user_pool_arn: str | None = Field(
        default=None,
        description="With `cognito`: an existing user pool; unset, the stack creates one.",
    )
    waf: bool = Field(
        default=False,
        description="A WAF web ACL on the stage: AWS managed common rules + a per-IP rate limit.",
    )
    waf_rate_limit: int = Field(
        default=1000, ge=10, description="WAF: requests per IP per 5 minutes before blocking."
    )
    access_logs: bool = Field(
        default=True,
        description="JSON access logs with the streaming variables, in a CloudWatch log group.",
    )
    log_retention_days: int = Field(default=30, description="Retention of the log groups.")

    # --- Lambda Managed Instances (deploy/managed_instances.py) ----------------------------
    managed_instances: bool = Field(
        default=False,
        description="Run the functions on a capacity provider (Lambda Managed Instances): EC2 "
        "capacity Lambda manages, several invocations at once per execution environment.",
    )
    max_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=1600,
        description="With managed_instances: the invocations one execution environment runs "
        "at once (PerExecutionEnvironmentMaxConcurrency); unset, Lambda's default.",
    )
    subnet_ids: list[str] = Field(
        default_factory=list,
        description="With managed_instances: the subnets the capacity provider launches its "
        "instances in (1 to 16), as JSON.",
    )
    security_group_ids: list[str] = Field(
        default_factory=list,
        description="With managed_instances: the instances' security groups (1 to 5), as JSON.",
    )
    capacity_provider_arn: str | None = Field(
        default=None,
        description="With managed_instances: an existing capacity provider; unset, the stack "
        "creates one in subnet_ids with security_group_ids.",
    )

    @model_validator(mode="after")
    def _check(self) -> DeploySettings:
        if self.user_pool_arn and not self.cognito:
            raise ValueError("user_pool_arn is set but cognito is off")
        _check_managed_instances(self)
        return self

    @property
    def model_provider(self) -> str:
        return self.model.split(":", 1)[0]

    @property
    def bundle_path(self) -> Path:
        return self.bundle or default_bundle_path(self.python, self.arch)

    def require_remote_model(self) -> None:
        """Refuses ``local``: Lambda runs a hosted model (Bedrock or OpenAI-compatible)."""
        if self.model_provider not in ("bedrock", "openai"):
            raise LocalModelRefused(
                f"STREAMWAY_MODEL={self.model!r} cannot be deployed: the embedded model "
                "(llama.cpp plus a 98 MB GGUF) does not belong in a Lambda bundle. Set "
                "STREAMWAY_MODEL=bedrock:<model-id> (e.g. "
                "bedrock:us.anthropic.claude-haiku-4-5-20251001-v1:0) or openai:<model>."
            )


def _check_managed_instances(settings: DeploySettings) -> None:
    """A capacity provider needs somewhere to run (an existing one, or subnets and security
    groups for a new one, as Lambda requires); its options without it are mistakes."""
    network = settings.subnet_ids or settings.security_group_ids
    if not settings.managed_instances:
        if network or settings.capacity_provider_arn or settings.max_concurrency is not None:
            raise ValueError(
                "max_concurrency, subnet_ids, security_group_ids and capacity_provider_arn "
                "apply only with managed_instances (--managed-instances)"
            )
        return
    if settings.capacity_provider_arn:
        if network:
            raise ValueError(
                "capacity_provider_arn names an existing provider: drop subnet_ids "
                "and security_group_ids, which only a new one takes"
            )
        return
    if not 1 <= len(settings.subnet_ids) <= 16 or not 1 <= len(settings.security_group_ids) <= 5:
        raise ValueError(
            "managed_instances needs a capacity provider: capacity_provider_arn, or 1 to 16 "
            "subnet_ids (--subnet) and 1 to 5 security_group_ids (--security-group)"
        )
