"""The same behaviour through ``streamway serve`` and through ``streamway local``.

Every test here runs twice, against uvicorn serving the app directly and against the local
API Gateway relaying to the app in Lambda function processes, with the same store and the
same scripted model. Where the two differ on purpose (API Gateway's own answers), the
differences are tested in test_gateway.py, not here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamway.http.content_disposition import filename_from_content_disposition
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import ANSWER, OpenAIChatPeer
from tests.servers import RunningServer, streamway_local, streamway_server
from tests.streams import post_prompt

pytestmark = pytest.mark.timeout(300)

#: How long a request here may wait: through `streamway local` the first one also pays a
#: function's cold start, which on a loaded 2-core machine has taken over 30 s.
PATIENCE_S = 120

BIG = "media/big file.bin"
BIG_DATA = os.urandom(12 * 1024 * 1024 + 321)
BIG_SHA256 = hashlib.sha256(BIG_DATA).hexdigest()
REPORT = "レポート 2025.pdf"
REPORT_DATA = b"%PDF-1.4\n" + os.urandom(5000)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store")
    (root / "media").mkdir()
    (root / BIG).write_bytes(BIG_DATA)
    (root / f"{BIG}.sha256").write_text(f"{BIG_SHA256}  big file.bin\n")
    (root / REPORT).write_bytes(REPORT_DATA)
    return root


@pytest.fixture(scope="module")
def peer_url() -> Iterator[str]:
    with serve_in_thread(OpenAIChatPeer()) as url:
        yield url


@pytest.fixture(scope="module", params=["serve", "local"])
def server(request: pytest.FixtureRequest, store: Path, peer_url: str) -> Iterator[RunningServer]:
    env = {
        "STREAMWAY_STORE_URL": f"file://{store}",
        "STREAMWAY_MODEL": "openai:scripted",
        "STREAMWAY_OPENAI_BASE_URL": f"{peer_url}/v1",
    }
    starter = streamway_server if request.param == "serve" else streamway_local
    with starter(env) as running:
        yield running


def download_url(server: RunningServer, key: str) -> str:
    return f"{server.url}/download/{key}"


def test_download_whole_object_with_its_headers(server: RunningServer) -> None:
    response = httpx.get(download_url(server, BIG), timeout=PATIENCE_S)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == BIG_SHA256
    assert response.headers["content-length"] == str(len(BIG_DATA))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["etag"].startswith('"')
    assert "last-modified" in response.headers
    assert response.headers["repr-digest"].startswith("sha-256=:")
    disposition = response.headers["content-disposition"]
    assert filename_from_content_disposition(disposition) == "big file.bin"


def test_download_head_matches_get_without_a_body(server: RunningServer) -> None:
    head = httpx.head(download_url(server, REPORT), timeout=PATIENCE_S)
    get = httpx.get(download_url(server, REPORT), timeout=PATIENCE_S)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert get.content == REPORT_DATA
    for name in ("content-type", "content-length", "etag", "last-modified", "content-disposition"):
        assert head.headers[name] == get.headers[name]
    assert filename_from_content_disposition(head.headers["content-disposition"]) == REPORT


def test_download_range_416_and_conditionals(server: RunningServer) -> None:
    url = download_url(server, BIG)
    size = len(BIG_DATA)

    partial = httpx.get(url, headers={"range": "bytes=1000-1999"}, timeout=PATIENCE_S)
    assert partial.status_code == 206
    assert partial.content == BIG_DATA[1000:2000]
    assert partial.headers["content-range"] == f"bytes 1000-1999/{size}"

    unsatisfiable = httpx.get(url, headers={"range": f"bytes={size}-"}, timeout=PATIENCE_S)
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{size}"
    assert unsatisfiable.json()["error"]["code"] == "range_not_satisfiable"

    etag = httpx.head(url, timeout=PATIENCE_S).headers["etag"]
    not_modified = httpx.get(url, headers={"if-none-match": etag}, timeout=PATIENCE_S)
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag


def test_download_errors_are_json(server: RunningServer) -> None:
    missing = httpx.get(download_url(server, "media/nothing-here.bin"), timeout=PATIENCE_S)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    traversal = httpx.get(
        f"{server.url}/download/media%2f..%2f..%2fetc%2fpasswd", timeout=PATIENCE_S
    )
    assert traversal.status_code == 400
    assert traversal.json()["error"]["code"] == "invalid_key"


def test_streaming_text(server: RunningServer) -> None:
    answer = post_prompt(server.url, "What is response streaming?")
    assert answer.status == 200
    assert answer.error is None
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.text == "".join(ANSWER)
    assert len(answer.chunks) >= len(ANSWER) // 2


def test_streaming_bad_body_is_a_json_error(server: RunningServer) -> None:
    response = httpx.post(f"{server.url}/streaming", content=b"{}", timeout=PATIENCE_S)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "request"


def test_objects_listing(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/api/objects", timeout=PATIENCE_S)
    assert response.status_code == 200
    listing = response.json()
    assert [entry["key"] for entry in listing["objects"]] == [BIG, REPORT]
    assert [entry["size"] for entry in listing["objects"]] == [len(BIG_DATA), len(REPORT_DATA)]
    assert listing["next_cursor"] is None


def test_page(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/", timeout=PATIENCE_S)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
