"""/uploads (tus 1.0) through ``streamway local``: API Gateway's routes from streamway's own
definition, BUFFERED, to a function process, with the real tuspy client.

What the gateway adds: a stage prefix in every URL (Location must carry it), binary bodies
base64-encoded into the event (``application/offset+octet-stream`` must be a binary media
type, or the bytes would arrive as text), and Lambda's 6 MB event, which caps a part at
4 MiB behind the gateway (docs/uploads.md#limits).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import OpenAIChatPeer
from tests.servers import RunningLocal, streamway_local
from tests.service import test_tus as tus
from tests.service.test_tus import MIB, TUS

pytestmark = pytest.mark.timeout(300)

LAMBDA_PART = 4 * MIB


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-uploads")


@contextmanager
def local_with_uploads(store_env: dict[str, str]) -> Iterator[RunningLocal]:
    """``streamway local`` with uploads on, over the store ``store_env`` names."""
    # A scripted model peer: the function's cold start loads no model, so it stays well
    # within the BUFFERED route's 29 s on a busy machine.
    with serve_in_thread(OpenAIChatPeer()) as peer:
        env = {
            **store_env,
            "STREAMWAY_UPLOADS": "true",
            "STREAMWAY_MODEL": "openai:scripted",
            "STREAMWAY_OPENAI_BASE_URL": f"{peer}/v1",
        }
        with streamway_local(env) as running:
            yield running


@pytest.fixture(scope="module")
def local(store: Path) -> Iterator[RunningLocal]:
    with local_with_uploads({"STREAMWAY_STORE_URL": f"file://{store}"}) as running:
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
    with io.BytesIO(data) as stream:
        url = tus.tuspy_upload(local, stream, "through/the gateway.bin", LAMBDA_PART)
    assert url.startswith(f"{local.url}/uploads/")  # the stage is in Location

    assert (store / "through" / "the gateway.bin").stat().st_size == len(data)
    expected = hashlib.sha256(data).hexdigest()
    sha256, headers = tus.download(local, "through/the%20gateway.bin", timeout_s=120)
    assert sha256 == expected
    assert headers["repr-digest"] == tus.repr_digest(expected)


def test_head_delete_and_a_part_over_lambdas_event_through_the_gateway(
    local: RunningLocal, store: Path
) -> None:
    url = tus.new_upload(local, "through/gone.bin", 16 * MIB)
    assert url.startswith(f"{local.url}/uploads/")
    part = os.urandom(LAMBDA_PART)
    answer = tus.patch(url, 0, part)
    assert answer.status_code == 204
    assert answer.headers["upload-offset"] == str(LAMBDA_PART)

    # Upload-Checksum reaches the function, and tus's own 460 comes back through the gateway.
    wrong = tus.sha256_checksum(b"other")
    mismatch = tus.patch(url, LAMBDA_PART, part, **{"Upload-Checksum": wrong})
    assert mismatch.status_code == 460
    assert tus.error_code(mismatch) == "checksum_mismatch"

    # 8 MiB is under API Gateway's 10 MB, but its event is not under Lambda's 6 MB: the
    # gateway answers 500 itself, as AWS does, and the function never sees the part.
    too_big = tus.patch(url, LAMBDA_PART, os.urandom(8 * MIB))
    assert too_big.status_code == 500
    state = tus.head(url)
    assert state.status_code == 200
    assert state.headers["upload-offset"] == str(LAMBDA_PART)
    assert state.headers["cache-control"] == "no-store"
    assert state.headers["upload-length"] == str(16 * MIB)

    assert httpx.delete(url, headers=TUS, timeout=60).status_code == 204
    assert tus.head(url).status_code == 404
    upload_id = url.rsplit("/", 1)[1]
    assert [name for name in os.listdir(store / ".uploads") if upload_id in name] == []
    assert not (store / "through" / "gone.bin").exists()

    refused = httpx.post(f"{local.url}/uploads", headers={"Upload-Length": "1"}, timeout=60)
    assert refused.status_code == 412
    assert tus.error_code(refused) == "tus_version"
