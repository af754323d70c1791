"""Build the Strands model that ``STREAMWAY_MODEL`` names, and say how its failures look to HTTP.

``local``               the embedded llama.cpp model (default)
``bedrock:<model-id>``  Amazon Bedrock through Strands' ``BedrockModel``
``openai:<model>``      any OpenAI-compatible server through Strands' ``OpenAIModel``
                        (sending text-only content as strings, see agent/openai_model.py)
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from strands.models import Model
from strands.types.exceptions import ModelThrottledException

from streamway.config import ModelSettings

if TYPE_CHECKING:
    from openai import AsyncOpenAI

#: The clients :func:`build_model` opened, by model, for :func:`close_model` (Strands leaves
#: a client it was given to whoever gave it).
_clients: weakref.WeakKeyDictionary[Model, AsyncOpenAI] = weakref.WeakKeyDictionary()


class UnknownModel(ValueError):
    pass


class PromptTooLong(ValueError):
    """The prompt has more tokens than the model may evaluate: the client's to shorten (413)."""

    def __init__(self, tokens: int, limit: int) -> None:
        super().__init__(
            f"The prompt has {tokens} tokens (with the system prompt and the conversation so "
            f"far); the most this model accepts is {limit} (STREAMWAY_MAX_PROMPT_TOKENS)."
        )
        self.tokens = tokens
        self.limit = limit


def build_model(settings: ModelSettings) -> Model:
    provider, _, name = settings.model.partition(":")
    if provider == "local":
        from streamway.agent.local_model import LocalLlamaModel
        from streamway.agent.machine_slot import MachineSlot, default_slot_dir

        slot = None
        if settings.model_slot == "machine":
            # Waiting for another process's answer is queueing like any other: same bound.
            slot_dir = settings.model_slot_dir or default_slot_dir()
            slot = MachineSlot(slot_dir, timeout_s=settings.queue_timeout_s)
        return LocalLlamaModel(
            settings.model_path,
            context_tokens=settings.context_tokens,
            threads=settings.threads,
            max_prompt_tokens=settings.effective_max_prompt_tokens,
            prompt_batch_tokens=settings.prompt_batch_tokens,
            prompt_eval_timeout_s=settings.prompt_eval_timeout_s,
            slot=slot,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            repeat_penalty=settings.repeat_penalty,
            seed=settings.seed,
        )
    if provider == "bedrock" and name:
        from strands.models.bedrock import BedrockModel

        return BedrockModel(
            model_id=name,
            region_name=settings.aws_region,
            endpoint_url=settings.bedrock_endpoint_url,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
        )
    if provider == "openai" and name:
        from openai import AsyncOpenAI

        from streamway.agent.openai_model import OpenAICompatibleModel

        # One client for the process, reused by every answer. Given only client_args, Strands
        # opens a fresh client per request, and each one (its SSL context, its pool) left
        # about 20 KB of native memory behind: 1000 answers grew the process by 20 MiB
        # (docs/providers.md). The model is built once, in the app's lifespan, on the event
        # loop that serves every request, which is what a shared httpx client needs.
        client = AsyncOpenAI(base_url=settings.openai_base_url, api_key=settings.openai_api_key)
        model = OpenAICompatibleModel(
            client=client,
            model_id=name,
            params={"max_tokens": settings.max_tokens, "temperature": settings.temperature},
        )
        _clients[model] = client
        return model
    raise UnknownModel(
        f"STREAMWAY_MODEL={settings.model!r} is not a model streamway knows; "
        "use `local`, `bedrock:<model-id>` or `openai:<model>`."
    )


async def close_model(model: Model) -> None:
    """Closes what :func:`build_model` opened for ``model`` (the OpenAI-compatible client and
    its pooled connections); nothing for the others. Call it once no answer is running."""
    client = _clients.pop(model, None)
    if client is not None:
        await client.close()


def _is_unreachable(error: BaseException) -> bool:
    # Matched by name so this module imports neither botocore, httpx nor openai eagerly.
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(
        names
        & {
            "EndpointConnectionError",  # botocore: Bedrock endpoint unreachable
            "ConnectTimeoutError",
            "ConnectError",  # httpx
            "APIConnectionError",  # openai
            "APITimeoutError",
            "ConnectionError",
            "TimeoutError",
        }
    )


def upstream_status(error: BaseException) -> int:
    """503 when the model is throttled or unreachable (worth a retry), 502 when it failed."""
    if isinstance(error, ModelThrottledException) or _is_unreachable(error):
        return 503
    return 502
