"""``streamway synth|deploy --target agentcore``: streamway's service as an AgentCore Runtime,
synthesized offline and read back with aws_cdk.assertions. One synth per variant for the
module (starting the CDK's runtime is the slow part): every option on (also linted), the
defaults, and the container."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk
from aws_cdk.assertions import Template

from streamway.deploy import package
from streamway.deploy.agentcore_settings import AgentCoreDeploySettings
from streamway.deploy.commands import StackRequest, run_synth
from streamway.deploy.policy import bedrock_statement
from streamway.deploy.settings import DeploySettings
from streamway.deploy.synth import build_stack
from tests.deploy.cli_run import cfn_lint, cli_env, run_streamway
from tests.servers import REPO_ROOT

ACCOUNT = "123456789012"
REGION = "us-east-1"
PROFILE = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
MODEL = f"bedrock:{PROFILE}"
POOL = "us-east-1_AbCdEfGhI"
DISCOVERY = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}/.well-known/openid-configuration"
CLIENTS = ["4h1s0m3cl13nt1d", "0th3rcl13nt"]

pytestmark = pytest.mark.timeout(300)


def _settings(bundle: Path, **options: Any) -> DeploySettings:
    return DeploySettings(  # type: ignore[call-arg]
        region=REGION, account=ACCOUNT, model=MODEL, bundle=bundle, **options
    )


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory, placeholder_bundle: Path) -> Path:
    """``streamway synth --target agentcore`` with every option on, in-process."""
    out = tmp_path_factory.mktemp("agentcore") / "assembly"
    request = StackRequest(
        {"region": REGION, "account": ACCOUNT, "model": MODEL, "bundle": placeholder_bundle},
        target="agentcore",
        agentcore={
            "idle_timeout_s": 600,
            "max_lifetime_s": 3600,
            "discovery_url": DISCOVERY,
            "allowed_clients": CLIENTS,
            "request_headers": ["X-Request-Id", "X-Amzn-Bedrock-AgentCore-Runtime-Custom-User"],
        },
    )
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert run_synth(out, request) == 0
    template = out / "Streamway.template.json"
    assert stdout.getvalue() == f"wrote {template}\n"
    return template


@pytest.fixture(scope="module")
def full(synthesized: Path) -> Template:
    return Template.from_json(json.loads(synthesized.read_text()))


@pytest.fixture(scope="module")
def defaults(placeholder_bundle: Path) -> Template:
    settings = _settings(placeholder_bundle, stack_name="my-agent", python="3.13")
    stack = build_stack(aws_cdk.App(), settings, agentcore=AgentCoreDeploySettings())
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def container(placeholder_bundle: Path) -> Template:
    settings = _settings(placeholder_bundle, python="3.11")  # the image brings its Python
    stack = build_stack(
        aws_cdk.App(),
        settings,
        agentcore=AgentCoreDeploySettings(container=True),
        project_root=REPO_ROOT,
    )
    return Template.from_stack(stack)


def _runtime(template: Template) -> dict[str, Any]:
    (runtime,) = template.find_resources("AWS::BedrockAgentCore::Runtime").values()
    properties: dict[str, Any] = runtime["Properties"]
    return properties


def _policy(template: Template) -> list[dict[str, Any]]:
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _statements(template: Template) -> dict[str, dict[str, Any]]:
    """The role's statements by Sid (each of streamway's has one)."""
    statements = _policy(template)
    assert all("Sid" in statement for statement in statements)
    return {statement["Sid"]: statement for statement in statements}


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_the_runtime_runs_the_zip_on_the_managed_python(full: Template) -> None:
    runtime = _runtime(full)
    code = runtime["AgentRuntimeArtifact"]["CodeConfiguration"]
    assert code["EntryPoint"] == [package.AGENTCORE_ENTRY]
    assert code["Runtime"] == "PYTHON_3_12"
    assert code["Code"]["S3"]["Prefix"].endswith(".zip")
    assert "cdk-" in json.dumps(code["Code"]["S3"]["Bucket"])  # the bootstrap's asset bucket
    assert runtime["AgentRuntimeName"] == "Streamway"
    assert runtime["NetworkConfiguration"] == {"NetworkMode": "PUBLIC"}
    assert runtime["ProtocolConfiguration"] == "HTTP"
    assert runtime["EnvironmentVariables"] == {
        "STREAMWAY_MODEL": MODEL,
        "STREAMWAY_SESSION_IDLE_TIMEOUT_S": "600",
        "STREAMWAY_LOG_LEVEL": "INFO",
        "STREAMWAY_SESSIONS_DIR": "/tmp/streamway-sessions",
    }


def test_lifecycle_headers_and_authorizer_from_the_options(full: Template) -> None:
    runtime = _runtime(full)
    assert runtime["LifecycleConfiguration"] == {
        "IdleRuntimeSessionTimeout": 600,
        "MaxLifetime": 3600,
    }
    assert runtime["RequestHeaderConfiguration"] == {
        "RequestHeaderAllowlist": ["X-Request-Id", "X-Amzn-Bedrock-AgentCore-Runtime-Custom-User"]
    }
    assert runtime["AuthorizerConfiguration"] == {
        "CustomJWTAuthorizer": {"DiscoveryUrl": DISCOVERY, "AllowedClients": CLIENTS}
    }


def test_defaults_are_agentcores_and_iam_authorizes(defaults: Template) -> None:
    runtime = _runtime(defaults)
    assert runtime["LifecycleConfiguration"] == {
        "IdleRuntimeSessionTimeout": 900,
        "MaxLifetime": 28800,
    }
    assert runtime["RequestHeaderConfiguration"] == {
        "RequestHeaderAllowlist": ["X-Request-Id", "Last-Event-ID"]
    }
    assert "AuthorizerConfiguration" not in runtime  # callers sign with SigV4
    assert runtime["AgentRuntimeName"] == "my_agent"  # AgentCore's names have no "-"
    code = runtime["AgentRuntimeArtifact"]["CodeConfiguration"]
    assert code["Runtime"] == "PYTHON_3_13"


def test_the_role_trusts_agentcore_for_this_runtime_only(full: Template) -> None:
    (role,) = full.find_resources("AWS::IAM::Role").values()
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock-agentcore.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {
            "aws:SourceArn": f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:runtime/Streamway*"
        },
    }
    assert "ManagedPolicyArns" not in role["Properties"]


def test_the_role_may_call_the_configured_model_only(full: Template) -> None:
    statements = _statements(full)
    expected = bedrock_statement(PROFILE, region=REGION, account=ACCOUNT)
    model = statements["InvokeConfiguredModel"]
    assert sorted(_actions(model)) == sorted(expected.actions)
    assert model["Resource"] == list(expected.resources)
    # No wildcard action anywhere, and Bedrock only in that statement, on named ARNs.
    for sid, statement in statements.items():
        for action in _actions(statement):
            assert "*" not in action, (sid, action)
            assert not action.startswith("bedrock:") or sid == "InvokeConfiguredModel"
    assert all(arn.startswith("arn:aws:bedrock:") and "*" not in arn for arn in model["Resource"])


def test_the_role_writes_its_logs_and_traces_and_reads_its_code(full: Template) -> None:
    statements = _statements(full)
    assert set(statements) == {
        "RuntimeLogGroups",
        "DescribeLogGroups",
        "RuntimeLogStreams",
        "Traces",
        "Metrics",
        "WorkloadAccessToken",
        "InvokeConfiguredModel",
        "ReadCode",
    }
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/bedrock-agentcore/runtimes/*"
    assert statements["RuntimeLogGroups"]["Resource"] == logs
    assert statements["RuntimeLogStreams"]["Resource"] == logs + ":log-stream:*"
    assert _actions(statements["Traces"]) == [
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    ]
    assert statements["Metrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "bedrock-agentcore"}
    }
    assert "bedrock-agentcore:GetWorkloadAccessTokenForUserId" not in _actions(
        statements["WorkloadAccessToken"]
    )
    # The one object the runtime's code is, not the asset bucket.
    read = statements["ReadCode"]
    assert _actions(read) == ["s3:GetObject"]
    prefix = _runtime(full)["AgentRuntimeArtifact"]["CodeConfiguration"]["Code"]["S3"]["Prefix"]
    bucket = _runtime(full)["AgentRuntimeArtifact"]["CodeConfiguration"]["Code"]["S3"]["Bucket"]
    assert read["Resource"] == f"arn:aws:s3:::{bucket}/{prefix}"


def test_the_runtime_waits_for_its_roles_policy(full: Template) -> None:
    (runtime,) = full.find_resources("AWS::BedrockAgentCore::Runtime").values()
    (policy_id,) = full.find_resources("AWS::IAM::Policy")
    assert policy_id in runtime["DependsOn"]


def test_the_container_variant_pulls_its_image_from_ecr(container: Template) -> None:
    runtime = _runtime(container)
    artifact = runtime["AgentRuntimeArtifact"]
    assert set(artifact) == {"ContainerConfiguration"}
    uri = json.dumps(artifact["ContainerConfiguration"]["ContainerUri"])
    assert ".dkr.ecr." in uri
    assert "container-assets" in uri
    assert "STREAMWAY_SESSIONS_DIR" not in runtime["EnvironmentVariables"]  # the image's own
    statements = _policy(container)
    (pull,) = [s for s in statements if "ecr:BatchGetImage" in _actions(s)]
    assert "repository/cdk-hnb659fds-container-assets-" in json.dumps(pull["Resource"])
    # ECR's login token is granted on "*" only (IAM has no narrower resource for it).
    (token,) = [s for s in statements if "ecr:GetAuthorizationToken" in _actions(s)]
    assert _actions(token) == ["ecr:GetAuthorizationToken"]
    assert not [s for s in statements if s.get("Sid") == "ReadCode"]


def test_outputs_the_runtime_arn(full: Template, container: Template) -> None:
    for template in (full, container):
        (output,) = template.find_outputs("AgentRuntimeArn").values()
        assert output["Value"] == {"Fn::GetAtt": ["Runtime", "AgentRuntimeArn"]}


def test_cfn_lint_accepts_the_template(synthesized: Path) -> None:
    completed = cfn_lint(synthesized)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize(
    ("overrides", "agentcore", "message"),
    [
        ({"arch": "x86_64"}, {}, "arm64 only"),
        ({"python": "3.11"}, {}, "Python 3.12 or 3.13"),
        ({}, {"idle_timeout_s": 7200, "max_lifetime_s": 3600}, "must not exceed"),
        ({}, {"idle_timeout_s": 30}, "STREAMWAY_DEPLOY_AGENTCORE_IDLE_TIMEOUT_S (--idle-timeout)"),
        ({}, {"discovery_url": DISCOVERY}, "allowed_clients or allowed_audience"),
        ({}, {"discovery_url": "https://example.com/jwks"}, "well-known/openid-configuration"),
        ({}, {"allowed_clients": CLIENTS}, "need discovery_url"),
        ({}, {"request_headers": ["X-Amzn-Trace-Id"]}, "cannot pass the request header"),
        ({"managed_instances": True, "capacity_provider_arn": "arn:x"}, {}, "Lambda target"),
    ],
)
def test_what_agentcore_cannot_run_is_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    placeholder_bundle: Path,
    overrides: dict[str, Any],
    agentcore: dict[str, Any],
    message: str,
) -> None:
    base = {"region": REGION, "model": MODEL, "bundle": placeholder_bundle}
    request = StackRequest({**base, **overrides}, target="agentcore", agentcore=agentcore)
    assert run_synth(tmp_path / "out", request) == 1
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_agentcore_options_need_the_agentcore_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, placeholder_bundle: Path
) -> None:
    request = StackRequest(
        {"model": MODEL, "bundle": placeholder_bundle}, agentcore={"container": True}
    )
    assert run_synth(tmp_path / "out", request) == 1
    assert "only with --target agentcore" in capsys.readouterr().err


def test_the_zips_entry_point_runs_what_the_container_runs() -> None:
    """AgentCore starts ``python streamway_agentcore.py``; it runs the Dockerfile's CMD."""
    dockerfile = (REPO_ROOT / "deploy" / "agentcore" / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    source = package._AGENTCORE_SOURCE
    tree = ast.parse(source)
    (assignment,) = [node for node in tree.body if isinstance(node, ast.Assign)]
    assert ast.literal_eval(assignment.value) == json.loads(cmd)
    assert "from streamway.cli import main" in source


def test_deploy_without_credentials_stops_before_any_work(tmp_path: Path) -> None:
    """As a user runs it: no credentials anywhere, the zip missing. One message, exit 1, and
    neither the zip nor the assembly was started on."""
    env = cli_env(tmp_path, STREAMWAY_MODEL=MODEL)
    args = ["deploy", "--target", "agentcore", "--out", str(tmp_path / "out")]
    completed = run_streamway(args, env, tmp_path)
    assert completed.returncode == 1
    assert "no AWS credentials found" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "dist").exists()
    assert not (tmp_path / "out").exists()


def test_synth_from_the_command_line(tmp_path: Path, placeholder_bundle: Path) -> None:
    env = cli_env(tmp_path, STREAMWAY_MODEL=MODEL)
    args = [
        *("synth", "--target", "agentcore", "--bundle", str(placeholder_bundle)),
        *("--idle-timeout", "120", "--max-lifetime", "7200", "--discovery-url", DISCOVERY),
        *("--allowed-client", CLIENTS[0], "--out", str(tmp_path / "out")),
    ]
    completed = run_streamway(args, env, tmp_path)
    assert completed.returncode == 0, completed.stderr
    template = json.loads((tmp_path / "out" / "Streamway.template.json").read_text())
    (runtime,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::BedrockAgentCore::Runtime"
    ]
    properties = runtime["Properties"]
    assert properties["LifecycleConfiguration"] == {
        "IdleRuntimeSessionTimeout": 120,
        "MaxLifetime": 7200,
    }
    jwt = properties["AuthorizerConfiguration"]["CustomJWTAuthorizer"]
    assert jwt["AllowedClients"] == [CLIENTS[0]]
