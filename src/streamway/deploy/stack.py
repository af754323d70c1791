"""The CDK stack: a Regional REST API imported from streamway's own OpenAPI definition, two
functions (one per invoke mode), least-privilege IAM, and the optional API key, Cognito
authorizer, WAF and access logs.

Why ``SpecRestApi`` over ``LambdaIntegration`` per route: the same document
(src/streamway/api/openapi.yaml) drives ``streamway local``, so a route that streams on a
laptop streams on AWS, with the same ``responseTransferMode``, URI and 900000 ms timeout.

Why two functions: Lambda cannot tell a STREAM integration from a BUFFERED one (the event is
the same) and the runtime's mode is configuration. A STREAM integration needs the streaming
mode (prelude + 8 NULs) and a BUFFERED one needs the proxy JSON, so each mode has its own
function: StreamFunction behind STREAM routes, BufferedFunction behind the others.
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import (
    Aws,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
    Token,
)
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from streamway.api.access_log import ACCESS_LOG_FIELDS
from streamway.api.definition import load_definition, render_openapi
from streamway.aws_contract import InvokeMode
from streamway.deploy.policy import Statement, bedrock_statement, s3_statements
from streamway.deploy.settings import DeploySettings

#: Paths left out of the LWA image's build context (the image copies only pyproject, README
#: and src; the rest would only make the asset hash and upload slower).
IMAGE_EXCLUDES = [".venv", ".git", "cdk.out", "dist", "build", "samples", "artifacts", "tests"]


class StreamwayStack(Stack):
    """Everything ``streamway deploy`` creates, driven by :class:`DeploySettings`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploySettings,
        project_root: Path | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.settings = settings
        settings.require_remote_model()
        self._project_root = project_root
        self.bucket_name, self.prefix = self._object_store()

        self.stream_function = self._function("StreamFunction", "response_stream")
        self.buffered_function = self._function("BufferedFunction", "buffered")
        self._grant()

        self.user_pool = self._user_pool() if settings.cognito else None
        self.api = self._api()
        for function in (self.stream_function, self.buffered_function):
            # Scoped to this API: no other API (or account) may invoke the functions.
            function.add_permission(
                "InvokeByApi",
                principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
                action="lambda:InvokeFunction",
                source_arn=self.api.arn_for_execute_api(),
            )
        if settings.api_key:
            self._usage_plan()
        if settings.waf:
            self._web_acl()
        CfnOutput(self, "InvokeUrl", value=self.api.url, description="The API's stage URL.")
        CfnOutput(self, "BucketName", value=self.bucket_name)

    # --- storage -------------------------------------------------------------------------------

    def _object_store(self) -> tuple[str, str]:
        if self.settings.bucket:
            return self.settings.bucket, self.settings.prefix
        bucket = s3.Bucket(
            self,
            "Objects",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            # The objects are the user's data: deleting the stack must not delete them.
            removal_policy=RemovalPolicy.RETAIN,
        )
        return bucket.bucket_name, self.settings.prefix

    # --- functions -----------------------------------------------------------------------------

    def _function(self, name: str, mode: InvokeMode) -> lambda_.Function:
        settings = self.settings
        environment = {
            **settings.environment,
            "STREAMWAY_MODEL": settings.model,
            "STREAMWAY_STORE_URL": f"s3://{self.bucket_name}/{self.prefix}".rstrip("/"),
            "STREAMWAY_LAMBDA_INVOKE_MODE": mode,
            "STREAMWAY_LOG_LEVEL": settings.environment.get("STREAMWAY_LOG_LEVEL", "INFO"),
        }
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            retention=_retention(settings.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        architecture = (
            lambda_.Architecture.ARM_64 if settings.arch == "arm64" else lambda_.Architecture.X86_64
        )
        common: dict[str, object] = {
            "architecture": architecture,
            "memory_size": settings.memory_mb,
            "timeout": Duration.seconds(settings.timeout_s),
            "log_group": log_group,
            "description": f"streamway ({mode})",
        }
        if settings.runtime == "lwa":
            return self._lwa_function(name, mode, environment, common)
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
            self,
            name,
            runtime=runtime,
            handler=handler,
            code=code,
            environment=environment,
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(self, f"{name}Layer{i}", arn)
                for i, arn in enumerate(settings.layers)
            ],
            **common,  # type: ignore[arg-type]
        )

    def _lwa_function(
        self, name: str, mode: InvokeMode, environment: dict[str, str], common: dict[str, object]
    ) -> lambda_.Function:
        """A container image function running Lambda Web Adapter in front of the app."""
        # LWA reads AWS_LWA_INVOKE_MODE; streamway reads it too, so both agree.
        environment["AWS_LWA_INVOKE_MODE"] = mode
        arm = self.settings.arch == "arm64"
        return lambda_.DockerImageFunction(
            self,
            name,
            code=lambda_.DockerImageCode.from_image_asset(
                str(self._require_project_root()),
                file="deploy/lwa/Dockerfile",
                platform=ecr_assets.Platform.LINUX_ARM64
                if arm
                else ecr_assets.Platform.LINUX_AMD64,
                exclude=IMAGE_EXCLUDES,
            ),
            environment=environment,
            **common,  # type: ignore[arg-type]
        )

    def _require_project_root(self) -> Path:
        if self._project_root is None:
            from streamway.deploy.project import find_project_root

            self._project_root = find_project_root()
        return self._project_root

    def _grant(self) -> None:
        """Each function gets what its routes need: the stream function calls the model and
        reads objects; the buffered one lists objects for the page."""
        read, listing = s3_statements(self.bucket_name, self.prefix)
        stream_needs = [read, listing]
        if self.settings.model_provider == "bedrock":
            stream_needs.append(
                bedrock_statement(
                    self.settings.model.split(":", 1)[1],
                    region=self.region,
                    account=Aws.ACCOUNT_ID if Token.is_unresolved(self.account) else self.account,
                    destinations=self.settings.model_regions,
                    extra_arns=self.settings.model_arns,
                )
            )
        for statement in stream_needs:
            self.stream_function.add_to_role_policy(_policy_statement(statement))
        self.buffered_function.add_to_role_policy(_policy_statement(listing))

    # --- the API -------------------------------------------------------------------------------

    def _user_pool(self) -> cognito.IUserPool:
        if self.settings.user_pool_arn:
            return cognito.UserPool.from_user_pool_arn(self, "Users", self.settings.user_pool_arn)
        pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            removal_policy=RemovalPolicy.RETAIN,
        )
        client = pool.add_client("PageClient", auth_flows=cognito.AuthFlow(user_srp=True))
        CfnOutput(self, "UserPoolId", value=pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=client.user_pool_client_id)
        return pool

    def _api(self) -> apigateway.SpecRestApi:
        settings = self.settings
        document = render_openapi(
            load_definition(),
            function_arn=self.buffered_function.function_arn,
            stream_function_arn=self.stream_function.function_arn,
            region=self.region,
            api_key=settings.api_key,
            authorizer_arns=[self.user_pool.user_pool_arn] if self.user_pool else [],
        )
        stage = apigateway.StageOptions(
            stage_name=settings.stage_name,
            metrics_enabled=True,
            **self._access_logging(),  # type: ignore[arg-type]
        )
        return apigateway.SpecRestApi(
            self,
            "Api",
            rest_api_name=settings.stack_name,
            api_definition=apigateway.ApiDefinition.from_inline(document),
            # Edge-optimized endpoints cut an idle stream after 30 s; Regional ones after 5 min.
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            deploy_options=stage,
            # API Gateway writes logs through an account-wide role; only needed with logs.
            cloud_watch_role=settings.access_logs,
        )

    def _access_logging(self) -> dict[str, object]:
        if not self.settings.access_logs:
            return {}
        group = logs.LogGroup(
            self,
            "AccessLogs",
            retention=_retention(self.settings.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        return {
            "access_log_destination": apigateway.LogGroupLogDestination(group),
            "access_log_format": apigateway.AccessLogFormat.custom(
                json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))
            ),
        }

    def _usage_plan(self) -> None:
        settings = self.settings
        key = self.api.add_api_key("ApiKey")
        plan = self.api.add_usage_plan(
            "UsagePlan",
            throttle=apigateway.ThrottleSettings(
                rate_limit=settings.throttle_rate, burst_limit=settings.throttle_burst
            ),
            quota=apigateway.QuotaSettings(
                limit=settings.quota_per_day, period=apigateway.Period.DAY
            ),
        )
        plan.add_api_stage(stage=self.api.deployment_stage)
        plan.add_api_key(key)
        CfnOutput(
            self,
            "ApiKeyId",
            value=key.key_id,
            description="aws apigateway get-api-key --include-value --api-key <id>",
        )

    def _web_acl(self) -> None:
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
                    limit=self.settings.waf_rate_limit, aggregate_key_type="IP"
                )
            ),
            visibility_config=visibility("rate"),
        )
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=[common, rate],
            visibility_config=visibility("streamway"),
        )
        # The stage ARN refers to the stage resource, so CloudFormation associates the ACL
        # only once the stage exists.
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.api.deployment_stage.stage_arn,
            web_acl_arn=acl.attr_arn,
        )


def _policy_statement(statement: Statement) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=statement.sid,
        actions=list(statement.actions),
        resources=list(statement.resources),
        conditions={key: dict(value) for key, value in statement.conditions.items()} or None,
    )


def _retention(days: int) -> logs.RetentionDays:
    retention = _RETENTION.get(days)
    if retention is None:
        raise ValueError(f"log retention is one of {sorted(_RETENTION)} days, not {days}")
    return retention


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
