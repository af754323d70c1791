"""The page's upload button (tus-js-client) in Chromium against ``streamway serve`` whose store
is S3 (moto_server): 1 MiB parts, below S3's 5 MiB minimum, held in S3 and joined into parts;
the object downloads with its sha-256 and nothing of the upload is left in S3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_upload import PART, random_file, upload_statuses
from tests.servers import RunningServer, streamway_server
from tests.service.downloads_server import NO_MODEL, MotoS3
from tests.service.test_tus import download, repr_digest

MiB = 1024 * 1024
PREFIX = "files"


@pytest.fixture(scope="module")
def server(moto: MotoS3) -> Iterator[RunningServer]:
    env = {
        **moto.store_env(PREFIX),
        "STREAMWAY_MODEL": NO_MODEL,
        "STREAMWAY_UPLOADS": "on",
        "STREAMWAY_UPLOAD_PART_MAX_BYTES": str(PART),
    }
    with streamway_server(env) as running:
        yield running


def test_the_page_uploads_into_s3_in_parts_smaller_than_s3_takes(
    page: Page, server: RunningServer, moto: MotoS3, tmp_path: Path
) -> None:
    size = 12 * MiB + 5
    name = "page to s3.bin"
    sha256 = random_file(tmp_path / name, size)
    mark = len(server.logs())
    page.goto(f"{server.url}/")
    expect(page.locator("#upload")).to_be_enabled(timeout=30_000)

    page.set_input_files("#upload-file", str(tmp_path / name))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-status")).to_contain_text(f"uploaded {name}", timeout=120_000)
    expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()

    assert upload_statuses(server, mark, "PATCH") == [204] * 13  # ceil(size / 1 MiB)
    downloaded, headers = download(server, "page%20to%20s3.bin")
    assert downloaded == sha256
    assert headers["repr-digest"] == repr_digest(sha256)
    assert moto.multipart_uploads() == []
    assert moto.keys(f"{PREFIX}/.uploads/") == []
