"""/uploads (tus 1.0) into an S3 store: ``streamway serve`` on loopback with its store on a real
S3-protocol server (moto_server), driven by the real tuspy client (issue 22, items 1 and 2).

Every finished upload is read back through ``/download`` (SHA-256 and ``Repr-Digest``), and
S3 itself is asked what is left: ``ListMultipartUploads`` and the hidden ``.uploads/`` prefix.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tusclient import client as tus_client

from tests.servers import RunningServer, streamway_server
from tests.service.downloads_server import BUCKET, NO_MODEL, S3_ENV, MotoS3, moto_s3
from tests.service.test_tus import (
    MIB,
    OFFSET_TYPE,
    PART,
    TUS,
    download,
    error_code,
    head,
    new_upload,
    patch,
    resumed_after_a_kill,
    sha256_checksum,
    wait_until,
    write_random,
)
from tests.test_cli_put import streamway_put

PREFIX = "files"
HIDDEN = f"{PREFIX}/.uploads/"
MAX_UPLOAD = 64 * MIB


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with moto_s3() as server:
        yield server


@pytest.fixture(scope="module")
def uploads(moto: MotoS3) -> Iterator[RunningServer]:
    env = {
        **S3_ENV,
        "STREAMWAY_MODEL": NO_MODEL,
        "STREAMWAY_UPLOADS": "true",
        "STREAMWAY_STORE_URL": f"s3://{BUCKET}/{PREFIX}",
        "STREAMWAY_S3_ENDPOINT_URL": moto.endpoint,
        "STREAMWAY_UPLOAD_MAX_BYTES": str(MAX_UPLOAD),
    }
    with streamway_server(env) as running:
        yield running


def multipart_uploads(moto: MotoS3) -> list[dict[str, Any]]:
    uploads: list[dict[str, Any]] = (
        moto.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    )
    return uploads


def leftovers(moto: MotoS3, url: str) -> list[str]:
    """The upload's objects under the hidden prefix (state, tail, lease)."""
    prefix = f"{HIDDEN}{url.rsplit('/', 1)[1]}/"
    listing = moto.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(entry["Key"].removeprefix(prefix) for entry in listing.get("Contents", []))


def repr_digest(hex_digest: str) -> str:
    return f"sha-256=:{base64.b64encode(bytes.fromhex(hex_digest)).decode()}:"


@pytest.mark.parametrize("part", [PART, 4 * MIB], ids=["8-MiB-parts", "4-MiB-parts-as-on-Lambda"])
def test_tuspy_uploads_60_mb_into_s3_and_the_download_has_its_sha256(
    uploads: RunningServer, moto: MotoS3, tmp_path: Path, part: int
) -> None:
    source = tmp_path / "big.bin"
    expected = write_random(source, 60_000_000)
    key = f"tus/big-{part}.bin"
    with source.open("rb") as stream:
        uploader = tus_client.TusClient(f"{uploads.url}/uploads").uploader(
            file_stream=stream,
            chunk_size=part,
            metadata={"filename": key},
            upload_checksum=True,  # tuspy sends the sha1 of every part
        )
        uploader.upload()
    assert uploader.url is not None

    sha256, headers = download(uploads, key)
    assert sha256 == expected
    assert headers["repr-digest"] == repr_digest(expected)
    assert multipart_uploads(moto) == []
    assert leftovers(moto, uploader.url) == []
    assert head(uploader.url).status_code == 404


def test_an_upload_killed_half_way_resumes_from_the_offset_kept_in_s3(
    uploads: RunningServer, moto: MotoS3, tmp_path: Path
) -> None:
    source = tmp_path / "resumed.bin"
    expected = write_random(source, 30 * MIB + 12345)
    # Killed after two whole parts and a third of the next.
    with resumed_after_a_kill(
        uploads, source, tmp_path / "tus-urls.json", 2 * PART + 3 * MIB
    ) as uploader:
        assert leftovers(moto, uploader.url) == ["state.json"]  # no lease left behind
        uploader.offset = uploader.get_offset()
        uploader.upload()

    sha256, headers = download(uploads, "tus/resumed.bin")
    assert sha256 == expected
    assert headers["repr-digest"] == repr_digest(expected)
    assert leftovers(moto, uploader.url) == []


def test_a_wrong_checksum_is_460_and_nothing_reaches_s3(
    uploads: RunningServer, moto: MotoS3
) -> None:
    first, second = os.urandom(MIB), os.urandom(1000)
    url = new_upload(uploads, "tus/checked.bin", len(first) + len(second))
    wrong = patch(url, 0, first, **{"Upload-Checksum": sha256_checksum(first + b"x")})
    assert wrong.status_code == 460
    assert error_code(wrong) == "checksum_mismatch"
    assert head(url).headers["upload-offset"] == "0"
    assert leftovers(moto, url) == ["state.json"]  # no tail, no part

    assert patch(url, 0, first, **{"Upload-Checksum": sha256_checksum(first)}).status_code == 204
    assert leftovers(moto, url) == ["state.json", f"tail-{MIB}"]
    assert patch(url, MIB, second).status_code == 204
    assert download(uploads, "tus/checked.bin")[0] == hashlib.sha256(first + second).hexdigest()


def test_delete_aborts_the_multipart_upload_and_leaves_nothing(
    uploads: RunningServer, moto: MotoS3
) -> None:
    url = new_upload(uploads, "tus/terminated.bin", 20 * MIB)
    assert patch(url, 0, os.urandom(PART)).status_code == 204
    assert patch(url, PART, os.urandom(MIB)).status_code == 204
    assert [u["Key"] for u in multipart_uploads(moto)] == [f"{PREFIX}/tus/terminated.bin"]

    answer = httpx.delete(url, headers=TUS, timeout=30)
    assert answer.status_code == 204
    assert multipart_uploads(moto) == []
    assert leftovers(moto, url) == []
    assert head(url).status_code == 404
    assert httpx.get(f"{uploads.url}/download/tus/terminated.bin", timeout=30).status_code == 404


async def test_concurrent_patches_one_wins_the_other_gets_409_through_the_s3_lease(
    uploads: RunningServer, moto: MotoS3
) -> None:
    winner, loser = os.urandom(6 * MIB), os.urandom(2 * MIB)
    url = new_upload(uploads, "tus/contended.bin", len(winner) + 1000)
    release = asyncio.Event()

    async def held_body() -> AsyncIterator[bytes]:
        yield winner[:MIB]
        await release.wait()  # the server holds the upload's lease meanwhile
        yield winner[MIB:]

    headers = {**TUS, "Upload-Offset": "0", "Content-Type": OFFSET_TYPE}
    async with httpx.AsyncClient(timeout=60) as client:
        first = asyncio.create_task(client.patch(url, content=held_body(), headers=headers))
        # Wait for the event itself: the first PATCH's lease object in S3.
        await asyncio.to_thread(wait_until, lambda: "lease" in leftovers(moto, url))
        second = await client.patch(url, content=loser, headers=headers)
        release.set()
        won = await first

    assert second.status_code == 409
    assert error_code(second) == "upload_busy"
    assert won.status_code == 204
    assert won.headers["upload-offset"] == str(len(winner))
    assert patch(url, 0, loser).json()["error"]["offset"] == len(winner)
    tail = os.urandom(1000)
    assert patch(url, len(winner), tail).status_code == 204
    assert download(uploads, "tus/contended.bin")[0] == hashlib.sha256(winner + tail).hexdigest()


def test_streamway_put_into_s3_checks_the_digest_the_tag_gives(
    uploads: RunningServer, moto: MotoS3, tmp_path: Path
) -> None:
    """`streamway put`'s last step is HEAD /download/KEY: its Repr-Digest must match the file.
    On S3 that digest comes from the streamway-sha256 tag the store set on completion."""
    size = 20 * MIB + 3  # two 8 MiB parts and a short last one: a multipart object
    expected = write_random(tmp_path / "put.bin", size)
    result = streamway_put(
        str(tmp_path / "put.bin"), uploads.url, "--name", "put/s3.bin", state=tmp_path / "state"
    )
    assert result.returncode == 0, result.stderr
    assert f"{uploads.url}/download/put/s3.bin: {size} bytes (sha-256 verified)" in result.stderr
    tags = moto.client().get_object_tagging(Bucket=BUCKET, Key=f"{PREFIX}/put/s3.bin")["TagSet"]
    assert tags == [{"Key": "streamway-sha256", "Value": expected}]
    assert multipart_uploads(moto) == []
