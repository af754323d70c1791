"""/uploads (tus 1.0) through ``streamway local`` into an S3 store (moto_server), as deployed:
the gateway's BUFFERED routes, a function process per sandbox, Lambda's 4 MiB parts (below
S3's 5 MiB minimum, so each is held in a tail object and joined), state only in S3.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator

import httpx
import pytest

from tests.local.test_uploads import LAMBDA_PART, local_with_uploads
from tests.servers import RunningLocal
from tests.service import test_tus as tus
from tests.service.downloads_server import BUCKET, MotoS3
from tests.service.test_tus import MIB, TUS

pytestmark = pytest.mark.timeout(300)

PREFIX = "files"


@pytest.fixture(scope="module")
def local(moto: MotoS3) -> Iterator[RunningLocal]:
    with local_with_uploads(moto.store_env(PREFIX)) as running:
        yield running


def test_tuspy_uploads_60_mb_into_s3_through_the_gateway_in_lambdas_parts(
    local: RunningLocal, moto: MotoS3
) -> None:
    options = httpx.options(f"{local.url}/uploads", timeout=60)
    assert options.headers["x-streamway-upload-part-max-bytes"] == str(LAMBDA_PART)

    data = os.urandom(60_000_000)
    with io.BytesIO(data) as stream:
        url = tus.tuspy_upload(local, stream, "through/s3.bin", LAMBDA_PART)
    assert url.startswith(f"{local.url}/uploads/")

    expected = hashlib.sha256(data).hexdigest()
    sha256, headers = tus.download(local, "through/s3.bin", timeout_s=120)
    assert sha256 == expected
    assert headers["repr-digest"] == tus.repr_digest(expected)
    stored = moto.client().head_object(Bucket=BUCKET, Key=f"{PREFIX}/through/s3.bin")
    assert stored["ContentLength"] == len(data)
    assert moto.multipart_uploads() == []
    assert moto.keys(f"{PREFIX}/.uploads/") == []


def test_delete_through_the_gateway_aborts_the_multipart_upload(
    local: RunningLocal, moto: MotoS3
) -> None:
    url = tus.new_upload(local, "through/gone.bin", 16 * MIB)
    for offset in (0, LAMBDA_PART):  # a tail, then a part of 8 MiB
        answer = tus.patch(url, offset, os.urandom(LAMBDA_PART))
        assert answer.status_code == 204, answer.text
    assert [u["Key"] for u in moto.multipart_uploads()] == [f"{PREFIX}/through/gone.bin"]

    assert httpx.delete(url, headers=TUS, timeout=60).status_code == 204
    assert tus.head(url).status_code == 404
    assert moto.multipart_uploads() == []
    assert moto.keys(f"{PREFIX}/.uploads/") == []
