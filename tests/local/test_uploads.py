"""/uploads (tus 1.0) through ``streamway local``: API Gateway's routes from streamway's own
definition, BUFFERED, to a function process, with the real tuspy client.

What the gateway adds: a stage prefix in every URL (Location must carry it), binary bodies
base64-encoded into the event (``application/offset+octet-stream`` must be a binary media
type, or the bytes would arrive as text), and Lambda's 6 MB event, which caps a part at
4 MiB behind the gateway (docs/uploads.md#limits).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tusclient import client as tus_client

from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import OpenAIChatPeer
from tests.servers import RunningLocal, streamway_local

pytestmark = pytest.mark.timeout(300)

MIB = 1024 * 1024
LAMBDA_PART = 4 * MIB
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-uploads")


@pytest.fixture(scope="module")
def local(store: Path) -> Iterator[RunningLocal]:
    # A scripted model peer: the function's cold start loads no model, so it stays well
    # within the BUFFERED route's 29 s on a busy machine.
    with serve_in_thread(OpenAIChatPeer()) as peer:
        env = {
            "STREAMWAY_UPLOADS": "true",
            "STREAMWAY_STORE_URL": f"file://{store}",
            "STREAMWAY_MODEL": "openai:scripted",
            "STREAMWAY_OPENAI_BASE_URL": f"{peer}/v1",
        }
        with streamway_local(env) as running:
            yield running


def test_tuspy_uploads_60_mb_through_the_gateway_in_parts_lambda_takes(
    local: RunningLocal, store: Path, tmp_path: Path
) -> None:
    options = httpx.options(f"{local.url}/uploads", timeout=60)
    assert options.status_code == 204
    assert options.headers["tus-version"] == "1.0.0"
    # The function knows it runs on Lambda: the part it announces fits the 6 MB event.
    assert options.headers["x-streamway-upload-part-max-bytes"] == str(LAMBDA_PART)

    data = os.urandom(60_000_000)
    expected = hashlib.sha256(data).hexdigest()
    with io.BytesIO(data) as stream:
        uploader = tus_client.TusClient(f"{local.url}/uploads").uploader(
            file_stream=stream,
            chunk_size=LAMBDA_PART,
            metadata={"filename": "through/the gateway.bin"},
            upload_checksum=True,
        )
        uploader.upload()
    assert uploader.url is not None
    assert uploader.url.startswith(f"{local.url}/uploads/")  # the stage is in Location

    assert (store / "through" / "the gateway.bin").stat().st_size == len(data)
    digest = hashlib.sha256()
    with httpx.stream("GET", f"{local.url}/download/through/the%20gateway.bin", timeout=120) as got:
        assert got.status_code == 200
        for chunk in got.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == expected
    assert got.headers["repr-digest"] == (
        f"sha-256=:{base64.b64encode(bytes.fromhex(expected)).decode()}:"
    )


def create_upload(local: RunningLocal, key: str, length: int) -> str:
    """A tus creation through the gateway; the new upload's URL."""
    metadata = f"filename {base64.b64encode(key.encode()).decode()}"
    created = httpx.post(
        f"{local.url}/uploads",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    return str(created.headers["location"])


def test_head_delete_and_a_part_over_lambdas_event_through_the_gateway(
    local: RunningLocal, store: Path
) -> None:
    url = create_upload(local, "through/gone.bin", 16 * MIB)
    assert url.startswith(f"{local.url}/uploads/")
    part = os.urandom(LAMBDA_PART)
    patch_headers = {**TUS, "Content-Type": "application/offset+octet-stream"}
    answer = httpx.patch(
        url, content=part, headers={**patch_headers, "Upload-Offset": "0"}, timeout=60
    )
    assert answer.status_code == 204
    assert answer.headers["upload-offset"] == str(LAMBDA_PART)

    # Upload-Checksum reaches the function, and tus's own 460 comes back through the gateway.
    wrong = "sha256 " + base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    mismatch = httpx.patch(
        url,
        content=part,
        headers={**patch_headers, "Upload-Offset": str(LAMBDA_PART), "Upload-Checksum": wrong},
        timeout=60,
    )
    assert mismatch.status_code == 460
    assert mismatch.json()["error"]["code"] == "checksum_mismatch"

    # 8 MiB is under API Gateway's 10 MB, but its event is not under Lambda's 6 MB: the
    # gateway answers 500 itself, as AWS does, and the function never sees the part.
    too_big = httpx.patch(
        url,
        content=os.urandom(8 * MIB),
        headers={**patch_headers, "Upload-Offset": str(LAMBDA_PART)},
        timeout=60,
    )
    assert too_big.status_code == 500
    state = httpx.head(url, headers=TUS, timeout=60)
    assert state.status_code == 200
    assert state.headers["upload-offset"] == str(LAMBDA_PART)
    assert state.headers["cache-control"] == "no-store"
    assert state.headers["upload-length"] == str(16 * MIB)

    assert httpx.delete(url, headers=TUS, timeout=60).status_code == 204
    assert httpx.head(url, headers=TUS, timeout=60).status_code == 404
    upload_id = url.rsplit("/", 1)[1]
    assert [name for name in os.listdir(store / ".uploads") if upload_id in name] == []
    assert not (store / "through" / "gone.bin").exists()

    refused = httpx.post(f"{local.url}/uploads", headers={"Upload-Length": "1"}, timeout=60)
    assert refused.status_code == 412
    assert refused.json()["error"]["code"] == "tus_version"
