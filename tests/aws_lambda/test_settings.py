"""The runtime's light settings agree with streamway's Settings, their reference."""

from __future__ import annotations

import pytest

from streamway.aws_lambda.settings import RuntimeSettings
from streamway.config import Settings

FIELDS = (
    "app",
    "lambda_invoke_mode",
    "lambda_pass_through_path",
    "log_level",
    "loop",
    "log_format",
)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"STREAMWAY_APP": "myapp:app", "STREAMWAY_LOG_LEVEL": "DEBUG", "STREAMWAY_LOOP": "asyncio"},
        {"STREAMWAY_LOG_FORMAT": "TEXT"},
        {"AWS_LWA_INVOKE_MODE": "buffered", "AWS_LWA_PASS_THROUGH_PATH": "/jobs"},
        {
            "STREAMWAY_LAMBDA_INVOKE_MODE": "response_stream",
            "AWS_LWA_INVOKE_MODE": "buffered",
            "STREAMWAY_LAMBDA_PASS_THROUGH_PATH": "/a",
            "AWS_LWA_PASS_THROUGH_PATH": "/b",
        },
    ],
)
def test_runtime_settings_match_settings(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "STREAMWAY_APP",
        "STREAMWAY_LOG_LEVEL",
        "STREAMWAY_LOOP",
        "STREAMWAY_LOG_FORMAT",
        "STREAMWAY_LAMBDA_INVOKE_MODE",
        "AWS_LWA_INVOKE_MODE",
        "STREAMWAY_LAMBDA_PASS_THROUGH_PATH",
        "AWS_LWA_PASS_THROUGH_PATH",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reference = Settings()
    light = RuntimeSettings.from_env()
    assert {f: getattr(light, f) for f in FIELDS} == {f: getattr(reference, f) for f in FIELDS}


def test_an_unknown_invoke_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="response_stream or buffered"):
        RuntimeSettings.from_env({"AWS_LWA_INVOKE_MODE": "streaming"})


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, asyncio or uvloop"):
        RuntimeSettings.from_env({"STREAMWAY_LOOP": "trio"})
