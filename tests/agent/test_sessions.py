"""The session store on a real directory: ids as long as AgentCore allows, across a restart."""

from __future__ import annotations

from pathlib import Path

from streamway.agent.sessions import SessionStore


def test_a_256_character_id_is_stored_and_found_again_after_a_restart(tmp_path: Path) -> None:
    # AgentCore allows 256 characters; `session_` + 256 is over a file name's 255 bytes.
    long_id = "a" * 256
    short_id = "b" * 33
    store = SessionStore(tmp_path, idle_timeout_s=900, max_sessions=8)
    for session_id in (long_id, short_id):
        with store.acquire(session_id):
            pass

    assert all(len(path.name) <= 255 for path in tmp_path.iterdir())
    restarted = SessionStore(tmp_path, idle_timeout_s=900, max_sessions=8)
    assert long_id in restarted
    assert short_id in restarted
    assert len(restarted) == 2
