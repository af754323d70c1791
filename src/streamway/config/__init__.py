"""streamway's settings, one group per concern, read once from the environment.

Every field is read from ``STREAMWAY_<NAME>``, whichever group holds it. Where Lambda Web
Adapter or the AWS SDKs already define a name (``PORT``, ``AWS_LWA_PORT``, ``AWS_REGION``),
that name is honoured too, so the same container or zip behaves the same under LWA, under
``streamway serve`` and under the native runtime.

:class:`Settings` holds the groups; each subsystem is handed only its own: the serve group to
the server and the request middleware, the model group to the agent, the store group to the
object store, the AgentCore group to the sessions and ``/invocations``, the observability
group to logging and metrics. The Lambda runtime's group is
:class:`streamway.aws_lambda.settings.RuntimeSettings`, read without pydantic (cold start).
docs/configuration.md lists every setting under its group's heading; a test keeps it so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamway.config.agentcore import AgentCoreSettings
from streamway.config.model import DEFAULT_SYSTEM_PROMPT, ModelSettings
from streamway.config.observability import ObservabilitySettings
from streamway.config.serve import ServeSettings
from streamway.config.store import DEFAULT_STORE_URL, StoreSettings
from streamway.config.uploads import UploadSettings

__all__ = [
    "DEFAULT_STORE_URL",
    "DEFAULT_SYSTEM_PROMPT",
    "AgentCoreSettings",
    "ModelSettings",
    "ObservabilitySettings",
    "ServeSettings",
    "Settings",
    "StoreSettings",
    "UploadSettings",
]


@dataclass(frozen=True)
class Settings:
    """Every group of the service's settings; ``Settings()`` reads them all from the
    environment, and a group given as an argument replaces that group's reading."""

    serve: ServeSettings = field(default_factory=ServeSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    agentcore: AgentCoreSettings = field(default_factory=AgentCoreSettings)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)
    uploads: UploadSettings = field(default_factory=UploadSettings)
