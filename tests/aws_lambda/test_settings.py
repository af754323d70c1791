"""The runtime's light settings: its own variables and aliases, and the variables it shares
with streamway's Settings (the loop and logging) read the same way by both."""

from __future__ import annotations

import pytest

from streamway.aws_lambda.settings import ENV_NAMES, RuntimeSettings
from streamway.config import Settings


@pytest.mark.parametrize(
    ("env", "own"),
    [
        ({}, ("streamway.service.asgi:app", "response_stream", "/events")),
        (
            {
                "STREAMWAY_APP": "myapp:app",
                "STREAMWAY_LOG_LEVEL": "DEBUG",
                "STREAMWAY_LOOP": "asyncio",
            },
            ("myapp:app", "response_stream", "/events"),
        ),
        (
            {"STREAMWAY_LOG_FORMAT": "TEXT"},
            ("streamway.service.asgi:app", "response_stream", "/events"),
        ),
        (
            {"AWS_LWA_INVOKE_MODE": "buffered", "AWS_LWA_PASS_THROUGH_PATH": "/jobs"},
            ("streamway.service.asgi:app", "buffered", "/jobs"),
        ),
        (
            {
                "STREAMWAY_LAMBDA_INVOKE_MODE": "response_stream",
                "AWS_LWA_INVOKE_MODE": "buffered",
                "STREAMWAY_LAMBDA_PASS_THROUGH_PATH": "/a",
                "AWS_LWA_PASS_THROUGH_PATH": "/b",
            },
            ("streamway.service.asgi:app", "response_stream", "/a"),
        ),
    ],
)
def test_runtime_settings_match_settings(
    env: dict[str, str], own: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for names in ENV_NAMES.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reference = Settings()
    light = RuntimeSettings.from_env()
    assert (light.app, light.lambda_invoke_mode, light.lambda_pass_through_path) == own
    assert (light.loop, light.log_level, light.log_format) == (
        reference.serve.loop,
        reference.observability.log_level,
        reference.observability.log_format,
    )


def test_an_unknown_invoke_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="response_stream or buffered"):
        RuntimeSettings.from_env({"AWS_LWA_INVOKE_MODE": "streaming"})


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, asyncio or uvloop"):
        RuntimeSettings.from_env({"STREAMWAY_LOOP": "trio"})


@pytest.mark.parametrize(
    ("env", "handler", "app_is_set"),
    [
        ({}, "", False),
        ({"STREAMWAY_HANDLER": " handlers.chat "}, "handlers.chat", False),
        (
            {"STREAMWAY_HANDLER": "handlers:chat", "STREAMWAY_APP": "myapp:app"},
            "handlers:chat",
            True,
        ),
        # Set to the default, it is still set: with a handler, the runtime refuses to guess.
        ({"STREAMWAY_APP": "streamway.service.asgi:app"}, "", True),
    ],
)
def test_the_handler_setting_and_whether_an_app_was_named(
    env: dict[str, str], handler: str, app_is_set: bool
) -> None:
    settings = RuntimeSettings.from_env(env)
    assert (settings.handler, settings.app_is_set) == (handler, app_is_set)


@pytest.mark.parametrize(
    ("env", "concurrency"),
    [
        ({}, 1),
        ({"AWS_LAMBDA_MAX_CONCURRENCY": "16"}, 16),
        ({"AWS_LAMBDA_MAX_CONCURRENCY": "16", "STREAMWAY_MAX_CONCURRENCY": "1"}, 1),
        ({"AWS_LAMBDA_MAX_CONCURRENCY": "16", "STREAMWAY_MAX_CONCURRENCY": "4"}, 4),
        ({"AWS_LAMBDA_MAX_CONCURRENCY": "4", "STREAMWAY_MAX_CONCURRENCY": "64"}, 4),
        ({"STREAMWAY_MAX_CONCURRENCY": "8"}, 1),
    ],
)
def test_concurrency_is_lambdas_maximum_capped_by_the_apps(
    env: dict[str, str], concurrency: int
) -> None:
    assert RuntimeSettings.from_env(env).concurrency == concurrency


@pytest.mark.parametrize(
    "env", [{"AWS_LAMBDA_MAX_CONCURRENCY": "0"}, {"STREAMWAY_MAX_CONCURRENCY": "many"}]
)
def test_a_concurrency_that_is_not_a_count_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="whole number"):
        RuntimeSettings.from_env(env)
