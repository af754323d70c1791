"""The runtime's own few settings, read from the environment without pydantic.

This dataclass is the one definition of the Lambda runtime's settings (the *Lambda runtime*
group of docs/configuration.md): :data:`ENV_NAMES` says which variables set each field, first
name first. The runtime does not use :mod:`streamway.config` because pydantic and
pydantic-settings cost about 300 ms of import time, and every cold start of every app the
runtime serves would pay it, whether the app uses streamway's settings or not.

``STREAMWAY_LOOP``, ``STREAMWAY_LOG_LEVEL`` and ``STREAMWAY_LOG_FORMAT`` are read by
``streamway serve`` too (its serve and observability groups); a test keeps both readings in
step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, cast

from streamway.aws_contract import DEFAULT_APP, INVOKE_MODES, InvokeMode

LoopName = Literal["auto", "asyncio", "uvloop"]

#: The variables of each field, the first one set wins. The ``AWS_LWA_*`` names are Lambda
#: Web Adapter's, so one function configuration works under either.
ENV_NAMES: Mapping[str, tuple[str, ...]] = {
    "app": ("STREAMWAY_APP",),
    "handler": ("STREAMWAY_HANDLER",),
    "lambda_invoke_mode": ("STREAMWAY_LAMBDA_INVOKE_MODE", "AWS_LWA_INVOKE_MODE"),
    "lambda_pass_through_path": (
        "STREAMWAY_LAMBDA_PASS_THROUGH_PATH",
        "AWS_LWA_PASS_THROUGH_PATH",
    ),
    "log_level": ("STREAMWAY_LOG_LEVEL",),
    "loop": ("STREAMWAY_LOOP",),
    "log_format": ("STREAMWAY_LOG_FORMAT",),
    "lambda_max_concurrency": ("AWS_LAMBDA_MAX_CONCURRENCY",),
    "max_concurrency": ("STREAMWAY_MAX_CONCURRENCY",),
}


@dataclass(frozen=True)
class RuntimeSettings:
    #: The ASGI app the runtime serves, as ``module:attribute``.
    app: str = DEFAULT_APP
    #: A plain handler to serve instead of an app, as ``module.function`` (Lambda's handler
    #: setting) or ``module:function``; empty for none.
    handler: str = ""
    #: Whether ``STREAMWAY_APP`` was set (with a handler too, the function cannot start).
    app_is_set: bool = False
    #: ``response_stream`` for STREAM integrations and RESPONSE_STREAM function URLs,
    #: ``buffered`` for BUFFERED ones; non-HTTP events are always buffered.
    lambda_invoke_mode: InvokeMode = "response_stream"
    #: Where non-HTTP events are POSTed as JSON (LWA's pass-through path).
    lambda_pass_through_path: str = "/events"
    log_level: str = "INFO"
    #: ``auto`` takes uvloop when it is installed (as uvicorn does), else asyncio's.
    loop: LoopName = "auto"
    log_format: str = "auto"
    #: How many invocations Lambda sends this environment at once (Managed Instances set it;
    #: unset is 1, one at a time as on Lambda's default compute).
    lambda_max_concurrency: int = 1
    #: The most the app takes at once, whatever Lambda sends: ``1`` for an app or handler
    #: that is not safe to run concurrently; 0 takes Lambda's figure.
    max_concurrency: int = 0

    @property
    def concurrency(self) -> int:
        """How many invocations the runtime serves at once: Lambda's maximum, capped by
        ``STREAMWAY_MAX_CONCURRENCY`` when set."""
        if self.max_concurrency > 0:
            return min(self.lambda_max_concurrency, self.max_concurrency)
        return self.lambda_max_concurrency

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RuntimeSettings:
        env = os.environ if env is None else env

        def read(field: str) -> str:
            for name in ENV_NAMES[field]:
                if name in env:
                    return env[name]
            return cast(str, getattr(cls, field))

        mode = read("lambda_invoke_mode").lower()
        if mode not in INVOKE_MODES:
            raise ValueError(f"the invoke mode must be response_stream or buffered, not {mode!r}")
        loop = read("loop").lower()
        if loop not in ("auto", "asyncio", "uvloop"):
            raise ValueError(f"the loop must be auto, asyncio or uvloop, not {loop!r}")
        return cls(
            app=read("app"),
            handler=read("handler").strip(),
            app_is_set=any(name in env for name in ENV_NAMES["app"]),
            lambda_invoke_mode=mode,
            lambda_pass_through_path=read("lambda_pass_through_path"),
            log_level=read("log_level").upper(),
            loop=cast(LoopName, loop),
            log_format=read("log_format").lower(),
            lambda_max_concurrency=_count(read, "lambda_max_concurrency", least=1),
            max_concurrency=_count(read, "max_concurrency", least=0),
        )


def _count(read: Callable[[str], str], field: str, *, least: int) -> int:
    """A whole number setting, at least ``least``; a ValueError naming it otherwise."""
    text = str(read(field)).strip()
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise ValueError(f"{ENV_NAMES[field][0]} must be a whole number >= {least}, not {text!r}")
    return value
