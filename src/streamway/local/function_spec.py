"""One local Lambda function as the deploy stack defines it, and the environment of its
processes."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from streamway.aws_contract import DEFAULT_APP, InvokeMode

#: The variable that names a plain handler (``module.func``) instead of an ASGI app.
HANDLER_ENV = "STREAMWAY_HANDLER"
APP_ENV = "STREAMWAY_APP"
RUNTIME_API_ENV = "AWS_LAMBDA_RUNTIME_API"


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function (StreamFunction, BufferedFunction): its code, limits and
    environment."""

    name: str
    invoke_mode: InvokeMode
    app: str = DEFAULT_APP
    #: A plain handler (``module.func``), served instead of :attr:`app` when set.
    handler: str | None = None
    memory_mb: int = 1024
    timeout_s: float = 900.0
    concurrency: int = 2
    #: Invocations one sandbox serves at once (Managed Instances); 1: one at a time.
    max_concurrency: int = 1
    #: Set over the inherited environment (``--env-file``; the tests' settings).
    env: Mapping[str, str] = field(default_factory=dict)
    #: Directories put first on the processes' PYTHONPATH (the app's source).
    pythonpath: tuple[str, ...] = ()
    #: Another runtime's command instead of streamway's (the tests run AWS's Node.js client
    #: with it); it gets the Runtime API as bare ``host:port`` and is admitted by its pid.
    command: tuple[str, ...] = ()

    def argv(self) -> tuple[str, ...]:
        """The function process's command: :attr:`command`, or streamway's runtime."""
        return self.command or (sys.executable, "-m", "streamway.aws_lambda")

    def code_env(self) -> dict[str, str]:
        """What the runtime serves: ``STREAMWAY_HANDLER`` or ``STREAMWAY_APP``, never both."""
        if self.handler is not None:
            return {HANDLER_ENV: self.handler}
        return {APP_ENV: self.app}

    def process_env(self, lambda_env: Mapping[str, str] | None = None) -> dict[str, str]:
        """A function process's environment: this process's, Lambda's (``lambda_env``),
        PYTHONPATH with :attr:`pythonpath` first, :attr:`env`, then the code and the invoke
        mode, which the command line decides, and the Runtime API's address."""
        lambda_env = lambda_env or {}
        inherited = {
            name: value for name, value in os.environ.items() if name not in (APP_ENV, HANDLER_ENV)
        }
        path = [*self.pythonpath, *filter(None, [inherited.get("PYTHONPATH")])]
        env = {
            **inherited,
            **lambda_env,
            **({"PYTHONPATH": os.pathsep.join(path)} if path else {}),
            **self.env,
            **self.code_env(),
            "STREAMWAY_LAMBDA_INVOKE_MODE": self.invoke_mode,
        }
        if RUNTIME_API_ENV in lambda_env:
            # Last: the emulator answers only with its own secret (an inherited or
            # configured value would leave the sandbox unable to start).
            env[RUNTIME_API_ENV] = lambda_env[RUNTIME_API_ENV]
        return env
