"""``--managed-instances``: either Lambda stack's functions on a capacity provider (Lambda
Managed Instances), synthesized offline and read back with aws_cdk.assertions. One synth per
variant for the module (starting the CDK's runtime is the slow part)."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk
from aws_cdk.assertions import Template

from streamway.deploy.app_inputs import UserApp
from streamway.deploy.commands import StackRequest, run_synth
from streamway.deploy.settings import DeploySettings
from streamway.deploy.synth import build_stack
from tests.deploy.cli_run import cfn_lint, cli_env, run_streamway

ACCOUNT = "123456789012"
REGION = "us-east-1"
MODEL = "bedrock:us.anthropic.claude-haiku-4-5-20251001-v1:0"
SUBNETS = ["subnet-0a1b2c3d", "subnet-4e5f6a7b"]
GROUPS = ["sg-0123abcd"]
EXISTING = f"arn:aws:lambda:{REGION}:{ACCOUNT}:capacity-provider:shared"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory, placeholder_bundle: Path) -> Path:
    """streamway's own stack with a new provider, as ``streamway synth --managed-instances
    --max-concurrency 32 --subnet ... --security-group ...`` writes it (in-process)."""
    out = tmp_path_factory.mktemp("managed") / "assembly"
    overrides = {
        "region": REGION,
        "account": ACCOUNT,
        "model": MODEL,
        "bundle": placeholder_bundle,
        "managed_instances": True,
        "max_concurrency": 32,
        "subnet_ids": SUBNETS,
        "security_group_ids": GROUPS,
    }
    with contextlib.redirect_stdout(io.StringIO()):
        assert run_synth(out, StackRequest(overrides)) == 0
    return out / "Streamway.template.json"


@pytest.fixture(scope="module")
def own(own_stack: Path) -> Template:
    return Template.from_json(json.loads(own_stack.read_text()))


@pytest.fixture(scope="module")
def app_on_existing(placeholder_bundle: Path) -> Template:
    """A user's app on an existing provider, x86_64, Lambda's default concurrency."""
    settings = DeploySettings(  # type: ignore[call-arg]
        region=REGION,
        account=ACCOUNT,
        bundle=placeholder_bundle,
        stack_name="AppOnProvider",
        arch="x86_64",
        managed_instances=True,
        capacity_provider_arn=EXISTING,
    )
    app = UserApp(app="main:app")
    return Template.from_stack(build_stack(aws_cdk.App(), settings, user_app=app))


def _provider_config(function: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = function["Properties"]["CapacityProviderConfig"]
    found: dict[str, Any] = config["LambdaManagedInstancesCapacityProviderConfig"]
    return found


def test_a_new_provider_in_the_given_network_for_the_functions_cpu(own: Template) -> None:
    (provider,) = own.find_resources("AWS::Lambda::CapacityProvider").values()
    properties = provider["Properties"]
    assert properties["VpcConfig"] == {"SubnetIds": SUBNETS, "SecurityGroupIds": GROUPS}
    assert properties["InstanceRequirements"]["Architectures"] == ["arm64"]
    # Lambda runs the instances through the operator role CDK gives the provider.
    assert "CapacityProviderOperatorRoleArn" in properties["PermissionsConfig"]


def test_both_functions_run_there_with_the_maximum_concurrency(own: Template) -> None:
    ((provider_id, _),) = own.find_resources("AWS::Lambda::CapacityProvider").items()
    functions = own.find_resources("AWS::Lambda::Function")
    assert len(functions) == 2
    for function in functions.values():
        assert _provider_config(function) == {
            "CapacityProviderArn": {"Fn::GetAtt": [provider_id, "Arn"]},
            "PerExecutionEnvironmentMaxConcurrency": 32,
        }
    outputs = own.find_outputs("CapacityProviderArn")
    assert outputs["CapacityProviderArn"]["Value"] == {"Fn::GetAtt": [provider_id, "Arn"]}


def test_the_api_still_integrates_the_functions_unqualified(own: Template) -> None:
    """Lambda resolves an unqualified ARN of a function on a provider to $LATEST.PUBLISHED,
    which CloudFormation publishes; the integrations stay as they are."""
    (api,) = own.find_resources("AWS::ApiGateway::RestApi").values()
    uris = json.dumps(api["Properties"]["Body"])
    assert "response-streaming-invocations" in uris
    assert "LATEST" not in uris


def test_cfn_lint_accepts_the_template(own_stack: Path) -> None:
    completed = cfn_lint(own_stack)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_an_app_on_an_existing_provider_creates_none(app_on_existing: Template) -> None:
    assert not app_on_existing.find_resources("AWS::Lambda::CapacityProvider")
    (function,) = app_on_existing.find_resources("AWS::Lambda::Function").values()
    assert _provider_config(function) == {"CapacityProviderArn": EXISTING}
    assert function["Properties"]["Architectures"] == ["x86_64"]


def test_without_the_option_no_provider(placeholder_bundle: Path) -> None:
    settings = DeploySettings(  # type: ignore[call-arg]
        region=REGION, account=ACCOUNT, bundle=placeholder_bundle, stack_name="Plain"
    )
    template = Template.from_stack(
        build_stack(aws_cdk.App(), settings, user_app=UserApp(app="main:app"))
    )
    (function,) = template.find_resources("AWS::Lambda::Function").values()
    assert "CapacityProviderConfig" not in function["Properties"]
    assert not template.find_outputs("CapacityProviderArn")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"managed_instances": True}, "needs a capacity provider"),
        ({"managed_instances": True, "subnet_ids": SUBNETS}, "needs a capacity provider"),
        ({"max_concurrency": 8}, "apply only with managed_instances"),
        ({"subnet_ids": SUBNETS}, "apply only with managed_instances"),
        (
            {"managed_instances": True, "capacity_provider_arn": EXISTING, "subnet_ids": SUBNETS},
            "drop subnet_ids",
        ),
        (
            {"managed_instances": True, "capacity_provider_arn": EXISTING, "max_concurrency": 0},
            "greater than or equal to 1",
        ),
    ],
)
@pytest.mark.usefixtures("clean_env")
def test_inconsistent_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DeploySettings(**options)


def test_the_cli_options_reach_the_stack(tmp_path: Path, placeholder_bundle: Path) -> None:
    """``--managed-instances`` and its options, as a user types them (a subprocess without
    credentials); a missing network is one line before anything is built."""
    env = cli_env(tmp_path, STREAMWAY_MODEL=MODEL)
    common = ["synth", "--bundle", str(placeholder_bundle), "--managed-instances"]
    refused = run_streamway([*common, "--out", str(tmp_path / "none")], env, tmp_path)
    assert refused.returncode == 1
    assert "needs a capacity provider" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    network = ["--subnet", SUBNETS[0], "--subnet", SUBNETS[1], "--security-group", GROUPS[0]]
    args = [*common, "--max-concurrency", "16", *network, "--out", str(tmp_path / "out")]
    completed = run_streamway(args, env, tmp_path)
    assert completed.returncode == 0, completed.stderr
    template = json.loads((tmp_path / "out" / "Streamway.template.json").read_text())
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert [_provider_config(f)["PerExecutionEnvironmentMaxConcurrency"] for f in functions] == [
        16,
        16,
    ]
