"""DeploySettings from the environment, and the refusal of the embedded model."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamway.deploy.settings import DeploySettings, LocalModelRefused


@pytest.mark.usefixtures("clean_env")
def test_read_from_streamway_deploy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMWAY_MODEL", "bedrock:us.amazon.nova-lite-v1:0")
    monkeypatch.setenv("STREAMWAY_DEPLOY_ARCH", "x86_64")
    monkeypatch.setenv("STREAMWAY_DEPLOY_PYTHON", "3.11")
    monkeypatch.setenv("STREAMWAY_DEPLOY_API_KEY", "true")
    monkeypatch.setenv("STREAMWAY_DEPLOY_MODEL_REGIONS", '["us-east-1","us-west-2"]')
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    settings = DeploySettings()
    assert (settings.arch, settings.python, settings.api_key) == ("x86_64", "3.11", True)
    assert settings.region == "eu-west-1"
    assert settings.model_regions == ["us-east-1", "us-west-2"]
    assert settings.bundle_path == Path("dist/lambda-3.11-x86_64.zip")
    settings.require_remote_model()


@pytest.mark.usefixtures("clean_env")
def test_the_embedded_model_is_refused() -> None:
    settings = DeploySettings()
    assert settings.model == "local"
    with pytest.raises(LocalModelRefused, match="does not belong in a Lambda bundle"):
        settings.require_remote_model()


@pytest.mark.usefixtures("clean_env")
def test_limits_are_lambdas() -> None:
    with pytest.raises(ValueError, match="less than or equal to 900"):
        DeploySettings(timeout_s=901)
    with pytest.raises(ValueError, match="user_pool_arn is set but cognito is off"):
        DeploySettings(user_pool_arn="arn:aws:cognito-idp:us-east-1:1:userpool/x")


def test_every_setting_is_in_the_deploy_doc() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text("utf-8")
    missing = [
        name
        for name in DeploySettings.model_fields
        if f"STREAMWAY_DEPLOY_{name.upper()}" not in text
        # The usage plan's three limits share one row: _THROTTLE_BURST, _QUOTA_PER_DAY.
        and f"_{name.upper()}`" not in text
    ]
    assert not missing, f"settings missing from docs/deploy.md: {missing}"
