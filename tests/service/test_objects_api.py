"""``GET /api/objects`` over a real server: pagination on a local directory and on moto's S3."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.downloads_server import BUCKET, MotoS3, downloads_server, moto_s3

ODD_KEY = 'a b/"q"<x>.txt'
HOSTILE_KEY = "<img src=x onerror=alert(1)>.txt"


def list_all(url: str, limit: int, **params: str) -> tuple[list[dict[str, Any]], int]:
    """Every object, following ``next_cursor``; also how many pages that took."""
    objects: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        response = httpx.get(f"{url}/api/objects", params=query, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["objects"]) <= limit
        objects += body["objects"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return objects, pages


@pytest.fixture
def local_store(tmp_path: Path) -> Path:
    files = {
        "b/c.bin": b"c" * 3000,
        "b/c.bin.sha256": b"0" * 64 + b"  c.bin\n",  # a sidecar: metadata, not an object
        "notes.sha256": b"a file of its own",  # no sibling: an object like any other
        ODD_KEY: b"odd",
        HOSTILE_KEY: b"<script>",
        "レポート 2025.pdf": b"%PDF-1.4",
        "z.txt": b"",
    }
    for key, data in files.items():
        path = tmp_path / "store" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (tmp_path / "outside.txt").write_text("not in the store")
    os.symlink(tmp_path / "outside.txt", tmp_path / "store" / "escape.txt")
    os.symlink(tmp_path / "store", tmp_path / "store" / "loop")  # must not be walked forever
    return tmp_path / "store"


def test_local_listing_pages_in_key_order_and_leaves_out_what_is_not_served(
    local_store: Path,
) -> None:
    expected = sorted(
        [HOSTILE_KEY, ODD_KEY, "b/c.bin", "notes.sha256", "z.txt", "レポート 2025.pdf"]
    )
    with downloads_server(store_url=str(local_store)) as server:
        objects, pages = list_all(server.url, limit=2)
        assert [o["key"] for o in objects] == expected
        assert pages == 3
        by_key = {o["key"]: o for o in objects}
        assert by_key["b/c.bin"]["size"] == 3000
        assert by_key["レポート 2025.pdf"]["content_type"] == "application/pdf"
        assert by_key["z.txt"]["content_type"] == "text/plain"
        assert by_key["z.txt"]["last_modified"].endswith("+00:00")
        # Relative, percent-encoded, and resolving to the object's download.
        assert by_key[ODD_KEY]["url"] == "download/a%20b/%22q%22%3Cx%3E.txt"
        assert by_key["レポート 2025.pdf"]["url"] == (
            "download/%E3%83%AC%E3%83%9D%E3%83%BC%E3%83%88%202025.pdf"
        )
        for key in (ODD_KEY, HOSTILE_KEY, "レポート 2025.pdf"):
            download = httpx.get(f"{server.url}/{by_key[key]['url']}", timeout=10)
            assert download.content == (local_store / key).read_bytes()

        # A prefix narrows the walk; it need not end at a "/".
        assert [o["key"] for o in list_all(server.url, 10, prefix="b/")[0]] == ["b/c.bin"]
        assert [o["key"] for o in list_all(server.url, 10, prefix="b")[0]] == ["b/c.bin"]
        assert list_all(server.url, 10, prefix="missing/")[0] == []
        # The whole listing in one page has no next one.
        whole = httpx.get(f"{server.url}/api/objects", timeout=10).json()
        assert (len(whole["objects"]), whole["next_cursor"]) == (len(expected), None)


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"limit": "0"}, 422, "invalid_field"),
        ({"limit": "1001"}, 422, "invalid_field"),
        ({"limit": "ten"}, 422, "invalid_field"),
        ({"prefix": "../"}, 400, "invalid_prefix"),
        ({"prefix": "/etc"}, 400, "invalid_prefix"),
        ({"cursor": "a\x00b"}, 400, "invalid_cursor"),
        ({"prefix": "x" * 1025}, 422, "invalid_field"),
    ],
)
def test_bad_parameters_are_json_errors(
    local_store: Path, query: dict[str, str], status: int, code: str
) -> None:
    with downloads_server(store_url=str(local_store)) as server:
        response = httpx.get(f"{server.url}/api/objects", params=query, timeout=10)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


def test_a_missing_store_directory_is_unavailable(tmp_path: Path) -> None:
    with downloads_server(store_url=str(tmp_path / "nowhere")) as server:
        response = httpx.get(f"{server.url}/api/objects", timeout=10)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_unavailable"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with moto_s3() as server:
        for index in range(7):
            server.put(f"files/item-{index}.bin", bytes(index), checksum=False)
        server.put(f"files/{ODD_KEY}", b"odd", checksum=False, ContentType="text/x-odd")
        server.put("files/dir/", b"", checksum=False)  # a console's "folder": not listed
        server.put("files/bad/../key", b"", checksum=False)  # no download would serve it
        server.put("elsewhere.txt", b"outside the prefix", checksum=False)
        yield server


def test_s3_listing_pages_with_start_after_under_the_store_prefix(moto: MotoS3) -> None:
    expected = sorted([ODD_KEY, *(f"item-{index}.bin" for index in range(7))])
    with downloads_server(store_url=f"s3://{BUCKET}/files", s3_endpoint_url=moto.endpoint) as s:
        objects, pages = list_all(s.url, limit=3)
        assert [o["key"] for o in objects] == expected
        assert pages == 4  # 10 keys under files/, 3 a page; two are left out of their pages
        by_key = {o["key"]: o for o in objects}
        assert by_key["item-5.bin"]["size"] == 5
        assert by_key["item-5.bin"]["content_type"] == "application/octet-stream"
        assert by_key[ODD_KEY]["url"] == "download/a%20b/%22q%22%3Cx%3E.txt"
        assert httpx.get(f"{s.url}/{by_key[ODD_KEY]['url']}", timeout=10).content == b"odd"
        prefixed = list_all(s.url, limit=100, prefix="item-")[0]
        assert [o["key"] for o in prefixed] == expected[1:]


def test_every_listed_name_downloads_and_other_spellings_are_neither(tmp_path: Path) -> None:
    # Names with CR or LF were listed but not downloadable (the route stopped at LF).
    names = ["line\nbreak.txt", "carriage\rreturn.txt", "both\r\n.txt", "sub/x.txt"]
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    with downloads_server(store_url=str(tmp_path)) as server:
        objects, _ = list_all(server.url, limit=100)
        assert sorted(o["key"] for o in objects) == sorted(names)
        for entry in objects:
            download = httpx.get(f"{server.url}/{entry['url']}", timeout=10)
            assert download.status_code == 200, entry
            assert download.content == entry["key"].encode()
        assert httpx.get(f"{server.url}/download/sub//x.txt").status_code == 404
