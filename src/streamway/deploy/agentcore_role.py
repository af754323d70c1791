"""The AgentCore Runtime's execution role, least privilege, as the statements the platform
needs (the AgentCore developer guide's "execution role for running an agent", which
aws-cdk-lib's own ``Runtime`` construct grants) plus the configured model:

- **Trust**: ``bedrock-agentcore.amazonaws.com``, only for this account's runtimes of this
  name (``aws:SourceAccount``, ``aws:SourceArn``), so no other runtime can take the role.
- **Logs**: create and write the runtime's log groups under ``/aws/bedrock-agentcore/runtimes/``
  (and list groups, which the platform's log setup does); nothing else in CloudWatch Logs.
- **Traces and metrics**: X-Ray's four write/sampling actions (X-Ray has no resource-level
  permissions, hence ``*``), and ``cloudwatch:PutMetricData`` only in the
  ``bedrock-agentcore`` namespace.
- **Workload identity**: access tokens for this runtime's workload identity only; the
  ``ForUserId`` variant, which trusts a caller-supplied user id, is not granted.
- **Bedrock**: ``InvokeModel`` and ``InvokeModelWithResponseStream`` on the configured model
  or inference profile and its foundation models (:func:`.policy.bedrock_statement`);
  no wildcard action and no other model.

The code's S3 object (zip) or the image's ECR repository (container) is granted by the stack,
which knows where the asset lives.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack, Token
from aws_cdk import aws_iam as iam

from streamway.deploy.policy import Statement, bedrock_statement
from streamway.deploy.settings import DeploySettings
from streamway.deploy.stack_parts import policy_statement

SERVICE = "bedrock-agentcore.amazonaws.com"
LOG_GROUPS = "log-group:/aws/bedrock-agentcore/runtimes/*"
XRAY_ACTIONS = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)
METRICS_NAMESPACE = "bedrock-agentcore"


def execution_role(stack: Stack, settings: DeploySettings, runtime_name: str) -> iam.Role:
    """The role the runtime assumes, with :func:`statements` as its policy."""
    account = _account(stack)
    principal = iam.ServicePrincipal(
        SERVICE,
        conditions={
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {
                "aws:SourceArn": f"arn:aws:bedrock-agentcore:{stack.region}:{account}:"
                f"runtime/{runtime_name}*"
            },
        },
    )
    role = iam.Role(
        stack,
        "RuntimeRole",
        assumed_by=principal,
        description=f"AgentCore Runtime {runtime_name}: logs, traces, the configured model",
    )
    for statement in statements(settings, region=stack.region, account=account, name=runtime_name):
        role.add_to_policy(policy_statement(statement))
    return role


def statements(
    settings: DeploySettings, *, region: str, account: str, name: str
) -> list[Statement]:
    """Everything the runtime may do apart from reading its own artifact."""
    logs = f"arn:aws:logs:{region}:{account}:"
    identity = f"arn:aws:bedrock-agentcore:{region}:{account}:workload-identity-directory/default"
    found = [
        Statement(
            "RuntimeLogGroups",
            ("logs:CreateLogGroup", "logs:DescribeLogStreams"),
            (logs + LOG_GROUPS,),
        ),
        Statement("DescribeLogGroups", ("logs:DescribeLogGroups",), (logs + "log-group:*",)),
        Statement(
            "RuntimeLogStreams",
            ("logs:CreateLogStream", "logs:PutLogEvents"),
            (logs + LOG_GROUPS + ":log-stream:*",),
        ),
        Statement("Traces", XRAY_ACTIONS, ("*",)),
        Statement(
            "Metrics",
            ("cloudwatch:PutMetricData",),
            ("*",),
            {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
        ),
        Statement(
            "WorkloadAccessToken",
            (
                "bedrock-agentcore:GetWorkloadAccessToken",
                "bedrock-agentcore:GetWorkloadAccessTokenForJWT",
            ),
            (identity, f"{identity}/workload-identity/{name}-*"),
        ),
    ]
    if settings.model_provider == "bedrock":
        found.append(
            bedrock_statement(
                settings.model.split(":", 1)[1],
                region=region,
                account=account,
                destinations=settings.model_regions,
                extra_arns=settings.model_arns,
            )
        )
    return found


def _account(stack: Stack) -> str:
    return Aws.ACCOUNT_ID if Token.is_unresolved(stack.account) else stack.account
