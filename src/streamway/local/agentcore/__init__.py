"""AgentCore Runtime's data plane (``InvokeAgentRuntime``) on ``streamway local``'s port."""

from streamway.local.agentcore.routes import LOCAL_RUNTIME_ARN, AgentCoreApi
from streamway.local.agentcore.runtime import AgentRuntime

__all__ = ["LOCAL_RUNTIME_ARN", "AgentCoreApi", "AgentRuntime"]
