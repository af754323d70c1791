"""The options ``synth`` and ``deploy`` share beyond the app's: Lambda Managed Instances and
the AgentCore target, as overrides of the ``STREAMWAY_DEPLOY_*`` settings they stand for."""

from __future__ import annotations

from typing import Annotated, Any

import typer

#: The end of synth's help: what these options deploy.
TARGETS_HELP = (
    "With --managed-instances: the functions on a capacity provider (Lambda Managed "
    "Instances) in the --subnet and --security-group given, each execution environment "
    "running up to --max-concurrency invocations at once."
    "\n\n"
    "With --target agentcore: streamway's service as an Amazon Bedrock AgentCore Runtime "
    "instead (arm64; the zip of `streamway package` for Python 3.12+, or with --container the "
    "image of deploy/agentcore/Dockerfile), its execution role limited to the configured "
    "model, its logs and traces, the lifecycle of --idle-timeout and --max-lifetime, and with "
    "--discovery-url a JWT authorizer; output AgentRuntimeArn. See docs/agentcore.md."
)

ManagedInstances = Annotated[
    bool,
    typer.Option(
        "--managed-instances",
        help="Run the functions on a capacity provider (Lambda Managed Instances): needs "
        "--subnet and --security-group, or STREAMWAY_DEPLOY_CAPACITY_PROVIDER_ARN.",
    ),
]
MaxConcurrency = Annotated[
    int | None,
    typer.Option(
        "--max-concurrency",
        help="With --managed-instances: invocations per execution environment at once "
        "(STREAMWAY_DEPLOY_MAX_CONCURRENCY). \\[default: Lambda's]",
    ),
]
Subnet = Annotated[
    list[str] | None,
    typer.Option(
        "--subnet", help="With --managed-instances: a subnet id for the instances (repeat)."
    ),
]
SecurityGroup = Annotated[
    list[str] | None,
    typer.Option(
        "--security-group",
        help="With --managed-instances: a security group id for the instances (repeat).",
    ),
]


def managed_instance_overrides(
    *,
    managed_instances: bool,
    max_concurrency: int | None,
    subnet: list[str] | None,
    security_group: list[str] | None,
) -> dict[str, Any]:
    """The settings the options set; an option left out leaves its variable in charge."""
    overrides: dict[str, Any] = {"managed_instances": True} if managed_instances else {}
    if max_concurrency is not None:
        overrides["max_concurrency"] = max_concurrency
    if subnet:
        overrides["subnet_ids"] = subnet
    if security_group:
        overrides["security_group_ids"] = security_group
    return overrides


# --- --target agentcore ------------------------------------------------------------------------

Target = Annotated[
    str,
    typer.Option(
        "--target",
        help="lambda: API Gateway in front of Lambda functions. agentcore: an Amazon Bedrock "
        "AgentCore Runtime serving /invocations, /ping and /ws (docs/agentcore.md).",
    ),
]
Container = Annotated[
    bool,
    typer.Option(
        "--container",
        help="With --target agentcore: the image of deploy/agentcore/Dockerfile (built by "
        "Docker at deploy time) instead of the zip of `streamway package`.",
    ),
]
IdleTimeout = Annotated[
    int | None,
    typer.Option(
        "--idle-timeout",
        help="With --target agentcore: seconds before an idle session ends (60-28800). "
        "\\[default: 900]",
    ),
]
MaxLifetime = Annotated[
    int | None,
    typer.Option(
        "--max-lifetime",
        help="With --target agentcore: seconds before an instance is replaced (60-28800). "
        "\\[default: 28800]",
    ),
]
DiscoveryUrl = Annotated[
    str | None,
    typer.Option(
        "--discovery-url",
        help="With --target agentcore: accept JWTs of this OpenID issuer (e.g. a Cognito "
        "pool's .../.well-known/openid-configuration) instead of IAM; needs --allowed-client.",
    ),
]
AllowedClient = Annotated[
    list[str] | None,
    typer.Option(
        "--allowed-client", help="With --discovery-url: a client id whose tokens pass (repeat)."
    ),
]


def agentcore_overrides(
    *,
    container: bool,
    idle_timeout: int | None,
    max_lifetime: int | None,
    discovery_url: str | None,
    allowed_client: list[str] | None,
) -> dict[str, Any]:
    """The AgentCore settings the options set (STREAMWAY_DEPLOY_AGENTCORE_* for the rest)."""
    given = {
        "container": container or None,
        "idle_timeout_s": idle_timeout,
        "max_lifetime_s": max_lifetime,
        "discovery_url": discovery_url,
        "allowed_clients": allowed_client or None,
    }
    return {name: value for name, value in given.items() if value is not None}
