"""Settings defaults that depend on where streamway runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamway.config import Settings


def test_sessions_live_in_tmp_on_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMWAY_SESSIONS_DIR", raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "streamway")
    assert Settings().agentcore.sessions_dir == Path("/tmp/streamway/sessions")


def test_sessions_live_in_home_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMWAY_SESSIONS_DIR", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert Settings().agentcore.sessions_dir == Path.home() / ".streamway" / "sessions"
