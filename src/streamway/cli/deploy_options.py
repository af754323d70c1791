"""The options ``synth`` and ``deploy`` share beyond the app's: Lambda Managed Instances, as
overrides of the ``STREAMWAY_DEPLOY_*`` settings they stand for."""

from __future__ import annotations

from typing import Annotated, Any

import typer

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
