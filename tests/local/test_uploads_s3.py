"""/uploads (tus 1.0) through ``streamway local`` into an S3 store (moto_server), as deployed:
the gateway's BUFFERED routes, a function process per sandbox, Lambda's 4 MiB parts (below
S3's 5 MiB minimum, so each is held in a tail object and joined), state only in S3.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tusclient import client as tus_client

from tests.local.test_uploads import LAMBDA_PART, MIB, TUS, create_upload
from tests.peers.loopback import serve_in_thread
from tests.peers.openai_chat import OpenAIChatPeer
from tests.servers import RunningLocal, streamway_local
from tests.service.downloads_server import BUCKET, S3_ENV, MotoS3, moto_s3

pytestmark = pytest.mark.timeout(300)

PREFIX = "files"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with moto_s3() as server:
        yield server


@pytest.fixture(scope="module")
def local(moto: MotoS3) -> Iterator[RunningLocal]:
    # A scripted model peer: the function's cold start loads no model.
    with serve_in_thread(OpenAIChatPeer()) as peer:
        env = {
            **S3_ENV,
            "STREAMWAY_UPLOADS": "true",
            "STREAMWAY_STORE_URL": f"s3://{BUCKET}/{PREFIX}",
            "STREAMWAY_S3_ENDPOINT_URL": moto.endpoint,
            "STREAMWAY_MODEL": "openai:scripted",
            "STREAMWAY_OPENAI_BASE_URL": f"{peer}/v1",
        }
        with streamway_local(env) as running:
            yield running


def multipart_uploads(moto: MotoS3) -> list[dict[str, Any]]:
    uploads: list[dict[str, Any]] = (
        moto.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    )
    return uploads


def hidden_objects(moto: MotoS3) -> list[str]:
    listing = moto.client().list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/.uploads/")
    return [entry["Key"] for entry in listing.get("Contents", [])]


def test_tuspy_uploads_60_mb_into_s3_through_the_gateway_in_lambdas_parts(
    local: RunningLocal, moto: MotoS3
) -> None:
    options = httpx.options(f"{local.url}/uploads", timeout=60)
    assert options.headers["x-streamway-upload-part-max-bytes"] == str(LAMBDA_PART)

    data = os.urandom(60_000_000)
    expected = hashlib.sha256(data).hexdigest()
    with io.BytesIO(data) as stream:
        uploader = tus_client.TusClient(f"{local.url}/uploads").uploader(
            file_stream=stream,
            chunk_size=LAMBDA_PART,
            metadata={"filename": "through/s3.bin"},
            upload_checksum=True,
        )
        uploader.upload()
    assert uploader.url is not None
    assert uploader.url.startswith(f"{local.url}/uploads/")

    digest = hashlib.sha256()
    with httpx.stream("GET", f"{local.url}/download/through/s3.bin", timeout=120) as got:
        assert got.status_code == 200
        for chunk in got.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == expected
    assert got.headers["repr-digest"] == (
        f"sha-256=:{base64.b64encode(bytes.fromhex(expected)).decode()}:"
    )
    head = moto.client().head_object(Bucket=BUCKET, Key=f"{PREFIX}/through/s3.bin")
    assert head["ContentLength"] == len(data)
    assert multipart_uploads(moto) == []
    assert hidden_objects(moto) == []


def test_delete_through_the_gateway_aborts_the_multipart_upload(
    local: RunningLocal, moto: MotoS3
) -> None:
    url = create_upload(local, "through/gone.bin", 16 * MIB)
    headers = {**TUS, "Content-Type": "application/offset+octet-stream"}
    for offset in (0, LAMBDA_PART):  # a tail, then a part of 8 MiB
        answer = httpx.patch(
            url,
            content=os.urandom(LAMBDA_PART),
            headers={**headers, "Upload-Offset": str(offset)},
            timeout=60,
        )
        assert answer.status_code == 204, answer.text
    assert [u["Key"] for u in multipart_uploads(moto)] == [f"{PREFIX}/through/gone.bin"]

    assert httpx.delete(url, headers=TUS, timeout=60).status_code == 204
    assert httpx.head(url, headers=TUS, timeout=60).status_code == 404
    assert multipart_uploads(moto) == []
    assert hidden_objects(moto) == []
