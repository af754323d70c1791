"""Which :class:`ApiError` a failure below the routes is answered with, before any byte is sent.

One mapping per layer: the object store (:func:`store_error`), the model
(:func:`model_refusal`) and AgentCore's sessions (:func:`session_refusals`). Failures after the
response started are the responses' own business (:class:`StreamAborted`, an SSE error event).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from streamway.agent.admission import ModelBusy
from streamway.agent.events import unwrap_model_error
from streamway.agent.providers import PromptTooLong, upstream_status
from streamway.agent.sessions import InvalidSessionId, SessionBusy, TooManySessions
from streamway.service.errors import ApiError
from streamway.storage import (
    InvalidKey,
    ObjectChanged,
    ObjectNotFound,
    StoreError,
    StoreUnavailable,
)

# Under the loggers of the routes that meet the failures, which log files are read by.
store_log = logging.getLogger("streamway.downloads")
model_log = logging.getLogger("streamway.stream")


def store_error(error: StoreError, key: str) -> ApiError:
    """The JSON error a store failure is answered with (downloads and the object listing)."""
    if isinstance(error, InvalidKey):
        return ApiError(400, "invalid_key", f"The key is not allowed: {error}.")
    if isinstance(error, ObjectNotFound):
        return ApiError(404, "not_found", f"No object has the key {key!r}.", key=key)
    if isinstance(error, StoreUnavailable):
        store_log.error("store unavailable", extra={"key": key, "error": str(error)})
        return ApiError(
            503, "store_unavailable", f"The object store cannot be reached: {error}", retry=True
        )
    if isinstance(error, ObjectChanged):
        return ApiError(
            503,
            "object_changed",
            "The object was replaced while the request was served; try again.",
            retry=True,
        )
    store_log.error("store failed", extra={"key": key, "error": str(error)})
    return ApiError(502, "store_failed", f"The object store failed: {error}")


def model_refusal(raw: BaseException, stage: str = "before the first token") -> ApiError:
    """What to answer when the events fail before anything was sent: busy, refused or failed."""
    if isinstance(raw, ApiError):
        return raw
    error = unwrap_model_error(raw)
    if isinstance(error, ModelBusy):  # raised by admission, or by the model's machine slot
        return ApiError(
            503, "model_busy", str(error), headers={"retry-after": str(error.retry_after_s)}
        )
    if isinstance(error, PromptTooLong):  # the model counted the prompt's tokens
        return ApiError(413, "prompt_too_long", str(error), limit_tokens=error.limit)
    status = upstream_status(error)
    model_log.error(f"model failed {stage}", exc_info=error, extra={"status": status})
    return ApiError(
        status,
        "model_unavailable" if status == 503 else "model_failed",
        f"The model could not answer: {error}",
    )


@contextmanager
def session_refusals() -> Iterator[None]:
    """Turns the session store's refusals into their JSON errors."""
    try:
        yield
    except InvalidSessionId as error:
        raise ApiError(400, "invalid_session_id", str(error)) from None
    except SessionBusy as error:
        raise ApiError(409, "session_busy", str(error)) from None
    except TooManySessions as error:
        raise ApiError(503, "too_many_sessions", str(error), headers={"retry-after": "1"}) from None
