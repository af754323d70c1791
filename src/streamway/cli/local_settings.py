"""What ``streamway local`` reads before it starts, without the service's pydantic settings.

A user's app (``--app``) must run under ``streamway local`` from the light install, where
:mod:`streamway.config` (pydantic-settings) is absent; and building those settings costs
about half a second. So the serve group's connection limits are read here from the same
``STREAMWAY_*`` variables with the same defaults (a test keeps both readings in step), and
the logs are set up from the runtime's own settings. Only streamway's own app (the default)
needs the service extra: its sample files are written as ``streamway serve`` writes them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from streamway.aws_contract import DEFAULT_APP
from streamway.aws_lambda.settings import RuntimeSettings
from streamway.cli.service_extra import require_service
from streamway.http.limits import ServerLimits

#: The serve group's defaults (config/serve.py) and the variables that override them.
LIMIT_DEFAULTS: Mapping[str, tuple[str, float | int]] = {
    "head_timeout_s": ("STREAMWAY_REQUEST_HEAD_TIMEOUT_S", 10.0),
    "body_timeout_s": ("STREAMWAY_REQUEST_BODY_TIMEOUT_S", 30.0),
    "max_connections": ("STREAMWAY_MAX_CONNECTIONS", 512),
    "keep_alive_timeout_s": ("STREAMWAY_KEEP_ALIVE_TIMEOUT_S", 5),
}


def server_limits(env: Mapping[str, str] | None = None) -> ServerLimits:
    """The gateway server's connection limits from the environment; ValueError names a bad
    value (each must be a positive number)."""
    env = os.environ if env is None else {k.upper(): v for k, v in env.items()}
    values: dict[str, float | int] = {}
    for field, (name, default) in LIMIT_DEFAULTS.items():
        raw = env.get(name)
        try:
            value = default if raw is None else type(default)(raw)
        except ValueError:
            raise ValueError(f"{name} must be a number, not {raw!r}") from None
        if value <= 0:
            raise ValueError(f"{name} must be above 0, not {raw}")
        values[field] = value
    return ServerLimits(**values)  # type: ignore[arg-type]  # types follow the defaults


def prepare_local(app: str) -> ServerLimits:
    """Sets up logging, and the sample files when ``app`` is streamway's own; returns the
    server's limits. Raises :class:`~streamway.cli.service_extra.ServiceMissing` when
    streamway's own app is asked for without the service extra installed."""
    from streamway.logs import configure_logging

    runtime = RuntimeSettings.from_env()
    configure_logging(runtime.log_level, runtime.log_format)  # type: ignore[arg-type]
    if app == DEFAULT_APP:
        require_service("streamway local without --app")
        from streamway.cli.serve import _ensure_default_samples
        from streamway.config import StoreSettings

        _ensure_default_samples(StoreSettings())
    return server_limits()
