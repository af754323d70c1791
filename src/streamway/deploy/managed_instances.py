"""Lambda Managed Instances for either Lambda stack (``--managed-instances``): the functions
run on a capacity provider, EC2 capacity in the account's VPC that Lambda manages, and each
execution environment takes up to ``max_concurrency`` invocations at once (streamway's
runtime serves them as tasks on one event loop).

The provider is the one ``capacity_provider_arn`` names, or a new one in the given subnets
and security groups (Lambda requires both for a new provider), restricted to the functions'
architecture. CDK's ``CapacityProvider`` creates it with an operator role holding AWS's
``AWSLambdaManagedEC2ResourceOperator`` policy, which Lambda assumes to run the instances.

A function on a provider is invoked through its ``$LATEST.PUBLISHED`` version, which
CloudFormation publishes when it creates the function; the API integrations keep the
unqualified ARN, which Lambda resolves to that version.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_

from streamway.deploy.settings import DeploySettings
from streamway.deploy.stack_parts import architecture


def run_on_capacity_provider(
    stack: Stack, settings: DeploySettings, functions: Sequence[lambda_.Function]
) -> str | None:
    """Puts ``functions`` on the capacity provider when the settings ask for Managed
    Instances; the provider's ARN, or None when they do not."""
    if not settings.managed_instances:
        return None
    arn = settings.capacity_provider_arn or _new_provider(stack, settings).capacity_provider_arn
    config = lambda_.CfnFunction.CapacityProviderConfigProperty(
        lambda_managed_instances_capacity_provider_config=(
            lambda_.CfnFunction.LambdaManagedInstancesCapacityProviderConfigProperty(
                capacity_provider_arn=arn,
                per_execution_environment_max_concurrency=settings.max_concurrency,
            )
        )
    )
    for function in functions:
        # What CapacityProvider.add_function sets, which an imported provider lacks.
        cfn_function = function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.capacity_provider_config = config
    CfnOutput(stack, "CapacityProviderArn", value=arn)
    return arn


def _new_provider(stack: Stack, settings: DeploySettings) -> lambda_.CapacityProvider:
    subnets = [
        ec2.Subnet.from_subnet_id(stack, f"ProviderSubnet{i}", subnet_id)
        for i, subnet_id in enumerate(settings.subnet_ids)
    ]
    groups = [
        ec2.SecurityGroup.from_security_group_id(stack, f"ProviderSecurityGroup{i}", group_id)
        for i, group_id in enumerate(settings.security_group_ids)
    ]
    return lambda_.CapacityProvider(
        stack,
        "CapacityProvider",
        subnets=subnets,
        security_groups=groups,
        # One architecture per provider: the functions' own, so every instance can run them.
        architectures=[architecture(settings)],
    )
