"""What ``streamway synth|deploy --target agentcore`` deploys beyond :class:`DeploySettings`,
read from ``STREAMWAY_DEPLOY_AGENTCORE_*``: the artifact (the zip or the container), the
lifecycle, the headers passed to the agent, and the optional JWT authorizer.

The bounds are AgentCore's (the control plane's API reference and the runtime's CloudFormation
schema): lifecycle times 60 to 28800 s on the platform's microVMs, with the idle timeout at
most the maximum lifetime; at most 20 allowlisted headers, none that the platform reserves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamway.deploy.settings import DeploySettings

#: AgentCore's defaults: a session idle for 15 minutes ends; an instance lives 8 hours at most.
DEFAULT_IDLE_TIMEOUT_S = 900
DEFAULT_MAX_LIFETIME_S = 28_800
#: The request headers streamway's service reads that the platform does not send by itself
#: (it sends its session and request id headers, and Accept and Content-Type, which cannot be
#: allowlisted): the caller's request id, which names the request in logs and errors, and
#: Last-Event-ID, with which a client resumes a session's streamed answer (streaming.md).
DEFAULT_REQUEST_HEADERS = ("X-Request-Id", "Last-Event-ID")
#: The platform refuses to pass these on (SigV4's and its own), apart from its custom prefix.
_RESERVED_HEADER = re.compile(r"x-amzn?-(?!bedrock-agentcore-runtime-custom-)", re.IGNORECASE)
_DISCOVERY_URL = re.compile(r"^https://.+/\.well-known/openid-configuration$")


class AgentCoreDeploySettings(BaseSettings):
    """The AgentCore Runtime's own knobs; the Region, account, model, Python, bundle and
    environment come from :class:`DeploySettings` as for Lambda."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMWAY_DEPLOY_AGENTCORE_", extra="ignore", populate_by_name=True
    )

    container: bool = Field(
        default=False,
        description="Deploy the container image of deploy/agentcore/Dockerfile (built at "
        "deploy time, pushed to ECR) instead of the zip of `streamway package`.",
    )
    runtime_name: str | None = Field(
        default=None,
        pattern=r"^[a-zA-Z][a-zA-Z0-9_]{0,47}$",
        description="The agent runtime's name; default: the stack name, `-` made `_`.",
    )
    idle_timeout_s: int = Field(
        default=DEFAULT_IDLE_TIMEOUT_S,
        ge=60,
        le=28_800,
        description="A session idle this long ends (idleRuntimeSessionTimeout); the service's "
        "STREAMWAY_SESSION_IDLE_TIMEOUT_S is set to match.",
    )
    max_lifetime_s: int = Field(
        default=DEFAULT_MAX_LIFETIME_S,
        ge=60,
        le=28_800,
        description="An instance is replaced after this long (maxLifetime).",
    )
    request_headers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REQUEST_HEADERS),
        description="Request headers AgentCore passes to the agent (requestHeaderAllowlist).",
    )
    discovery_url: str | None = Field(
        default=None,
        description="A JWT authorizer: the issuer's OpenID discovery URL, e.g. Cognito's "
        "https://cognito-idp.<region>.amazonaws.com/<pool id>/.well-known/openid-configuration.",
    )
    allowed_clients: list[str] = Field(
        default_factory=list,
        description="With discovery_url: the client ids whose tokens are accepted.",
    )
    allowed_audience: list[str] = Field(
        default_factory=list,
        description="With discovery_url: the audiences (`aud`) whose tokens are accepted.",
    )

    @model_validator(mode="after")
    def _check(self) -> AgentCoreDeploySettings:
        if self.idle_timeout_s > self.max_lifetime_s:
            raise ValueError("idle_timeout_s must not exceed max_lifetime_s")
        _check_headers(self.request_headers)
        if self.discovery_url is None:
            if self.allowed_clients or self.allowed_audience:
                raise ValueError("allowed_clients and allowed_audience need discovery_url")
        elif not _DISCOVERY_URL.match(self.discovery_url):
            raise ValueError(
                "discovery_url is the issuer's https://.../.well-known/openid-configuration"
            )
        elif not (self.allowed_clients or self.allowed_audience):
            # Without either, any token the issuer signs (for any of its clients) gets in.
            raise ValueError("a JWT authorizer needs allowed_clients or allowed_audience")
        return self

    def name_for(self, stack_name: str) -> str:
        """The runtime's name: the setting, else the stack's made valid (letters, digits and
        ``_``, starting with a letter, at most 48 characters)."""
        if self.runtime_name:
            return self.runtime_name
        name = re.sub(r"[^A-Za-z0-9_]", "_", stack_name)
        if not name[:1].isalpha():
            name = f"streamway_{name}"
        return name[:48]


def _check_headers(headers: list[str]) -> None:
    if len(headers) > 20:
        raise ValueError("AgentCore passes at most 20 request headers")
    lowered = [header.lower() for header in headers]
    if len(set(lowered)) != len(lowered):
        raise ValueError("request_headers has a duplicate (header names ignore case)")
    for header in headers:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", header) or _RESERVED_HEADER.match(header):
            raise ValueError(f"AgentCore cannot pass the request header {header!r}")


class NotForAgentCore(ValueError):
    """The request cannot go to AgentCore Runtime as it stands."""


#: AgentCore blocked updates of PYTHON_3_11 (and 3.10) on 2026-08-31: its direct code
#: deployment takes 3.12 and later.
CODE_PYTHONS = ("3.12", "3.13")


def agentcore_for(
    target: str, overrides: Mapping[str, Any], settings: DeploySettings, *, user_app: bool
) -> AgentCoreDeploySettings | None:
    """The AgentCore settings for ``--target agentcore`` (None for Lambda), after the checks
    that need no CDK: streamway's own service only, arm64, a Python AgentCore still runs."""
    if target not in ("lambda", "agentcore"):
        raise NotForAgentCore(f"--target is lambda or agentcore, not {target!r}")
    if target != "agentcore":
        if overrides:
            raise NotForAgentCore(f"{', '.join(overrides)}: only with --target agentcore")
        return None
    found = AgentCoreDeploySettings(**overrides)
    if user_app:
        raise NotForAgentCore(
            "--target agentcore deploys streamway's service: drop --app/--handler"
        )
    check_fit(settings, found)
    return found


def check_fit(settings: DeploySettings, agentcore: AgentCoreDeploySettings) -> None:
    """What AgentCore Runtime cannot run: x86_64, a Python its code deployment dropped, and
    Lambda's capacity providers."""
    if settings.arch != "arm64":
        raise NotForAgentCore("AgentCore Runtime runs arm64 only: drop --arch x86_64")
    if not agentcore.container and settings.python not in CODE_PYTHONS:
        raise NotForAgentCore(
            f"AgentCore's direct code deployment runs Python {' or '.join(CODE_PYTHONS)}, "
            f"not {settings.python}: pass --python 3.12"
        )
    if settings.managed_instances:
        raise NotForAgentCore("--managed-instances is for the Lambda target")
