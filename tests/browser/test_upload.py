"""The page's upload button (tus-js-client, inlined in the page) in Chromium against
``streamway serve`` with uploads on: progress while it goes, and an upload cut by a reload
that goes on from the server's offset when the same file is chosen again."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.test_page import eventually
from tests.servers import RunningServer, streamway_server
from tests.tcp_proxy import cutting_proxy

MiB = 1024 * 1024
PART = 1 * MiB  # small parts: many PATCHes for a file of a few tens of MB
TUS = {"tus-resumable": "1.0.0"}
#: What the server logs for a PATCH whose client left mid-body: no status (it sends no answer:
#: nobody reads it), outcome cancelled, nothing of the part kept.
BROKE_OFF = 0
UPLOAD_URLS = """() => Object.keys(localStorage)
    .filter((key) => key.startsWith("tus::"))
    .map((key) => JSON.parse(localStorage.getItem(key)).uploadUrl)"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[RunningServer]:
    env = {
        "STREAMWAY_UPLOADS": "on",
        "STREAMWAY_STORE_URL": f"file://{store}",
        "STREAMWAY_UPLOAD_PART_MAX_BYTES": str(PART),
    }
    with streamway_server(env) as running:
        yield running


def random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for start in range(0, size, MiB):
            block = os.urandom(min(MiB, size - start))
            digest.update(block)
            file.write(block)
    return digest.hexdigest()


def server_offset(server: RunningServer, upload_url: str) -> int:
    """The upload's offset, asked of the server itself (not through the page's proxy)."""
    response = httpx.head(server.url + urlsplit(upload_url).path, headers=TUS, timeout=10)
    assert response.status_code == 200, response.headers
    return int(response.headers["upload-offset"])


def upload_statuses(server: RunningServer, mark: int, method: str) -> list[int]:
    return [
        int(str(entry["status"]))
        for entry in server.logs()[mark:]
        if entry.get("logger") == "streamway.access"
        and entry.get("method") == method
        and str(entry.get("path", "")).startswith("/uploads")
    ]


def when(check: Callable[[], Any], timeout_s: float = 60) -> Any:
    return eventually(check, timeout_s)


def test_an_upload_cut_by_a_reload_goes_on_from_the_servers_offset(
    page: Page, server: RunningServer, store: Path, tmp_path: Path
) -> None:
    size = 24 * MiB
    name = "page upload.bin"
    sha256 = random_file(tmp_path / name, size)
    mark = len(server.logs())
    with cutting_proxy(server.port) as proxy:
        page.goto(f"http://127.0.0.1:{proxy.port}/")
        expect(page.locator("#upload")).to_be_enabled(timeout=30_000)  # OPTIONS said yes

        # Nine parts pass whole, the tenth stalls: the reload lands mid-upload however fast.
        proxy.stall_upstream_after(9 * MiB + PART // 2)
        page.set_input_files("#upload-file", str(tmp_path / name))
        page.get_by_role("button", name="Upload", exact=True).click()
        [upload_url] = when(lambda: page.evaluate(UPLOAD_URLS) or None)
        when(lambda: proxy.stalls == 1)
        when(lambda: server_offset(server, upload_url) == 9 * MiB)
        expect(page.locator("#upload-status")).to_contain_text(f"of {size // MiB} MiB")
        assert 0 < page.eval_on_selector("#upload-progress", "bar => bar.value") < 1
        screenshot(page, "upload-in-progress")

        page.reload()
        # The stalled part was not kept: the server is where it was, not back at 0.
        when(lambda: upload_statuses(server, mark, "PATCH").count(BROKE_OFF) == 1)
        assert server_offset(server, upload_url) == 9 * MiB
        expect(page.locator("#upload")).to_be_enabled(timeout=30_000)
        assert page.evaluate(UPLOAD_URLS) == [upload_url]  # remembered across the reload

        page.set_input_files("#upload-file", str(tmp_path / name))
        page.get_by_role("button", name="Upload", exact=True).click()
        expect(page.locator("#upload-status")).to_have_text(
            f"uploaded {name}, {size // MiB} MiB, resumed at byte {9 * MiB}", timeout=120_000
        )
        screenshot(page, "upload-done")
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()

    assert hashlib.sha256((store / name).read_bytes()).hexdigest() == sha256
    assert upload_statuses(server, mark, "POST") == [201]  # one upload, never created again
    patches = upload_statuses(server, mark, "PATCH")
    # 9 parts, the stalled one (its client went), the 15 left (409: a PATCH that came
    # before the server saw the first connection go; tus-js-client asks HEAD and goes on).
    assert patches[:9] == [204] * 9
    assert [status for status in patches[9:] if status not in (BROKE_OFF, 409)] == [204] * 15
    assert page.evaluate(UPLOAD_URLS) == []  # forgotten once complete


def test_an_upload_whose_name_exists_is_refused_with_the_services_message(
    page: Page, server: RunningServer, store: Path, tmp_path: Path
) -> None:
    (store / "taken.txt").write_text("already here\n")
    (tmp_path / "taken.txt").write_text("a newer one\n")
    mark = len(server.logs())
    page.goto(f"{server.url}/")
    expect(page.locator("#upload")).to_be_enabled(timeout=30_000)

    page.set_input_files("#upload-file", str(tmp_path / "taken.txt"))
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.locator("#upload-error")).to_have_text(
        "The upload failed: taken.txt already exists.", timeout=30_000
    )
    expect(page.locator("#upload")).to_be_enabled()
    # Refused once, not retried (a retry's line would be written before the error showed).
    assert when(lambda: upload_statuses(server, mark, "POST")) == [409]
    assert (store / "taken.txt").read_text() == "already here\n"
