"""The stack of a user's app (``streamway synth --app`` / ``--handler``), read back with
aws_cdk.assertions, offline. Each variant is synthesized once, in this process (starting the
CDK's runtime is the slow part): every option on (then linted), and every option off."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk
from aws_cdk.assertions import Match, Template

from streamway.api.access_log import ACCESS_LOG_FIELDS
from streamway.deploy.app_inputs import UserApp, load_user_app
from streamway.deploy.commands import StackRequest, run_synth
from streamway.deploy.settings import DeploySettings
from streamway.deploy.synth import build_stack
from tests.deploy.cli_run import cfn_lint

ACCOUNT = "123456789012"
REGION = "eu-west-1"
STREAMING_URI = "/response-streaming-invocations"

pytestmark = pytest.mark.timeout(240)

ENV_FILE = """\
# the app's settings
GREETING="hello, world"
export DATABASE_URL=postgres://db.example/app
EMPTY=
"""
POLICY = [
    {
        "Sid": "ReadTable",
        "Action": ["dynamodb:GetItem", "dynamodb:Query"],
        "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders",
    },
    {
        "Effect": "Deny",
        "Action": "s3:DeleteObject",
        "Resource": ["arn:aws:s3:::bucket/*"],
        "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": "ops"}},
    },
]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory, placeholder_bundle: Path) -> Path:
    """What ``streamway synth --app main:app --env-file .env --policy policy.json
    --function-url`` writes with every API option on, run in-process (one CDK runtime for the
    module); the app's directory is ``my_app``, which names the stack."""
    tmp_path = tmp_path_factory.mktemp("app-synth")
    source = tmp_path / "my_app"
    source.mkdir()
    (source / ".env").write_text(ENV_FILE)
    (source / "policy.json").write_text(json.dumps(POLICY))
    user_app = load_user_app(
        app="main:app",
        handler=None,
        source=source,
        env_file=source / ".env",
        policy=source / "policy.json",
        function_url=True,
    )
    options = {"api_key": True, "cognito": True, "waf": True, "bundle": placeholder_bundle}
    request = StackRequest({"region": REGION, "account": ACCOUNT, **options}, user_app)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run_synth(tmp_path / "assembly", request) == 0
    template = tmp_path / "assembly" / "my-app-streamway.template.json"
    assert out.getvalue() == f"wrote {template}\n"
    return template


@pytest.fixture(scope="module")
def full(synthesized: Path) -> Template:
    return Template.from_json(json.loads(synthesized.read_text()))


@pytest.fixture(scope="module")
def minimal(placeholder_bundle: Path) -> Template:
    """A plain handler, every API option off, a public function URL, another Python and CPU."""
    settings = DeploySettings(  # type: ignore[call-arg]
        region=REGION,
        account=ACCOUNT,
        bundle=placeholder_bundle,
        stack_name="Minimal",
        access_logs=False,
        python="3.11",
        arch="x86_64",
    )
    user_app = UserApp(handler="handlers.stream", function_url=True, function_url_auth="NONE")
    return Template.from_stack(build_stack(aws_cdk.App(), settings, user_app=user_app))


def _one(template: Template, type_: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = template.find_resources(type_).items()
    return logical_id, resource["Properties"]


def _methods(template: Template) -> dict[str, dict[str, Any]]:
    """The API's methods by the path they serve (``/`` or ``/{proxy+}``)."""
    api_id, _ = _one(template, "AWS::ApiGateway::RestApi")
    proxy_id, proxy = _one(template, "AWS::ApiGateway::Resource")
    assert proxy["PathPart"] == "{proxy+}"
    assert proxy["ParentId"] == {"Fn::GetAtt": [api_id, "RootResourceId"]}
    paths = {json.dumps({"Fn::GetAtt": [api_id, "RootResourceId"]}): "/"}
    paths[json.dumps({"Ref": proxy_id})] = "/{proxy+}"
    methods = template.find_resources("AWS::ApiGateway::Method").values()
    return {paths[json.dumps(m["Properties"]["ResourceId"])]: m["Properties"] for m in methods}


@pytest.mark.parametrize("variant", ["full", "minimal"])
def test_the_catch_all_proxy_streams_from_the_function(
    variant: str, request: pytest.FixtureRequest
) -> None:
    template: Template = request.getfixturevalue(variant)
    function_id, _ = _one(template, "AWS::Lambda::Function")
    methods = _methods(template)
    assert set(methods) == {"/", "/{proxy+}"}
    for method in methods.values():
        assert method["HttpMethod"] == "ANY"
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["IntegrationHttpMethod"] == "POST"
        assert integration["ResponseTransferMode"] == "STREAM"
        assert integration["TimeoutInMillis"] == 900_000
        uri = integration["Uri"]["Fn::Join"][1]
        assert uri[-3:] == [
            f":apigateway:{REGION}:lambda:path/2021-11-15/functions/",
            {"Fn::GetAtt": [function_id, "Arn"]},
            STREAMING_URI,
        ]


def test_one_function_runs_the_app_on_the_native_runtime(full: Template) -> None:
    _, function = _one(full, "AWS::Lambda::Function")
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]
    assert function["Timeout"] == 900
    assert function["Description"] == "streamway app (main:app)"
    assert function["Environment"]["Variables"] == {
        "STREAMWAY_APP": "main:app",
        "STREAMWAY_LAMBDA_INVOKE_MODE": "response_stream",
        "AWS_LAMBDA_EXEC_WRAPPER": "/var/task/exec-wrapper",
        # From --env-file: quotes removed, `export` accepted, an empty value kept.
        "GREETING": "hello, world",
        "DATABASE_URL": "postgres://db.example/app",
        "EMPTY": "",
    }


def test_a_plain_handler_gets_streamway_handler(minimal: Template) -> None:
    _, function = _one(minimal, "AWS::Lambda::Function")
    assert function["Runtime"] == "python3.11"
    assert function["Architectures"] == ["x86_64"]
    assert function["Environment"]["Variables"] == {
        "STREAMWAY_HANDLER": "handlers.stream",
        "STREAMWAY_LAMBDA_INVOKE_MODE": "response_stream",
        "AWS_LAMBDA_EXEC_WRAPPER": "/var/task/exec-wrapper",
    }


def test_the_function_url_streams_and_needs_iam_by_default(full: Template) -> None:
    function_id, _ = _one(full, "AWS::Lambda::Function")
    _, url = _one(full, "AWS::Lambda::Url")
    assert url == {
        "AuthType": "AWS_IAM",
        "InvokeMode": "RESPONSE_STREAM",
        "TargetFunctionArn": {"Fn::GetAtt": [function_id, "Arn"]},
    }
    assert "FunctionUrl" in full.find_outputs("*")
    # Nobody but API Gateway is granted an invoke: IAM principals need their own policy.
    permissions = full.find_resources("AWS::Lambda::Permission").values()
    assert {p["Properties"]["Principal"] for p in permissions} == {"apigateway.amazonaws.com"}


def test_a_public_function_url_lets_anyone_invoke_through_the_url_only(
    minimal: Template,
) -> None:
    _, url = _one(minimal, "AWS::Lambda::Url")
    assert (url["AuthType"], url["InvokeMode"]) == ("NONE", "RESPONSE_STREAM")
    public = [
        p["Properties"]
        for p in minimal.find_resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "*"
    ]
    assert sorted(p["Action"] for p in public) == [
        "lambda:InvokeFunction",
        "lambda:InvokeFunctionUrl",
    ]
    for permission in public:
        # Each is limited to calls that come through the function URL.
        assert (
            permission.get("FunctionUrlAuthType") == "NONE"
            or permission.get("InvokedViaFunctionUrl") is True
        )


def test_no_function_url_unless_asked(placeholder_bundle: Path) -> None:
    settings = DeploySettings(region=REGION, bundle=placeholder_bundle)  # type: ignore[call-arg]
    template = Template.from_stack(
        build_stack(aws_cdk.App(), settings, user_app=UserApp(app="main:app"))
    )
    template.resource_count_is("AWS::Lambda::Url", 0)
    assert "FunctionUrl" not in template.find_outputs("*")


def test_api_gateway_invokes_from_this_api_only(full: Template) -> None:
    api_id, _ = _one(full, "AWS::ApiGateway::RestApi")
    permissions = full.find_resources(
        "AWS::Lambda::Permission", {"Properties": {"Principal": "apigateway.amazonaws.com"}}
    )
    assert len(permissions) == 2  # one per method, no console test-invoke grants
    for permission in permissions.values():
        assert permission["Properties"]["Action"] == "lambda:InvokeFunction"
        assert {"Ref": api_id} in permission["Properties"]["SourceArn"]["Fn::Join"][1]


def test_the_extra_statements_are_in_the_functions_role_policy(full: Template) -> None:
    _, function = _one(full, "AWS::Lambda::Function")
    role_id = function["Role"]["Fn::GetAtt"][0]
    (policy,) = full.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}}
    ).values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statements == [
        {
            "Sid": "ReadTable",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Query"],
            "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders",
        },
        {
            "Effect": "Deny",
            "Action": "s3:DeleteObject",
            "Resource": "arn:aws:s3:::bucket/*",
            "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": "ops"}},
        },
    ]


def test_no_extra_statements_no_policy(minimal: Template) -> None:
    # The role has Lambda's basic execution role (its logs) and nothing of streamway's own
    # stack: no Bedrock, no S3, no bucket.
    minimal.resource_count_is("AWS::IAM::Policy", 0)
    minimal.resource_count_is("AWS::S3::Bucket", 0)


def test_regional_endpoint_and_bodies_byte_for_byte(full: Template) -> None:
    _, api = _one(full, "AWS::ApiGateway::RestApi")
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert api["BinaryMediaTypes"] == ["*/*"]
    assert api["Name"] == "my-app-streamway"


def test_api_key_and_cognito_on_both_methods(full: Template, minimal: Template) -> None:
    authorizer_id, authorizer = _one(full, "AWS::ApiGateway::Authorizer")
    pool_id, _ = _one(full, "AWS::Cognito::UserPool")
    assert authorizer["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["ProviderARNs"] == [{"Fn::GetAtt": [pool_id, "Arn"]}]
    for method in _methods(full).values():
        assert method["ApiKeyRequired"] is True
        assert method["AuthorizationType"] == "COGNITO_USER_POOLS"
        assert method["AuthorizerId"] == {"Ref": authorizer_id}
    full.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {"Throttle": {"RateLimit": 50, "BurstLimit": 100}, "Quota": {"Limit": 10_000}},
    )
    full.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    for method in _methods(minimal).values():
        assert method.get("ApiKeyRequired", False) is False
        assert method["AuthorizationType"] == "NONE"
    for type_ in ("ApiGateway::ApiKey", "ApiGateway::Authorizer", "Cognito::UserPool"):
        minimal.resource_count_is(f"AWS::{type_}", 0)


def test_waf_and_access_logs(full: Template, minimal: Template) -> None:
    acl_id, acl = _one(full, "AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL"
    stage_id, stage = _one(full, "AWS::ApiGateway::Stage")
    _, association = _one(full, "AWS::WAFv2::WebACLAssociation")
    assert association["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert {"Ref": stage_id} in association["ResourceArn"]["Fn::Join"][1]
    assert json.loads(stage["AccessLogSetting"]["Format"]) == ACCESS_LOG_FIELDS
    minimal.resource_count_is("AWS::WAFv2::WebACL", 0)
    _, plain = _one(minimal, "AWS::ApiGateway::Stage")
    assert "AccessLogSetting" not in plain
    minimal.has_resource_properties("AWS::ApiGateway::Stage", {"StageName": "prod"})


def test_outputs(full: Template, minimal: Template) -> None:
    assert {"InvokeUrl", "FunctionUrl", "ApiKeyId", "UserPoolId"} <= set(full.find_outputs("*"))
    minimal.has_output("InvokeUrl", {"Value": Match.any_value()})


def test_cfn_lint_accepts_the_template(synthesized: Path) -> None:
    completed = cfn_lint(synthesized)
    assert completed.returncode == 0, completed.stdout + completed.stderr
