"""An object larger than one Lambda response can carry, through ``streamway local``.

The service runs as a function there, so its HEAD and GET say how big one response may be,
a GET of the whole object is refused with a JSON 413 before any body (not cut at 200 MB),
and ranges within the cap are served. The object is a sparse file: its size is real to
``stat`` and ``pread``, and no test writes 300 MiB.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamway.service.big_objects import MAX_RESPONSE_BYTES, MAX_RESPONSE_HEADER
from tests.servers import RunningLocal, streamway_local
from tests.service.downloads_server import downloads_server

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024
HUGE = "huge.bin"
HUGE_SIZE = 300 * MiB
SMALL = "small.bin"
SMALL_DATA = os.urandom(64 * 1024)
TAIL = b"the last bytes of the object"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store")
    with (root / HUGE).open("wb") as file:
        file.truncate(HUGE_SIZE - len(TAIL))
        file.seek(0, os.SEEK_END)
        file.write(TAIL)
    (root / SMALL).write_bytes(SMALL_DATA)
    return root


@pytest.fixture(scope="module")
def local(store: Path) -> Iterator[RunningLocal]:
    env = {"STREAMWAY_STORE_URL": f"file://{store}", "STREAMWAY_MODEL": "openai:unused"}
    with streamway_local(env) as running:
        yield running


def test_the_cap_is_lambdas_200_mib_less_the_prelude() -> None:
    assert MAX_RESPONSE_BYTES == 209_698_816  # 200 MiB less 16 KiB


def test_head_of_a_huge_object_says_the_most_one_response_carries(local: RunningLocal) -> None:
    response = httpx.head(f"{local.url}/download/{HUGE}", timeout=60)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(HUGE_SIZE)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers[MAX_RESPONSE_HEADER] == str(MAX_RESPONSE_BYTES)


def test_a_plain_get_is_refused_with_json_before_any_body(local: RunningLocal) -> None:
    response = httpx.get(f"{local.url}/download/{HUGE}", timeout=60)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.headers[MAX_RESPONSE_HEADER] == str(MAX_RESPONSE_BYTES)
    error = response.json()["error"]
    assert error["code"] == "response_too_large"
    assert error["size"] == HUGE_SIZE
    assert error["max_response_bytes"] == MAX_RESPONSE_BYTES
    assert f"bytes=0-{MAX_RESPONSE_BYTES - 1}" in error["message"]


def test_a_range_larger_than_the_cap_is_refused_too(local: RunningLocal) -> None:
    for header in ("bytes=0-", f"bytes=0-{MAX_RESPONSE_BYTES}", "bytes=0-0,5-5"):
        response = httpx.get(f"{local.url}/download/{HUGE}", headers={"range": header}, timeout=60)
        assert response.status_code == 413, header
        assert response.json()["error"]["code"] == "response_too_large"


def test_ranges_within_the_cap_are_served(local: RunningLocal) -> None:
    url = f"{local.url}/download/{HUGE}"
    first = httpx.get(url, headers={"range": "bytes=0-1048575"}, timeout=60)
    assert first.status_code == 206
    assert first.headers["content-range"] == f"bytes 0-1048575/{HUGE_SIZE}"
    assert first.headers[MAX_RESPONSE_HEADER] == str(MAX_RESPONSE_BYTES)
    assert first.content == bytes(MiB)
    last = httpx.get(url, headers={"range": f"bytes=-{len(TAIL)}"}, timeout=60)
    assert last.status_code == 206
    assert last.content == TAIL


def test_objects_within_the_cap_carry_no_header(local: RunningLocal) -> None:
    response = httpx.get(f"{local.url}/download/{SMALL}", timeout=60)
    assert response.status_code == 200
    assert response.content == SMALL_DATA
    assert MAX_RESPONSE_HEADER not in response.headers


def test_off_lambda_nothing_is_capped(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    with downloads_server(store_url=f"file://{store}") as server:
        head = httpx.head(server.download_url(HUGE))
        assert head.status_code == 200
        assert MAX_RESPONSE_HEADER not in head.headers
        with httpx.stream("GET", server.download_url(HUGE)) as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(HUGE_SIZE)
            assert len(next(response.iter_raw(MiB))) > 0
