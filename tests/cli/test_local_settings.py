"""`streamway local`'s own reading of the serve limits agrees with the service's settings."""

from __future__ import annotations

import pytest

from streamway.cli.local_settings import LIMIT_DEFAULTS, server_limits
from streamway.config import ServeSettings
from streamway.http.limits import ServerLimits

CHANGED = {
    "STREAMWAY_REQUEST_HEAD_TIMEOUT_S": "2.5",
    "STREAMWAY_REQUEST_BODY_TIMEOUT_S": "7",
    "STREAMWAY_MAX_CONNECTIONS": "9",
    "STREAMWAY_KEEP_ALIVE_TIMEOUT_S": "3",
}


@pytest.mark.parametrize("env", [{}, CHANGED], ids=["defaults", "set"])
def test_local_reads_the_limits_as_the_service_settings_do(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for _, (name, _) in LIMIT_DEFAULTS.items():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert server_limits() == ServerLimits.from_settings(ServeSettings())


@pytest.mark.parametrize(
    ("value", "message"),
    [("soon", "must be a number, not 'soon'"), ("0", "must be above 0, not 0")],
)
def test_a_bad_limit_is_named(value: str, message: str) -> None:
    with pytest.raises(ValueError, match="STREAMWAY_MAX_CONNECTIONS") as error:
        server_limits({"STREAMWAY_MAX_CONNECTIONS": value})
    assert message in str(error.value)
