"""The page in a real browser (Debian's Chromium via Playwright) against real streamway servers.

What a person sees: the answer growing token by token, Stop ending the generation on the
server, files downloading under their own names with the right bytes, and all of it
working under an API Gateway stage prefix and on a phone-sized screen.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import time
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, expect

from streamway.storage.samples import LARGE_SAMPLE, PDF_SAMPLE, ensure_samples
from tests.browser.conftest import prefixed_server, screenshot
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import RunningLocal, RunningServer, streamway_local, streamway_server

# SmolLM2 writes several hundred tokens for this prompt with seed 7: seconds of streaming.
LONG_PROMPT = "Write a very long story about a lighthouse keeper."
ODD_KEY = 'a b/"q"<x>.txt'
HOSTILE_KEY = "<img src=x onerror=alert(1)>.txt"


def eventually(check: Callable[[], Any], timeout_s: float = 10) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.05)
    return result


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("store")
    ensure_samples(directory)
    for key in (ODD_KEY, HOSTILE_KEY):
        (directory / key).parent.mkdir(parents=True, exist_ok=True)
        (directory / key).write_text("odd but served\n")
    return directory


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[RunningServer]:
    """streamway serve with the real local model and long answers, at the root."""
    env = {"STREAMWAY_MAX_TOKENS": "1500", "STREAMWAY_STORE_URL": str(store)}
    with streamway_server(env) as running:
        yield running


def start_long_answer(page: Page, server: RunningServer) -> None:
    page.goto(f"{server.url}/")
    page.fill("#prompt", LONG_PROMPT)
    page.click("#send")
    expect(page.locator("#state")).to_have_text("streaming", timeout=60_000)


def test_the_answer_grows_in_the_page_while_it_streams(page: Page, server: RunningServer) -> None:
    start_long_answer(page, server)
    # Each snapshot waits for the answer to change, then reads its length, the state and
    # the clock together: a page that showed the answer only at the end would have no
    # snapshot in the "streaming" state, or one jump from empty to the whole answer.
    snapshots = []
    length = 0
    for _ in range(6):
        page.wait_for_function(
            "(n) => document.getElementById('answer').textContent.length > n",
            arg=length,
            timeout=30_000,
        )
        snapshot = page.evaluate(
            """() => [document.getElementById('answer').textContent.length,
                      document.getElementById('state').textContent, performance.now()]"""
        )
        snapshots.append(snapshot)
        length = snapshot[0]
    lengths = [length for length, _, _ in snapshots]
    assert all(later > earlier for earlier, later in itertools.pairwise(lengths)), snapshots
    assert {state for _, state, _ in snapshots} == {"streaming"}, snapshots
    assert snapshots[-1][2] - snapshots[0][2] > 50, snapshots  # spread over time, not one burst
    expect(page.locator("#ttft")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(page.locator("#tps")).to_have_text(re.compile(r"^\d+\.\d$"))
    screenshot(page, "chat-streaming")
    page.click("#stop")
    expect(page.locator("#state")).to_have_text("stopped")


def answer_lines(server: RunningServer) -> list[dict[str, Any]]:
    """The access lines of the answers so far."""
    return [
        e for e in server.logs() if e.get("message") == "request" and e.get("path") == "/streaming"
    ]


def test_stop_cancels_generation_on_the_server(page: Page, server: RunningServer) -> None:
    eventually(lambda: server.stats()["generations"]["active"] == 0)
    before = server.stats()
    answered = len(answer_lines(server))
    start_long_answer(page, server)
    expect(page.locator("#answer")).to_have_text(re.compile(r"\S+ \S+ \S+"), timeout=30_000)
    assert server.stats()["generations"]["active"] == 1
    page.click("#stop")
    expect(page.locator("#state")).to_have_text("stopped")
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#stop")).to_be_disabled()

    # The answer's connection ends with Stop (its access line says so); the generation runs
    # apart from it (it could be resumed) until the page's DELETE stops it.
    eventually(lambda: len(answer_lines(server)) > answered, timeout_s=60)
    assert answer_lines(server)[-1]["outcome"] == "cancelled"
    eventually(lambda: server.stats()["generations"]["active"] == 0, timeout_s=60)
    stats = server.stats()
    assert stats["generations"]["cancelled"] == before["generations"]["cancelled"] + 1
    assert stats["generations"]["completed"] == before["generations"]["completed"]
    # Stopped by the DELETE, not left to the resume grace (30 s) to run out.
    assert stats["resume"]["deleted"] == before["resume"]["deleted"] + 1
    assert stats["resume"]["grace_cancels"] == before["resume"]["grace_cancels"]
    expect(page.locator("#chat-error")).to_be_hidden()
    expect(page.locator("#chat-resume")).to_be_hidden()


def test_downloads_are_saved_under_the_servers_name_with_the_right_bytes(
    page: Page, server: RunningServer, store: Path, tmp_path: Path
) -> None:
    page.goto(f"{server.url}/")
    expect(page.locator("#files tr")).to_have_count(4)
    screenshot(page, "files")
    for name in (LARGE_SAMPLE, PDF_SAMPLE):
        with page.expect_download(timeout=120_000) as started:
            page.get_by_role("link", name=name, exact=True).click()
        download = started.value
        assert download.suggested_filename == name
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        assert download.failure() is None
        assert saved.stat().st_size == (store / name).stat().st_size
        expected = (store / f"{name}.sha256").read_text().split()[0]
        assert sha256_of(saved) == expected
    assert (tmp_path / LARGE_SAMPLE).stat().st_size > 10_000_000


def test_an_object_over_one_part_downloads_in_ranged_parts_with_progress(
    page: Page, server: RunningServer, store: Path, tmp_path: Path
) -> None:
    """Issue 19 item 4: as ``streamway get --parallel``, 8 ranged GETs with If-Range at once."""
    ranges: list[tuple[str, str | None]] = []
    page.on(
        "request",
        lambda request: (
            ranges.append((request.headers["range"], request.headers.get("if-range")))
            if "range" in request.headers
            else None
        ),
    )
    page.goto(f"{server.url}/")
    with page.expect_download(timeout=300_000) as started:
        page.get_by_role("link", name=LARGE_SAMPLE, exact=True).click()
    download = started.value
    assert download.suggested_filename == LARGE_SAMPLE
    saved = tmp_path / LARGE_SAMPLE
    download.save_as(saved)
    assert sha256_of(saved) == (store / f"{LARGE_SAMPLE}.sha256").read_text().split()[0]
    size = (store / LARGE_SAMPLE).stat().st_size
    part = size // 8
    assert sorted(ranges) == sorted(
        (f"bytes={start}-{start + part - 1}", ranges[0][1]) for start in range(0, size, part)
    )
    assert ranges[0][1] is not None
    assert ranges[0][1].startswith('"')  # If-Range: the ETag of the HEAD
    expect(page.get_by_role("status").filter(has_text="saved")).to_have_text(
        "saved, 80 MiB in 8 parts"
    )


def test_odd_keys_are_shown_as_text_and_linked_percent_encoded(
    page: Page, server: RunningServer
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server.url}/")
    for key in (ODD_KEY, HOSTILE_KEY):
        link = page.get_by_role("link", name=key, exact=True)
        expect(link).to_have_attribute("href", "download/" + quote(key, safe="/"))
        expect(link).to_have_text(key)
    assert page.locator("main img").count() == 0
    assert dialogs == []


def test_a_stream_that_breaks_mid_answer_is_shown_as_failed(page: Page, store: Path) -> None:
    env = {"STREAMWAY_MAX_TOKENS": "1500", "STREAMWAY_STORE_URL": str(store)}
    with streamway_server(env) as doomed:
        start_long_answer(page, doomed)
        doomed.process.kill()  # the connection drops with the answer half written
        expect(page.locator("#chat-error")).to_contain_text("The stream failed")
        expect(page.locator("#state")).to_have_text("failed")
        expect(page.locator("#answer")).not_to_be_empty()  # what arrived stays readable
        expect(page.locator("#send")).to_be_enabled()


def test_the_pages_numbers_are_the_servers_metrics(page: Page, server: RunningServer) -> None:
    page.goto(f"{server.url}/")
    page.fill("#prompt", "Say hello in one short sentence.")
    page.click("#send")
    expect(page.locator("#state")).to_have_text(re.compile(r"^done: \d+ tokens$"), timeout=90_000)
    ttft, tps = page.inner_text("#ttft"), page.inner_text("#tps")
    # The access line of that request: the record the metrics and the span read too.
    access = eventually(
        lambda: [
            e
            for e in server.logs()
            if e.get("logger") == "streamway.access" and e.get("path") == "/streaming"
        ]
    )[-1]
    # JavaScript's Math.round and toFixed round halves up (Python's round() to even).
    assert ttft == f"{math.floor(access['time_to_first_token_ms'] + 0.5)} ms"
    exact = Decimal(access["tokens_per_second"])
    assert tps == str(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def test_the_page_fits_a_phone(browser: Browser, server: RunningServer) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    try:
        phone = context.new_page()
        phone.goto(f"{server.url}/")
        phone.fill("#prompt", "Say hello in one short sentence.")
        phone.click("#send")
        expect(phone.locator("#state")).to_have_text(
            re.compile(r"^done: \d+ tokens$"), timeout=90_000
        )
        expect(phone.locator("#files tr")).to_have_count(4)
        screenshot(phone, "phone")
        # Nothing wider than the screen: the page never scrolls sideways.
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()


@pytest.fixture(scope="module")
def dev_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("dev-store")
    ensure_samples(directory)
    (directory / LARGE_SAMPLE).unlink()  # not needed here; keeps the listing to small files
    (directory / f"{LARGE_SAMPLE}.sha256").unlink()
    for index in range(60):
        (directory / "many" / f"file-{index:02}.txt").parent.mkdir(exist_ok=True)
        (directory / "many" / f"file-{index:02}.txt").write_text(f"file {index}\n")
    return directory


@pytest.fixture(scope="module", params=["mounted", "streamway-local"])
def dev_server(request: pytest.FixtureRequest, dev_store: Path) -> Iterator[RunningServer]:
    """The app under ``/dev`` two ways: mounted under uvicorn, and behind ``streamway local``'s
    API Gateway stage with its functions on the native Lambda runtime."""
    env = {
        "STREAMWAY_STORE_URL": str(dev_store),
        "STREAMWAY_MAX_PROMPT_CHARS": "200",
        "STREAMWAY_MAX_TOKENS": "1500",
    }
    if request.param == "mounted":
        with prefixed_server(env) as running:
            yield running
    else:
        with streamway_local(env) as running:
            yield running


def test_the_page_works_under_a_stage_prefix_with_the_keyboard(
    page: Page, dev_server: RunningServer, dev_store: Path, tmp_path: Path
) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(dev_server.url)  # ".../dev", no slash: as API Gateway serves a stage's root
    assert page.url == f"{dev_server.url}/"

    # Files, a page at a time.
    expect(page.locator("#files tr")).to_have_count(50)
    page.get_by_role("button", name="Load more").click()
    expect(page.locator("#files tr")).to_have_count(61)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()

    # The chat by keyboard only: Tab reaches the question first, Shift+Enter is a new line.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "prompt"
    page.keyboard.press("Control+A")
    page.keyboard.type("Say hello.")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("Briefly.")
    assert page.input_value("#prompt") == "Say hello.\nBriefly."
    page.keyboard.press("Enter")
    # The answer may run to 1500 tokens: under the load of a full suite beside other test
    # runs that took over a minute twice (it streamed, slowly). The bound only catches a hang.
    expect(page.locator("#state")).to_have_text(re.compile(r"^done: \d+ tokens$"), timeout=180_000)
    expect(page.locator("#answer")).not_to_be_empty()
    expect(page.locator("#ttft")).to_have_text(re.compile(r"^\d+ ms$"))
    screenshot(page, f"dev-prefix-{kind(dev_server)}")

    # A JSON error from the service is shown as its message.
    page.fill("#prompt", "x" * 300)
    page.keyboard.press("Enter")
    expect(page.locator("#chat-error")).to_contain_text("The prompt has 300 characters")
    expect(page.locator("#state")).to_have_text("failed")
    screenshot(page, f"dev-prefix-error-{kind(dev_server)}")

    with page.expect_download() as started:
        page.get_by_role("link", name=PDF_SAMPLE, exact=True).click()
    download = started.value
    assert download.suggested_filename == PDF_SAMPLE
    download.save_as(tmp_path / PDF_SAMPLE)
    assert (tmp_path / PDF_SAMPLE).read_bytes() == (dev_store / PDF_SAMPLE).read_bytes()

    # Every request stayed under the prefix: no absolute path, nothing from elsewhere.
    assert requests[0] == dev_server.url  # the navigation itself
    outside = [url for url in requests[1:] if not url.startswith(f"{dev_server.url}/")]
    assert outside == [], outside
    assert f"{dev_server.url}/streaming" in requests


def kind(server: RunningServer) -> str:
    return "local" if isinstance(server, RunningLocal) else "mounted"


def server_is_idle(server: RunningServer) -> bool:
    """No answer is being generated: behind ``streamway local``, every sandbox of the
    streaming function is back in ``next``; under uvicorn, the service's own counters."""
    if isinstance(server, RunningLocal):
        sandboxes = server.functions()["StreamFunction"]["sandboxes"]
        return all(sandbox["state"] == "warm" for sandbox in sandboxes)
    return bool(server.stats()["generations"]["active"] == 0)


def test_stop_under_a_stage_prefix_ends_the_work_on_the_server(
    page: Page, dev_server: RunningServer
) -> None:
    eventually(lambda: server_is_idle(dev_server), timeout_s=30)
    start_long_answer(page, dev_server)
    expect(page.locator("#answer")).to_have_text(re.compile(r"\S+ \S+ \S+"), timeout=30_000)
    assert not server_is_idle(dev_server)
    page.click("#stop")
    expect(page.locator("#state")).to_have_text("stopped")
    # A 1500-token answer takes the model far longer than this to finish on its own (a
    # minute or more here). Through `streamway local` the stop travels gateway, Runtime API
    # and function before the model's token in progress ends: beside a CPU hog that took
    # over 3 s once, so the bound leaves room and still tells a stop from a finish.
    eventually(lambda: server_is_idle(dev_server), timeout_s=15)
    expect(page.locator("#chat-error")).to_be_hidden()


# --- the service's own errors, as the page shows them ----------------------------------------


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[OpenAIChatPeer, RunningServer]]:
    """streamway on a scripted OpenAI-compatible peer: one slot, no waiting room, slow chunks,
    so a second question is refused and a failure can be put in the middle of an answer."""
    peer = OpenAIChatPeer(delay_s=0.3)
    with serve_in_thread(peer) as url:
        env = {
            "STREAMWAY_MODEL": "openai:scripted",
            "STREAMWAY_OPENAI_BASE_URL": f"{url}/v1",
            "STREAMWAY_OPENAI_API_KEY": "sk-test",
            "STREAMWAY_CONCURRENCY": "1",
            "STREAMWAY_QUEUE_SIZE": "0",
        }
        with streamway_server(env) as running:
            yield peer, running


def test_a_model_failure_mid_answer_shows_the_services_error_event(
    page: Page, scripted: tuple[OpenAIChatPeer, RunningServer]
) -> None:
    peer, server = scripted
    peer.mode = "drop_mid_stream"  # the model's connection drops after a few chunks
    try:
        page.goto(f"{server.url}/")
        page.fill("#prompt", "Name three colours.")
        page.click("#send")
        # The SSE error event's message, not a network failure: the stream itself ended cleanly.
        expect(page.locator("#chat-error")).to_be_visible(timeout=30_000)
        expect(page.locator("#chat-error")).to_contain_text("The model failed mid-answer")
        expect(page.locator("#state")).to_have_text("failed")
        partial = "".join(ANSWER[: peer.chunks_before_drop - 1])
        expect(page.locator("#answer")).to_have_text(partial)  # what arrived stays readable
        expect(page.locator("#send")).to_be_enabled()
        screenshot(page, "model-failed-mid-answer")
    finally:
        peer.mode = "answer"


def test_a_busy_server_is_shown_with_its_503_message(
    page: Page, scripted: tuple[OpenAIChatPeer, RunningServer]
) -> None:
    _, server = scripted
    page.goto(f"{server.url}/")
    second = page.context.new_page()
    second.goto(f"{server.url}/")

    page.fill("#prompt", "Name three colours.")
    page.click("#send")
    expect(page.locator("#state")).to_have_text("streaming", timeout=30_000)

    second.fill("#prompt", "And three more.")
    second.click("#send")
    expect(second.locator("#chat-error")).to_contain_text("All 1 generation slots are busy")
    expect(second.locator("#chat-error")).to_contain_text(re.compile(r"Retry after \d+ s"))
    expect(second.locator("#state")).to_have_text("failed")
    expect(second.locator("#answer")).to_be_empty()
    screenshot(second, "busy-503")

    # The first answer is untouched by the refusal and completes.
    expect(page.locator("#state")).to_have_text(re.compile(r"^done: \d+ tokens$"), timeout=30_000)
    expect(page.locator("#answer")).to_have_text("".join(ANSWER))
