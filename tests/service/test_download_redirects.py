"""``STREAMWAY_S3_REDIRECT_OVER``: GETs of big objects answered with 307 to a presigned S3 URL.

Against moto_server (a real S3-protocol server on loopback), with real curl following the
redirect: the bytes come from S3 itself, with the service's file name and type.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from streamway.config import StoreSettings
from streamway.service.services import services_of
from tests.service.downloads_server import (
    BUCKET,
    MotoS3,
    ThreadServer,
    curl,
    downloads_server,
    moto_s3,
)

MiB = 1024 * 1024
BIG = "media/big report.bin"
BIG_DATA = os.urandom(3 * MiB + 17)
SMALL = "media/small.txt"
SMALL_DATA = b"under the threshold\n" * 100
REPORT = "レポート 2025.pdf"
REPORT_DATA = b"%PDF-1.4\n" + os.urandom(2 * MiB)
THRESHOLD = 1 * MiB


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with moto_s3() as server:
        server.put(f"pre/{BIG}", BIG_DATA)
        server.put(f"pre/{SMALL}", SMALL_DATA, ContentType="text/plain")
        server.put(f"pre/{REPORT}", REPORT_DATA, checksum=False)
        yield server


@pytest.fixture(scope="module")
def server(moto: MotoS3) -> Iterator[ThreadServer]:
    with downloads_server(
        store_url=f"s3://{BUCKET}/pre",
        s3_endpoint_url=moto.endpoint,
        s3_redirect_over=THRESHOLD,
        s3_redirect_expiry_s=120,
    ) as running:
        yield running


def test_a_get_over_the_threshold_is_a_307_to_a_presigned_s3_url(
    server: ThreadServer, moto: MotoS3
) -> None:
    response = httpx.get(server.download_url(BIG))
    assert response.status_code == 307
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == moto.endpoint
    assert location.path == f"/{BUCKET}/pre/media/big%20report.bin"
    query = parse_qs(location.query)
    assert query["X-Amz-Expires"] == ["120"]
    assert query["response-content-disposition"] == [
        "attachment; filename=\"big report.bin\"; filename*=UTF-8''big%20report.bin"
    ]
    assert query["response-content-type"] == ["application/octet-stream"]


def test_curl_follows_the_redirect_to_the_bytes_and_keeps_the_name(
    server: ThreadServer, tmp_path: Path
) -> None:
    result = curl("-f", "-L", "-O", "-J", "--output-dir", str(tmp_path), server.download_url(BIG))
    assert result.returncode == 0, result.stderr
    saved = tmp_path / "big report.bin"
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(BIG_DATA).hexdigest()


def test_streamway_get_follows_the_redirect_and_keeps_the_name(
    server: ThreadServer, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamway", "get", "-q", server.download_url(BIG)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    saved = tmp_path / "big report.bin"
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(BIG_DATA).hexdigest()


def test_s3_answers_with_the_services_name_and_type(server: ThreadServer) -> None:
    head = httpx.head(server.download_url(REPORT))
    followed = httpx.get(server.download_url(REPORT), follow_redirects=True)
    assert [step.status_code for step in followed.history] == [307]
    assert followed.status_code == 200
    assert followed.content == REPORT_DATA
    # The non-ASCII name survives the trip through S3's response overrides.
    assert followed.headers["content-disposition"] == head.headers["content-disposition"]
    assert followed.headers["content-type"] == head.headers["content-type"] == "application/pdf"


def test_head_answers_200_from_metadata_without_a_redirect(server: ThreadServer) -> None:
    response = httpx.head(server.download_url(BIG))
    assert response.status_code == 200
    assert "location" not in response.headers
    assert response.headers["content-length"] == str(len(BIG_DATA))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"')
    assert response.headers["repr-digest"].startswith("sha-256=:")


def test_objects_under_the_threshold_stream_as_before(server: ThreadServer) -> None:
    response = httpx.get(server.download_url(SMALL))
    assert response.status_code == 200
    assert response.content == SMALL_DATA
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["content-length"] == str(len(SMALL_DATA))


def test_ranged_and_conditional_gets_are_served_not_redirected(server: ThreadServer) -> None:
    """A Range goes through the service (its If-Range is evaluated here, not left to S3),
    and a matching If-None-Match is a 304 from metadata."""
    url = server.download_url(BIG)
    ranged = httpx.get(url, headers={"range": "bytes=100-199"})
    assert ranged.status_code == 206
    assert ranged.content == BIG_DATA[100:200]
    etag = httpx.head(url).headers["etag"]
    assert httpx.get(url, headers={"if-none-match": etag}).status_code == 304
    # An If-None-Match that does not match is a whole-object GET: redirected like a plain one.
    assert httpx.get(url, headers={"if-none-match": '"other"'}).status_code == 307


def test_the_redirect_is_off_by_default(moto: MotoS3) -> None:
    assert StoreSettings().s3_redirect_over is None
    with downloads_server(store_url=f"s3://{BUCKET}/pre", s3_endpoint_url=moto.endpoint) as plain:
        response = httpx.get(plain.download_url(BIG))
    assert response.status_code == 200
    assert response.content == BIG_DATA


def test_the_setting_is_ignored_for_a_local_store(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(BIG_DATA)
    with downloads_server(store_url=f"file://{tmp_path}", s3_redirect_over=THRESHOLD) as local:
        assert services_of(local.app).s3_redirect_over is None
        response = httpx.get(local.download_url("big.bin"))
    assert response.status_code == 200
    assert response.content == BIG_DATA
