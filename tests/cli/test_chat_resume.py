"""``streamway chat`` resumes a dropped answer (issue 18): the chat runs as a real process
against ``streamway serve`` through a real TCP proxy on loopback (tests/tcp_proxy.py) that
cuts the answer's connection mid-answer. The printed answer equals, byte for byte, the same
prompt answered without a cut (the server's seed is fixed), a notice says it resumed, and
Ctrl-C stops the generation on the server (DELETE) instead of leaving it to the grace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import REPO_ROOT, TEST_ENV, RunningServer, streamway_server
from tests.tcp_proxy import cutting_proxy

pytestmark = pytest.mark.timeout(300)

PROMPT = "Write a very long story about a lighthouse keeper."
#: Past the response's head and the first events (about 40 bytes each): inside the answer,
#: which is 64 tokens (tests/servers.py), over 2 KB of events.
CUT_AFTER_BYTES = 700
RESUMING = "the connection dropped; resuming after event"


def chat_command(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "streamway", "chat", "--url", url, *args]


def chat(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        chat_command(url, *args),
        env={**os.environ, **TEST_ENV},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


def eventually(check: Callable[[], Any], timeout_s: float = 30) -> Any:
    """``check``'s first true result; the timeout only turns a hang into a failure."""
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.05)
    return result


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """streamway serve on the real embedded model, fixed seed, resume on (its default)."""
    with streamway_server() as running:
        yield running


def test_a_dropped_answer_is_resumed_and_printed_once(server: RunningServer) -> None:
    uncut = chat(server.url, PROMPT)
    assert uncut.returncode == 0, uncut.stderr
    assert RESUMING not in uncut.stderr
    with cutting_proxy(server.port) as proxy:
        proxy.cut_after(CUT_AFTER_BYTES)
        cut = chat(f"http://127.0.0.1:{proxy.port}", PROMPT)
        assert proxy.cuts == 1
        assert proxy.connections == 2  # the question, then the one reconnection
    assert cut.returncode == 0, cut.stderr
    assert f"streamway: {RESUMING}" in cut.stderr
    assert "(try 1 of 3)" in cut.stderr
    # Every piece once, none missing: the text is the uncut one, byte for byte.
    assert cut.stdout == uncut.stdout
    assert len(uncut.stdout) > 100, uncut.stdout


def test_without_resume_a_drop_ends_the_chat_as_before() -> None:
    with (
        streamway_server({"STREAMWAY_RESUME_GRACE": "0"}) as plain,
        cutting_proxy(plain.port) as proxy,
    ):
        proxy.cut_after(CUT_AFTER_BYTES)
        result = chat(f"http://127.0.0.1:{proxy.port}", PROMPT)
        assert proxy.cuts == 1
        assert proxy.connections == 1  # no stream id: nothing to reconnect to
    assert result.returncode == 1
    assert "did not complete" in result.stderr
    assert RESUMING not in result.stderr
    assert result.stdout  # what arrived before the cut was printed


# --- the scripted model: a held answer, and two servers ---------------------------------------


@pytest.fixture(scope="module")
def peer() -> Iterator[tuple[OpenAIChatPeer, str]]:
    peer = OpenAIChatPeer(delay_s=0.2)
    with serve_in_thread(peer) as url:
        yield peer, url


def scripted_env(peer_url: str) -> dict[str, str]:
    return {
        "STREAMWAY_MODEL": "openai:scripted",
        "STREAMWAY_OPENAI_BASE_URL": f"{peer_url}/v1",
        "STREAMWAY_OPENAI_API_KEY": "sk-test",
    }


def test_ctrl_c_stops_the_generation_on_the_server(peer: tuple[OpenAIChatPeer, str]) -> None:
    model, peer_url = peer
    with streamway_server(scripted_env(peer_url)) as server:
        before = server.stats()
        model.gate = threading.Event()  # the model holds after its first piece
        try:
            with subprocess.Popen(
                chat_command(server.url, "Hi"),
                env={**os.environ, **TEST_ENV},
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ) as process:
                assert process.stdout is not None
                printed = b""
                while ANSWER[0].encode() not in printed:
                    piece = os.read(process.stdout.fileno(), 4096)
                    assert piece, "the chat ended before its first piece"
                    printed += piece
                process.send_signal(signal.SIGINT)
                _, stderr = process.communicate(timeout=60)
                assert process.returncode == 130
            assert b"stopped: the server was told to stop generating" in stderr
            # The DELETE ended it: not the grace timer, which would take 30 s.
            stats = eventually(lambda: (s := server.stats())["generations"]["active"] == 0 and s)
            assert stats["resume"]["deleted"] == before["resume"]["deleted"] + 1
            assert stats["resume"]["grace_cancels"] == before["resume"]["grace_cancels"]
            assert stats["generations"]["cancelled"] == before["generations"]["cancelled"] + 1
            assert not model.gate.is_set()  # stopped while the model still held the rest
        finally:
            if model.gate is not None:
                model.gate.set()
            model.gate = None


def test_a_resume_that_reaches_another_server_fails_clearly(
    peer: tuple[OpenAIChatPeer, str],
) -> None:
    """As a reconnect through API Gateway may reach another Lambda sandbox: that server does
    not have the stream, and the chat says the answer could not resume (404)."""
    _, peer_url = peer
    env = scripted_env(peer_url)
    with (
        streamway_server(env) as first,
        streamway_server(env) as second,
        cutting_proxy(first.port) as proxy,
    ):
        proxy.cut_after(450, then_upstream=second.port)
        result = chat(f"http://127.0.0.1:{proxy.port}", "Hi")
        assert proxy.cuts == 1
    assert result.returncode == 1
    assert RESUMING in result.stderr
    assert "could not resume: 404 stream_not_found" in result.stderr
    assert "Traceback" not in result.stderr
    assert "".join(ANSWER).startswith(result.stdout.strip()), result.stdout
