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

import math
from pathlib import Path

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from streamway.api.definition import load_definition, render_openapi
from streamway.aws_contract import InvokeMode
from streamway.deploy.managed_instances import run_on_capacity_provider
from streamway.deploy.policy import bedrock_statement, s3_statements, upload_statement
from streamway.deploy.settings import DeploySettings
from streamway.deploy.stack_parts import (
    function_options,
    native_function,
    policy_statement,
    rest_api_options,
    usage_plan,
    user_pool,
    web_acl,
)

#: Paths left out of the LWA image's build context (the image copies only pyproject, README
#: and src; the rest would only make the asset hash and upload slower).
# Tool caches too: they change while a checkout is in use (a mypy run during a synth changed
# the image's hash mid-way), and the image does not need them.
IMAGE_EXCLUDES = [
    *(".venv", ".git", "cdk.out", "dist", "build", "samples", "artifacts", "tests"),
    *(".mypy_cache", ".ruff_cache", ".pytest_cache", "**/__pycache__"),
]


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
        run_on_capacity_provider(self, settings, [self.stream_function, self.buffered_function])

        self.user_pool = user_pool(self, settings) if settings.cognito else None
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
            usage_plan(self, self.api, settings)
        if settings.waf:
            web_acl(self, self.api, settings)
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
            lifecycle_rules=self._upload_lifecycle() if self.settings.uploads else None,
        )
        return bucket.bucket_name, self.settings.prefix

    def _upload_lifecycle(self) -> list[s3.LifecycleRule]:
        """S3's own clean-up of uploads whose process died before it could abort them.

        The service aborts expired uploads itself (storage/s3_uploads.py, every 10 minutes
        and at start-up); these rules catch what a crash left: parts of a multipart upload
        never completed nor aborted (billed until aborted), and the state and tail objects
        under ``.uploads/``. They wait a day past the uploads' expiry, so they never cut
        short an upload that is still allowed to finish.
        """
        expiry_s = float(self.settings.environment.get("STREAMWAY_UPLOAD_EXPIRY", 86_400))
        days = Duration.days(math.ceil(expiry_s / 86_400) + 1)
        folder = self.settings.prefix.strip("/") + "/" if self.settings.prefix.strip("/") else ""
        return [
            s3.LifecycleRule(
                id="AbortIncompleteUploads",
                prefix=folder or None,
                abort_incomplete_multipart_upload_after=days,
            ),
            s3.LifecycleRule(id="ExpireUploadState", prefix=f"{folder}.uploads/", expiration=days),
        ]

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
        if settings.uploads and mode == "buffered":  # /uploads is BUFFERED (openapi.yaml)
            environment["STREAMWAY_UPLOADS"] = "true"
        options = function_options(self, name, settings, f"streamway ({mode})")
        if settings.runtime == "lwa":
            return self._lwa_function(name, mode, environment, options)
        return native_function(self, name, settings, environment, options)

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
        reads objects; the buffered one lists objects for the page, and writes uploads when
        they are on."""
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
            self.stream_function.add_to_role_policy(policy_statement(statement))
        self.buffered_function.add_to_role_policy(policy_statement(listing))
        if self.settings.uploads:
            self.buffered_function.add_to_role_policy(
                policy_statement(upload_statement(self.bucket_name, self.prefix))
            )

    # --- the API -------------------------------------------------------------------------------

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
        return apigateway.SpecRestApi(
            self,
            "Api",
            api_definition=apigateway.ApiDefinition.from_inline(document),
            **rest_api_options(self, settings),  # type: ignore[arg-type]
        )
