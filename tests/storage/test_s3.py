"""The S3 store against a real S3-protocol server (moto_server over HTTP on loopback)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from streamway.config import StoreSettings
from streamway.storage import (
    ObjectChanged,
    ObjectNotFound,
    S3Store,
    StoreFailed,
    StoreUnavailable,
    open_store,
)
from tests.service.downloads_server import BUCKET, MotoS3, free_port, moto_s3, s3_credentials

DATA = os.urandom(12 * 1024 * 1024 + 7)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with moto_s3() as server:
        server.put("files/big.bin", DATA)
        server.put("files/plain.txt", b"no checksum", checksum=False, ContentType="text/plain")
        yield server


def store_settings(moto: MotoS3, prefix: str = "files") -> StoreSettings:
    return StoreSettings(
        store_url=f"s3://{BUCKET}/{prefix}",
        s3_endpoint_url=moto.endpoint,
        download_chunk_size=256 * 1024,
    )


def test_stat_comes_from_head_object_with_the_full_object_checksum(moto: MotoS3) -> None:
    async def run() -> None:
        store = await open_store(store_settings(moto))
        assert isinstance(store, S3Store)
        try:
            info = await store.stat("big.bin")
            assert info.size == len(DATA)
            assert info.sha256 == hashlib.sha256(DATA).digest()
            assert info.content_type is None  # S3's binary/octet-stream default says nothing
            plain = await store.stat("plain.txt")
            assert (plain.sha256, plain.content_type) == (None, "text/plain")
            with pytest.raises(ObjectNotFound):
                await store.stat("missing.bin")
            with pytest.raises(ObjectNotFound):  # the prefix is part of the key
                await store.stat("files/big.bin")
        finally:
            await store.aclose()

    asyncio.run(run())


def test_ranged_gets_return_exact_bytes_in_bounded_chunks(moto: MotoS3) -> None:
    async def run() -> None:
        store = await open_store(store_settings(moto))
        try:
            etag = (await store.stat("big.bin")).etag
            for start, end in [(0, len(DATA)), (5, 6), (len(DATA) - 1000, len(DATA))]:
                body = await store.open("big.bin", start, end, etag=etag)
                try:
                    chunks = [chunk async for chunk in body]
                finally:
                    await body.aclose()
                assert b"".join(chunks) == DATA[start:end]
                assert max(len(c) for c in chunks) <= 256 * 1024
            with pytest.raises(ObjectChanged):
                await store.open("big.bin", 0, 10, etag='"another-version"')

            info, body = await store.get("big.bin")  # one GetObject: metadata and bytes
            try:
                assert info == await store.stat("big.bin")
                assert hashlib.sha256(b"".join([c async for c in body])).digest() == info.sha256
            finally:
                await body.aclose()
            with pytest.raises(ObjectNotFound):
                await store.get("missing.bin")
        finally:
            await store.aclose()

    asyncio.run(run())


def test_the_sha256_of_a_multipart_upload_comes_from_its_tag(moto: MotoS3) -> None:
    """s3_uploads.py puts the SHA-256 of a multipart object in the streamway-sha256 tag: stat
    and get read it when S3 has no full-object checksum, and only then."""
    digest = hashlib.sha256(b"tagged").hexdigest()
    moto.put("files/tagged.bin", b"tagged", checksum=False, Tagging=f"streamway-sha256={digest}")
    moto.put("files/bad-tag.bin", b"x", checksum=False, Tagging="streamway-sha256=not-hex")
    moto.put("files/short-tag.bin", b"x", checksum=False, Tagging="streamway-sha256=abcd")
    moto.put("files/other-tag.bin", b"x", checksum=False, Tagging="team=reports")
    # A full-object checksum is S3's own: a tag never overrides it.
    moto.put("files/both.bin", b"both", Tagging=f"streamway-sha256={digest}")
    moto.put("files/.uploads/abc/state.json", b"{}")

    async def run() -> None:
        store = await open_store(store_settings(moto))
        try:
            assert (await store.stat("tagged.bin")).sha256 == bytes.fromhex(digest)
            info, body = await store.get("tagged.bin")
            try:
                assert info.sha256 == bytes.fromhex(digest)
                assert b"".join([c async for c in body]) == b"tagged"
            finally:
                await body.aclose()
            for name in ("bad-tag.bin", "short-tag.bin", "other-tag.bin"):
                assert (await store.stat(name)).sha256 is None, name
            assert (await store.stat("both.bin")).sha256 == hashlib.sha256(b"both").digest()
            # Unfinished uploads' state is neither served nor listed.
            with pytest.raises(ObjectNotFound):
                await store.stat(".uploads/abc/state.json")
            page = await store.list("", cursor=None, limit=1000)
            assert not [item.key for item in page.items if item.key.startswith(".uploads/")]
        finally:
            await store.aclose()

    asyncio.run(run())


def test_an_unreachable_endpoint_is_unavailable_not_missing() -> None:
    async def run() -> None:
        settings = StoreSettings(
            store_url=f"s3://{BUCKET}", s3_endpoint_url=f"http://127.0.0.1:{free_port()}"
        )
        store = await open_store(settings)
        try:
            with pytest.raises(StoreUnavailable):
                await store.stat("big.bin")
            with pytest.raises(StoreUnavailable):
                await store.open("big.bin", 0, 10)
        finally:
            await store.aclose()

    with s3_credentials():
        asyncio.run(run())


def test_an_object_that_fails_its_sha256_never_arrives_complete(moto: MotoS3) -> None:
    """The stored checksum is the SHA-256 of other bytes: the body must fail, not end."""
    data = os.urandom(3 * 256 * 1024 + 11)
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    moto.put("files/corrupt.bin", data, ChecksumSHA256=wrong)

    async def run() -> None:
        store = await open_store(store_settings(moto))
        try:
            info, body = await store.get("corrupt.bin")
            assert info.sha256 == base64.b64decode(wrong)
            received: list[bytes] = []

            async def read_all() -> None:
                async for chunk in body:
                    received.append(chunk)

            try:
                with pytest.raises(StoreFailed, match="failed its check"):
                    await read_all()
            finally:
                await body.aclose()
            assert data.startswith(b"".join(received))
            assert len(b"".join(received)) < len(data)  # the last chunk was held back
        finally:
            await store.aclose()

    asyncio.run(run())


def test_a_403_for_a_missing_key_is_404_and_for_a_present_one_stays_a_refusal() -> None:
    """S3 answers a missing key with 403 when the caller may not list the bucket (the deployed
    role lists only under its prefix). moto, checking IAM, refuses GetObject here for every
    key; the store's one listing then tells a missing key (404) from a refused one."""
    # Requests moto serves before it checks IAM: the bucket, the object, the user, its
    # policy and its key.
    with moto_s3(unauthenticated_requests=5) as server:
        server.put("files/present.txt", b"kept from this role")
        iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1")
        iam.create_user(UserName="streamway")
        iam.put_user_policy(
            UserName="streamway",
            PolicyName="list-only",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "s3:ListBucket",
                            "Resource": f"arn:aws:s3:::{BUCKET}",
                            "Condition": {"StringLike": {"s3:prefix": ["files/*"]}},
                        }
                    ],
                }
            ),
        )
        key = iam.create_access_key(UserName="streamway")["AccessKey"]

        async def run() -> None:
            store = await open_store(store_settings(server))
            try:
                with pytest.raises(ObjectNotFound):
                    await store.get("missing.txt")
                with pytest.raises(ObjectNotFound):
                    await store.open("missing.txt", 0, 10)
                with pytest.raises(StoreFailed, match="AccessDenied"):
                    await store.get("present.txt")
            finally:
                await store.aclose()

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
            patch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
            patch.delenv("AWS_SESSION_TOKEN", raising=False)
            asyncio.run(run())


DISPOSITION = "attachment; filename=\"c.bin\"; filename*=UTF-8''c.bin"


def presign_offline(key: str) -> str:
    """A presigned GET from a store whose endpoint has nothing listening: no request made."""
    settings = StoreSettings(
        store_url=f"s3://{BUCKET}/files", s3_endpoint_url=f"http://127.0.0.1:{free_port()}"
    )

    async def run() -> str:
        store = await open_store(settings)
        assert isinstance(store, S3Store)
        try:
            return await store.presigned_get(
                key, expires_s=90, content_type="application/pdf", content_disposition=DISPOSITION
            )
        finally:
            await store.aclose()

    return asyncio.run(run())


def test_presigned_get_is_signed_locally_with_the_overrides() -> None:
    with s3_credentials():
        url = urlsplit(presign_offline("a b/c.bin"))
    assert url.path == f"/{BUCKET}/files/a%20b/c.bin"
    query = parse_qs(url.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]  # SigV4, not the retired SigV2
    assert query["X-Amz-Expires"] == ["90"]
    assert query["X-Amz-Security-Token"] == ["testing"]  # session credentials sign it
    assert query["response-content-type"] == ["application/pdf"]
    assert query["response-content-disposition"] == [DISPOSITION]


NO_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def test_presigning_without_credentials_is_a_store_failure() -> None:
    with pytest.MonkeyPatch.context() as patch:
        for name in (*NO_CREDENTIALS, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata to ask either
        with pytest.raises(StoreFailed):
            presign_offline("x")
