"""Debian's Chromium driven by Playwright, and the servers the page is tested against.

Playwright cannot download its own browser here, so it drives ``/usr/bin/chromium``, which
``scripts/setup`` installs with apt. The suite fails rather than skips when it is missing
and could have been installed; it skips only where apt is not available at all.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.servers import RunningServer, free_port, python_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HTTP_ERROR_LOG = "Failed to load resource:"
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None:
            pytest.skip(f"{CHROMIUM} is absent and apt-get is not available to install it")
        pytest.fail(f"{CHROMIUM} is not installed: run scripts/setup (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context per test; console errors (CSP violations included) fail the test.

    Chromium also logs every 4xx/5xx answer and every broken transfer as "Failed to load
    resource"; a test that provokes one checks what the page shows instead. CSP violations
    ("Refused to ...") and script errors still fail.
    """
    context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith(HTTP_ERROR_LOG):
            errors.append(message.text)

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"the page logged errors: {errors}"


def screenshot(page: Page, name: str) -> Path:
    """Keeps a full-page screenshot as a test artifact (artifacts/ is not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def prefixed_server(env: dict[str, str]) -> Iterator[RunningServer]:
    """streamway under ``/dev`` on a real uvicorn (see prefixed_app.py); url ends in /dev."""
    port = free_port()
    command = [
        "-m",
        "uvicorn",
        "tests.browser.prefixed_app:app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    with python_server(command, port, env, log_prefix="streamway-dev-") as (process, log):
        yield RunningServer(f"http://127.0.0.1:{port}/dev", port, process, log)
