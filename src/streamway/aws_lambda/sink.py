"""Where an invocation's HTTP response goes: streamed or buffered to the Runtime API."""

from __future__ import annotations

import traceback
from typing import Any, Protocol

from streamway.aws_contract import error_object
from streamway.aws_lambda.events.base import RawHeaders


class ResponseSink(Protocol):
    async def start(self, status: int, headers: RawHeaders) -> None:
        """Status and headers are final (``http.response.start``)."""

    async def write(self, data: bytes) -> None:
        """One body chunk; returns when the connection took it (backpressure)."""

    async def finish(self) -> None:
        """The body is complete."""

    async def fail(self, error: BaseException) -> None:
        """The app failed: ``/error`` if nothing went out yet, else an honest failed stream."""


def error_payload(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """The error JSON Lambda runtimes send: ``errorType``, ``errorMessage``, trace lines."""
    return error_object(
        error_type or type(error).__name__, str(error), traceback.format_exception(error)
    )


async def fail_or_lose(sink: ResponseSink, error: BaseException) -> OSError | None:
    """``sink.fail(error)``; the connection's :class:`OSError` if it failed under that too
    (then the invocation is over, and nothing more can be sent for it)."""
    try:
        await sink.fail(error)
    except OSError as lost:
        return lost
    return None
