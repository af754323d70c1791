"""/uploads (tus 1.0) into an S3 store: ``streamway serve`` on loopback with its store on a real
S3-protocol server (moto_server), driven by the real tuspy client (issue 22, items 1 and 2).

Every finished upload is read back through ``/download`` (SHA-256 and ``Repr-Digest``), and
S3 itself is asked what is left: ``ListMultipartUploads`` and the hidden ``.uploads/`` prefix.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import RunningServer, streamway_server
from tests.service.downloads_server import BUCKET, NO_MODEL, MotoS3
from tests.service.test_tus import (
    MIB,
    PART,
    TUS,
    a_refused_first_part,
    download,
    head,
    new_upload,
    one_wins_the_other_is_busy,
    patch,
    repr_digest,
    resumed_after_a_kill,
    sha256_checksum,
    tuspy_upload,
    write_random,
)
from tests.test_cli_put import streamway_put

PREFIX = "files"
HIDDEN = f"{PREFIX}/.uploads/"
MAX_UPLOAD = 64 * MIB


@pytest.fixture(scope="module")
def uploads(moto: MotoS3) -> Iterator[RunningServer]:
    env = {
        **moto.store_env(PREFIX),
        "STREAMWAY_MODEL": NO_MODEL,
        "STREAMWAY_UPLOADS": "true",
        "STREAMWAY_UPLOAD_MAX_BYTES": str(MAX_UPLOAD),
    }
    with streamway_server(env) as running:
        yield running


def leftovers(moto: MotoS3, url: str) -> list[str]:
    """The upload's objects under the hidden prefix (state, tail, lease)."""
    prefix = f"{HIDDEN}{url.rsplit('/', 1)[1]}/"
    return sorted(key.removeprefix(prefix) for key in moto.keys(prefix))


@pytest.mark.parametrize("part", [PART, 4 * MIB], ids=["8-MiB-parts", "4-MiB-parts-as-on-Lambda"])
def test_tuspy_uploads_60_mb_into_s3_and_the_download_has_its_sha256(
    uploads: RunningServer, moto: MotoS3, tmp_path: Path, part: int
) -> None:
    source = tmp_path / "big.bin"
    expected = write_random(source, 60_000_000)
    key = f"tus/big-{part}.bin"
    with source.open("rb") as stream:
        url = tuspy_upload(uploads, stream, key, part)

    sha256, headers = download(uploads, key)
    assert sha256 == expected
    assert headers["repr-digest"] == repr_digest(expected)
    assert moto.multipart_uploads() == []
    assert leftovers(moto, url) == []
    assert head(url).status_code == 404


def test_an_upload_killed_half_way_resumes_from_the_offset_kept_in_s3(
    uploads: RunningServer, moto: MotoS3, tmp_path: Path
) -> None:
    with resumed_after_a_kill(uploads, tmp_path) as (uploader, expected):
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
    url, first, second = a_refused_first_part(uploads, "tus/checked.bin")
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
    assert [u["Key"] for u in moto.multipart_uploads()] == [f"{PREFIX}/tus/terminated.bin"]

    answer = httpx.delete(url, headers=TUS, timeout=30)
    assert answer.status_code == 204
    assert moto.multipart_uploads() == []
    assert leftovers(moto, url) == []
    assert head(url).status_code == 404
    assert httpx.get(f"{uploads.url}/download/tus/terminated.bin", timeout=30).status_code == 404


async def test_concurrent_patches_one_wins_the_other_gets_409_through_the_s3_lease(
    uploads: RunningServer, moto: MotoS3
) -> None:
    winner, loser = os.urandom(6 * MIB), os.urandom(2 * MIB)
    url = new_upload(uploads, "tus/contended.bin", len(winner) + 1000)
    # The first PATCH's lease object in S3: it holds the upload.
    await one_wins_the_other_is_busy(
        url, url, winner, loser, lambda: "lease" in leftovers(moto, url)
    )
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
    assert moto.multipart_uploads() == []
