"""The page resumes a dropped answer (issue 18): Chromium talks to ``streamway serve``
through a real TCP proxy on loopback (tests/tcp_proxy.py) that cuts the answer's connection
mid-answer. The page reconnects to ``GET streaming/{id}`` with the last event id it
rendered, says so in its status line, and shows the whole answer exactly once: the same
text, byte for byte, as the same prompt answered without a cut (the server's seed is fixed).
A reconnect that reaches a server without the stream (another Lambda sandbox) fails clearly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import RunningServer, streamway_server
from tests.tcp_proxy import cutting_proxy

PROMPT = "Write a very long story about a lighthouse keeper."
#: Past the response's head and the first events (each event is about 40 bytes): the cut
#: lands inside the answer, which is 64 tokens (tests/servers.py), over 2 KB of events.
CUT_AFTER_BYTES = 900
DONE = re.compile(r"^done: \d+ tokens$")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("resume-store")
    (directory / "note.txt").write_text("a file, so the page's listing has a row\n")
    return directory


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[RunningServer]:
    """streamway serve on the real embedded model, fixed seed, resume on (its default)."""
    with streamway_server({"STREAMWAY_STORE_URL": str(store)}) as running:
        yield running


def open_page(page: Page, port: int) -> None:
    page.goto(f"http://127.0.0.1:{port}/")
    expect(page.locator("#files tr")).to_have_count(1)
    # Nothing else is in flight: the proxy's byte budget goes to the answer alone.
    page.wait_for_load_state("networkidle")


def ask(page: Page, prompt: str) -> None:
    page.fill("#prompt", prompt)
    page.click("#send")


def test_a_dropped_answer_resumes_and_shows_the_whole_answer_once(
    page: Page, server: RunningServer
) -> None:
    open_page(page, server.port)
    ask(page, PROMPT)
    expect(page.locator("#state")).to_have_text(DONE, timeout=120_000)
    uncut = page.inner_text("#answer")
    expect(page.locator("#chat-resume")).to_be_hidden()

    with cutting_proxy(server.port) as proxy:
        open_page(page, proxy.port)
        proxy.cut_after(CUT_AFTER_BYTES)
        ask(page, PROMPT)
        proxy.wait_for_cuts(1)
        expect(page.locator("#state")).to_have_text(DONE, timeout=120_000)
        # The status line says the answer was resumed; nothing says it failed.
        expect(page.locator("#chat-resume")).to_be_visible()
        expect(page.locator("#chat-resume")).to_contain_text("resumed where it stopped (1 time)")
        expect(page.locator("#chat-error")).to_be_hidden()
        assert page.locator("#chat-resume").get_attribute("role") == "status"  # announced
        screenshot(page, "chat-resumed")
        resumed = page.inner_text("#answer")
        assert proxy.cuts == 1
    # Every piece once, none missing: the text is the uncut one, byte for byte.
    assert resumed == uncut
    assert len(uncut) > 100, uncut  # a real answer, long enough to be cut inside


# --- a reconnect that reaches a server without the stream ------------------------------------


@pytest.fixture(scope="module")
def two_servers(store: Path) -> Iterator[tuple[RunningServer, RunningServer]]:
    """Two streamway servers on one scripted model peer (slow chunks, so a cut lands
    mid-answer): as two Lambda sandboxes behind one API, each knows only its own streams."""
    peer = OpenAIChatPeer(delay_s=0.3)
    with serve_in_thread(peer) as url:
        env = {
            "STREAMWAY_MODEL": "openai:scripted",
            "STREAMWAY_OPENAI_BASE_URL": f"{url}/v1",
            "STREAMWAY_OPENAI_API_KEY": "sk-test",
            "STREAMWAY_STORE_URL": str(store),
        }
        with streamway_server(env) as first, streamway_server(env) as second:
            yield first, second


def test_a_resume_that_reaches_another_server_fails_clearly(
    page: Page, two_servers: tuple[RunningServer, RunningServer]
) -> None:
    first, second = two_servers
    with cutting_proxy(first.port) as proxy:
        open_page(page, proxy.port)
        # The answer's head and its first events pass (the peer's chunks are short); from
        # the cut on, every connection goes to the other server.
        proxy.cut_after(450, then_upstream=second.port)
        ask(page, "Name three colours.")
        proxy.wait_for_cuts(1)
        expect(page.locator("#chat-error")).to_contain_text(
            "The connection dropped and the answer could not be resumed", timeout=30_000
        )
        expect(page.locator("#state")).to_have_text("failed")
        # What arrived before the cut stays readable, and is a prefix of the answer.
        shown = page.inner_text("#answer")
        assert "".join(ANSWER).startswith(shown), shown
        expect(page.locator("#send")).to_be_enabled()
        screenshot(page, "chat-resume-not-found")
    assert proxy.connections >= 2
