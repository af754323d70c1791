"""The synthesized stack, read back with aws_cdk.assertions (offline, no credentials)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk
from aws_cdk.assertions import Match, Template

from streamway.api.access_log import ACCESS_LOG_FIELDS
from streamway.api.definition import load_definition
from streamway.deploy.settings import DeploySettings
from streamway.deploy.synth import build_stack

MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
BASE_MODEL = "anthropic.claude-haiku-4-5-20251001-v1:0"
ACCOUNT = "123456789012"
REGION = "us-east-1"

pytestmark = pytest.mark.timeout(120)


def _template(bundle: Path, **options: Any) -> Template:
    settings = DeploySettings(  # type: ignore[call-arg]
        region=REGION,
        account=ACCOUNT,
        model=f"bedrock:{MODEL}",
        bundle=bundle,
        **options,
    )
    app = aws_cdk.App()
    return Template.from_stack(build_stack(app, settings))


@pytest.fixture(scope="module")
def full(placeholder_bundle: Path) -> Template:
    """Every option on, an existing bucket under a prefix."""
    return _template(
        placeholder_bundle,
        bucket="streamway-objects",
        prefix="reports",
        api_key=True,
        cognito=True,
        waf=True,
        access_logs=True,
    )


@pytest.fixture(scope="module")
def minimal(placeholder_bundle: Path) -> Template:
    """Every option off; the stack creates its own bucket."""
    return _template(placeholder_bundle, access_logs=False)


def _body(template: Template) -> dict[str, Any]:
    (api,) = template.find_resources("AWS::ApiGateway::RestApi").values()
    body: dict[str, Any] = api["Properties"]["Body"]
    return body


def _logical_id(template: Template, type_: str, description: str) -> str:
    found = template.find_resources(type_, {"Properties": {"Description": description}})
    (logical_id,) = found
    return logical_id


def _operations(body: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), resource, operation)
        for resource, item in body["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "x-amazon-apigateway-integration" in operation
    ]


def test_every_stream_route_streams_from_the_stream_function(full: Template) -> None:
    stream_fn = _logical_id(full, "AWS::Lambda::Function", "streamway (response_stream)")
    buffered_fn = _logical_id(full, "AWS::Lambda::Function", "streamway (buffered)")
    expected_modes = {(r.method, r.resource): r.transfer_mode for r in load_definition().routes}
    operations = _operations(_body(full))
    assert {(m, r) for m, r, _ in operations} == set(expected_modes)
    for method, resource, operation in operations:
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert integration["responseTransferMode"] == expected_modes[method, resource]
        uri = integration["uri"]["Fn::Join"][1]
        if expected_modes[method, resource] == "STREAM":
            assert uri == [
                f"arn:aws:apigateway:{REGION}:lambda:path/2021-11-15/functions/",
                {"Fn::GetAtt": [stream_fn, "Arn"]},
                "/response-streaming-invocations",
            ], (method, resource)
            assert integration["timeoutInMillis"] == 900_000
        else:
            assert uri == [
                f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/",
                {"Fn::GetAtt": [buffered_fn, "Arn"]},
                "/invocations",
            ], (method, resource)
            assert integration["timeoutInMillis"] == 29_000


def test_functions_run_streamway_in_their_invoke_mode(full: Template) -> None:
    for mode in ("response_stream", "buffered"):
        full.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Description": f"streamway ({mode})",
                "Runtime": "python3.12",
                "Architectures": ["arm64"],
                "Timeout": 900,
                "MemorySize": 1024,
                "Environment": {
                    "Variables": Match.object_like(
                        {
                            "STREAMWAY_LAMBDA_INVOKE_MODE": mode,
                            "AWS_LAMBDA_EXEC_WRAPPER": "/var/task/exec-wrapper",
                            "STREAMWAY_MODEL": f"bedrock:{MODEL}",
                            "STREAMWAY_STORE_URL": "s3://streamway-objects/reports",
                        }
                    )
                },
            },
        )


def test_regional_endpoint(full: Template) -> None:
    # Edge-optimized endpoints drop an idle stream after 30 s; Regional after 5 minutes.
    full.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}}
    )


def test_api_gateway_may_invoke_each_function_from_this_api_only(full: Template) -> None:
    permissions = full.find_resources("AWS::Lambda::Permission")
    assert len(permissions) == 2
    (api_id,) = full.find_resources("AWS::ApiGateway::RestApi")
    for permission in permissions.values():
        properties = permission["Properties"]
        assert properties["Action"] == "lambda:InvokeFunction"
        assert properties["Principal"] == "apigateway.amazonaws.com"
        assert {"Ref": api_id} in properties["SourceArn"]["Fn::Join"][1]


def _statements(template: Template, description: str) -> list[dict[str, Any]]:
    function = _logical_id(template, "AWS::Lambda::Function", description)
    role = template.find_resources("AWS::Lambda::Function")[function]["Properties"]["Role"]
    role_id = role["Fn::GetAtt"][0]
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
            return statements
    raise AssertionError(f"no policy for {description}")


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def test_iam_is_scoped_to_the_model_and_the_prefix(full: Template, minimal: Template) -> None:
    stream = {s["Sid"]: s for s in _statements(full, "streamway (response_stream)")}
    assert set(stream) == {"InvokeConfiguredModel", "ReadObjects", "ListObjects"}
    bedrock = stream["InvokeConfiguredModel"]
    assert sorted(bedrock["Action"]) == [
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
    ]
    assert _resources(bedrock) == [
        f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{MODEL}",
        *(
            f"arn:aws:bedrock:{region}::foundation-model/{BASE_MODEL}"
            for region in ("us-east-1", "us-east-2", "us-west-2")
        ),
    ]
    assert stream["ReadObjects"]["Action"] == ["s3:GetObject", "s3:GetObjectTagging"]
    assert _resources(stream["ReadObjects"]) == ["arn:aws:s3:::streamway-objects/reports/*"]
    assert stream["ListObjects"]["Action"] == "s3:ListBucket"
    assert _resources(stream["ListObjects"]) == ["arn:aws:s3:::streamway-objects"]
    assert stream["ListObjects"]["Condition"] == {"StringLike": {"s3:prefix": ["reports/*"]}}

    # The buffered function serves the page and the listing: no model, no object reads.
    buffered = _statements(full, "streamway (buffered)")
    assert [s["Sid"] for s in buffered] == ["ListObjects"]
    for function in full.find_resources("AWS::Lambda::Function").values():
        assert "STREAMWAY_UPLOADS" not in function["Properties"]["Environment"]["Variables"]
    minimal.resource_count_is("AWS::S3::Bucket", 1)
    (bucket,) = minimal.find_resources("AWS::S3::Bucket").values()
    assert "LifecycleConfiguration" not in bucket["Properties"]  # uploads are off

    for policy in full.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            actions = actions if isinstance(actions, list) else [actions]
            if any(a.startswith(("bedrock:", "s3:")) for a in actions):
                assert "*" not in _resources(statement)
                assert not any(a.endswith("*") for a in actions)


def test_api_key_and_usage_plan(full: Template, minimal: Template) -> None:
    full.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    full.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Throttle": {"RateLimit": 50, "BurstLimit": 100},
            "Quota": {"Limit": 10_000, "Period": "DAY"},
            "ApiStages": [Match.object_like({"Stage": Match.any_value()})],
        },
    )
    full.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)
    body = _body(full)
    for _, resource, operation in _operations(body):
        if resource in ("/", "/ping"):
            assert "security" not in operation
        else:
            assert {"api_key": []} in operation["security"]
    minimal.resource_count_is("AWS::ApiGateway::ApiKey", 0)
    minimal.resource_count_is("AWS::ApiGateway::UsagePlan", 0)
    assert all("security" not in op for _, _, op in _operations(_body(minimal)))


def test_cognito_authorizer(full: Template, minimal: Template) -> None:
    (pool_id,) = full.find_resources("AWS::Cognito::UserPool")
    scheme = _body(full)["components"]["securitySchemes"]["jwt"]
    assert scheme["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert scheme["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        {"Fn::GetAtt": [pool_id, "Arn"]}
    ]
    streaming = _body(full)["paths"]["/streaming"]["post"]
    assert {"jwt": []} in streaming["security"]
    minimal.resource_count_is("AWS::Cognito::UserPool", 0)
    assert _body(minimal)["components"]["securitySchemes"] == {}


def test_existing_user_pool_is_used_not_created(placeholder_bundle: Path) -> None:
    pool_arn = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_abc"
    template = _template(placeholder_bundle, cognito=True, user_pool_arn=pool_arn)
    template.resource_count_is("AWS::Cognito::UserPool", 0)
    scheme = _body(template)["components"]["securitySchemes"]["jwt"]
    assert scheme["x-amazon-apigateway-authorizer"]["providerARNs"] == [pool_arn]


def test_waf_web_acl_on_the_stage(full: Template, minimal: Template) -> None:
    (acl_id,) = full.find_resources("AWS::WAFv2::WebACL")
    acl = full.find_resources("AWS::WAFv2::WebACL")[acl_id]["Properties"]
    assert acl["Scope"] == "REGIONAL"
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    managed = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert (managed["VendorName"], managed["Name"]) == ("AWS", "AWSManagedRulesCommonRuleSet")
    rate = rules["RateLimitPerIp"]
    assert rate["Statement"]["RateBasedStatement"] == {"Limit": 1000, "AggregateKeyType": "IP"}
    assert rate["Action"] == {"Block": {}}

    (stage_id,) = full.find_resources("AWS::ApiGateway::Stage")
    (association,) = full.find_resources("AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert {"Ref": stage_id} in association["Properties"]["ResourceArn"]["Fn::Join"][1]
    minimal.resource_count_is("AWS::WAFv2::WebACL", 0)


def test_access_log_format_carries_the_streaming_variables(
    full: Template, minimal: Template
) -> None:
    (stage,) = full.find_resources("AWS::ApiGateway::Stage").values()
    settings = stage["Properties"]["AccessLogSetting"]
    group_id, attribute = settings["DestinationArn"]["Fn::GetAtt"]
    assert attribute == "Arn"
    assert group_id in full.find_resources("AWS::Logs::LogGroup")
    fields = json.loads(settings["Format"])
    assert fields == ACCESS_LOG_FIELDS
    for variable in (
        "$context.integration.responseTransferMode",
        "$context.integration.timeToAllHeaders",
        "$context.integration.timeToFirstContent",
        "$context.integration.latency",
    ):
        assert variable in fields.values()
    # API Gateway writes access logs through the account's CloudWatch role.
    full.resource_count_is("AWS::ApiGateway::Account", 1)
    (plain,) = minimal.find_resources("AWS::ApiGateway::Stage").values()
    assert "AccessLogSetting" not in plain["Properties"]


def test_outputs_the_invoke_url(minimal: Template) -> None:
    outputs = minimal.find_outputs("InvokeUrl")
    (api_id,) = minimal.find_resources("AWS::ApiGateway::RestApi")
    (stage_id,) = minimal.find_resources("AWS::ApiGateway::Stage")
    parts = outputs["InvokeUrl"]["Value"]["Fn::Join"][1]
    assert parts[0] == "https://"
    assert {"Ref": api_id} in parts
    assert {"Ref": stage_id} in parts


def test_created_bucket_is_private_and_retained(minimal: Template) -> None:
    (bucket_id,) = minimal.find_resources("AWS::S3::Bucket")
    bucket = minimal.find_resources("AWS::S3::Bucket")[bucket_id]
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    read = {s["Sid"]: s for s in _statements(minimal, "streamway (response_stream)")}
    assert read["ReadObjects"]["Resource"] == {
        "Fn::Join": ["", ["arn:aws:s3:::", {"Ref": bucket_id}, "/*"]]
    }


def test_provided_al2023_runs_bootstrap(placeholder_bundle: Path) -> None:
    template = _template(placeholder_bundle, base="provided.al2023", arch="x86_64", python="3.11")
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "provided.al2023",
            "Handler": "bootstrap",
            "Architectures": ["x86_64"],
            "Environment": {
                "Variables": Match.object_like({"STREAMWAY_PYTHON": "/opt/python/bin/python3"})
            },
        },
    )


def test_lwa_runs_the_container_image(placeholder_bundle: Path) -> None:
    template = _template(placeholder_bundle, runtime="lwa")
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) == 2
    for function in functions.values():
        properties = function["Properties"]
        assert properties["PackageType"] == "Image"
        assert "ImageUri" in properties["Code"]
        variables = properties["Environment"]["Variables"]
        assert variables["AWS_LWA_INVOKE_MODE"] == variables["STREAMWAY_LAMBDA_INVOKE_MODE"]


def test_uploads_let_the_buffered_function_write_and_abort_abandoned_parts(
    placeholder_bundle: Path,
) -> None:
    template = _template(
        placeholder_bundle,
        prefix="reports",
        uploads=True,
        access_logs=False,
        environment={"STREAMWAY_UPLOAD_EXPIRY": str(3 * 86_400)},
    )
    (bucket_id,) = template.find_resources("AWS::S3::Bucket")
    buffered = {s["Sid"]: s for s in _statements(template, "streamway (buffered)")}
    assert set(buffered) == {"ListObjects", "WriteUploads"}
    write = buffered["WriteUploads"]
    assert write["Action"] == [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:PutObjectTagging",
    ]
    (resource,) = _resources(write)
    assert resource == {"Fn::Join": ["", ["arn:aws:s3:::", {"Ref": bucket_id}, "/reports/*"]]}
    stream = {s["Sid"] for s in _statements(template, "streamway (response_stream)")}
    assert "WriteUploads" not in stream  # downloads only read

    functions = template.find_resources("AWS::Lambda::Function")
    variables = {
        f["Properties"]["Description"]: f["Properties"]["Environment"]["Variables"]
        for f in functions.values()
    }
    assert variables["streamway (buffered)"]["STREAMWAY_UPLOADS"] == "true"
    assert "STREAMWAY_UPLOADS" not in variables["streamway (response_stream)"]

    # Expiry 3 days: S3 aborts what is left a day later, never an upload still allowed to run.
    rules = template.find_resources("AWS::S3::Bucket")[bucket_id]["Properties"][
        "LifecycleConfiguration"
    ]["Rules"]
    assert {rule["Id"]: rule for rule in rules} == {
        "AbortIncompleteUploads": {
            "Id": "AbortIncompleteUploads",
            "Prefix": "reports/",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 4},
            "Status": "Enabled",
        },
        "ExpireUploadState": {
            "Id": "ExpireUploadState",
            "Prefix": "reports/.uploads/",
            "ExpirationInDays": 4,
            "Status": "Enabled",
        },
    }
