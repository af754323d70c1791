"""Which ApiError each lower layer's failure becomes: status, code, the details a client reads."""

from __future__ import annotations

import pytest

from streamway.agent.admission import ModelBusy
from streamway.agent.providers import PromptTooLong
from streamway.agent.sessions import InvalidSessionId, SessionBusy, TooManySessions
from streamway.service.errors import ApiError
from streamway.service.failures import model_refusal, session_refusals, store_error
from streamway.storage import (
    InvalidKey,
    ObjectChanged,
    ObjectNotFound,
    StoreError,
    StoreFailed,
    StoreUnavailable,
)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidKey("'..' is not allowed"), 400, "invalid_key"),
        (ObjectNotFound("a.bin"), 404, "not_found"),
        (StoreUnavailable("connection refused"), 503, "store_unavailable"),
        (ObjectChanged("etag changed"), 503, "object_changed"),
        (StoreFailed("disk error"), 502, "store_failed"),
    ],
)
def test_store_errors(error: StoreError, status: int, code: str) -> None:
    api_error = store_error(error, "a.bin")
    assert (api_error.status, api_error.code) == (status, code)
    if status == 503:
        assert api_error.details == {"retry": True}
    if status == 404:
        assert api_error.details == {"key": "a.bin"}


def test_model_refusals() -> None:
    busy = model_refusal(ModelBusy("all slots taken", retry_after_s=2))
    assert (busy.status, busy.code, busy.headers) == (503, "model_busy", {"retry-after": "2"})
    too_long = model_refusal(PromptTooLong(tokens=5000, limit=4096))
    assert (too_long.status, too_long.code, too_long.details) == (
        413,
        "prompt_too_long",
        {"limit_tokens": 4096},
    )
    failed = model_refusal(RuntimeError("boom"))
    assert (failed.status, failed.code) == (502, "model_failed")
    already = ApiError(409, "session_busy", "busy")
    assert model_refusal(already) is already


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidSessionId("too short"), 400, "invalid_session_id"),
        (SessionBusy("answering"), 409, "session_busy"),
        (TooManySessions("full"), 503, "too_many_sessions"),
    ],
)
def test_session_refusals(error: Exception, status: int, code: str) -> None:
    with pytest.raises(ApiError) as refused, session_refusals():
        raise error
    assert (refused.value.status, refused.value.code) == (status, code)
