"""The runtime's own few settings, read from the environment without pydantic.

:class:`streamway.config.Settings` is the reference for these fields (names, aliases,
defaults, docs); a test keeps the two in step. The runtime does not import it because
pydantic and pydantic-settings cost about 300 ms of import time, and every cold start of
every app the runtime serves would pay it, whether the app uses streamway's settings or not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

from streamway.aws_contract import DEFAULT_APP, INVOKE_MODES, InvokeMode

LoopName = Literal["auto", "asyncio", "uvloop"]


def _first(env: Mapping[str, str], names: tuple[str, ...], default: str) -> str:
    for name in names:
        if name in env:
            return env[name]
    return default


@dataclass(frozen=True)
class RuntimeSettings:
    app: str = DEFAULT_APP
    lambda_invoke_mode: InvokeMode = "response_stream"
    lambda_pass_through_path: str = "/events"
    log_level: str = "INFO"
    loop: LoopName = "auto"
    log_format: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RuntimeSettings:
        env = os.environ if env is None else env
        mode = _first(
            env, ("STREAMWAY_LAMBDA_INVOKE_MODE", "AWS_LWA_INVOKE_MODE"), cls.lambda_invoke_mode
        ).lower()
        if mode not in INVOKE_MODES:
            raise ValueError(f"the invoke mode must be response_stream or buffered, not {mode!r}")
        loop = env.get("STREAMWAY_LOOP", cls.loop).lower()
        if loop not in ("auto", "asyncio", "uvloop"):
            raise ValueError(f"the loop must be auto, asyncio or uvloop, not {loop!r}")
        return cls(
            app=env.get("STREAMWAY_APP", cls.app),
            lambda_invoke_mode=mode,
            lambda_pass_through_path=_first(
                env,
                ("STREAMWAY_LAMBDA_PASS_THROUGH_PATH", "AWS_LWA_PASS_THROUGH_PATH"),
                cls.lambda_pass_through_path,
            ),
            log_level=env.get("STREAMWAY_LOG_LEVEL", cls.log_level).upper(),
            loop=cast(LoopName, loop),
            log_format=env.get("STREAMWAY_LOG_FORMAT", cls.log_format).lower(),
        )
