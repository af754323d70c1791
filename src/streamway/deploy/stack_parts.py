"""The constructs both stacks are built from: streamway's own (stack.py) and a user's app's
(app_stack.py). Each takes the stack it adds to and the :class:`DeploySettings`, so the two
stacks get the same function runtime, stage, API key, Cognito, WAF and access logs.
"""

from __future__ import annotations

import json

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2

from streamway.api.access_log import ACCESS_LOG_FIELDS
from streamway.deploy.policy import Statement
from streamway.deploy.settings import DeploySettings

# --- functions ---------------------------------------------------------------------------------


def function_options(
    stack: Stack, name: str, settings: DeploySettings, description: str
) -> dict[str, object]:
    """What every function of either runtime shares: CPU, memory, timeout and its log group."""
    log_group = logs.LogGroup(
        stack,
        f"{name}Logs",
        retention=retention(settings.log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    return {
        "architecture": architecture(settings),
        "memory_size": settings.memory_mb,
        "timeout": Duration.seconds(settings.timeout_s),
        "log_group": log_group,
        "description": description,
    }


def architecture(settings: DeploySettings) -> lambda_.Architecture:
    return lambda_.Architecture.ARM_64 if settings.arch == "arm64" else lambda_.Architecture.X86_64


def native_function(
    stack: Stack,
    name: str,
    settings: DeploySettings,
    environment: dict[str, str],
    options: dict[str, object],
) -> lambda_.Function:
    """A function running streamway's native runtime from the zip at ``settings.bundle_path``."""
    environment = dict(environment)
    code = lambda_.Code.from_asset(str(settings.bundle_path))
    if settings.base == "provided.al2023":
        environment["STREAMWAY_PYTHON"] = settings.provided_python
        runtime = lambda_.Runtime.PROVIDED_AL2023
        handler = "bootstrap"
    else:
        # The managed runtime starts the exec wrapper, which swaps its (non-streaming)
        # runtime for streamway's on the same interpreter; the handler is never called.
        environment["AWS_LAMBDA_EXEC_WRAPPER"] = "/var/task/exec-wrapper"
        runtime = lambda_.Runtime(f"python{settings.python}", lambda_.RuntimeFamily.PYTHON)
        handler = "streamway.aws_lambda.runtime.unused"
    return lambda_.Function(
        stack,
        name,
        runtime=runtime,
        handler=handler,
        code=code,
        environment=environment,
        layers=[
            lambda_.LayerVersion.from_layer_version_arn(stack, f"{name}Layer{i}", arn)
            for i, arn in enumerate(settings.layers)
        ],
        **options,  # type: ignore[arg-type]
    )


def policy_statement(statement: Statement) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=statement.sid,
        effect=iam.Effect.DENY if statement.effect == "Deny" else iam.Effect.ALLOW,
        actions=list(statement.actions),
        resources=list(statement.resources),
        conditions={key: dict(value) for key, value in statement.conditions.items()} or None,
    )


# --- the REST API ------------------------------------------------------------------------------


def rest_api_options(stack: Stack, settings: DeploySettings) -> dict[str, object]:
    """The options of either stack's ``RestApi``/``SpecRestApi``: name, endpoint and stage."""
    stage = apigateway.StageOptions(
        stage_name=settings.stage_name,
        metrics_enabled=True,
        **_access_logging(stack, settings),  # type: ignore[arg-type]
    )
    return {
        "rest_api_name": settings.stack_name,
        # Edge-optimized endpoints cut an idle stream after 30 s; Regional ones after 5 min.
        "endpoint_types": [apigateway.EndpointType.REGIONAL],
        "deploy_options": stage,
        # API Gateway writes logs through an account-wide role; only needed with logs.
        "cloud_watch_role": settings.access_logs,
    }


def _access_logging(stack: Stack, settings: DeploySettings) -> dict[str, object]:
    if not settings.access_logs:
        return {}
    group = logs.LogGroup(
        stack,
        "AccessLogs",
        retention=retention(settings.log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    return {
        "access_log_destination": apigateway.LogGroupLogDestination(group),
        "access_log_format": apigateway.AccessLogFormat.custom(
            json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))
        ),
    }


def user_pool(stack: Stack, settings: DeploySettings) -> cognito.IUserPool:
    """The Cognito pool the authorizer trusts: the one named by the settings, else a new one."""
    if settings.user_pool_arn:
        return cognito.UserPool.from_user_pool_arn(stack, "Users", settings.user_pool_arn)
    pool = cognito.UserPool(
        stack,
        "Users",
        self_sign_up_enabled=False,
        sign_in_aliases=cognito.SignInAliases(email=True),
        removal_policy=RemovalPolicy.RETAIN,
    )
    client = pool.add_client("PageClient", auth_flows=cognito.AuthFlow(user_srp=True))
    CfnOutput(stack, "UserPoolId", value=pool.user_pool_id)
    CfnOutput(stack, "UserPoolClientId", value=client.user_pool_client_id)
    return pool


def usage_plan(stack: Stack, api: apigateway.RestApiBase, settings: DeploySettings) -> None:
    """An API key and the usage plan (throttle + daily quota) it belongs to, on the stage."""
    key = api.add_api_key("ApiKey")
    plan = api.add_usage_plan(
        "UsagePlan",
        throttle=apigateway.ThrottleSettings(
            rate_limit=settings.throttle_rate, burst_limit=settings.throttle_burst
        ),
        quota=apigateway.QuotaSettings(limit=settings.quota_per_day, period=apigateway.Period.DAY),
    )
    plan.add_api_stage(stage=api.deployment_stage)
    plan.add_api_key(key)
    CfnOutput(
        stack,
        "ApiKeyId",
        value=key.key_id,
        description="aws apigateway get-api-key --include-value --api-key <id>",
    )


def web_acl(stack: Stack, api: apigateway.RestApiBase, settings: DeploySettings) -> None:
    """A REGIONAL web ACL on the stage: AWS's common rule set and a per-IP rate limit."""

    def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True,
            metric_name=name,
            sampled_requests_enabled=True,
        )

    common = wafv2.CfnWebACL.RuleProperty(
        name="AWSManagedRulesCommonRuleSet",
        priority=0,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS",
                name="AWSManagedRulesCommonRuleSet",
                # The set blocks bodies over 8 KB; a prompt may be 16,000 characters
                # (STREAMWAY_MAX_PROMPT_CHARS), which the app itself limits.
                rule_action_overrides=[
                    wafv2.CfnWebACL.RuleActionOverrideProperty(
                        name="SizeRestrictions_BODY",
                        action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={}),
                    )
                ],
            )
        ),
        visibility_config=visibility("common"),
    )
    rate = wafv2.CfnWebACL.RuleProperty(
        name="RateLimitPerIp",
        priority=1,
        action=wafv2.CfnWebACL.RuleActionProperty(block={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                limit=settings.waf_rate_limit, aggregate_key_type="IP"
            )
        ),
        visibility_config=visibility("rate"),
    )
    acl = wafv2.CfnWebACL(
        stack,
        "WebAcl",
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        rules=[common, rate],
        visibility_config=visibility("streamway"),
    )
    # The stage ARN refers to the stage resource, so CloudFormation associates the ACL
    # only once the stage exists.
    wafv2.CfnWebACLAssociation(
        stack,
        "WebAclAssociation",
        resource_arn=api.deployment_stage.stage_arn,
        web_acl_arn=acl.attr_arn,
    )


def retention(days: int) -> logs.RetentionDays:
    found = _RETENTION.get(days)
    if found is None:
        raise ValueError(f"log retention is one of {sorted(_RETENTION)} days, not {days}")
    return found


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
