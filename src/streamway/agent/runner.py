"""Runs one answer at a time per slot: admission, a fresh Strands Agent, JSON-safe events.

The runner owns the model (built once per process) and the admission queue, and counts what
happens to generations so that a client going away is observable from outside (``/stats``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any

from strands import Agent
from strands.models import Model
from strands.session import SessionManager

from streamway.agent.admission import Admission
from streamway.agent.events import AgentEvent, Finished, json_safe_events
from streamway.agent.providers import build_model
from streamway.config import ModelSettings

log = logging.getLogger("streamway.agent")


@dataclass
class GenerationCounters:
    started: int = 0
    completed: int = 0
    cancelled: int = 0
    failed: int = 0
    text_deltas: int = 0


class AgentRunner:
    def __init__(self, model: Model, admission: Admission, system_prompt: str) -> None:
        self.model = model
        self.admission = admission
        self.system_prompt = system_prompt
        self.counters = GenerationCounters()

    @classmethod
    def from_settings(cls, settings: ModelSettings) -> AgentRunner:
        return cls(
            build_model(settings),
            Admission(
                settings.effective_concurrency, settings.queue_size, settings.queue_timeout_s
            ),
            settings.system_prompt,
        )

    def new_agent(self, session_manager: SessionManager | None = None) -> Agent:
        # A Strands Agent keeps one conversation and refuses concurrent calls, so each
        # request gets its own; the expensive part (the model) is shared. A session's
        # conversation lives in its session manager, which the new agent restores from.
        return Agent(
            model=self.model,
            system_prompt=self.system_prompt,
            session_manager=session_manager,
            callback_handler=None,
            # Strands' default retries a throttled model call from the start, for minutes
            # (4 s, 8 s, ... 64 s). Mid-answer that streams the same text into the body a
            # client is already reading; before it, the client waits with no answer. The SDK
            # clients (botocore, openai) already retry briefly before a response starts;
            # after that, a 503 tells the client to retry.
            retry_strategy=None,
        )

    async def stream(
        self,
        prompt: str,
        session: Callable[[], AbstractContextManager[SessionManager]] | None = None,
    ) -> AsyncIterator[AgentEvent]:
        """The answer to ``prompt`` as JSON-safe events. Raises ModelBusy before the first one.

        With ``session`` the answer continues that conversation and is added to it. It is
        opened only once a generation slot is granted: a request refused as busy must not
        create a session (and so evict someone else's). Its refusals raise from here too,
        before the first event.
        """
        async with self.admission.slot():
            # Called here, not before: acquiring a session may create it and evict another.
            lease = session() if session is not None else nullcontext()
            with lease as session_manager:
                self.counters.started += 1
                outcome = "failed"
                try:
                    agent = self.new_agent(session_manager)
                    async for event in json_safe_events(agent.stream_async(prompt)):
                        if isinstance(event, Finished):
                            outcome = "completed"
                        else:
                            self.counters.text_deltas += 1
                        yield event
                except (asyncio.CancelledError, GeneratorExit):
                    # Closing the stream after Finished is the normal end, not a cancellation.
                    if outcome != "completed":
                        outcome = "cancelled"
                    raise
                finally:
                    setattr(self.counters, outcome, getattr(self.counters, outcome) + 1)
                    log.info("generation ended", extra={"outcome": outcome})

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {
            "generations": {**asdict(self.counters), "active": self.admission.active},
            "queue": {
                "slots": self.admission.slots,
                "waiting": self.admission.waiting,
                "capacity": self.admission.queue_size,
                "refused": self.admission.refused,
            },
        }
        tokens = getattr(self.model, "tokens_generated", None)
        if tokens is not None:
            stats["model"] = {"tokens_generated": tokens}
        return stats
