"""The CDK stack of ``streamway synth|deploy --target agentcore``: streamway's service as an
Amazon Bedrock AgentCore Runtime (``AWS::BedrockAgentCore::Runtime``, aws-cdk-lib's L1
``CfnRuntime``), serving ``/invocations``, ``/ping`` and ``/ws`` on port 8080.

The artifact is either
- **the zip** of ``streamway package`` (direct code deployment), uploaded as a file asset:
  AgentCore runs ``python streamway_agentcore.py`` from its root on the managed
  ``PYTHON_3_X`` runtime (Amazon Linux 2023, arm64), which starts ``streamway serve`` on
  0.0.0.0:8080; or
- **the container** of ``deploy/agentcore/Dockerfile`` (``--container``), an ECR image asset
  that CDK builds for linux/arm64 and pushes at deploy time.

AgentCore runs ARM64 only, so ``--arch x86_64`` is refused (:func:`.check_fit`). Network
mode is PUBLIC and the protocol HTTP. The runtime's role is :mod:`.agentcore_role`; its ARN
is the ``AgentRuntimeArn`` output, which ``streamway chat --agentcore ARN`` and boto3's
``invoke_agent_runtime`` take.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_bedrockagentcore as bedrockagentcore
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from streamway.deploy.agentcore_role import execution_role
from streamway.deploy.agentcore_settings import AgentCoreDeploySettings, check_fit
from streamway.deploy.package import AGENTCORE_ENTRY
from streamway.deploy.settings import DeploySettings
from streamway.deploy.stack import IMAGE_EXCLUDES

DOCKERFILE = "deploy/agentcore/Dockerfile"
#: Where the zip's service keeps conversations: the code's directory is read-only there.
SESSIONS_DIR = "/tmp/streamway-sessions"


class AgentCoreStack(Stack):
    """Everything ``streamway deploy --target agentcore`` creates."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploySettings,
        agentcore: AgentCoreDeploySettings,
        project_root: Path | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        settings.require_remote_model()
        check_fit(settings, agentcore)
        self.settings = settings
        self.agentcore = agentcore
        self._project_root = project_root
        self.runtime_name = agentcore.name_for(settings.stack_name)
        self.role = execution_role(self, settings, self.runtime_name)
        artifact = self._container() if agentcore.container else self._code()
        self.runtime = bedrockagentcore.CfnRuntime(
            self,
            "Runtime",
            agent_runtime_name=self.runtime_name,
            agent_runtime_artifact=artifact,
            role_arn=self.role.role_arn,
            description="streamway: /invocations, /ping and /ws on port 8080",
            environment_variables=self._environment(),
            network_configuration=bedrockagentcore.CfnRuntime.NetworkConfigurationProperty(
                network_mode="PUBLIC"
            ),
            protocol_configuration="HTTP",
            lifecycle_configuration=bedrockagentcore.CfnRuntime.LifecycleConfigurationProperty(
                idle_runtime_session_timeout=agentcore.idle_timeout_s,
                max_lifetime=agentcore.max_lifetime_s,
            ),
            request_header_configuration=bedrockagentcore.CfnRuntime.RequestHeaderConfigurationProperty(
                request_header_allowlist=agentcore.request_headers
            ),
            authorizer_configuration=self._authorizer(),
        )
        # AgentCore checks the role (its ECR pull, for a container) when it creates the
        # runtime, so the role's policy must exist first, not only the role.
        self.runtime.node.add_dependency(self.role)
        CfnOutput(
            self,
            "AgentRuntimeArn",
            value=self.runtime.attr_agent_runtime_arn,
            description="streamway chat --agentcore <arn>; boto3 invoke_agent_runtime",
        )

    def _code(self) -> bedrockagentcore.CfnRuntime.AgentRuntimeArtifactProperty:
        """The zip of ``streamway package``, uploaded as is; the role may read that object."""
        asset = s3_assets.Asset(self, "Code", path=str(self.settings.bundle_path))
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadCode",
                actions=["s3:GetObject"],
                resources=[f"arn:aws:s3:::{asset.s3_bucket_name}/{asset.s3_object_key}"],
            )
        )
        return bedrockagentcore.CfnRuntime.AgentRuntimeArtifactProperty(
            code_configuration=bedrockagentcore.CfnRuntime.CodeConfigurationProperty(
                code=bedrockagentcore.CfnRuntime.CodeProperty(
                    s3=bedrockagentcore.CfnRuntime.S3LocationProperty(
                        bucket=asset.s3_bucket_name, prefix=asset.s3_object_key
                    )
                ),
                entry_point=[AGENTCORE_ENTRY],
                runtime="PYTHON_" + self.settings.python.replace(".", "_"),
            )
        )

    def _container(self) -> bedrockagentcore.CfnRuntime.AgentRuntimeArtifactProperty:
        """The image of deploy/agentcore/Dockerfile; the role may pull it (and only it)."""
        if self._project_root is None:
            from streamway.deploy.project import find_project_root

            self._project_root = find_project_root()
        image = ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(self._project_root),
            file=DOCKERFILE,
            platform=ecr_assets.Platform.LINUX_ARM64,
            exclude=IMAGE_EXCLUDES,
        )
        # The layers of this repository, and the registry's login token, which IAM grants
        # on "*" only.
        image.repository.grant_pull(self.role)
        return bedrockagentcore.CfnRuntime.AgentRuntimeArtifactProperty(
            container_configuration=bedrockagentcore.CfnRuntime.ContainerConfigurationProperty(
                container_uri=image.image_uri
            )
        )

    def _environment(self) -> dict[str, str]:
        environment = {
            **self.settings.environment,
            "STREAMWAY_MODEL": self.settings.model,
            # The service ends a conversation when AgentCore ends its session.
            "STREAMWAY_SESSION_IDLE_TIMEOUT_S": str(self.agentcore.idle_timeout_s),
            "STREAMWAY_LOG_LEVEL": self.settings.environment.get("STREAMWAY_LOG_LEVEL", "INFO"),
        }
        if not self.agentcore.container:  # the image sets its own, in the agent's home
            environment.setdefault("STREAMWAY_SESSIONS_DIR", SESSIONS_DIR)
        return environment

    def _authorizer(self) -> bedrockagentcore.CfnRuntime.AuthorizerConfigurationProperty | None:
        """A JWT authorizer when a discovery URL is set; without one, callers sign with IAM
        (SigV4) and need ``bedrock-agentcore:InvokeAgentRuntime`` on the runtime."""
        settings = self.agentcore
        if settings.discovery_url is None:
            return None
        return bedrockagentcore.CfnRuntime.AuthorizerConfigurationProperty(
            custom_jwt_authorizer=bedrockagentcore.CfnRuntime.CustomJWTAuthorizerConfigurationProperty(
                discovery_url=settings.discovery_url,
                allowed_clients=settings.allowed_clients or None,
                allowed_audience=settings.allowed_audience or None,
            )
        )
