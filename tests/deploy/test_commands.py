"""``streamway synth`` and ``streamway deploy`` as a user runs them, in a subprocess, with no
AWS credentials anywhere (HOME is empty, metadata lookups off)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streamway.deploy.cdk_cli import cdk_command
from tests.deploy.cli_run import cfn_lint, cli_env, run_streamway
from tests.servers import REPO_ROOT

MODEL = "bedrock:us.anthropic.claude-haiku-4-5-20251001-v1:0"

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory, placeholder_bundle: Path) -> Path:
    tmp_path = tmp_path_factory.mktemp("synth")
    env = cli_env(
        tmp_path,
        STREAMWAY_MODEL=MODEL,
        STREAMWAY_DEPLOY_BUNDLE=str(placeholder_bundle),
        STREAMWAY_DEPLOY_API_KEY="true",
        STREAMWAY_DEPLOY_COGNITO="true",
        STREAMWAY_DEPLOY_WAF="true",
        STREAMWAY_DEPLOY_BUCKET="streamway-objects",
    )
    completed = run_streamway(["synth", "--out", str(tmp_path / "assembly")], env, tmp_path)
    assert completed.returncode == 0, completed.stderr
    template = tmp_path / "assembly" / "Streamway.template.json"
    assert f"wrote {template}" in completed.stdout
    return template


def test_synth_writes_the_template_without_credentials(synthesized: Path) -> None:
    template = json.loads(synthesized.read_text())
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert {
        "AWS::ApiGateway::RestApi",
        "AWS::Lambda::Function",
        "AWS::WAFv2::WebACLAssociation",
        "AWS::ApiGateway::UsagePlan",
        "AWS::Cognito::UserPool",
    } <= types
    assert "InvokeUrl" in template["Outputs"]
    # The bundle went into the assembly as the functions' asset.
    assert list(synthesized.parent.glob("asset.*.zip"))


def test_cfn_lint_accepts_the_template(synthesized: Path) -> None:
    completed = cfn_lint(synthesized)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_synth_refuses_the_local_model(tmp_path: Path, placeholder_bundle: Path) -> None:
    env = cli_env(
        tmp_path, STREAMWAY_MODEL="local", STREAMWAY_DEPLOY_BUNDLE=str(placeholder_bundle)
    )
    completed = run_streamway(["synth", "--out", str(tmp_path / "out")], env, tmp_path)
    assert completed.returncode == 1
    assert "STREAMWAY_MODEL='local' cannot be deployed" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists()


def test_synth_without_the_bundle_says_how_to_build_it(tmp_path: Path) -> None:
    env = cli_env(tmp_path, STREAMWAY_MODEL=MODEL, STREAMWAY_DEPLOY_ARCH="x86_64")
    completed = run_streamway(["synth"], env, tmp_path)
    assert completed.returncode == 1
    assert "dist/lambda-3.12-x86_64.zip does not exist" in completed.stderr
    assert "streamway package --python 3.12 --arch x86_64" in completed.stderr


def test_deploy_without_credentials_stops_before_any_work(tmp_path: Path) -> None:
    env = cli_env(tmp_path, STREAMWAY_MODEL=MODEL)
    completed = run_streamway(["deploy", "--out", str(tmp_path / "out")], env, tmp_path)
    assert completed.returncode == 1
    assert "no AWS credentials found" in completed.stderr
    assert "Traceback" not in completed.stderr
    # Neither packaged nor synthesized: it failed first, and fast.
    assert not (tmp_path / "dist").exists()
    assert not (tmp_path / "out").exists()


def test_deploy_refuses_the_local_model_before_credentials(tmp_path: Path) -> None:
    completed = run_streamway(["deploy"], cli_env(tmp_path), tmp_path)
    assert completed.returncode == 1
    assert "cannot be deployed" in completed.stderr


def test_serving_never_imports_aws_cdk(tmp_path: Path) -> None:
    code = (
        "import sys, streamway.cli, streamway.service.app, streamway.aws_lambda.runtime, "
        "streamway.deploy.settings, streamway.deploy.package, streamway.deploy.commands\n"
        "cdk = ('aws_cdk', 'jsii', 'constructs')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in cdk]\n"
        "assert not loaded, loaded\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env=cli_env(tmp_path),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


@pytest.mark.skipif(shutil.which("npx") is None, reason="needs Node.js (npx) for the CDK CLI")
def test_the_cdk_cli_reads_the_assembly(synthesized: Path, tmp_path: Path) -> None:
    """The real CDK CLI (what `streamway deploy` runs) accepts the in-process assembly."""
    env = cli_env(
        tmp_path, HOME=os.environ.get("HOME", str(tmp_path)), NPM_CONFIG_UPDATE_NOTIFIER="false"
    )
    completed = subprocess.run(
        [*cdk_command(), "ls", "--long", "--app", str(synthesized.parent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "name: Streamway" in completed.stdout
    assert "region: us-east-1" in completed.stdout


def test_the_cdk_app_file_builds_the_same_stack(tmp_path: Path, placeholder_bundle: Path) -> None:
    """deploy/app.py, run as deploy/cdk.json tells the CDK CLI to run it."""
    outdir = tmp_path / "cdk.out"
    env = cli_env(
        tmp_path,
        STREAMWAY_MODEL=MODEL,
        STREAMWAY_DEPLOY_BUNDLE=str(placeholder_bundle),
        CDK_OUTDIR=str(outdir),
    )
    app = json.loads((REPO_ROOT / "deploy" / "cdk.json").read_text())["app"]
    assert app == "cd .. && .venv/bin/python deploy/app.py"
    completed = subprocess.run(
        [sys.executable, "deploy/app.py"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    template = json.loads((outdir / "Streamway.template.json").read_text())
    assert "InvokeUrl" in template["Outputs"]


def test_package_refuses_an_unknown_target_plainly(tmp_path: Path) -> None:
    completed = run_streamway(["package", "--arch", "sparc"], cli_env(tmp_path), tmp_path)
    assert completed.returncode == 1
    assert "the architecture is arm64 or x86_64, not sparc" in completed.stderr
    assert "Traceback" not in completed.stderr
