"""The AgentCore group: the Bedrock AgentCore runtime contract (/invocations, /ping, /ws)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from streamway.config.base import GroupSettings


def _default_sessions_dir() -> Path:
    # On Lambda only /tmp is writable; elsewhere keep conversations across reboots.
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return Path("/tmp/streamway/sessions")
    return Path.home() / ".streamway" / "sessions"


class AgentCoreSettings(GroupSettings):
    invocations_default_response: Literal["sse", "json"] = Field(
        default="sse",
        description="What `POST /invocations` answers when `Accept` names neither "
        "`text/event-stream` nor `application/json`.",
    )
    sessions_dir: Path = Field(
        default_factory=lambda: _default_sessions_dir(),
        description="Where conversations of AgentCore sessions are kept (Strands file sessions).",
    )
    session_idle_timeout_s: float = Field(
        default=900.0,
        description="A session unused this long is forgotten (AgentCore's default idle timeout).",
    )
    max_sessions: int = Field(
        default=100,
        description="Sessions kept at once; beyond it the least recently used idle one is ended.",
    )
    agentcore_entrypoint: str | None = Field(
        default=None,
        description="`module:function` answering `POST /invocations` instead of streamway's "
        "agent, as the SDK's `@app.entrypoint` (docs/agentcore.md).",
    )
