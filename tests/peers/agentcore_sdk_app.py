"""The bedrock-agentcore SDK's own app, as its examples write it, on streamway's models.

``python -m tests.peers.agentcore_sdk_app stream|json PORT`` serves ``BedrockAgentCoreApp``
under uvicorn on loopback with one of the two entrypoints people copy: an async generator
yielding the text of each Strands event (streaming) or a function returning the whole
answer (not streaming). The model comes from the same ``STREAMWAY_*`` settings as the
streamway server beside it, so both answer with the same model, or fail the same way.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from bedrock_agentcore.runtime import BedrockAgentCoreApp
from strands import Agent

from streamway.agent.providers import build_model
from streamway.config import ModelSettings


def new_agent(settings: ModelSettings) -> Agent:
    return Agent(
        model=build_model(settings),
        system_prompt=settings.system_prompt,
        callback_handler=None,
        retry_strategy=None,
    )


def streaming_app(settings: ModelSettings) -> BedrockAgentCoreApp:
    app = BedrockAgentCoreApp()

    @app.entrypoint
    async def invoke(payload: dict[str, Any]) -> AsyncIterator[str]:
        # Raw Strands events carry live objects; the SDK would send their repr. Whitelist text.
        async for event in new_agent(settings).stream_async(payload["prompt"]):
            if "data" in event:
                yield event["data"]

    return app


def answer_app(settings: ModelSettings) -> BedrockAgentCoreApp:
    app = BedrockAgentCoreApp()

    @app.entrypoint
    async def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        result = await new_agent(settings).invoke_async(payload["prompt"])
        return {"result": str(result)}

    return app


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    settings = ModelSettings()
    app = streaming_app(settings) if mode == "stream" else answer_app(settings)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
