"""Strands' ``OpenAIModel``, sending text the way every OpenAI-compatible server accepts it.

Strands sends each message's content as a list of parts (``[{"type": "text", "text": ...}]``).
The OpenAI API accepts that, but servers that feed messages straight into the model's chat
template do not: llama-cpp-python's ``llama_cpp.server`` (which listens on the default
``STREAMWAY_OPENAI_BASE_URL``) fails inside the template and ends the stream empty, so the
client sees a "successful" answer with no text. A plain string is the original form of the
API and works everywhere, so text-only content is sent as one.
"""

from __future__ import annotations

from typing import Any

from strands.models.openai import OpenAIModel
from strands.types.content import Messages, SystemContentBlock


class OpenAICompatibleModel(OpenAIModel):
    @classmethod
    def format_request_messages(
        cls,
        messages: Messages,
        system_prompt: str | None = None,
        *,
        system_prompt_content: list[SystemContentBlock] | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        formatted = super().format_request_messages(
            messages, system_prompt, system_prompt_content=system_prompt_content, **kwargs
        )
        return [_with_text_as_string(message) for message in formatted]


def _with_text_as_string(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if not isinstance(content, list) or not content:
        return message
    if not all(isinstance(part, dict) and part.get("type") == "text" for part in content):
        return message  # images, files: only the list form can carry them
    return {**message, "content": "\n".join(part["text"] for part in content)}
