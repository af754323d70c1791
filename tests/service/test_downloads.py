"""GET and HEAD /download/{key} over a real socket, from a local directory and from S3 (moto).

The client is curl (or httpx for header checks); objects are well over API Gateway's 10 MB
buffered limit, and every body is checked byte for byte with SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from streamway.http.content_disposition import filename_from_content_disposition
from streamway.service.services import services_of
from tests.servers import raw_http
from tests.service.downloads_server import (
    BUCKET,
    MotoS3,
    ThreadServer,
    curl,
    downloads_server,
    moto_s3,
)
from tests.service.fault_stores import MeteredStore

BIG = "media/big file.bin"
BIG_DATA = os.urandom(24 * 1024 * 1024 + 123)
BIG_SHA256 = hashlib.sha256(BIG_DATA).hexdigest()
REPORT = "レポート 2025.pdf"
REPORT_DATA = b"%PDF-1.4\n" + os.urandom(5000)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with moto_s3() as server:
        server.put(f"pre/{BIG}", BIG_DATA)
        server.put(f"pre/{REPORT}", REPORT_DATA, checksum=False)
        yield server


@pytest.fixture(scope="module")
def local_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store")
    (root / "media").mkdir()
    (root / BIG).write_bytes(BIG_DATA)
    (root / f"{BIG}.sha256").write_text(f"{BIG_SHA256}  big file.bin\n")
    (root / REPORT).write_bytes(REPORT_DATA)
    return root


@pytest.fixture(scope="module", params=["local", "s3"])
def server(request: pytest.FixtureRequest, local_root: Path) -> Iterator[ThreadServer]:
    if request.param == "local":
        settings = {"store_url": f"file://{local_root}"}
    else:
        moto: MotoS3 = request.getfixturevalue("moto")
        settings = {"store_url": f"s3://{BUCKET}/pre", "s3_endpoint_url": moto.endpoint}
    with downloads_server(**settings) as running:
        yield running


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_get_streams_the_whole_object_with_its_headers(
    server: ThreadServer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = curl("-o", str(out), "-D", str(tmp_path / "headers"), server.download_url(BIG))
    assert result.returncode == 0, result.stderr
    assert sha256_file(out) == BIG_SHA256
    headers = httpx.Headers(
        [
            tuple(line.split(": ", 1))
            for line in (tmp_path / "headers").read_text().splitlines()[1:]
            if ": " in line
        ]
    )
    assert headers["content-length"] == str(len(BIG_DATA))
    assert headers["content-type"] == "application/octet-stream"
    assert headers["accept-ranges"] == "bytes"
    assert headers["etag"].startswith('"')
    assert headers["last-modified"].endswith(" GMT")
    assert headers["content-disposition"] == (
        "attachment; filename=\"big file.bin\"; filename*=UTF-8''big%20file.bin"
    )
    digest = base64.b64encode(bytes.fromhex(BIG_SHA256)).decode()
    assert headers["repr-digest"] == f"sha-256=:{digest}:"
    assert headers["x-request-id"]


def test_head_sends_the_same_headers_from_metadata_only(server: ThreadServer) -> None:
    metered = MeteredStore(services_of(server.app).store)
    services_of(server.app).store = metered
    try:
        head = httpx.head(server.download_url(REPORT))
        get = httpx.get(server.download_url(REPORT))
    finally:
        services_of(server.app).store = metered.store
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert get.content == REPORT_DATA
    for name in ("content-type", "content-length", "etag", "last-modified", "content-disposition"):
        assert head.headers[name] == get.headers[name]
    assert head.headers["content-type"] == "application/pdf"  # guessed from the name
    assert "repr-digest" not in head.headers  # this store does not know its checksum
    assert filename_from_content_disposition(head.headers["content-disposition"]) == REPORT
    assert head.headers["content-disposition"].startswith('attachment; filename="____ 2025.pdf";')
    # HEAD: one stat, nothing opened; the plain GET: one request for metadata and bytes.
    assert (metered.meter.stats, metered.meter.opens, metered.meter.gets) == (1, 0, 1)


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("0-0", 0, 1),
        ("1000-1999", 1000, 2000),
        (f"{len(BIG_DATA) - 10}-", len(BIG_DATA) - 10, len(BIG_DATA)),
        ("-4096", len(BIG_DATA) - 4096, len(BIG_DATA)),
        ("12000000-99999999999", 12_000_000, len(BIG_DATA)),
        ("-99999999999", 0, len(BIG_DATA)),
    ],
)
def test_one_range_is_a_206_served_by_a_ranged_read(
    server: ThreadServer, spec: str, start: int, end: int
) -> None:
    metered = MeteredStore(services_of(server.app).store)
    services_of(server.app).store = metered
    try:
        response = httpx.get(server.download_url(BIG), headers={"range": f"bytes={spec}"})
    finally:
        services_of(server.app).store = metered.store
    assert response.status_code == 206
    assert response.content == BIG_DATA[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(BIG_DATA)}"
    assert response.headers["content-length"] == str(end - start)
    assert metered.meter.ranges == [(start, end)]  # the store was asked for the range only
    assert metered.meter.bytes_read == end - start


def test_range_edge_cases(server: ThreadServer) -> None:
    url = server.download_url(BIG)
    size = len(BIG_DATA)

    unsatisfiable = httpx.get(url, headers={"range": f"bytes={size}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{size}"
    assert unsatisfiable.json()["error"]["code"] == "range_not_satisfiable"

    several = httpx.get(url, headers={"range": "bytes=0-9,100-109"})
    assert several.status_code == 200  # documented: several ranges get the whole object
    assert hashlib.sha256(several.content).hexdigest() == BIG_SHA256

    invalid = httpx.head(url, headers={"range": "bytes=9-0"})
    assert invalid.status_code == 200  # bad syntax: the header is ignored

    etag = httpx.head(url).headers["etag"]
    last_modified = httpx.head(url).headers["last-modified"]
    for validator in (etag, last_modified):
        resumed = httpx.get(url, headers={"range": "bytes=-5", "if-range": validator})
        assert resumed.status_code == 206
        assert resumed.content == BIG_DATA[-5:]
    stale = httpx.head(url, headers={"range": "bytes=-5", "if-range": '"old"'})
    assert stale.status_code == 200
    assert stale.headers["content-length"] == str(size)

    for conditional in (
        {"if-none-match": etag},
        {"if-none-match": f'"x", W/{etag}'},
        {"if-modified-since": last_modified},
    ):
        not_modified = httpx.get(url, headers=conditional)
        assert not_modified.status_code == 304
        assert not_modified.content == b""
        assert not_modified.headers["etag"] == etag
    assert httpx.head(url, headers={"if-none-match": '"x"'}).status_code == 200


def test_curl_resumes_a_partial_download(server: ThreadServer, tmp_path: Path) -> None:
    out = tmp_path / "partial"
    out.write_bytes(BIG_DATA[:7_777_777])
    result = curl("-C", "-", "-o", str(out), "-w", "%{http_code}", server.download_url(BIG))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"206"
    assert sha256_file(out) == BIG_SHA256


@pytest.mark.parametrize(
    "path",
    [
        "/download/../../etc/passwd",
        "/download/media/../../../etc/passwd",
        "/download/%2e%2e/%2e%2e/etc/passwd",
        "/download/media%2f..%2f..%2fetc%2fpasswd",
        "/download/..%5c..%5cetc%5cpasswd",
        "/download//etc/passwd",
        "/download/%2fetc%2fpasswd",
        "/download/C:%5cWindows%5cwin.ini",
        "/download/big%00.bin",
        "/download/",
    ],
)
def test_path_traversal_attempts_are_refused_with_400(server: ThreadServer, path: str) -> None:
    result = curl("--path-as-is", "-w", "\n%{http_code}", server.url + path)
    body, _, status = result.stdout.rpartition(b"\n")
    assert status == b"400", (path, result.stdout)
    assert b'"code":"invalid_key"' in body


def test_missing_key_is_a_json_404(server: ThreadServer) -> None:
    response = httpx.get(server.download_url("media/nothing-here.bin"))
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["request_id"] == response.headers["x-request-id"]


def test_no_file_name_can_inject_a_header(tmp_path: Path) -> None:
    # CR, LF, quotes and semicolons reach the route (LF too: listed names are downloadable)
    # and must stay inside the one header.
    names = ['a"b\rSet-Cookie: stolen=1; x=".txt', "x\r\nSet-Cookie: stolen=2;.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"payload")
    with downloads_server(store_url=f"file://{tmp_path}") as running:
        results = [curl("-D", "-", "-o", os.devnull, running.download_url(n)) for n in names]
    for name, result in zip(names, results, strict=True):
        assert result.returncode == 0, result.stderr
        lines = result.stdout.decode("latin-1").split("\r\n")
        assert not any("set-cookie" in line.lower().split(":", 1)[0] for line in lines)
        assert lines[0].split()[1] == "200"
        (disposition,) = [line for line in lines if line.startswith("content-disposition:")]
        assert filename_from_content_disposition(disposition.split(": ", 1)[1]) == name


def test_symlink_out_of_the_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    with downloads_server(store_url=f"file://{root}") as running:
        response = httpx.get(running.download_url("escape.txt"))
    assert response.status_code == 400
    assert b"secret" not in response.content


@pytest.mark.parametrize(
    "path",
    [
        f"/download/{quote(REPORT)}/",
        f"/download/./{quote(REPORT)}",
        "/download/media//big%20file.bin",
        "/download/media/./big%20file.bin",
        "/download/media%2F%2Fbig%20file.bin",
    ],
)
def test_an_object_has_one_url_other_spellings_are_404(server: ThreadServer, path: str) -> None:
    result = curl("--path-as-is", "-w", "\n%{http_code}", server.url + path)
    body, _, status = result.stdout.rpartition(b"\n")
    assert status == b"404", (path, result.stdout)
    assert json.loads(body)["error"]["code"] == "not_found"


def test_range_positions_of_thousands_of_digits_are_answered(server: ThreadServer) -> None:
    # int() refuses more than 4300 digits: these were 500s.
    url = server.download_url(REPORT)
    whole = httpx.get(url, headers={"range": "bytes=0-" + "9" * 4400})
    assert whole.status_code == 206
    assert whole.content == REPORT_DATA
    beyond = httpx.get(url, headers={"range": "bytes=" + "9" * 4400 + "-"})
    assert beyond.status_code == 416
    assert beyond.json()["error"]["code"] == "range_not_satisfiable"


def test_a_sidecar_is_not_downloadable_as_it_is_not_listed(local_root: Path) -> None:
    with downloads_server(store_url=f"file://{local_root}") as running:
        listed = [o["key"] for o in httpx.get(f"{running.url}/api/objects").json()["objects"]]
        response = httpx.get(running.download_url(f"{BIG}.sha256"))
    assert f"{BIG}.sha256" not in listed
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_names_the_file_system_cannot_resolve_are_404(tmp_path: Path) -> None:
    os.symlink("loop", tmp_path / "loop")
    with downloads_server(store_url=f"file://{tmp_path}") as running:
        for key in ("loop", "loop/x.bin", "x" * 256, "d/" + "x" * 300 + "/y.bin"):
            response = httpx.get(running.download_url(key))
            assert response.status_code == 404, (key, response.text)
            assert response.json()["error"]["code"] == "not_found"


def test_a_stored_content_type_no_header_can_carry_is_replaced(moto: MotoS3) -> None:
    # S3 keeps whatever type the uploader sent; aiohttp reads it back as UTF-8, and a type
    # with non-Latin-1 characters cannot be encoded as a header (it was a 500).
    put = httpx.put(
        f"{moto.endpoint}/{BUCKET}/pre/typed.txt",
        content=b"typed",
        headers={"content-type": "text/plain; name=レポート".encode()},
    )
    assert put.status_code == 200
    settings = {"store_url": f"s3://{BUCKET}/pre", "s3_endpoint_url": moto.endpoint}
    with downloads_server(**settings) as running:
        url = running.download_url("typed.txt")
        answers = [
            httpx.get(url),
            httpx.head(url),
            httpx.get(url, headers={"range": "bytes=1-2"}),
        ]
    assert [a.status_code for a in answers] == [200, 200, 206]
    assert {a.headers["content-type"] for a in answers} == {"text/plain"}  # from the name
    assert answers[0].content == b"typed"


def _raw_head(server: ThreadServer, key: str, *headers: str) -> tuple[int, httpx.Headers, bytes]:
    """A HEAD over a raw socket with Connection: close, so any body the server wrongly sent
    would be read back instead of being dropped by a client that knows HEAD has none."""
    from urllib.parse import quote, urlsplit

    port = urlsplit(server.url).port
    assert port is not None
    lines = [f"HEAD /download/{quote(key)} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    answer = raw_http(port, ("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = httpx.Headers([tuple(line.split(": ", 1)) for line in header_lines])
    return int(status_line.split()[1]), parsed, body


def test_head_with_a_range_answers_206_416_and_304_without_a_body(server: ThreadServer) -> None:
    size = len(BIG_DATA)
    status, headers, body = _raw_head(server, BIG, "Range: bytes=1000-1999")
    assert (status, body) == (206, b"")
    assert headers["content-range"] == f"bytes 1000-1999/{size}"
    assert headers["content-length"] == "1000"
    assert headers["accept-ranges"] == "bytes"

    status, headers, body = _raw_head(server, BIG, f"Range: bytes={size}-")
    assert (status, body) == (416, b"")
    assert headers["content-range"] == f"bytes */{size}"

    etag = httpx.head(server.download_url(BIG)).headers["etag"]
    status, headers, body = _raw_head(server, BIG, f"If-None-Match: {etag}", "Range: bytes=0-9")
    assert (status, body) == (304, b"")
    assert headers["etag"] == etag
    assert "content-range" not in headers
