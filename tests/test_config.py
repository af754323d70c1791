"""Settings: groups read from the flat STREAMWAY_* variables, and defaults that depend on where
streamway runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streamway.config import ModelSettings, ServeSettings, Settings, StoreSettings
from tests.settings import flat_settings


def test_sessions_live_in_tmp_on_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMWAY_SESSIONS_DIR", raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "streamway")
    assert Settings().agentcore.sessions_dir == Path("/tmp/streamway/sessions")


def test_sessions_live_in_home_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMWAY_SESSIONS_DIR", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert Settings().agentcore.sessions_dir == Path.home() / ".streamway" / "sessions"


def test_upload_parts_fit_lambdas_event_on_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMWAY_UPLOAD_PART_MAX_BYTES", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert Settings().uploads.upload_part_max_bytes == 8 * 1024 * 1024
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "streamway")
    assert Settings().uploads.upload_part_max_bytes == 4 * 1024 * 1024
    monkeypatch.setenv("STREAMWAY_UPLOAD_PART_MAX_BYTES", str(4 * 1024 * 1024 + 1))
    with pytest.raises(ValidationError, match="6 MB event"):
        Settings()


def test_flat_variables_set_the_fields_of_their_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "STREAMWAY_MODEL": "openai:gpt",
        "AWS_LWA_PORT": "9001",
        "STREAMWAY_STORE_URL": "s3://bucket/prefix",
        "AWS_REGION": "eu-west-1",
        "STREAMWAY_MAX_SESSIONS": "7",
        "STREAMWAY_LOG_FORMAT": "JSON",
        "STREAMWAY_ALLOWED_HOSTS": "a.example, *.b.example",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STREAMWAY_PORT", raising=False)
    monkeypatch.delenv("STREAMWAY_AWS_REGION", raising=False)
    monkeypatch.delenv("STREAMWAY_CONCURRENCY", raising=False)
    settings = Settings()
    assert (settings.model.model, settings.model.effective_concurrency) == ("openai:gpt", 32)
    assert settings.serve.port == 9001
    assert settings.serve.allowed_hosts == ["a.example", "*.b.example"]
    assert settings.store.store_url == "s3://bucket/prefix"
    # One variable, read by the two groups that talk to AWS.
    assert settings.model.aws_region == settings.store.aws_region == "eu-west-1"
    assert settings.agentcore.max_sessions == 7
    assert settings.observability.log_format == "json"


def test_a_group_given_replaces_only_that_groups_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMWAY_MODEL", "openai:from-env")
    monkeypatch.setenv("STREAMWAY_STORE_URL", "/from/env")
    settings = Settings(store=StoreSettings(store_url="/given"))
    assert settings.store.store_url == "/given"
    assert settings.model.model == "openai:from-env"
    with pytest.raises(ValidationError):
        ServeSettings(max_connections=0)


def test_flat_settings_puts_each_keyword_in_its_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMWAY_MAX_TOKENS", raising=False)
    settings = flat_settings(model="openai:x", port=1234, aws_region="us-west-2", max_sessions=3)
    assert (settings.model.model, settings.serve.port) == ("openai:x", 1234)
    assert settings.model.aws_region == settings.store.aws_region == "us-west-2"
    assert settings.agentcore.max_sessions == 3
    assert settings.model.max_tokens == ModelSettings().max_tokens
    with pytest.raises(TypeError, match="no settings group has a field 'stor_url'"):
        flat_settings(stor_url="/typo")
