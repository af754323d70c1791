"""The function an emulator serves: what Lambda tells it about itself through its environment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass
class FunctionConfig:
    """What Lambda tells a function about itself through its environment."""

    name: str = "streamway"
    version: str = "$LATEST"
    memory_mb: int = 1024
    timeout_s: float = 900.0
    region: str = "us-east-1"
    account_id: str = "123456789012"
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Invocations handed to the function at once (Managed Instances' per-environment
    #: maximum, told to it as ``AWS_LAMBDA_MAX_CONCURRENCY``); None: no limit and no
    #: variable, Lambda's default compute, whose runtimes ask for one at a time anyway.
    max_concurrency: int | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.name}"

    def environment(self, runtime_api: str) -> dict[str, str]:
        """The environment Lambda gives a function whose Runtime API is at ``runtime_api``
        (the Node client refuses to start without the function name, version, memory size
        and log names)."""
        return {
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_VERSION": self.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[{self.version}]{uuid.uuid4().hex}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **(
                {"AWS_LAMBDA_MAX_CONCURRENCY": str(self.max_concurrency)}
                if self.max_concurrency is not None
                else {}
            ),
            **self.extra_env,
        }
